"""Real-time analytics on Redis: unique visitors, daily actives, retention, counters, top-K.

- :func:`unique_visitors`: the same visits counted three ways (a set, a bitmap indexed
  by user id, a HyperLogLog): memory and error against the exact count;
- :class:`ActivityBitmaps`: one bitmap per day (bit = user id); daily actives are
  ``BITCOUNT``, retention is ``BITOP AND`` of two days;
- :class:`MinuteCounters`: per-minute ``INCR`` counters that expire by themselves;
- :class:`TopK`: the most frequent items with ``ZINCRBY`` / ``ZREVRANGE``.

Every key is ``redislab:analytics:<name>:...``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DesignError
from ..keys import ANALYTICS, key
from ..types import Connection

__all__ = [
    "ActivityBitmaps",
    "MinuteCounters",
    "TopK",
    "UniqueCount",
    "unique_visitors",
    "zipf_visits",
]


def zipf_visits(*, users: int, visits: int, seed: int, a: float = 1.2) -> np.ndarray:
    """``visits`` user ids in ``[0, users)``, Zipf-skewed (a few users visit a lot)."""
    rng = np.random.default_rng(seed)
    ranks = rng.zipf(a, size=visits * 2)
    ranks = ranks[ranks <= users][:visits]
    if len(ranks) < visits:
        ranks = np.concatenate([ranks, rng.integers(1, users + 1, size=visits - len(ranks))])
    perm = rng.permutation(users)
    return perm[ranks - 1]


@dataclass(frozen=True)
class UniqueCount:
    """One way of counting distinct visitors: its answer, its error, its memory."""

    method: str
    count: int
    exact: int
    bytes: int

    @property
    def error(self) -> float:
        return (self.count - self.exact) / self.exact if self.exact else 0.0


def unique_visitors(
    connection: Connection,
    visits: Sequence[int] | np.ndarray,
    *,
    name: str = "uv",
    batch: int = 5000,
) -> list[UniqueCount]:
    """Count the distinct ids in ``visits`` with a set, a bitmap and a HyperLogLog."""
    ks = {m: key(ANALYTICS, name, m) for m in ("set", "bitmap", "hll")}
    connection.delete(*ks.values())
    ids = [int(v) for v in visits]
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        pipe = connection.pipeline(transaction=False)
        pipe.sadd(ks["set"], *chunk)
        pipe.pfadd(ks["hll"], *chunk)
        for u in chunk:
            pipe.setbit(ks["bitmap"], u, 1)
        pipe.execute()
    exact = len(set(ids))
    counts = {
        "set": int(connection.scard(ks["set"])),
        "bitmap": int(connection.bitcount(ks["bitmap"])),
        "hll": int(connection.pfcount(ks["hll"])),
    }
    return [
        UniqueCount(
            method=m,
            count=counts[m],
            exact=exact,
            bytes=int(connection.memory_usage(k, samples=0) or 0),
        )
        for m, k in ks.items()
    ]


class ActivityBitmaps:
    """One bitmap per day; bit ``user_id`` set when that user was active that day."""

    def __init__(self, connection: Connection, name: str = "active") -> None:
        self.connection = connection
        self.name = name

    def day_key(self, day: int) -> str:
        return key(ANALYTICS, self.name, "day", day)

    def record(self, day: int, user_ids: Sequence[int] | np.ndarray, *, batch: int = 5000) -> None:
        ids = [int(u) for u in user_ids]
        for start in range(0, len(ids), batch):
            pipe = self.connection.pipeline(transaction=False)
            for u in ids[start : start + batch]:
                pipe.setbit(self.day_key(day), u, 1)
            pipe.execute()

    def active(self, day: int) -> int:
        """Daily active users (``BITCOUNT``)."""
        return int(self.connection.bitcount(self.day_key(day)))

    def retained(self, first: int, later: int) -> int:
        """Users active on both days (``BITOP AND`` into a temporary key, ``BITCOUNT``)."""
        dest = key(ANALYTICS, self.name, "and", first, later)
        self.connection.bitop("AND", dest, self.day_key(first), self.day_key(later))
        n = int(self.connection.bitcount(dest))
        self.connection.delete(dest)
        return n

    def active_any(self, days: Sequence[int]) -> int:
        """Users active on at least one of ``days`` (``BITOP OR``)."""
        dest = key(ANALYTICS, self.name, "or", *days)
        self.connection.bitop("OR", dest, *[self.day_key(d) for d in days])
        n = int(self.connection.bitcount(dest))
        self.connection.delete(dest)
        return n


class MinuteCounters:
    """Per-minute event counters (``INCR`` + ``EXPIRE``), kept for ``keep_minutes``."""

    def __init__(
        self, connection: Connection, name: str = "events", *, keep_minutes: int = 60
    ) -> None:
        if keep_minutes < 1:
            raise DesignError(f"keep_minutes must be >= 1, got {keep_minutes}")
        self.connection = connection
        self.name = name
        self.keep_s = keep_minutes * 60

    def minute_key(self, minute: int) -> str:
        return key(ANALYTICS, self.name, "minute", minute)

    def hit(self, *, at: float | None = None, n: int = 1) -> int:
        minute = int((time.time() if at is None else at) // 60)
        pipe = self.connection.pipeline(transaction=True)
        pipe.incrby(self.minute_key(minute), n)
        pipe.expire(self.minute_key(minute), self.keep_s)
        return int(pipe.execute()[0])

    def series(self, minutes: Sequence[int]) -> list[int]:
        """The counts of ``minutes`` (0 where expired or never hit)."""
        values = self.connection.mget([self.minute_key(m) for m in minutes])
        return [int(v or 0) for v in values]


class TopK:
    """The most frequent items, exactly, with a sorted set (``ZINCRBY``)."""

    def __init__(self, connection: Connection, name: str = "top") -> None:
        self.connection = connection
        self.key = key(ANALYTICS, name, "topk")

    def add(self, items: Sequence[Any], *, batch: int = 5000) -> None:
        items = list(items)
        for start in range(0, len(items), batch):
            pipe = self.connection.pipeline(transaction=False)
            for item in items[start : start + batch]:
                pipe.zincrby(self.key, 1, str(item))
            pipe.execute()

    def top(self, k: int = 10) -> list[tuple[str, int]]:
        rows = self.connection.zrevrange(self.key, 0, k - 1, withscores=True)
        return [(m.decode() if isinstance(m, bytes) else m, int(s)) for m, s in rows]
