"""Replication probes (redislab.replication.probes) against real labs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest

from redislab import replication as R
from redislab.errors import FaultTimeout
from redislab.lab.waits import wait_until


# ------------------------------------------------------------------ replication
def test_replication_probes(lab_factory) -> None:
    lab = lab_factory("replicated")
    p = lab.primary.client()
    reps = [n.client() for n in lab.replicas]
    R.sync_replicas(p)
    offs = R.replication_offsets(p, reps)
    assert set(offs) == {"primary", "replica-1", "replica-2"} and len(set(offs.values())) == 1
    # the primary's view: acknowledged offsets reach master_repl_offset with the next
    # REPLCONF ACK (once a second; WAIT's own GETACK is not in the offset it acknowledges)
    wait_until(lambda: len(set(R.primary_view(p, reps).values())) == 1, timeout=5, what="ACKs")
    assert set(R.primary_view(p, reps)) == {"primary", "replica-1", "replica-2"}
    lag = R.sample_replication_lag(p, reps, duration=0.2)
    assert set(lag["replica"]) == {"replica-1", "replica-2"} and (lag["lag_bytes"] >= 0).all()
    # after WAIT for both replicas, a replica read is never stale
    df = R.read_after_write(p, reps[0], n=20, value_size=100_000, wait_replicas=2)
    assert len(df) == 20 and not df["stale"].any() and (df["replicas"] == 2).all()
    table = R.staleness_by_size(p, reps[0], sizes=(10, 1000), n=5, wait_replicas=(0, 2))
    assert len(table) == 4 and set(table["wait"]) == {0, 2}
    assert set(table.loc[table["wait"] == 2, "min_wait_reply"]) == {2}
    assert set(table.loc[table["wait"] == 0, "min_wait_reply"]) == {-1}
    # WAIT timings for the evidence helper: every replica up answers 2, before the timeout
    acked: list[int] = []
    ms = R.wait_round(connection=p, numreplicas=2, timeout_ms=500, n=4, acked=acked)
    assert len(ms) == 4 and acked == [2, 2, 2, 2] and all(v > 0 for v in ms)


def test_min_replicas_to_write_refuses_writes_without_replicas(lab_factory) -> None:
    lab = lab_factory("replicated", config={"min-replicas-to-write": 1})
    p = lab.primary.client()
    p.set("redislab:faults:ok", 1)  # accepted with both replicas
    for n in lab.replicas:
        n.kill()
    secs, err = R.time_until_write_fails(p, timeout=5)
    # a closed link counts at once, not after min-replicas-max-lag (10 s)
    assert err.startswith("NOREPLICAS") and secs < 5
    with pytest.raises(FaultTimeout):
        R.time_until_write_fails(lab_factory("standalone").client(), timeout=0.2)


def test_partial_resync_after_the_primary_drops_a_paused_replica(lab_factory) -> None:
    lab = lab_factory("replicated")
    p = lab.primary.client()
    out = R.partial_resync(p, lab.replicas[1], repl_timeout=1, pause_s=3.5)
    assert out["dropped_during_pause"] and out["sync_partial_ok_delta"] >= 1
    assert 0 < out["dropped_after_s"] < 30  # the primary's own repl-timeout, not a fixed pause
    assert out["sync_full_delta"] == 0
    assert p.config_get("repl-timeout")["repl-timeout"] == "60"  # restored
