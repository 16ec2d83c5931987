"""What a scaling run reads, and from where: the workload and the plans.

- :class:`Workload`: the keys and values (seeded), :meth:`Workload.load` writes them;
- :class:`Endpoint`, :class:`Plan` and :func:`standalone_plan`, :func:`replicas_plan`,
  :func:`cluster_plan`: which nodes take which keys (a cluster plan from the servers'
  own ``CLUSTER SLOTS`` and ``CLUSTER KEYSLOT``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis

from ..errors import PerformanceError
from ..keys import PERFORMANCE, key
from ..lab.slots import CLUSTER_SLOTS, server_key_slots, slot_ranges
from ..types import Connection, PlainConnection

if TYPE_CHECKING:
    from ..lab.lab import Lab
    from ..lab.node import Node

__all__ = [
    "Endpoint",
    "Plan",
    "Workload",
    "cluster_plan",
    "replicas_plan",
    "standalone_plan",
]


# ------------------------------------------------------------------ the workload
@dataclass(frozen=True)
class Workload:
    """``n_keys`` keys ``redislab:perf:scale:<i>``, seeded values of ``value_size`` bytes.

    Every client process reads keys drawn uniformly (seeded per process) and checks
    each reply against :meth:`value`, so a server answering a wrong or missing value
    is counted as a mismatch.
    """

    n_keys: int = 10_000
    value_size: int = 32
    seed: int = 0
    name: str = "scale"

    def __post_init__(self) -> None:
        if self.n_keys <= 0 or self.value_size < 8:
            raise PerformanceError("a workload needs n_keys > 0 and value_size >= 8")

    def key(self, i: int) -> str:
        """The name of key ``i``."""
        return key(PERFORMANCE, self.name, i)

    def names(self) -> list[str]:
        """Every key name, in index order."""
        return [self.key(i) for i in range(self.n_keys)]

    def value(self, i: int) -> bytes:
        """The value written to key ``i``: its index and the seed, padded to ``value_size``."""
        head = f"{self.seed}:{i}:".encode()
        return (head + b"x" * self.value_size)[: self.value_size]

    def load(self, connection: Connection, *, batch: int = 1000) -> int:
        """Write every key (pipelined ``SET``; a ``RedisCluster`` pipeline routes by slot).

        Returns the number of keys written.
        """
        for start in range(0, self.n_keys, batch):
            pipe = connection.pipeline(transaction=False)
            for i in range(start, min(start + batch, self.n_keys)):
                pipe.set(self.key(i), self.value(i))
            pipe.execute()
        return self.n_keys


# ------------------------------------------------------------------ plans
@dataclass(frozen=True)
class Endpoint:
    """One server a client process reads from; ``readonly`` sends ``READONLY`` first."""

    name: str
    host: str
    port: int
    role: str = "primary"
    readonly: bool = False

    @classmethod
    def of(cls, node: Node, role: str, *, readonly: bool = False) -> Endpoint:
        """The endpoint of a lab node."""
        return cls(node.name, node.host, int(node.port), role, readonly)

    def client(self) -> PlainConnection:
        """A plain client to this server (bytes replies, no retries)."""
        return redis.Redis(
            host=self.host, port=self.port, socket_timeout=10, socket_connect_timeout=5
        )


@dataclass(frozen=True)
class Plan:
    """Which endpoints take which keys.

    ``shards[s]`` are the endpoints that can answer for shard ``s`` (they take turns,
    batch by batch); ``owner[i]`` is the shard of key ``i`` (``None``: one shard owns
    every key).
    """

    name: str
    shards: tuple[tuple[Endpoint, ...], ...]
    owner: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not self.shards or not all(self.shards):
            raise PerformanceError(f"plan {self.name!r} needs at least one endpoint per shard")
        if self.owner is None and len(self.shards) != 1:
            raise PerformanceError(f"plan {self.name!r} has several shards but no key owners")
        if self.owner is not None and set(self.owner) - set(range(len(self.shards))):
            raise PerformanceError(f"plan {self.name!r} maps keys to shards it does not have")

    @property
    def endpoints(self) -> list[Endpoint]:
        """Every endpoint of the plan, shard by shard."""
        return [ep for shard in self.shards for ep in shard]


def standalone_plan(lab: Lab, *, name: str = "standalone") -> Plan:
    """Every read to the lab's primary."""
    return Plan(name, ((Endpoint.of(lab.primary, "primary"),),))


def replicas_plan(lab: Lab, *, name: str = "primary + replicas") -> Plan:
    """Reads spread over the primary and every replica (batch by batch, in turn)."""
    if not lab.replicas:
        raise PerformanceError(f"lab {lab.name!r} has no replicas to read from")
    nodes = [Endpoint.of(lab.primary, "primary")]
    nodes += [Endpoint.of(n, "replica") for n in lab.replicas]
    return Plan(name, (tuple(nodes),))


def cluster_plan(
    lab: Lab,
    workload: Workload,
    *,
    replica_reads: bool = False,
    name: str | None = None,
) -> Plan:
    """Each key read from the primary owning its slot (and its replicas, with ``READONLY``).

    The slot ranges come from ``CLUSTER SLOTS`` and each key's slot from
    ``CLUSTER KEYSLOT``, both asked of a live node: the routing is the servers' own.
    Each replica is asked whose replica it is (``INFO replication``): ``CLUSTER SLOTS``
    leaves out a replica it does not yet know to have data (Redis 7 lists only replicas
    with a non-zero replication offset in the cluster's gossip, so right after the
    cluster forms one may be missing).
    """
    if not lab.topology.cluster:
        raise PerformanceError(f"lab {lab.name!r} is not a cluster")
    by_port = {int(n.port): n for n in lab.data_nodes}
    control = lab.primaries[0].client(decode_responses=False)
    try:
        ranges = slot_ranges(control)
        slots = server_key_slots(control, workload.names())
    finally:
        control.close()
    shard_of_primary: dict[int, int] = {}
    shards: list[tuple[Endpoint, ...]] = []
    slot_shard = [-1] * CLUSTER_SLOTS
    replicas_of = _replicas_of(lab) if replica_reads else {}
    for r in sorted(ranges, key=lambda r: by_port[r.primary[1]].name):
        port = r.primary[1]
        if port not in shard_of_primary:
            eps = [Endpoint.of(by_port[port], "primary")]
            eps += [Endpoint.of(n, "replica", readonly=True) for n in replicas_of.get(port, [])]
            shard_of_primary[port] = len(shards)
            shards.append(tuple(eps))
        for s in range(r.first, r.last + 1):
            slot_shard[s] = shard_of_primary[port]
    if -1 in slot_shard:
        raise PerformanceError("CLUSTER SLOTS does not cover every slot: the cluster is not ok")
    default = "cluster + replicas (READONLY)" if replica_reads else "cluster (3 primaries)"
    return Plan(name or default, tuple(shards), tuple(slot_shard[s] for s in slots))


def _replicas_of(lab: Lab) -> dict[int, list[Node]]:
    """``{primary port: [its replica nodes]}``, as each replica reports (``master_port``)."""
    out: dict[int, list[Node]] = {}
    for node in lab.data_nodes:
        conn = node.client()
        try:
            info = conn.info("replication")
        finally:
            conn.close()
        if info.get("role") == "slave":
            out.setdefault(int(info["master_port"]), []).append(node)
    for nodes in out.values():
        nodes.sort(key=lambda n: n.name)
    return out
