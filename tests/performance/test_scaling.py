"""Scaling out: client processes against a standalone server, replicas and the cluster."""

from __future__ import annotations

import psutil
import pytest
from redis.crc import key_slot

from redislab.performance import (
    ClientProcesses,
    Workload,
    cluster_plan,
    placement,
    replica_refuses_write,
    replicas_plan,
    scale_out,
    standalone_plan,
    wait_replicas,
)

WORKLOAD = Workload(n_keys=2_000, value_size=24, seed=7)


@pytest.fixture(scope="module")
def clients():
    with ClientProcesses(2) as pool:
        pids = pool.pids
        yield pool
    assert len(pids) == 2 and not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_reads_spread_over_replicas_match_the_servers_counts(replicated_lab, clients):
    WORKLOAD.load(replicated_lab.client())
    assert wait_replicas(replicated_lab, WORKLOAD) == {"primary": 2}
    assert replica_refuses_write(replicated_lab, WORKLOAD).startswith("ReadOnlyError")
    where = placement(replicated_lab, WORKLOAD)
    assert (where["dbsize"] == WORKLOAD.n_keys).all() and where.loc["primary", "role"] == "primary"
    plans = [standalone_plan(replicated_lab, name="primary"), replicas_plan(replicated_lab)]
    runs = scale_out(clients, plans, WORKLOAD, duration=0.4, rounds=2, show_progress=False)
    # round 2 runs the plans in reverse order
    both = ["primary", "primary + replicas"]
    assert list(runs.runs.plan) == both + both[::-1]
    nodes = runs.per_node()
    # what the servers counted is what the client processes sent, node by node
    assert (nodes["gets"] == nodes["sent"]).all() and (nodes["gets"] > 0).all()
    assert (runs.runs.errors == 0).all() and (runs.runs.mismatches == 0).all()
    spread = nodes.loc["primary + replicas"]
    assert set(spread.index) == {"primary", "replica-1", "replica-2"}
    # the processes take turns batch by batch: each node gets about a third
    assert spread["share"].between(0.2, 0.47).all()
    summary = runs.summary()
    assert list(summary.index) == ["primary", "primary + replicas"]
    assert (summary["client_us_per_get"] > 0).all() and (summary["server_us_per_get"] > 0).all()
    limits = runs.limits()
    assert list(limits.index) == both and limits["limited_by"].str.len().gt(0).all()
    assert ((limits["busiest_server"] >= 0) & (limits["cores_busy"] > 0)).all()


def test_cluster_plan_follows_the_servers_slots(cluster_lab, clients):
    WORKLOAD.load(cluster_lab.client())
    assert set(wait_replicas(cluster_lab, WORKLOAD).values()) == {1}
    where = placement(cluster_lab, WORKLOAD)
    primaries = where[where.role == "primary"]
    assert primaries["dbsize"].sum() == WORKLOAD.n_keys and primaries["slots"].sum() == 16384
    assert (where["dbsize"] == where["keys_of_its_slots"]).all()
    plan = cluster_plan(cluster_lab, WORKLOAD)
    assert len(plan.shards) == 3 and all(len(s) == 1 for s in plan.shards)
    rc = cluster_lab.client()
    for i in range(0, WORKLOAD.n_keys, 97):  # redis-py's CRC16 agrees with CLUSTER KEYSLOT
        owner = rc.get_node_from_key(WORKLOAD.key(i))
        assert owner.port == plan.shards[plan.owner[i]][0].port
        assert 0 <= key_slot(WORKLOAD.key(i).encode()) < 16384
    with_replicas = cluster_plan(cluster_lab, WORKLOAD, replica_reads=True)
    assert all(len(s) == 2 and s[1].readonly for s in with_replicas.shards)
    runs = scale_out(
        clients, [plan, with_replicas], WORKLOAD, duration=0.4, rounds=1, show_progress=False
    )
    nodes = runs.per_node()
    assert (nodes["gets"] == nodes["sent"]).all() and (nodes["gets"] > 0).all()
    assert (runs.runs.errors == 0).all() and (runs.runs.mismatches == 0).all()
    assert nodes.loc[plan.name, "share"].between(0.25, 0.42).all()
