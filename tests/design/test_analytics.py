"""Analytics designs against a real lab."""

from __future__ import annotations

from collections import Counter

import pytest

from redislab.design import analytics as A
from redislab.errors import DesignError


def test_three_ways_to_count_unique_visitors(standalone_lab):
    visits = A.zipf_visits(users=20_000, visits=30_000, seed=1)
    res = {u.method: u for u in A.unique_visitors(standalone_lab.client(), visits, name="t-uv")}
    exact = len(set(visits.tolist()))
    assert res["set"].count == res["bitmap"].count == exact
    assert abs(res["hll"].error) < 0.03  # 0.81% standard error; 3% is > 3 sigma
    # 12 KB dense registers (plus the allocator's rounding) against a set of every id
    assert res["hll"].bytes <= 16 * 1024 + 200 < res["set"].bytes


def test_activity_bitmaps_and_retention(standalone_lab):
    days = A.ActivityBitmaps(standalone_lab.client(), "t-act")
    days.record(1, [1, 2, 3, 10, 500])
    days.record(2, [2, 3, 4])
    assert days.active(1) == 5 and days.active(2) == 3
    assert days.retained(1, 2) == 2 and days.active_any([1, 2]) == 6


def test_minute_counters_expire_and_topk(standalone_lab):
    c = standalone_lab.client()
    counters = A.MinuteCounters(c, "t-ev", keep_minutes=2)
    base = 60 * 1000
    for i in range(5):
        counters.hit(at=base + i)
    counters.hit(at=base + 60, n=3)
    assert counters.series([1000, 1001, 1002]) == [5, 3, 0]
    assert 0 < c.ttl(counters.minute_key(1000)) <= 120
    with pytest.raises(DesignError):
        A.MinuteCounters(c, keep_minutes=0)
    items = A.zipf_visits(users=50, visits=2000, seed=2)
    top = A.TopK(c, "t-top")
    top.add(items)
    expected = Counter(str(i) for i in items.tolist()).most_common(3)
    assert [n for _, n in top.top(3)] == [n for _, n in expected]
