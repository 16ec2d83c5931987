"""The benchmark toolkit: rates, interleaved comparisons, sweeps, threads, the PING probe."""

from __future__ import annotations

import threading
import time

import pytest

from redislab.errors import UsageError
from redislab.kit.bench import LatencyProbe, compare, concurrent_rate, median_ratio, rate, sweep


def test_rate_counts_every_op_of_every_call():
    calls = []
    r = rate(lambda: calls.append(1), calls=50, ops_per_call=4, warmup=3)
    assert len(calls) == 53 and r.ops == 200 and r.ops_per_s > 0
    assert r.us_per_op == pytest.approx(r.seconds / 200 * 1e6)


def test_rate_rejects_nonsense():
    with pytest.raises(UsageError):
        rate(lambda: None, calls=0)


def test_compare_alternates_order_and_median_ratio_sees_a_real_difference():
    seen = []
    res = compare(
        {
            "fast": lambda: seen.append("fast"),
            "slow": lambda: (seen.append("slow"), time.sleep(0.002)),
        },
        calls=5,
        rounds=4,
        warmup=0,
        show_progress=False,
    )
    assert len(res) == 8 and set(res.path) == {"fast", "slow"}
    # round 0 runs fast first, round 1 slow first
    assert seen[0] == "fast" and seen[10] == "slow"
    assert median_ratio(res, "fast", "slow") > 5
    with pytest.raises(UsageError):
        median_ratio(res, "fast", "missing")


def test_sweep_builds_one_path_per_value():
    made = []

    def make(v):
        made.append(v)
        return (lambda: time.sleep(0.0005 * v)), 3, v

    res = sweep([1, 4], make, rounds=2, warmup=0, show_progress=False)
    assert made == [1, 4] and len(res) == 4
    assert set(res.path) == {"1", "4"} and (res.ops == 3 * res.value).all()


def test_concurrent_rate_sums_workers_and_reraises(standalone_lab):
    r = standalone_lab.client()

    def worker(i: int, stop: threading.Event) -> int:
        n = 0
        while not stop.is_set():
            r.incr("redislab:perf:test:concurrent")
            n += 1
        return n

    r.delete("redislab:perf:test:concurrent")
    res = concurrent_rate(worker, workers=3, seconds=0.2)
    assert res.ops == int(r.get("redislab:perf:test:concurrent")) > 0

    def broken(i, stop):
        raise KeyError("boom")

    with pytest.raises(KeyError):
        concurrent_rate(broken, workers=2, seconds=0.1)


def test_latency_probe_sees_a_blocked_server(standalone_lab):
    r = standalone_lab.client()
    probe_client = standalone_lab.primary.client()
    with LatencyProbe(probe_client) as probe:
        time.sleep(0.05)
        r.execute_command("DEBUG", "SLEEP", "0.2")  # blocks the server for 200 ms
        time.sleep(0.05)
    assert probe.latencies.size > 5 and probe.times.size == probe.latencies.size
    assert probe.latencies.max() >= 0.1 and probe.p(50) < 0.1
