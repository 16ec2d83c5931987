"""redis-benchmark on the same server, and the profile of a redis-py call."""

from __future__ import annotations

import pytest

from redislab.performance import benchmark_tool, ceiling_round, profile_calls, redis_benchmark


def test_redis_benchmark_reports_throughput_and_writes_only_our_key(standalone_lab):
    if benchmark_tool() is None:
        pytest.skip("no redis-benchmark on PATH")
    r = standalone_lab.client()
    r.flushall()
    res = redis_benchmark(standalone_lab.primary, requests=2_000, clients=4)
    assert res["rps"] > 0
    assert r.keys("*") == ["redislab:perf:benchmark"]


def test_profile_calls_sorts_a_get_into_categories(standalone_lab):
    r = standalone_lab.client()
    table = profile_calls(lambda: r.get("redislab:perf:x"), calls=200)
    assert table.share.sum() == pytest.approx(1.0)
    cats = set(table.category)
    assert {"sendall (syscall)", "recv: wait + read (syscall)"} <= cats
    assert len(table.attrs["top"]) == 10


@pytest.mark.skipif(benchmark_tool() is None, reason="no redis-benchmark on PATH")
def test_ceiling_round_pairs_python_with_the_tool(standalone_lab):
    r = standalone_lab.client()
    py, tool = ceiling_round(
        connection=r, node=standalone_lab.primary, requests=2_000, single=20, pairs=2
    )
    assert len(py) == len(tool) == 2 and all(v > 0 for v in py + tool)
