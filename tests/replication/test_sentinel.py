"""Sentinel experiments (redislab.replication.sentinel): failover, split brain. Slow."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest

from redislab import kit
from redislab import replication as R


# ------------------------------------------------------------------ failovers
@pytest.mark.slow
def test_sentinel_failover_under_load(lab_factory) -> None:
    lab = lab_factory("sentinel")
    old = lab.primary
    run = R.single_failover(R.sentinel_failover, lab, rate=200, before=0.3, after=0.2)
    assert run.details["failovers"] == 1
    named = run.interval("fault", "sentinel named")
    assert 1.0 < named < 10.0  # down-after-milliseconds 1000 < x < failover-timeout 10000
    # clients ask one Sentinel: they may reach the new primary before a majority names it
    assert run.interval("fault", "writes ok") < named + 1.0
    assert run.old_primary == old.name and run.new_primary != old.name
    if run.details["attempts"] == 1:  # else it ran on a fresh lab, stopped since
        assert lab.primary.name == run.new_primary and not old.alive
    s = run.summary()
    assert list(s.index) == ["SET", "SET+WAIT 1"] and (s["failed_after_fault"] > 0).all()
    assert run.lost_count("SET+WAIT 1") == 0
    assert run.failures().sum() == s["failed"].sum()
    kit.plot_writes(run)


@pytest.mark.slow
def test_single_failover_repeats_a_run_that_caused_two(lab_factory) -> None:
    lab = lab_factory("sentinel", config={"maxmemory-policy": "noeviction"})
    calls = []

    def kill_then_force_another(target, **kwargs):
        run = R.sentinel_failover(target, **kwargs)
        calls.append(target)
        if len(calls) == 1:  # the second election a late PONG can start, forced here
            before = R.sentinel_epoch(target)
            with target.sentinels[0].client() as s:
                kit.wait_for(
                    lambda: s.execute_command("SENTINEL", "FAILOVER", target.master_name),
                    timeout=10,
                    what="SENTINEL FAILOVER accepted",
                )
            kit.wait_for(
                lambda: R.sentinel_epoch(target) > before, timeout=15, what="the forced failover"
            )
            target.wait_ready()
            run.details["failovers"] = R.sentinel_epoch(target)  # a fresh lab starts at 0
        return run

    with pytest.warns(RuntimeWarning, match="failovers instead of 1"):
        run = R.single_failover(
            kill_then_force_another, lab, attempts=4, rate=100, before=0.2, after=0.1
        )
    # the first run failed over at least twice; later ones may too (a real late PONG)
    assert run.details["failovers"] == 1 and run.details["attempts"] >= 2
    assert run.details["discarded"][0] >= 2
    assert len(run.details["discarded"]) == run.details["attempts"] - 1 == len(calls) - 1
    assert run.lost_count("SET+WAIT 1") == 0
    assert calls[0] is lab and all(c is not lab for c in calls[1:])
    assert all(c.config == lab.config and c.server.path == lab.server.path for c in calls)
    assert not any(n.alive for c in calls[1:] for n in c.nodes)  # labs it started, it stopped


@pytest.mark.slow
def test_split_brain_loses_unprotected_writes_only(lab_factory) -> None:
    lab = lab_factory("sentinel")
    old = lab.primary
    run = R.single_failover(R.sentinel_split_brain, lab, split_s=1.0, rate=100)
    assert run.details["failovers"] == 1
    ev = run.timeline.events
    assert ev["fault"] < ev["sentinel named"] <= ev["resumed"] < ev["demoted"]
    if run.details["attempts"] == 1:  # else it ran on a fresh lab, stopped since
        assert old.alive and old.current_role() == "replica"  # resumed and demoted
    assert run.lost_count("stale SET") >= 50  # ~100/s for the 1 s split
    assert run.lost_count("stale SET+WAIT 1") == 0 and run.lost_count("fresh SET") == 0
    assert run.details["min-replicas-to-write"] == 0
