"""Eviction policies against a real server."""

from __future__ import annotations

import pytest

from redislab.errors import MemoryLabError
from redislab.kit.workload import ZipfWorkload
from redislab.memory import (
    compare_policies,
    data_cost,
    fill_unlimited,
    not_counted_for_evict,
    run_policy,
    ttl_eviction_order,
)


@pytest.fixture
def setup(r):
    wl = ZipfWorkload(3000, s=1.0, seed=3)
    cost = data_cost(r, wl.n_keys)
    limit = int(r.info("memory")["used_memory"]) + cost // 5
    return r, wl, cost, limit


def test_data_cost_is_per_key_bytes(r):
    cost = data_cost(r, 2000, value_size=100)
    assert 2000 * 100 < cost < 2000 * 400
    assert r.dbsize() == 0


def test_noeviction_refuses_and_lfu_evicts(setup):
    r, wl, _, limit = setup
    # small pipelines: at this tiny limit the replies of a 500-GET pipeline (client output
    # buffers count in used_memory) can exceed what evicting every key frees -> a rare OOM
    df = compare_policies(r, wl, maxmemory=limit, ops=6000, seed=1, batch=100,
                          policies=("noeviction", "allkeys-lfu"), show_progress=False)  # fmt: skip
    assert df.loc["noeviction", "oom_errors"] > 0 and df.loc["noeviction", "evicted_keys"] == 0
    assert df.loc["allkeys-lfu", "oom_errors"] == 0 and df.loc["allkeys-lfu", "evicted_keys"] > 0
    assert 0 < df.loc["allkeys-lfu", "hit_ratio"] < 1
    assert r.config_get("maxmemory")["maxmemory"] == "0"  # set back after each run


def test_volatile_without_ttl_is_noeviction(setup):
    r, wl, _, limit = setup
    run = run_policy(r, "volatile-lru", wl, maxmemory=limit, ops=4000, ttl=None)
    assert run.evicted_keys == 0 and run.oom_errors > 0


def test_unknown_policy_is_typed(r):
    with pytest.raises(MemoryLabError):
        run_policy(r, "allkeys-fifo", ZipfWorkload(10), maxmemory=10**7)


def test_volatile_ttl_prefers_short_ttls(r):
    df = ttl_eviction_order(r, n_keys=2000, seed=2)
    evicted = df[df.evicted]
    assert len(evicted) > 0
    assert evicted.ttl.median() < df[~df.evicted].ttl.median()


def test_fill_unlimited_and_not_counted(r):
    res = fill_unlimited(r, 2_000_000, value_size=10_000)
    assert res["oom_errors"] == 0 and res["maxmemory"] == 0 and res["used_memory"] > 2_000_000
    nc = not_counted_for_evict(r)
    assert nc["counted_for_evict"] == nc["used_memory"] - nc["mem_not_counted_for_evict"]
