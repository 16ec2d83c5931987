"""Cluster experiment: SIGKILL a primary under write load (:func:`cluster_failover`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from redis.retry import Retry

from ..errors import FaultTimeout
from ..kit.loads import FailoverRun, WriteLoad, lost_writes
from ..kit.timeline import Timeline, _close_all, no_retry, wait_for, wait_role
from ..lab.formation import wait_cluster_ok as wait_cluster_ok
from .hashing import SLOTS, key_slots

if TYPE_CHECKING:
    from ..lab.lab import Lab
    from ..lab.node import Node


def cluster_failover(
    lab: Lab,
    *,
    victim: Node | None = None,
    rate: float = 300.0,
    retry: Retry | None = None,
    name: str | None = None,
    before: float = 0.5,
    after: float = 0.5,
    timeout: float = 10.0,
) -> FailoverRun:
    """SIGKILL a cluster primary under write load; measure promotion and failed requests.

    The writer uses ``lab.client()`` (``RedisCluster``) with its own retries turned
    off and ``retry`` (a redis-py ``Retry``, e.g. :func:`backoff_retry`) wrapped
    around each write; ``None`` means one attempt per write. Keys are unique, so
    they spread over all slots: only the victim's slots fail.

    Events: ``fault`` (kill), ``FAIL`` (a survivor flags the victim ``fail``: from now
    on, with ``cluster-require-full-coverage yes``, the whole cluster answers
    ``CLUSTERDOWN`` until the promotion), ``promoted`` (its replica answers ``ROLE master``),
    ``cluster ok`` (every survivor says ``cluster_state:ok``), ``writes ok`` (a write
    to one of the victim's slots succeeded). The outage figures of :meth:`FailoverRun.summary`
    count only writes to the victim's slots.
    """
    from .operations import cluster_nodes

    timeline = Timeline()
    victim = victim or lab.primaries[0]
    with victim.client() as c:
        table = cluster_nodes(c)
    me = table[table["address"] == victim.address].iloc[0]
    slots: set[int] = set()
    for lo, hi in me["slot_ranges"]:
        slots.update(range(lo, hi + 1))
    replica_addrs = table[(table["master_id"] == me["id"]) & ~table["failed"]]["address"].tolist()
    replica = next(n for n in lab.data_nodes if n.address in replica_addrs and n.alive)
    slot_array = np.zeros(SLOTS, dtype=bool)
    slot_array[list(slots)] = True

    def affected(keys: pd.Series) -> pd.Series:
        return pd.Series(slot_array[key_slots(keys.tolist())], index=keys.index)

    client = lab.client(socket_timeout=0.5, socket_connect_timeout=0.5, retry=no_retry())
    label = name or ("with retry" if retry else "no retry")
    load = WriteLoad(client, name=label, rate=rate, retry=retry, timeline=timeline)
    survivors = [
        n.client(socket_timeout=0.5) for n in lab.data_nodes if n.alive and n is not victim
    ]
    rep_conn = replica.client(socket_timeout=0.5)
    try:
        load.start()
        time.sleep(before)
        victim.kill()
        t_kill = timeline.mark("fault")

        def flagged_fail() -> bool:
            table = cluster_nodes(survivors[0])
            return bool(table.loc[table["id"] == me["id"], "failed"].any())

        wait_for(flagged_fail, timeout=timeout, what=f"{victim.name} flagged FAIL")
        timeline.mark("FAIL")
        wait_role(rep_conn, "master", timeout=timeout)
        timeline.mark("promoted")
        wait_cluster_ok(survivors, timeout=timeout, error=FaultTimeout)
        timeline.mark("cluster ok")

        def resumed() -> bool:
            df = load.records
            df = df[df["ok"] & (df["end"] > t_kill)]
            return bool(len(df)) and bool(affected(df["key"]).any())

        wait_for(resumed, timeout=timeout, what="a write to the failed slots succeeding")
        timeline.mark("writes ok")
        time.sleep(after)
    finally:
        load.stop()
        _close_all([client, rep_conn, *survivors])
    lab.wait_ready(timeout=30)
    with lab.client() as c:
        lost = lost_writes(c, load)
    details = {"victim_slots": len(slots), "replica": replica.name}
    return FailoverRun(
        "cluster-kill", lab.server.label, timeline, {label: load}, lost, victim.name, replica.name,
        details, keys_filter=affected,
    )  # fmt: skip
