"""Declarative, named topologies: the one source of truth for labs and docker-compose."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import TopologyError

__all__ = ["SENTINEL_SETTINGS", "TOPOLOGIES", "NodeSpec", "Topology", "get_topology"]

#: Per-master Sentinel settings a lab may override (``Lab.start(sentinel=...)``), in ms.
SENTINEL_SETTINGS = ("down-after-milliseconds", "failover-timeout")


@dataclass(frozen=True)
class NodeSpec:
    """One data node: its name, role and (for a replica) the node it replicates."""

    name: str
    role: str  # "primary" | "replica"
    replica_of: str | None = None


@dataclass(frozen=True)
class Topology:
    """A named arrangement of data nodes, sentinels and options."""

    name: str
    description: str
    nodes: tuple[NodeSpec, ...]
    sentinels: int = 0
    quorum: int = 0
    cluster: bool = False
    secure: bool = False
    #: Every link over TLS (``Lab.start(..., tls=True)``): clients, replication
    #: (``tls-replication``), the cluster bus (``tls-cluster``) and the sentinels.
    tls: bool = False
    master_name: str = "mymaster"
    sentinel_settings: dict[str, int] = field(
        default_factory=lambda: {"down-after-milliseconds": 1000, "failover-timeout": 10000}
    )
    cluster_node_timeout: int = 1000

    @property
    def primaries(self) -> list[NodeSpec]:
        return [n for n in self.nodes if n.role == "primary"]

    @property
    def replicas(self) -> list[NodeSpec]:
        return [n for n in self.nodes if n.role == "replica"]


_REPLICATED = (
    NodeSpec("primary", "primary"),
    NodeSpec("replica-1", "replica", "primary"),
    NodeSpec("replica-2", "replica", "primary"),
)

TOPOLOGIES: dict[str, Topology] = {
    "standalone": Topology("standalone", "one primary", (NodeSpec("primary", "primary"),)),
    "replicated": Topology("replicated", "a primary and 2 replicas", _REPLICATED),
    "sentinel": Topology(
        "sentinel",
        "a primary, 2 replicas and 3 sentinels (quorum 2)",
        _REPLICATED,
        sentinels=3,
        quorum=2,
    ),
    "cluster": Topology(
        "cluster",
        "Redis Cluster: 3 primaries, 3 replicas",
        tuple(NodeSpec(f"primary-{i}", "primary") for i in (1, 2, 3))
        + tuple(NodeSpec(f"replica-{i}", "replica", f"primary-{i}") for i in (1, 2, 3)),
        cluster=True,
    ),
    "secure": Topology(
        "secure",
        "one primary: ACL users with generated passwords, default user off, TLS if supported",
        (NodeSpec("primary", "primary"),),
        secure=True,
    ),
}


def get_topology(name: str) -> Topology:
    """The topology called ``name``; a :class:`TopologyError` lists the valid names."""
    try:
        return TOPOLOGIES[name]
    except KeyError:
        raise TopologyError(
            f"unknown topology {name!r}; valid names: {', '.join(TOPOLOGIES)}"
        ) from None
