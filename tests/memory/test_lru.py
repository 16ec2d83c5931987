"""Approximated LRU against the exact simulation."""

from __future__ import annotations

import pytest

from redislab.errors import MemoryLabError
from redislab.memory import (
    approximated_lru,
    exact_lru_hit_ratio,
    exact_lru_survivors,
    lru_comparison,
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
