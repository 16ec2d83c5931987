"""Rate limiters against real labs: the checker, each algorithm's bound, atomicity, cluster."""

from __future__ import annotations

import pytest

from redislab.design import ratelimit as R
from redislab.errors import DesignError

L, W = 10, 1000


def test_checker_finds_the_fullest_window_anywhere():
    # 3 at the end of one aligned window and 3 at the start of the next: 6 in 20 ms
    times = [980.0, 985.0, 990.0, 1000.0, 1005.0, 1010.0, 2500.0]
    acc = R.check(times, limit=3, window_ms=1000)
    assert acc.max_in_window == 6 and acc.admitted == 7
    assert acc.windows_over == 3 and acc.overshoot == 2.0
    # a request exactly one window later starts a new window
    assert R.check([0.0, 1000.0, 2000.0], limit=1, window_ms=1000).max_in_window == 1


def test_bad_limits_are_typed_errors(standalone_lab):
    c = standalone_lab.client()
    with pytest.raises(DesignError):
        R.GCRA(c, limit=0, window_ms=W)
    with pytest.raises(DesignError):
        R.LimitsLibrary(c, strategy="moving", limit=L, window_ms=1500)
    with pytest.raises(DesignError):
        R.simulate(R.LimitsLibrary(c, limit=L, window_ms=W), [1.0])


@pytest.mark.parametrize("name", list(R.ALGORITHMS))
def test_each_algorithm_within_its_bound_and_busy(standalone_lab, name):
    c = standalone_lab.client()
    lim = R.ALGORITHMS[name](c, limit=L, window_ms=W, name=f"t-{name.replace(' ', '')}")
    load = R.steady_load(rate_per_s=3 * L, duration_ms=20 * W, seed=7)
    acc = R.check(R.simulate(lim, load, client="a"), limit=L, window_ms=W, offered=len(load))
    assert acc.max_in_window <= lim.bound()
    # under a load three times the limit every algorithm admits close to the limit
    assert 0.8 * 20 * L <= acc.admitted <= 1.15 * 20 * L, acc


def test_sliding_log_is_exact_and_fixed_window_doubles_at_the_boundary(standalone_lab):
    c = standalone_lab.client()
    burst = R.boundary_bursts(limit=L, window_ms=W, bursts=4)
    log = R.check(
        R.simulate(R.SlidingLog(c, limit=L, window_ms=W, name="b"), burst), limit=L, window_ms=W
    )
    fixed = R.check(
        R.simulate(R.FixedWindow(c, limit=L, window_ms=W, name="b"), burst), limit=L, window_ms=W
    )
    assert log.max_in_window == L and log.windows_over == 0
    assert fixed.max_in_window == 2 * L


def test_gcra_matches_a_token_bucket(standalone_lab):
    c = standalone_lab.client()
    load = R.steady_load(rate_per_s=25, duration_ms=10 * W, seed=3)
    a = R.simulate(R.GCRA(c, limit=L, window_ms=W, burst=4, name="eq"), load)
    b = R.simulate(R.TokenBucket(c, limit=L, window_ms=W, burst=4, name="eq"), load)
    assert abs(len(a) - len(b)) <= 1
    # burst=4 then a drip of one per 100 ms
    first = R.simulate(R.GCRA(c, limit=L, window_ms=W, burst=4, name="burst"), [0.0] * 10)
    assert len(first) == 4


@pytest.mark.parametrize("name", list(R.ALGORITHMS))
def test_scripts_are_atomic_under_concurrency(standalone_lab, name):
    c = standalone_lab.client()
    lim = R.ALGORITHMS[name](c, limit=25, window_ms=60_000, name="race")
    admitted = R.concurrent_admissions(
        lambda cl: lim.allow(cl, now_ms=5_000.0), threads=6, requests_per_thread=15
    )
    assert admitted == 25


def test_realtime_limits_library_beside_hand_built(standalone_lab):
    c = standalone_lab.client()
    libs = [
        R.LimitsLibrary(c, strategy=s, limit=5, window_ms=1000, name="rt")
        for s in R.LimitsLibrary.STRATEGIES
    ]
    log = R.SlidingLog(c, limit=5, window_ms=1000, name="rt")
    runs = R.realtime_run([log, *libs], rate_per_s=20, duration_s=1.5, seed=1)
    accs = [R.check(a, limit=5, window_ms=1000) for a in runs]
    assert accs[0].max_in_window <= 5
    moving = accs[1 + R.LimitsLibrary.STRATEGIES.index("moving")]
    # limits reads its own clock microseconds after ours: at most one boundary slip
    assert moving.max_in_window <= 6 and moving.admitted >= 5
    for lim in [log, *libs]:
        assert R.memory_per_client(lim, client="rt") > 0, lim
    lat = R.latency(log, n=50, clients=5)
    assert lat["n"] == 50 and lat["p50_ms"] > 0


@pytest.mark.cluster
def test_every_limiter_runs_on_a_cluster(cluster_lab):
    rc = cluster_lab.client()
    limiters = [cls(rc, limit=L, window_ms=W, name="cl") for cls in R.ALGORITHMS.values()]
    limiters += [
        R.LimitsLibrary(rc, strategy=s, limit=L, window_ms=W, name="cl")
        for s in R.LimitsLibrary.STRATEGIES
    ]
    burst = R.boundary_bursts(limit=L, window_ms=W, bursts=2)
    for lim in limiters:
        for client in ("alice", "bob", "carol"):
            if lim.simulated:
                acc = R.check(R.simulate(lim, burst, client=client), limit=L, window_ms=W)
                assert L <= acc.max_in_window <= lim.bound()
            else:
                assert lim.allow(client)
            slots = {rc.keyslot(k) for k in lim.keys(client)}
            assert len(slots) == 1, (lim, client, lim.keys(client))
