"""Approximated LRU against the exact simulation."""

from __future__ import annotations

import pytest

from redislab.errors import MemoryLabError
from redislab.kit.workload import ZipfWorkload
from redislab.memory import (
    approximated_lru,
    data_cost,
    exact_lru_hit_ratio,
    exact_lru_survivors,
    lru_comparison,
    replay_with_ages,
)


def test_exact_lru_survivors_keeps_most_recent():
    assert exact_lru_survivors([1, 2, 3, 1, 4], 2) == {1, 4}
    with pytest.raises(MemoryLabError):
        exact_lru_survivors([1], 0)


def test_exact_lru_hit_ratio():
    assert exact_lru_hit_ratio([1, 1, 1, 1], 1, warmup=0.0) == 0.75
    assert exact_lru_hit_ratio([1, 2, 1, 2], 1, warmup=0.0) == 0.0


def test_approximated_lru_evicts_old_keys(r):
    # 2500 + 1250 keys stay under 4096 table slots: no table growth during the test
    df = approximated_lru(r, samples=10, n_keys=2500)
    assert df.survived.sum() == df.exact_survived.sum()
    evicted = df[~df.survived]
    assert len(evicted) > 0
    old = df[~df.new]
    # the oldest quarter goes far more often than the most recent quarter of the old keys
    assert (~old.survived[:600]).mean() > (~old.survived[1900:]).mean() + 0.3
    assert r.dbsize() == 0


def test_more_samples_closer_to_exact(r):
    summary, runs = lru_comparison(r, samples=(1, 10), n_keys=2000, show_progress=False)
    assert set(runs) == {1, 10}
    assert summary.loc[10, "evicted_also_by_exact"] > summary.loc[1, "evicted_also_by_exact"]


def test_replay_with_ages_lru_tracks_exact_random_does_not(r):
    wl = ZipfWorkload(5000, s=1.0, seed=3)
    limit = int(r.info("memory")["used_memory"]) + data_cost(r, wl.n_keys) // 5
    trace = wl.keys(20_000, seed=4)
    shortfall = {}
    for policy in ("allkeys-random", "allkeys-lru"):
        run = replay_with_ages(r, policy, wl, maxmemory=limit, ops=20_000, seed=4)
        assert run.evicted_keys > 0 and run.oom_errors == 0
        shortfall[policy] = exact_lru_hit_ratio(trace, run.keys_at_end) - run.hit_ratio
    # each against an exact LRU of the size it kept, so the two sizes need not match
    assert shortfall["allkeys-lru"] < 0.03
    assert shortfall["allkeys-random"] > shortfall["allkeys-lru"] + 0.015
    assert r.config_get("maxmemory")["maxmemory"] == "0"


def test_replay_with_ages_refuses_lfu(r):
    with pytest.raises(MemoryLabError):
        replay_with_ages(r, "allkeys-lfu", ZipfWorkload(10), maxmemory=10**7, ops=10)
