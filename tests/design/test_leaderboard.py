"""The leaderboard against a real lab."""

from __future__ import annotations

import pytest

from redislab.design.leaderboard import (
    Leaderboard,
    fill_board,
    fit_log_growth,
    paired_usec_per_call,
    round_trip_ms,
    server_usec_per_call,
)
from redislab.errors import DesignError


def test_top_rank_neighbours_and_lexicographic_ties(standalone_lab):
    c = standalone_lab.client()
    b = Leaderboard(c, "t-lex")
    for p, s in [("ann", 50), ("bea", 70), ("cal", 70), ("dan", 10)]:
        b.submit(p, s)
    # equal scores: ZREVRANGE gives reverse lexicographic order (cal before bea)
    assert b.top(3) == [("cal", 70), ("bea", 70), ("ann", 50)]
    assert b.rank("dan") == 3 and b.rank("nobody") is None
    assert [p for _, p, _ in b.around("ann", 1)] == ["bea", "ann", "dan"]
    assert b.add("dan", 100) == 110 and b.rank("dan") == 0


def test_first_to_reach_wins_ties(standalone_lab):
    b = Leaderboard(standalone_lab.client(), "t-first", tie_break="first")
    b.submit("late", 70, at=2000.0)
    b.submit("early", 70, at=1000.0)
    b.submit("low", 69, at=0.0)
    assert b.top(3) == [("early", 70), ("late", 70), ("low", 69)]
    with pytest.raises(DesignError):
        b.add("low", 1)
    with pytest.raises(DesignError):
        b.submit("x", 1)


def test_merge_daily_into_weekly(standalone_lab):
    c = standalone_lab.client()
    days = [Leaderboard(c, f"t-day{i}") for i in range(3)]
    for i, d in enumerate(days):
        d.submit("ann", 10 * (i + 1))
        d.submit(f"only{i}", 5)
    week = Leaderboard.merge(c, "t-week", days)
    assert week.top(1) == [("ann", 60)] and week.size() == 4
    best = Leaderboard.merge(c, "t-best", days, aggregate="MAX")
    assert best.top(1) == [("ann", 30)]


def test_growth_measurement(standalone_lab):
    c = standalone_lab.client()
    sizes, usec = [500, 5000], []
    for n in sizes:
        b = Leaderboard(c, f"t-grow{n}")
        fill_board(b, players=n, seed=1, show=False)
        assert b.size() == n
        usec.append(server_usec_per_call(c, b, calls=300, repeats=2))
    assert all(u > 0 for u in usec)
    fit = fit_log_growth([1e3, 1e4, 1e5], [1.0, 2.0, 3.0])
    assert abs(fit.b - 1 / 3.3219) < 1e-3 and fit.r2_log > 0.999


def test_paired_usec_per_call_and_round_trip(standalone_lab):
    c = standalone_lab.client()
    small, large = Leaderboard(c, "t-pair-s"), Leaderboard(c, "t-pair-l")
    fill_board(small, players=200, seed=1, show=False)
    fill_board(large, players=20_000, seed=1, show=False)
    big_usec, small_usec = paired_usec_per_call(c, large, small, batches=6, calls=100)
    assert len(big_usec) == len(small_usec) == 6
    assert all(u > 0 for u in big_usec + small_usec)
    assert round_trip_ms(c, n=10) > 0
