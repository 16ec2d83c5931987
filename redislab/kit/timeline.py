"""What the fault families share: the key pattern, the typed timeout, the clock, bounded
waits, retry presets and small helpers."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ClusterDownError, ReadOnlyError, TryAgainError
from redis.retry import Retry

from ..errors import FaultTimeout
from ..keys import FAULTS
from ..lab.retries import no_retry as no_retry  # the kit re-exports it
from ..lab.waits import wait_until

PATTERN = FAULTS
"""Key pattern of every key the loads write: ``redislab:faults:<load name>:<seq>``."""

RETRYABLE = (
    redis.ConnectionError,
    redis.TimeoutError,
    ClusterDownError,
    TryAgainError,
    ReadOnlyError,
)
"""Errors worth retrying during a failover (``MasterNotFoundError`` is a ``ConnectionError``)."""


# --------------------------------------------------------------------- clock
class Timeline:
    """A shared clock (seconds since creation) and the named events of one experiment."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.events: dict[str, float] = {}

    def now(self) -> float:
        """Seconds since the timeline started."""
        return time.perf_counter() - self.t0

    def mark(self, label: str) -> float:
        """Record ``label`` at the current time and return that time."""
        t = self.now()
        self.events[label] = t
        return t

    def since(self, label: str) -> float:
        """Seconds since event ``label``."""
        return self.now() - self.events[label]

    def between(self, first: str, second: str) -> float | None:
        """Seconds from event ``first`` to event ``second`` (None if either is missing)."""
        if first not in self.events or second not in self.events:
            return None
        return self.events[second] - self.events[first]


def wait_for(
    predicate: Callable[[], Any],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str = "condition",
) -> float:
    """:func:`redislab.lab.waits.wait_until`, raising :class:`FaultTimeout` after ``timeout``.

    Returns the seconds waited. Exceptions from ``predicate`` count as "not yet" (a
    node may be down or paused).
    """
    return wait_until(predicate, timeout=timeout, interval=interval, what=what, error=FaultTimeout)


def wait_role(connection: redis.Redis, role: str, *, timeout: float = 10.0) -> float:
    """Wait until ``ROLE`` answers ``role`` (``master``/``slave``/``primary``/``replica``)."""
    want = {"primary": "master", "replica": "slave"}.get(role, role)

    def check() -> bool:
        return connection.execute_command("ROLE")[0] == want

    return wait_for(check, timeout=timeout, interval=0.02, what=f"ROLE {want}")


# ---------------------------------------------------------------- retries
def backoff_retry(retries: int = 20, *, base: float = 0.05, cap: float = 0.25) -> Retry:
    """Exponential backoff (``base * 2**n`` capped at ``cap``) on failover-type errors.

    redis-py counts failures from 1, so the defaults wait 0.1, 0.2, then 0.25 s per
    attempt (``ExponentialBackoff.compute(failures)``): up to 4.8 s in all,
    longer than a lab failover (2-3.5 s), and a write lands at most 0.25 s after the
    new primary is there. No jitter, so runs are reproducible; production clients
    should add jitter (``ExponentialWithJitterBackoff``) so that they do not retry
    in lockstep.
    """
    return Retry(ExponentialBackoff(cap=cap, base=base), retries, supported_errors=RETRYABLE)


def _close_all(clients: Sequence[Any]) -> None:
    for c in clients:
        with contextlib.suppress(Exception):
            c.close()
