"""Reads from cluster replicas: redis-py's load-balancing strategies, counted by the servers.

- :func:`read_strategies`: the strategies the installed redis-py has (``None`` for the
  default, primaries only);
- :func:`cluster_read_distribution`: read a set of keys through ``RedisCluster`` with
  one strategy; every node's ``GET`` count from its own ``INFO commandstats``;
- :func:`replica_get_without_readonly`: a ``GET`` sent straight to a replica, before
  and after ``READONLY``: the redirect the cluster specification describes.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import redis
from redis.cluster import ClusterNode, RedisCluster

from ..errors import ClusterError
from ..kit.connections import readonly_probe
from ..kit.counters import command_total
from ..kit.timeline import no_retry
from ..lab.slots import slot_ranges, wait_replicas_listed

if TYPE_CHECKING:
    from ..lab.lab import Lab
    from ..lab.node import Node

__all__ = [
    "cluster_read_distribution",
    "cluster_read_throughput",
    "read_strategies",
    "replica_get_without_readonly",
]


def read_strategies() -> list[Any]:
    """``[None, *LoadBalancingStrategy]`` if redis-py has them (5.3+), else ``[None, True]``.

    ``None`` is the default (reads go to primaries); ``True`` stands for the older
    ``read_from_replicas=True``.
    """
    try:
        from redis.cluster import LoadBalancingStrategy
    except ImportError:  # pragma: no cover - older redis-py
        return [None, True]
    return [None, *LoadBalancingStrategy]


def _gets(client: redis.Redis) -> int:
    return int(command_total(client, "get"))


def cluster_read_distribution(lab: Lab, keys: Sequence[str], strategy: Any) -> pd.DataFrame:
    """``GET`` every key once through a new ``RedisCluster`` using ``strategy``.

    ``strategy`` is ``None`` (default), ``True`` (``read_from_replicas=True``) or a
    ``LoadBalancingStrategy``. Returns one row per data node: ``node``, ``role`` (from
    ``ROLE`` now), ``gets`` (the server's own count of GETs during the run).
    """
    nodes = [n for n in lab.data_nodes if n.alive]
    direct = {n.name: n.client(socket_timeout=5, retry=no_retry()) for n in nodes}
    rc: RedisCluster | None = None
    try:
        if strategy is not None:  # a replica missing from CLUSTER SLOTS sends its reads home
            wait_replicas_listed(list(direct.values()))
        rc = _cluster_client(nodes, strategy)
        before = {name: _gets(c) for name, c in direct.items()}
        for k in keys:
            rc.get(k)
        rows = []
        for n in nodes:
            role = direct[n.name].execute_command("ROLE")[0]
            rows.append(
                {
                    "node": n.name,
                    "role": "primary" if role == "master" else "replica",
                    "gets": _gets(direct[n.name]) - before[n.name],
                }
            )
    finally:
        if rc is not None:
            rc.close()
        for c in direct.values():
            c.close()
    return pd.DataFrame(rows)


def _cluster_client(nodes: Sequence[Node], strategy: Any) -> RedisCluster:
    kw: dict[str, Any] = {}
    if strategy is True:
        kw["read_from_replicas"] = True
    elif strategy is not None:
        kw["load_balancing_strategy"] = strategy
    return RedisCluster(
        startup_nodes=[ClusterNode(n.host, n.port) for n in nodes], decode_responses=True, **kw
    )


def cluster_read_throughput(
    lab: Lab,
    keys: Sequence[str],
    strategy: Any,
    *,
    duration: float = 1.0,
    threads: int = 2,
    pipeline: int = 32,
    seed: int = 0,
) -> dict[str, Any]:
    """Pipelined ``GET``s through ``RedisCluster`` (one per thread) with ``strategy``.

    A cluster pipeline splits its commands by node and sends each node its share.
    Returns ``reads_per_s`` and, per data node, its GET count and CPU time during
    the run (``<node> gets``, ``<node> cpu_s``), from the servers' own counters.
    """
    nodes = [n for n in lab.data_nodes if n.alive]
    direct = {n.name: n.client(socket_timeout=5, retry=no_retry()) for n in nodes}
    try:
        if strategy is not None:  # a replica missing from CLUSTER SLOTS sends its reads home
            wait_replicas_listed(list(direct.values()))
    except BaseException:
        for c in direct.values():
            c.close()
        raise
    clients = [_cluster_client(nodes, strategy) for _ in range(threads)]
    stop = threading.Event()
    counts = [0] * threads

    def worker(i: int) -> None:
        rng = random.Random(seed + i)
        while not stop.is_set():
            pipe = clients[i].pipeline()
            for _ in range(pipeline):
                pipe.get(keys[rng.randrange(len(keys))])
            pipe.execute()
            counts[i] += pipeline

    def cpu(c: redis.Redis) -> float:
        info = c.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    try:
        for cc in clients:  # learn the slot map before the clock starts
            cc.get(keys[0])
        gets0 = {n: _gets(c) for n, c in direct.items()}
        cpu0 = {n: cpu(c) for n, c in direct.items()}
        pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
        t0 = time.perf_counter()
        for t in pool:
            t.start()
        time.sleep(duration)
        stop.set()
        for t in pool:
            t.join(10)
        seconds = time.perf_counter() - t0
        row: dict[str, Any] = {"strategy": _label(strategy), "reads_per_s": sum(counts) / seconds}
        for n, c in direct.items():
            row[f"{n} gets"] = _gets(c) - gets0[n]
            row[f"{n} cpu_s"] = cpu(c) - cpu0[n]
        return row
    finally:
        for cc in clients:
            cc.close()
        for c in direct.values():
            c.close()


def _label(strategy: Any) -> str:
    if strategy is None:
        return "default (primaries)"
    if strategy is True:
        return "read_from_replicas=True"
    return str(getattr(strategy, "value", strategy))


def replica_get_without_readonly(replica: Node, keys: Sequence[str]) -> dict[str, Any]:
    """``GET`` on a cluster replica, before and after ``READONLY``, for a key of its shard.

    Picks the first of ``keys`` whose slot the replica's primary serves (from
    ``CLUSTER SLOTS``), then on one new connection sends ``GET`` (the cluster
    specification: a replica redirects with ``MOVED`` to its primary), ``READONLY``,
    and ``GET`` again (now the replica answers): :func:`~redislab.kit.connections.readonly_probe`.
    Returns ``key``, ``slot``, ``before`` and ``after`` (the value, or the error as
    ``MovedError: <slot> <address>``) and ``before_error`` / ``after_error``.
    """
    client = replica.client(socket_timeout=5, retry=no_retry())
    try:
        mine = [r for r in slot_ranges(client) if any(p == replica.port for _, p in r.replicas)]
        for k in keys:
            slot = int(client.execute_command("CLUSTER KEYSLOT", k))
            if any(slot in r for r in mine):
                break
        else:
            raise ClusterError(f"none of the keys lives in {replica.name}'s shard")
        return {"key": k, "slot": slot, **readonly_probe(client, k)}
    finally:
        client.close()
