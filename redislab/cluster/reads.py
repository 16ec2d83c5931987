"""Reads from cluster replicas: redis-py's load-balancing strategies, counted by the servers.

- :func:`read_strategies`: the strategies the installed redis-py has (``None`` for the
  default, primaries only);
- :func:`cluster_read_distribution`: read a set of keys through ``RedisCluster`` with
  one strategy; every node's ``GET`` count from its own ``INFO commandstats``;
- :func:`replica_get_without_readonly`: a ``GET`` sent straight to a replica, before
  and after ``READONLY``: the redirect the cluster specification describes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import MovedError

from ..errors import ClusterError
from ..kit.timeline import no_retry

if TYPE_CHECKING:
    from ..lab.lab import Lab
    from ..lab.node import Node

__all__ = ["cluster_read_distribution", "read_strategies", "replica_get_without_readonly"]


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
    stats = client.info("commandstats")
    entry = stats.get("cmdstat_get", {"calls": 0})
    return int(entry["calls"] if isinstance(entry, dict) else entry)


def cluster_read_distribution(lab: Lab, keys: Sequence[str], strategy: Any) -> pd.DataFrame:
    """``GET`` every key once through a new ``RedisCluster`` using ``strategy``.

    ``strategy`` is ``None`` (default), ``True`` (``read_from_replicas=True``) or a
    ``LoadBalancingStrategy``. Returns one row per data node: ``node``, ``role`` (from
    ``ROLE`` now), ``gets`` (the server's own count of GETs during the run).
    """
    nodes = [n for n in lab.data_nodes if n.alive]
    direct = {n.name: n.client(socket_timeout=5, retry=no_retry()) for n in nodes}
    kw: dict[str, Any] = {}
    if strategy is True:
        kw["read_from_replicas"] = True
    elif strategy is not None:
        kw["load_balancing_strategy"] = strategy
    rc = RedisCluster(
        startup_nodes=[ClusterNode(n.host, n.port) for n in nodes], decode_responses=True, **kw
    )
    try:
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
        rc.close()
        for c in direct.values():
            c.close()
    return pd.DataFrame(rows)


def replica_get_without_readonly(replica: Node, keys: Sequence[str]) -> dict[str, Any]:
    """``GET`` on a cluster replica, before and after ``READONLY``, for a key of its shard.

    Picks the first of ``keys`` whose slot the replica's primary serves (from
    ``CLUSTER SLOTS``), then on one new connection sends ``GET`` (the cluster
    specification: a replica redirects with ``MOVED`` to its primary), ``READONLY``,
    and ``GET`` again (now the replica answers). Returns ``key``, ``slot``, ``before``
    and ``after`` (the reply or the error text).
    """
    client = replica.client(socket_timeout=5, retry=no_retry())
    try:
        mine: list[tuple[int, int]] = []
        for start, end, *nodes in client.execute_command("CLUSTER SLOTS"):
            if any(int(n[1]) == replica.port for n in nodes[1:]):
                mine.append((int(start), int(end)))
        for k in keys:
            slot = int(client.execute_command("CLUSTER KEYSLOT", k))
            if any(a <= slot <= b for a, b in mine):
                break
        else:
            raise ClusterError(f"none of the keys lives in {replica.name}'s shard")
        out: dict[str, Any] = {"key": k, "slot": slot}
        for stage in ("before", "after"):
            if stage == "after":
                client.execute_command("READONLY")
            try:
                out[stage] = f"value {client.execute_command('GET', k)!r}"
            except MovedError as exc:
                out[stage] = f"MOVED {exc}"
            except redis.ResponseError as exc:
                out[stage] = str(exc)
        return out
    finally:
        client.close()
