"""The alert drill of notebook 09.02: every default rule tripped on purpose, one fault at a time.

:func:`alert_drill` runs the faults of :mod:`.faults` (and the lab's process faults) on a
replicated lab (``primary``, ``replica-1``, ``replica-2``) under one :class:`~.sampler.Sampler`,
each inside ``sampler.window(name)``, and after each fault waits (bounded) until the
intended alerts of :data:`DRILL_INTENDED` have resolved. Besides the sampled frame it keeps
the Redis counters each fault should move, read straight from ``INFO`` around the fault
(``evicted_keys``, ``keyspace_misses``, ``blocked_clients``, ``rejected_connections``,
``connected_slaves``, the slow log), so a notebook can claim the Redis fact directly and
check the alert rules, which are redislab's, separately.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..kit import sync_replicas, wait_until
from .alerts import AlertRule, evaluate, wait_for_alert
from .faults import (
    blocked_client,
    exceed_maxclients,
    fill_memory,
    fragment_memory,
    miss_lookups,
    refill_memory,
    slow_scripts,
    write_load,
)
from .sampler import Sampler
from .slowlog import slowlog

__all__ = ["DRILL_INTENDED", "DrillResult", "alert_drill"]

_NODES = ("primary", "replica-1", "replica-2")

#: What each fault of the drill should raise, ``(rule, node)``, and nothing else.
DRILL_INTENDED: dict[str, set[tuple[str, str]]] = {
    "fill memory": {("MemoryHigh", "primary"), ("Evictions", "primary")},
    "cache misses": {("HitRatioLow", "primary")},
    "blocked client": {("BlockedClients", "primary")},
    "slow script": {("SlowCommands", "primary")},
    "exceed maxclients": {("RejectedConnections", "primary")},
    "replicas healthy": set(),
    "pause a replica": {("ReplicationLag", "primary"), ("NodeDown", "replica-1")},
    "kill a replica": {("ReplicaMissing", "primary"), ("NodeDown", "replica-2")},
    "fragment memory": {("Fragmentation", n) for n in _NODES},
}


@dataclass
class DrillResult:
    """What :func:`alert_drill` recorded.

    ``frame``: the sampler's frame (all nodes); ``windows``: one row per fault
    (``start_s``/``end_s`` on the frame's clock); ``alerts``: the rules evaluated on the
    frame; ``info``: the Redis counters read around each fault and each fault's own
    return value; ``waits``: seconds each bounded wait took (``None``: timed out).
    """

    frame: pd.DataFrame
    windows: pd.DataFrame
    alerts: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)
    waits: dict[str, float | None] = field(default_factory=dict)


def alert_drill(
    lab: Any,
    rules: list[AlertRule],
    *,
    scale: int = 1,
    seed: int = 42,
    interval: float = 0.1,
    healthy_s: float = 2.0,
    pause_s: float = 6.0,
    wait_timeout: float = 20.0,
) -> DrillResult:
    """Run every fault of :data:`DRILL_INTENDED` on ``lab`` under one sampler.

    ``rules`` are the rules the waits use (e.g. ``default_rules(for_s=1.0,
    window_s=2.0)``). ``healthy_s``: seconds of writes with every replica up, just before
    the pause (the replicas' lag while healthy); ``pause_s``: how long replica-1 is
    SIGSTOPped under writes. Every wait is bounded by ``wait_timeout``: on a loaded
    machine a tick comes late, never stuck; a wait that timed out is ``None`` in
    ``waits`` and the notebook's checks show what was reached. The lab is put back after
    each fault (maxmemory 0, maxclients restored, nodes resumed or restarted).
    """
    r = lab.primary.client()
    by_name = {x.name: x for x in rules}
    sampler = Sampler(lab, interval=interval)
    info: dict[str, Any] = {}
    waits: dict[str, float | None] = {}

    def until(name: str, rule: str, node: str, state: str) -> None:
        since = sampler.windows().loc[name, "start_s"]  # this window's episode only
        waits[f"{name}: {rule}@{node} {state}"] = wait_for_alert(
            sampler, by_name[rule], state=state, nodes=[node], since_s=since, timeout=wait_timeout
        )

    def settle(name: str) -> None:
        for rule, node in sorted(DRILL_INTENDED[name]):
            until(name, rule, node, "resolved")
        time.sleep(0.3)

    def stat(section: str, name: str) -> int:
        return int(r.info(section)[name])

    with sampler:
        time.sleep(0.5)
        with sampler.window("fill memory"):
            evicted0 = stat("stats", "evicted_keys")
            r.config_set("maxmemory", "8mb")
            r.config_set("maxmemory-policy", "allkeys-lru")
            info["fill"] = fill_memory(r, fraction=1.5, seed=seed)
            info["evicted"] = stat("stats", "evicted_keys") - evicted0
            info["used_vs_max"] = r.info("memory")["used_memory"] / (8 * 2**20)
            until("fill memory", "MemoryHigh", "primary", "firing")  # for: 1 s
            r.flushall(asynchronous=True)
            r.config_set("maxmemory", 0)
            settle("fill memory")
        with sampler.window("cache misses"):
            hits0, misses0 = stat("stats", "keyspace_hits"), stat("stats", "keyspace_misses")
            info["lookups"] = miss_lookups(r, n=2000 * scale, seconds=1.5)
            info["misses_delta"] = stat("stats", "keyspace_misses") - misses0
            info["hits_delta"] = stat("stats", "keyspace_hits") - hits0
            settle("cache misses")
        with sampler.window("blocked client"):
            with blocked_client(r, seconds=1.6):
                wait_until(
                    lambda: stat("clients", "blocked_clients") >= 1,
                    timeout=5,
                    what="the BLPOP client to block",
                )
                info["blocked_while_waiting"] = stat("clients", "blocked_clients")
            info["blocked_after_timeout"] = stat("clients", "blocked_clients")
            settle("blocked client")
        with sampler.window("slow script"):
            r.slowlog_reset()
            info["script_us"] = slow_scripts(r, ms=80, times=3)
            info["slowlog"] = slowlog(r)
            settle("slow script")
        with sampler.window("exceed maxclients"):
            rejected0 = stat("stats", "rejected_connections")
            info["refused"] = exceed_maxclients(r, headroom=2, extra=5)
            info["rejected_delta"] = stat("stats", "rejected_connections") - rejected0
            settle("exceed maxclients")
        with sampler.window("replicas healthy"):  # the lag while every replica acknowledges
            write_load(r, seconds=healthy_s, rate=1000, seed=seed)
        with sampler.window("pause a replica"):
            lab.node("replica-1").pause()
            try:
                write_load(r, seconds=pause_s, rate=1000, seed=seed)
            finally:
                lab.node("replica-1").resume()
            settle("pause a replica")
        with sampler.window("kill a replica"):
            info["slaves_before"] = stat("replication", "connected_slaves")
            lab.node("replica-2").kill()
            wait_until(
                lambda: stat("replication", "connected_slaves") < info["slaves_before"],
                timeout=5,
                what="the primary to drop the killed replica",
            )
            info["slaves_after_kill"] = stat("replication", "connected_slaves")
            until("kill a replica", "NodeDown", "replica-2", "firing")
            lab.node("replica-2").restart()
            settle("kill a replica")
        # a quiet start: the restarted replica's full sync has ended (no fork, no
        # replication buffer still held on the primary) and every replica has every write
        wait_until(
            lambda: not r.info("persistence")["rdb_bgsave_in_progress"],
            timeout=20,
            what="the full sync's fork to end",
        )
        sync_replicas(r)
        with sampler.window("fragment memory"):
            n_keys = 150_000 * scale
            info["fragment"] = fragment_memory(
                r, keys=n_keys, value_bytes=400, delete_fraction=0.8, seed=seed
            )
            for node in _NODES:  # replicas apply the deletes a little later
                until("fragment memory", "Fragmentation", node, "firing")
            info["refilled"] = refill_memory(
                r, keys=n_keys, value_bytes=400, delete_fraction=0.8, seed=seed
            )
            settle("fragment memory")
    frame = sampler.frame()
    windows = sampler.windows()
    sampler.close()
    r.close()
    return DrillResult(frame, windows, evaluate(frame, rules), info, waits)
