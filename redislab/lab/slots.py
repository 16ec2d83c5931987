"""Redis Cluster's hash slots as the servers report them.

``CLUSTER SLOTS`` answers one entry per contiguous range: ``[first, last, primary,
replica, ...]``, each node as ``[host, port, id, ...]`` (cluster specification;
https://redis.io/docs/latest/commands/cluster-slots/). :func:`slot_ranges` reads it
into :class:`SlotRange` rows, :func:`server_key_slots` asks the server for keys' slots
(``CLUSTER KEYSLOT``), so routing built on them is the servers' own, not ours.

A replica is listed only once it is "available": not failing and with a non-zero
replication offset as the cluster's gossip last told the answering node
(``isReplicaAvailable`` in ``src/cluster.c``). Right after a cluster forms, or before
its first write has replicated and been gossiped, a shard can show no replica, and a
client that reads from replicas (redis-py's ``load_balancing_strategy``) then reads
from the primary. :func:`wait_replicas_listed` waits for every node to list them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis

from ..errors import WaitTimeout
from ..replies import text
from .waits import wait_until

__all__ = [
    "CLUSTER_SLOTS",
    "SlotRange",
    "server_key_slots",
    "slot_ranges",
    "split_slots",
    "wait_replicas_listed",
]

CLUSTER_SLOTS = 16384
"""Redis Cluster's slot count (cluster spec: ``HASH_SLOT = CRC16(key) mod 16384``)."""

Address = tuple[str, int]


@dataclass(frozen=True)
class SlotRange:
    """One entry of ``CLUSTER SLOTS``: slots ``first..last`` served by ``primary``."""

    first: int
    last: int
    primary: Address
    replicas: tuple[Address, ...] = ()

    @property
    def slots(self) -> int:
        """How many slots the range holds."""
        return self.last - self.first + 1

    def __contains__(self, slot: object) -> bool:
        return isinstance(slot, int) and self.first <= slot <= self.last


def split_slots(n: int) -> list[tuple[int, int]]:
    """Slot ranges for ``n`` primaries, as ``redis-cli --cluster create`` splits them."""
    per = CLUSTER_SLOTS / n
    return [(round(i * per), round((i + 1) * per) - 1) for i in range(n)]


def slot_ranges(connection: redis.Redis) -> list[SlotRange]:
    """``CLUSTER SLOTS`` of the node ``connection`` talks to, sorted by first slot."""
    out = []
    for first, last, primary, *replicas in connection.execute_command("CLUSTER", "SLOTS"):
        out.append(
            SlotRange(
                int(first),
                int(last),
                (text(primary[0]), int(primary[1])),
                tuple((text(r[0]), int(r[1])) for r in replicas),
            )
        )
    return sorted(out, key=lambda r: r.first)


def server_key_slots(
    connection: redis.Redis, keys: Sequence[str | bytes], *, batch: int = 1000
) -> list[int]:
    """The hash slot of every key as the server computes it (``CLUSTER KEYSLOT``, pipelined)."""
    slots: list[int] = []
    for start in range(0, len(keys), batch):
        pipe = connection.pipeline(transaction=False)
        for k in keys[start : start + batch]:
            pipe.execute_command("CLUSTER", "KEYSLOT", k)
        slots.extend(int(s) for s in pipe.execute())
    return slots


def wait_replicas_listed(
    connections: Sequence[redis.Redis],
    *,
    replicas: int = 1,
    timeout: float = 10.0,
    error: type[WaitTimeout] = WaitTimeout,
) -> float:
    """Wait until every node's ``CLUSTER SLOTS`` lists ``replicas`` replicas per range.

    ``connections``: one client per live node (a client that reads from replicas takes
    its slot map from one of them). Returns the seconds waited; raises ``error`` (a
    :class:`~redislab.errors.WaitTimeout`) naming the shortfall. A shard's replica is
    listed once its offset is non-zero: write something first on a fresh cluster.
    """

    def listed() -> bool:
        return all(len(r.replicas) >= replicas for c in connections for r in slot_ranges(c))

    return wait_until(
        listed,
        timeout=timeout,
        interval=0.05,
        what=f"every node's CLUSTER SLOTS to list {replicas} replica(s) per slot range",
        error=error,
    )
