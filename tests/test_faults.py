"""Fault injection and measurement (redislab.faults) against real labs.

Shared module labs are only written to (and flushed); every kill or pause happens in
a lab of its own from ``lab_factory``. The three failover experiments are ``slow``.
"""

from __future__ import annotations

import time

import matplotlib

matplotlib.use("Agg")

import pytest
import redis

from redislab import faults as F
from redislab.hashing import key_slot


@pytest.fixture
def r(standalone_lab):
    c = standalone_lab.client()
    yield c
    c.flushall()
    c.close()


# ------------------------------------------------------------------- no server
def test_timeline_marks_and_intervals() -> None:
    tl = F.Timeline()
    a = tl.mark("a")
    time.sleep(0.01)
    tl.mark("b")
    assert tl.events["a"] == a and tl.between("a", "b") >= 0.01
    assert tl.between("a", "missing") is None and tl.since("a") >= 0.01


def test_wait_for_returns_the_wait_or_raises_a_typed_timeout() -> None:
    t0 = time.perf_counter()
    assert F.wait_for(lambda: time.perf_counter() - t0 > 0.05, timeout=2) >= 0.05
    with pytest.raises(F.FaultTimeout, match=r"never.*ZeroDivisionError"):
        F.wait_for(lambda: 1 / 0, timeout=0.1, what="never")
    assert issubclass(F.FaultTimeout, TimeoutError)


def test_retry_policies() -> None:
    assert F.no_retry().get_retries() == 0
    retry = F.backoff_retry(retries=3, base=0.01, cap=0.02)
    calls = []

    def flaky() -> str:
        calls.append(time.perf_counter())
        if len(calls) < 3:
            raise redis.ConnectionError("down")
        return "up"

    assert retry.call_with_retry(flaky, lambda _e: None) == "up"
    assert len(calls) == 3 and calls[-1] - calls[0] >= 0.01 + 0.02  # it backed off


# ------------------------------------------------------------------ write load
def test_write_load_is_steady_and_recorded(r) -> None:
    with F.WriteLoad(r, name="steady", rate=200) as load:
        time.sleep(0.5)
    df = load.records
    s = load.summary()
    # 200/s for 0.5 s: about 100 writes (scheduling slack either way)
    assert 60 <= len(df) <= 120
    assert s["failed"] == 0 and s["acked"] == len(df) and df["ok"].all()
    assert df["seq"].tolist() == list(range(1, len(df) + 1))
    assert (df["end"] >= df["t"]).all() and df["t"].is_monotonic_increasing
    assert r.get(load.key_for(1)) == "1" and load.key_for(1).startswith("redislab:faults:steady:")
    assert F.lost_writes(r, load).empty


def test_lost_writes_finds_missing_and_rolled_back_keys(r) -> None:
    keys = ["redislab:faults:t:a", "redislab:faults:t:b", "redislab:faults:t:c"]
    load = F.WriteLoad(r, name="rr", rate=None, keys=keys).start()
    time.sleep(0.05)
    load.stop()
    last = load.records.groupby("key")["seq"].max()
    r.delete(keys[0])  # gone
    r.set(keys[1], int(last[keys[1]]) - 3)  # an older value: a lost overwrite
    lost = F.lost_writes(r, load).set_index("key")
    assert set(lost.index) == {keys[0], keys[1]}
    assert lost.loc[keys[0], "stored"] is None
    assert lost.loc[keys[1], "acked_seq"] == last[keys[1]]


def test_failed_writes_are_recorded_with_their_kind(r) -> None:
    r.set("redislab:faults:kind:1", "not-a-number")

    class Broken:
        def set(self, k: str, v: object) -> None:
            r.incr("redislab:faults:kind:1")  # server error: not an integer

    load = F.WriteLoad(Broken(), name="broken", rate=None)
    load._one(1)
    df = load.records
    assert not df["ok"].iloc[0] and df["error"].iloc[0] == "ResponseError"
    assert df["kind"].iloc[0] == "ResponseError" and "integer" in df["message"].iloc[0]
    assert load.summary()["failed"] == 1 and load.summary()["acked"] == 0


def test_wait_counts_replicas_and_a_paused_one_is_not_acked(lab_factory) -> None:
    lab = lab_factory("replicated")
    p = lab.primary.client()
    assert F.sync_replicas(p) == 2
    with F.WriteLoad(p, name="w2", rate=100, wait_replicas=2, wait_timeout_ms=50) as load:
        time.sleep(0.2)
        with F.paused(lab.replicas[1]):
            time.sleep(0.3)
        time.sleep(0.2)
    df = load.records
    assert (df["replicas"] == 2).any() and (df["replicas"] == 1).any()
    assert (df["acked"] == (df["replicas"] >= 2)).all()
    assert load.summary()["not_acked"] > 0 and load.summary()["failed"] == 0
    assert lab.replicas[1].client().ping()  # resumed


def test_paused_resumes_even_when_the_block_fails(lab_factory) -> None:
    lab = lab_factory("standalone")
    with pytest.raises(RuntimeError), F.paused(lab.primary):
        raise RuntimeError("boom")
    assert lab.primary.client(socket_timeout=1).ping()


def test_write_load_with_retry_survives_a_restart(lab_factory) -> None:
    lab = lab_factory("standalone")
    c = lab.primary.client(socket_timeout=0.5, socket_connect_timeout=0.5, retry=F.no_retry())
    load = F.WriteLoad(c, name="restart", rate=100, retry=F.backoff_retry()).start()
    time.sleep(0.1)
    lab.primary.kill()
    t_kill = load.timeline.mark("fault")
    lab.primary.restart()
    F.wait_for(lambda: load.ok_since(t_kill) > 0, timeout=10)
    load.stop()
    s = load.summary(since=t_kill)
    assert s["failed"] == 0 and s["resumed_s"] is not None and s["max_latency_s"] > 0.01


# ------------------------------------------------------------------ replication
def test_replication_probes(lab_factory) -> None:
    lab = lab_factory("replicated")
    p = lab.primary.client()
    reps = [n.client() for n in lab.replicas]
    F.sync_replicas(p)
    offs = F.replication_offsets(p, reps)
    assert set(offs) == {"primary", "replica-1", "replica-2"} and len(set(offs.values())) == 1
    lag = F.sample_replication_lag(p, reps, duration=0.2)
    assert set(lag["replica"]) == {"replica-1", "replica-2"} and (lag["lag_bytes"] >= 0).all()
    # after WAIT for both replicas, a replica read is never stale
    df = F.read_after_write(p, reps[0], n=20, value_size=100_000, wait_replicas=2)
    assert len(df) == 20 and not df["stale"].any() and (df["replicas"] == 2).all()
    table = F.staleness_by_size(p, reps[0], sizes=(10, 1000), n=5, wait_replicas=(0, 2))
    assert len(table) == 4 and set(table["wait"]) == {0, 2}


def test_min_replicas_to_write_refuses_writes_without_replicas(lab_factory) -> None:
    lab = lab_factory("replicated", config={"min-replicas-to-write": 1})
    p = lab.primary.client()
    p.set("redislab:faults:ok", 1)  # accepted with both replicas
    for n in lab.replicas:
        n.kill()
    secs, err = F.time_until_write_fails(p, timeout=5)
    # a closed link counts at once, not after min-replicas-max-lag (10 s)
    assert err.startswith("NOREPLICAS") and secs < 5
    with pytest.raises(F.FaultTimeout):
        F.time_until_write_fails(lab_factory("standalone").client(), timeout=0.2)


# ------------------------------------------------------------------ failovers
@pytest.mark.slow
def test_sentinel_failover_under_load(lab_factory) -> None:
    lab = lab_factory("sentinel")
    old = lab.primary
    run = F.single_failover(F.sentinel_failover, lab, rate=200, before=0.3, after=0.2)
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
    F.plot_writes(run)


@pytest.mark.slow
def test_single_failover_repeats_a_run_that_caused_two(lab_factory) -> None:
    lab = lab_factory("sentinel", config={"maxmemory-policy": "noeviction"})
    calls = []

    def kill_then_force_another(target, **kwargs):
        run = F.sentinel_failover(target, **kwargs)
        calls.append(target)
        if len(calls) == 1:  # the second election a late PONG can start, forced here
            before = F.sentinel_epoch(target)
            with target.sentinels[0].client() as s:
                F.wait_for(
                    lambda: s.execute_command("SENTINEL", "FAILOVER", target.master_name),
                    timeout=10,
                    what="SENTINEL FAILOVER accepted",
                )
            F.wait_for(
                lambda: F.sentinel_epoch(target) > before, timeout=15, what="the forced failover"
            )
            target.wait_ready()
            run.details["failovers"] = F.sentinel_epoch(target)  # a fresh lab starts at 0
        return run

    with pytest.warns(RuntimeWarning, match="failovers instead of 1"):
        run = F.single_failover(
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
    run = F.single_failover(F.sentinel_split_brain, lab, split_s=1.0, rate=100)
    assert run.details["failovers"] == 1
    ev = run.timeline.events
    assert ev["fault"] < ev["sentinel named"] <= ev["resumed"] < ev["demoted"]
    if run.details["attempts"] == 1:  # else it ran on a fresh lab, stopped since
        assert old.alive and old.current_role() == "replica"  # resumed and demoted
    assert run.lost_count("stale SET") >= 50  # ~100/s for the 1 s split
    assert run.lost_count("stale SET+WAIT 1") == 0 and run.lost_count("fresh SET") == 0
    assert run.details["min-replicas-to-write"] == 0


@pytest.mark.slow
@pytest.mark.cluster
def test_cluster_failover_with_and_without_retries(lab_factory) -> None:
    lab = lab_factory("cluster")
    plain = F.cluster_failover(lab, victim=lab.node("primary-1"), rate=200, before=0.3, after=0.2)
    ev = plain.timeline.events
    assert ev["fault"] < ev["FAIL"] <= ev["promoted"] <= ev["cluster ok"]
    assert 1.0 <= plain.interval("fault", "promoted") <= 5.0
    s = plain.summary().iloc[0]
    assert s["failed_after_fault"] > 0 and plain.lost_count(plain.summary().index[0]) == 0
    # the outage figures count only the victim's slots
    recs = plain.records
    affected = plain.keys_filter(recs["key"]).to_numpy()
    assert plain.details["victim_slots"] == 5461  # primary-1 serves slots 0-5460
    assert affected.any() and (~affected).any()
    assert all(key_slot(k) < 5461 for k in recs.loc[affected, "key"])

    retried = F.cluster_failover(
        lab, victim=lab.node("primary-2"), rate=200, retry=F.backoff_retry(), before=0.3, after=0.2
    )
    assert retried.summary()["failed"].sum() == 0
    assert retried.lost_count("with retry") == 0
