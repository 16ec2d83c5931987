"""Key distribution: Redis Cluster hash slots, consistent hashing and modulo hashing.

Redis Cluster maps a key to one of 16384 slots with ``CRC16(key) mod 16384``
(the XMODEM variant of CRC16), hashing only the *hash tag* when the key has one
(cluster-spec, "Hash tags"). Client-side partitioning has two classic schemes:
modulo hashing (``hash(key) % N``: adding a node moves most keys) and a consistent
hashing ring with virtual nodes (adding a node moves about ``1/(N+1)`` of them).

Everything here is pure computation: no Redis connection. The slot helpers are
checked against ``CLUSTER KEYSLOT`` by ``tests/test_hashing.py`` and notebook 05.03.

>>> key_slot("123456789") == crc16(b"123456789") % 16384
True
>>> hex(crc16(b"123456789"))
'0x31c3'
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Protocol

import numpy as np
import pandas as pd

from ..errors import UsageError
from ..lab.formation import CLUSTER_SLOTS

__all__ = [
    "SLOTS",
    "ConsistentHashRing",
    "ModuloHashing",
    "Partitioner",
    "SlotPartitioner",
    "balance",
    "balance_stats",
    "compare_add_node",
    "crc16",
    "crc16_many",
    "hash64",
    "hash_tag",
    "key_slot",
    "key_slots",
    "keys_moved",
    "tag_for_slot",
]

SLOTS = CLUSTER_SLOTS
"""Number of hash slots in Redis Cluster (cluster-spec: fixed, not configurable)."""


def _crc16_table() -> np.ndarray:
    """The 256-entry table of CRC16/XMODEM (polynomial 0x1021, init 0, no reflection)."""
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
        table[i] = crc
    return table


_TABLE = _crc16_table()
_TABLE_LIST = [int(x) for x in _TABLE]


def _as_bytes(key: str | bytes) -> bytes:
    return key if isinstance(key, bytes) else key.encode()


def crc16(data: bytes) -> int:
    """CRC16/XMODEM of ``data``, the checksum Redis Cluster uses (``crc16.c`` in Redis).

    >>> crc16(b"123456789")  # the spec's test vector 0x31C3
    12739
    """
    crc = 0
    table = _TABLE_LIST
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ byte) & 0xFF]
    return crc


def crc16_many(items: Sequence[bytes]) -> np.ndarray:
    """CRC16/XMODEM of many byte strings at once (numpy, grouped by length)."""
    out = np.zeros(len(items), dtype=np.uint32)
    by_len: dict[int, list[int]] = {}
    for i, item in enumerate(items):
        by_len.setdefault(len(item), []).append(i)
    for length, idx in by_len.items():
        if length == 0:
            continue
        buf = np.frombuffer(b"".join(items[i] for i in idx), dtype=np.uint8).reshape(-1, length)
        crc = np.zeros(len(idx), dtype=np.uint32)
        for col in range(length):
            crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ buf[:, col]) & 0xFF]
        out[np.asarray(idx)] = crc
    return out


def hash_tag(key: str | bytes) -> bytes:
    """The part of ``key`` that decides its slot, per the cluster spec.

    If the key contains a ``{``, and a ``}`` somewhere to its right, and at least
    one character between them, only what is between the *first* ``{`` and the
    first ``}`` after it is hashed; otherwise the whole key is.

    >>> hash_tag("foo{bar}{zap}"), hash_tag("foo{}{bar}"), hash_tag("foo{{bar}}zap")
    (b'bar', b'foo{}{bar}', b'{bar')
    """
    data = _as_bytes(key)
    start = data.find(b"{")
    if start == -1:
        return data
    end = data.find(b"}", start + 1)
    if end == -1 or end == start + 1:
        return data
    return data[start + 1 : end]


def key_slot(key: str | bytes) -> int:
    """The hash slot of ``key``: ``CRC16(hash_tag(key)) mod 16384`` (as ``CLUSTER KEYSLOT``)."""
    return crc16(hash_tag(key)) & (SLOTS - 1)


def key_slots(keys: Iterable[str | bytes]) -> np.ndarray:
    """Hash slots of many keys (vectorised :func:`key_slot`)."""
    return (crc16_many([hash_tag(k) for k in keys]) & (SLOTS - 1)).astype(np.int64)


@cache
def _slot_tags() -> tuple[str, ...]:
    """For every slot, the shortest decimal string (smallest number) hashing to it."""
    tags: list[str | None] = [None] * SLOTS
    missing = SLOTS
    start = 0
    step = 65536
    while missing:
        cands = [str(i) for i in range(start, start + step)]
        slots = crc16_many([c.encode() for c in cands]) & (SLOTS - 1)
        for cand, slot in zip(cands, slots.tolist(), strict=True):
            if tags[slot] is None:
                tags[slot] = cand
                missing -= 1
        start += step
    return tuple(t for t in tags if t is not None)


def tag_for_slot(slot: int) -> str:
    """A hash tag that lands in ``slot``: ``f"{{{tag_for_slot(7)}}}:user"`` is in slot 7.

    Useful to put test keys in chosen slots (e.g. the slots a migration moves).
    """
    if not 0 <= slot < SLOTS:
        raise UsageError(f"slot must be in 0..{SLOTS - 1}, got {slot}")
    return _slot_tags()[slot]


# ---------------------------------------------------------------- partitioners
def hash64(data: str | bytes) -> int:
    """A well-mixed 64-bit hash (BLAKE2b, 8-byte digest) for rings and modulo hashing."""
    return int.from_bytes(hashlib.blake2b(_as_bytes(data), digest_size=8).digest(), "big")


def _hash64_many(keys: Iterable[str | bytes]) -> np.ndarray:
    return np.fromiter((hash64(k) for k in keys), dtype=np.uint64)


class Partitioner(Protocol):
    """Anything that maps keys to node names and can grow by one node."""

    nodes: list[str]

    def node_for(self, key: str | bytes) -> str:
        """The node that owns ``key``."""
        ...

    def assign(self, keys: Sequence[str | bytes]) -> np.ndarray:
        """Node names of many keys (an array of str)."""
        ...

    def with_node(self, node: str) -> Partitioner:
        """A copy of this partitioner with ``node`` added."""
        ...


class ModuloHashing:
    """``nodes[hash(key) % N]``: simple, balanced, and reshuffles most keys when N changes."""

    def __init__(self, nodes: Sequence[str]) -> None:
        if not nodes:
            raise UsageError("ModuloHashing needs at least one node")
        self.nodes = list(nodes)

    def node_for(self, key: str | bytes) -> str:
        return self.nodes[hash64(key) % len(self.nodes)]

    def assign(self, keys: Sequence[str | bytes]) -> np.ndarray:
        idx = _hash64_many(keys) % np.uint64(len(self.nodes))
        return np.asarray(self.nodes, dtype=object)[idx.astype(np.int64)]

    def with_node(self, node: str) -> ModuloHashing:
        return ModuloHashing([*self.nodes, node])

    def __repr__(self) -> str:
        return f"ModuloHashing({len(self.nodes)} nodes)"


class ConsistentHashRing:
    """A consistent-hashing ring: each node owns ``vnodes`` points on a 64-bit circle.

    A key belongs to the first point clockwise from its hash. Adding a node takes
    over only the arcs in front of its own points: about ``1/(N+1)`` of the keys
    move, all of them to the new node. More virtual nodes give a better balance.

    Args:
        nodes: node names.
        vnodes: points per node (``1`` is the original, unbalanced ring).
    """

    def __init__(self, nodes: Sequence[str], *, vnodes: int = 160) -> None:
        if not nodes:
            raise UsageError("ConsistentHashRing needs at least one node")
        if vnodes < 1:
            raise UsageError("vnodes must be >= 1")
        self.nodes = list(nodes)
        self.vnodes = vnodes
        points = [(hash64(f"{n}#{i}"), n) for n in self.nodes for i in range(vnodes)]
        points.sort()
        self._hashes = np.fromiter((h for h, _ in points), dtype=np.uint64, count=len(points))
        self._owners = np.asarray([n for _, n in points], dtype=object)
        self._hash_list = self._hashes.tolist()

    def node_for(self, key: str | bytes) -> str:
        i = bisect.bisect_right(self._hash_list, hash64(key))
        return str(self._owners[i % len(self._owners)])

    def assign(self, keys: Sequence[str | bytes]) -> np.ndarray:
        idx = np.searchsorted(self._hashes, _hash64_many(keys), side="right")
        return self._owners[idx % len(self._owners)]

    def with_node(self, node: str) -> ConsistentHashRing:
        return ConsistentHashRing([*self.nodes, node], vnodes=self.vnodes)

    def arc_shares(self) -> pd.Series:
        """Fraction of the circle each node owns (what balance the ring promises)."""
        space = 2.0**64
        gaps = np.diff(
            np.concatenate([self._hashes.astype(float), [float(self._hashes[0]) + space]])
        )
        # the point at index i owns the arc that ends at it: from point i-1 to point i
        owners = np.roll(self._owners, -1)
        share = pd.Series(gaps / space, index=owners).groupby(level=0).sum()
        return share.reindex(self.nodes)

    def __repr__(self) -> str:
        return f"ConsistentHashRing({len(self.nodes)} nodes, vnodes={self.vnodes})"


class SlotPartitioner:
    """Redis Cluster's scheme on the client side: key -> slot (CRC16) -> owner of the slot.

    Slots start split in contiguous ranges (as ``redis-cli --cluster create`` does).
    :meth:`with_node` rebalances like ``redis-cli --cluster rebalance``: the new node
    takes just enough slots from each existing node to even out, so only keys in
    those slots move.
    """

    def __init__(self, nodes: Sequence[str], owners: np.ndarray | None = None) -> None:
        if not nodes:
            raise UsageError("SlotPartitioner needs at least one node")
        self.nodes = list(nodes)
        if owners is None:
            bounds = np.round(np.arange(len(self.nodes) + 1) * SLOTS / len(self.nodes)).astype(int)
            owners = np.zeros(SLOTS, dtype=np.int64)
            for i in range(len(self.nodes)):
                owners[bounds[i] : bounds[i + 1]] = i
        self.owners = np.asarray(owners, dtype=np.int64)

    def node_for(self, key: str | bytes) -> str:
        return self.nodes[int(self.owners[key_slot(key)])]

    def assign(self, keys: Sequence[str | bytes]) -> np.ndarray:
        return np.asarray(self.nodes, dtype=object)[self.owners[key_slots(keys)]]

    def slot_counts(self) -> pd.Series:
        """Slots per node."""
        counts = np.bincount(self.owners, minlength=len(self.nodes))
        return pd.Series(counts, index=self.nodes)

    def with_node(self, node: str) -> SlotPartitioner:
        n = len(self.nodes) + 1
        # every node ends with SLOTS // n slots; the remainder stays with the first old nodes
        targets = [SLOTS // n + (1 if i < SLOTS % n else 0) for i in range(n - 1)]
        owners = self.owners.copy()
        counts = np.bincount(owners, minlength=n)
        for donor in range(n - 1):  # each donor gives the top of its ranges
            give = int(counts[donor] - targets[donor])
            if give > 0:
                owners[np.flatnonzero(owners == donor)[-give:]] = n - 1
        return SlotPartitioner([*self.nodes, node], owners)

    def __repr__(self) -> str:
        return f"SlotPartitioner({len(self.nodes)} nodes)"


# --------------------------------------------------------------- measurement
def keys_moved(before: Partitioner, after: Partitioner, keys: Sequence[str | bytes]) -> float:
    """Fraction of ``keys`` whose node differs between two partitioners."""
    if not keys:
        raise UsageError("no keys")
    return float(np.mean(before.assign(keys) != after.assign(keys)))


def balance(partitioner: Partitioner, keys: Sequence[str | bytes]) -> pd.Series:
    """Number of ``keys`` per node (every node listed, even with zero keys)."""
    counts = pd.Series(partitioner.assign(keys)).value_counts()
    return counts.reindex(partitioner.nodes, fill_value=0).astype(int)


def balance_stats(counts: pd.Series) -> dict[str, float]:
    """``max/mean`` (the busiest node's overload; 1.0 is perfect) and the spread ``cv``."""
    arr = counts.to_numpy(dtype=float)
    mean = arr.mean()
    return {"max_over_mean": float(arr.max() / mean), "cv": float(arr.std() / mean)}


def compare_add_node(
    keys: Sequence[str | bytes],
    *,
    nodes: int = 4,
    vnodes: Sequence[int] = (1, 160),
) -> pd.DataFrame:
    """Add one node to ``nodes`` nodes under each scheme; one row per scheme.

    Columns: ``moved`` (fraction of keys that changed node), ``ideal`` (``1/(N+1)``,
    the least any scheme can move), ``moved_to_new`` (fraction of the moved keys that
    went to the new node: 1.0 means no key moved between old nodes), and the balance
    after the change (``max_over_mean``, ``cv``).
    """
    names = [f"node-{i + 1}" for i in range(nodes)]
    new = f"node-{nodes + 1}"
    schemes: list[tuple[str, Partitioner]] = [("modulo", ModuloHashing(names))]
    schemes += [(f"ring, {v} vnodes", ConsistentHashRing(names, vnodes=v)) for v in vnodes]
    schemes.append(("cluster slots", SlotPartitioner(names)))
    rows = []
    for label, before in schemes:
        after = before.with_node(new)
        a, b = before.assign(keys), after.assign(keys)
        moved = a != b
        stats = balance_stats(balance(after, keys))
        rows.append(
            {
                "scheme": label,
                "moved": float(moved.mean()),
                "ideal": 1 / (nodes + 1),
                "moved_to_new": float(np.mean(b[moved] == new)) if moved.any() else 1.0,
                **stats,
            }
        )
    return pd.DataFrame(rows).set_index("scheme")
