"""redislab.lab.waits: one wait, typed timeouts, one deadline across waits."""

from __future__ import annotations

import time

import pytest

import redislab
from redislab.errors import FaultTimeout, StartupTimeout, Timeout, WaitTimeout
from redislab.lab.waits import Deadline, wait_until


def test_returns_the_seconds_waited() -> None:
    t0 = time.perf_counter()
    waited = wait_until(lambda: time.perf_counter() - t0 > 0.05, timeout=2, interval=0.005)
    assert 0.05 <= waited < 2


def test_exceptions_count_as_not_yet_and_are_quoted() -> None:
    def boom() -> bool:
        raise ConnectionError("refused")

    with pytest.raises(WaitTimeout, match="refused") as info:
        wait_until(boom, timeout=0.05, what="the thing")
    assert "the thing not reached" in str(info.value)


@pytest.mark.parametrize("error", [WaitTimeout, StartupTimeout, FaultTimeout])
def test_every_timeout_is_one_redislab_timeout_and_a_builtin_one(error) -> None:
    with pytest.raises(error) as info:
        wait_until(lambda: False, timeout=0.01, error=error)
    assert isinstance(info.value, redislab.Timeout) and isinstance(info.value, TimeoutError)
    assert issubclass(error, Timeout)


def test_deadline_counts_down_and_keeps_a_floor() -> None:
    d = Deadline(0.2)
    assert 0.1 < d.remaining() <= 0.2 and not d.expired()
    time.sleep(0.25)
    assert d.expired() and d.remaining() == pytest.approx(0.1)
