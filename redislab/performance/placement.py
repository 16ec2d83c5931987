"""Where a scaling run's keys live and what the servers answer outside the plan.

- :func:`placement`: per data node its role, ``DBSIZE`` and (cluster) the slots it serves;
- :func:`wrong_node_replies`: what a primary answers for keys it does not own (``MOVED``);
- :func:`replica_reads`: what a cluster replica answers before and after ``READONLY``;
- :func:`replica_refuses_write`, :func:`wait_replicas`: a replica's refusal, ``WAIT``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import redis
from redis.exceptions import MovedError

from ..errors import PerformanceError
from ..kit.connections import readonly_probe
from ..lab.slots import slot_ranges
from .plans import Endpoint, Workload, cluster_plan

if TYPE_CHECKING:
    from ..lab.lab import Lab

__all__ = [
    "placement",
    "replica_reads",
    "replica_refuses_write",
    "wait_replicas",
    "wrong_node_replies",
]


def wrong_node_replies(lab: Lab, workload: Workload, *, n: int = 20) -> dict[str, Any]:
    """Send ``GET`` of ``n`` keys to a primary that does not own their slot.

    Returns ``sent``, ``moved`` (replies that were a ``MOVED`` redirection), ``values``
    (replies that were data) and ``first`` (the first reply, as text).
    """
    plan = cluster_plan(lab, workload)
    assert plan.owner is not None
    wrong = plan.shards[0][0]
    picks = [i for i, s in enumerate(plan.owner) if s != 0][:n]
    conn = wrong.client()
    try:
        pipe = conn.pipeline(transaction=False)
        for i in picks:
            pipe.get(workload.key(i))
        replies = pipe.execute(raise_on_error=False)
    finally:
        conn.close()
    moved = sum(
        isinstance(r, MovedError) or (isinstance(r, redis.ResponseError) and "MOVED" in str(r))
        for r in replies
    )
    return {
        "node": wrong.name,
        "sent": len(picks),
        "moved": moved,
        "values": sum(isinstance(r, bytes) for r in replies),
        "first": f"{type(replies[0]).__name__}: {replies[0]}" if replies else None,
    }


def replica_reads(lab: Lab, workload: Workload) -> dict[str, Any]:
    """``GET`` of a key from a cluster replica of its slot's primary, before and after ``READONLY``.

    Returns ``node``, ``key``, ``before`` and ``after`` (each reply as text, an error
    as ``<ErrorClass>: <message>``: :func:`~redislab.kit.connections.readonly_probe`),
    ``before_error`` / ``after_error`` and ``expected`` (the value written).
    """
    plan = cluster_plan(lab, workload, replica_reads=True)
    assert plan.owner is not None
    shard = next(i for i, eps in enumerate(plan.shards) if len(eps) > 1)
    replica = plan.shards[shard][1]
    i = plan.owner.index(shard)
    conn = replica.client()
    try:
        probe = readonly_probe(conn, workload.key(i))
    finally:
        conn.close()
    return {
        "node": replica.name,
        "key": workload.key(i),
        **probe,
        "expected": workload.value(i).decode(),
    }


def replica_refuses_write(lab: Lab, workload: Workload) -> str:
    """What a replica of a replicated lab answers to a ``SET`` of a workload key (as text)."""
    if not lab.replicas or lab.topology.cluster:
        raise PerformanceError(f"lab {lab.name!r} has no (non-cluster) replica to write to")
    conn = Endpoint.of(lab.replicas[0], "replica").client()
    try:
        return f"accepted: {conn.set(workload.key(0), b'written on a replica')!r}"
    except redis.ResponseError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()


def wait_replicas(lab: Lab, workload: Workload, *, timeout: float = 10.0) -> dict[str, int]:
    """Every replica has what its primary was given: a write on each primary, then ``WAIT``.

    ``WAIT`` counts the replicas that acknowledged the connection's writes so far, so
    each primary gets one write (a workload key set again to its own value) on the
    connection that waits. Returns ``{primary: replicas that acknowledged}``.
    """
    if lab.topology.cluster:
        plan = cluster_plan(lab, workload)
        assert plan.owner is not None
        pairs = [(shard[0], plan.owner.index(s)) for s, shard in enumerate(plan.shards)]
    else:
        pairs = [(Endpoint.of(lab.primary, "primary"), 0)]
    acked: dict[str, int] = {}
    for ep, i in pairs:
        conn = ep.client()
        try:
            want = int(conn.info("replication").get("connected_slaves", 0))
            conn.set(workload.key(i), workload.value(i))
            acked[ep.name] = int(conn.execute_command("WAIT", want, int(timeout * 1000)))
        finally:
            conn.close()
        if acked[ep.name] < want:
            raise PerformanceError(f"{ep.name}: {acked[ep.name]} of {want} replicas acknowledged")
    return acked


def placement(lab: Lab, workload: Workload) -> pd.DataFrame:
    """Where the workload's keys live: per data node its role and ``DBSIZE``.

    For a cluster also ``shard`` (the primary whose slots it serves), ``slots`` (how
    many hash slots that is, from ``CLUSTER SLOTS``) and ``keys_of_its_slots`` (how
    many workload keys hash to them, from ``CLUSTER KEYSLOT``).
    """
    rows = []
    owned: dict[str, tuple[str, int, int]] = {}
    if lab.topology.cluster:
        control = lab.primaries[0].client(decode_responses=False)
        try:
            ranges = slot_ranges(control)
        finally:
            control.close()
        plan = cluster_plan(lab, workload, replica_reads=True)
        assert plan.owner is not None
        by_port = {int(n.port): n.name for n in lab.data_nodes}
        for s, shard in enumerate(plan.shards):
            n_slots = sum(r.slots for r in ranges if r.primary[1] == shard[0].port)
            for ep in shard:
                owned[by_port[ep.port]] = (shard[0].name, n_slots, plan.owner.count(s))
    for node in lab.data_nodes:
        conn = node.client()
        try:
            row: dict[str, Any] = {"node": node.name, "role": lab.role_of(node)}
            row["dbsize"] = int(conn.dbsize())
        finally:
            conn.close()
        if node.name in owned:
            row["shard"], row["slots"], row["keys_of_its_slots"] = owned[node.name]
        rows.append(row)
    return pd.DataFrame(rows).set_index("node")
