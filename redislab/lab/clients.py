"""Clients for a whole lab: a cluster client over its live nodes, a Sentinel over its sentinels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel

from ..errors import TopologyError
from .node import Node

__all__ = ["cluster_client", "sentinel_client"]


def cluster_client(nodes: Sequence[Node], **kwargs: Any) -> RedisCluster:
    """``RedisCluster`` seeded with every live node; kwargs as for a node's client."""
    alive = [n for n in nodes if n.alive]
    if not alive:
        raise TopologyError("no live node to connect a cluster client to")
    kw = alive[0].client_kwargs(**kwargs)
    kw.pop("host")
    kw.pop("port")
    return RedisCluster(startup_nodes=[ClusterNode(n.host, n.port) for n in alive], **kw)


def sentinel_client(sentinels: Sequence[Node], **kwargs: Any) -> Sentinel:
    """redis-py ``Sentinel`` over ``sentinels`` (``socket_timeout`` 0.5 s, decoded replies).

    In a TLS lab both the sentinels and the primary/replica clients it hands out
    (``master_for`` / ``slave_for``) connect with the lab's certificates.
    """
    kw: dict[str, Any] = {"socket_timeout": 0.5, "decode_responses": True}
    tls = sentinels[0].tls if sentinels else None
    if tls is not None:
        kw.update(tls.client_kwargs())
    kw.update(kwargs)
    sentinel_kwargs = kw.pop("sentinel_kwargs", None)
    if sentinel_kwargs is None and tls is not None:
        sentinel_kwargs = {k: v for k, v in kw.items() if k.startswith(("socket_", "ssl"))}
    return Sentinel([(s.host, s.port) for s in sentinels], sentinel_kwargs=sentinel_kwargs, **kw)
