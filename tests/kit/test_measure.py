"""Measuring helpers and key names."""

from __future__ import annotations

import time

import numpy as np
import pytest

from redislab.keys import key
from redislab.kit.measure import Stopwatch, percentile, summarize, time_calls, wait_until, wire_cost


def test_time_calls_and_summary():
    samples = time_calls(lambda: time.sleep(0.001), n=20, warmup=2)
    assert samples.shape == (20,) and (samples >= 0.001).all()
    s = summarize(samples)
    assert s["n"] == 20 and s["p50_ms"] >= 1.0 and s["p50_ms"] <= s["p99_ms"] <= s["max_ms"]
    assert percentile(np.array([1.0, 2.0, 3.0]), 50) == 2.0
    with pytest.raises(ValueError):
        summarize([])


def test_stopwatch_and_wait_until():
    with Stopwatch() as sw:
        time.sleep(0.01)
    assert sw.elapsed >= 0.01
    box = {"n": 0}

    def third_time() -> bool:
        box["n"] += 1
        return box["n"] >= 3

    assert wait_until(third_time, timeout=1, interval=0.001) >= 0
    with pytest.raises(TimeoutError, match="never"):
        wait_until(lambda: False, timeout=0.05, what="never")


def test_wire_cost_counts_commands(standalone_lab):
    r = standalone_lab.client()
    cost = wire_cost(r, lambda: r.set(key("test", "wire"), "x" * 100), n=20)
    assert cost["commands"] == pytest.approx(1.0)
    assert cost["bytes_in"] >= 100  # the value travelled to the server
    r.delete(key("test", "wire"))


def test_key_names():
    assert key("cache", "user", 42) == "redislab:cache:user:42"
    with pytest.raises(ValueError):
        key("", "x")


def test_progress_counts_and_can_be_silenced(monkeypatch, capsys):
    from redislab.kit.measure import progress

    with progress(total=3, desc="work", enabled=False) as bar:
        assert bar.disable  # (tqdm marks every bar disabled once closed: test inside)
        for _ in range(3):
            bar.update(1)
    assert capsys.readouterr().err == ""
    assert list(progress(range(4), desc="items", enabled=False)) == [0, 1, 2, 3]
    with progress(total=2, desc="shown") as bar:
        assert not bar.disable
        bar.update(2)
    assert bar.n == 2 and "shown" in capsys.readouterr().err
    monkeypatch.setenv("REDISLAB_PROGRESS", "0")
    with progress(total=1, desc="ci") as bar:
        assert bar.disable


def test_round_trips_counts_what_goes_over_the_wire(standalone_lab) -> None:
    from redislab.kit.measure import round_trips

    r = standalone_lab.client()
    assert round_trips(r, lambda c: c.set("redislab:test:rt", 1), n=5) == 1
    k = "redislab:test:rt"
    assert round_trips(r, lambda c: c.pipeline().set(k, 1).get(k).execute(), n=5) == 1

    def watched(c) -> None:  # WATCH, GET, then MULTI..EXEC in one write
        c.transaction(lambda p: p.get(k) and (p.multi() or p.incr(k)), k)

    assert round_trips(r, watched, n=5) == 3
    r.delete("redislab:test:rt")
