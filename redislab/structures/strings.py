"""Strings: cache-aside with a TTL, counters under concurrent threads, DAU bitmaps, BITFIELD."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import StructureError
from ..keys import BITFIELD, DAU, key
from ..types import Connection
from ._common import _raw, memory_usage


@dataclass
class CounterRun:
    """Outcome of :func:`concurrent_counter`."""

    mode: str
    threads: int
    per_thread: int
    expected: float
    final: float
    lost: float
    seconds: float


COUNTER_MODES = ("incr", "decr", "incrbyfloat", "get_set", "get_set_lockstep")


def concurrent_counter(
    connection: Connection,
    key_: str,
    *,
    mode: str,
    threads: int = 4,
    per_thread: int = 500,
    step: float = 1,
) -> CounterRun:
    """Let ``threads`` writers each bump one counter ``per_thread`` times; count what survived.

    Modes: ``incr`` / ``decr`` / ``incrbyfloat`` (atomic server-side commands);
    ``get_set`` (read, add in Python, write back: free-running, loses updates when
    reads interleave); ``get_set_lockstep`` (same, but a barrier makes every thread read
    before any writes, the worst interleaving, so exactly ``threads - 1`` of every
    ``threads`` updates are lost).

    The client's connection pool hands each thread its own connection.
    """
    if mode not in COUNTER_MODES:
        raise StructureError(f"unknown counter mode {mode!r}; use one of {COUNTER_MODES}")
    connection.delete(key_)
    connection.set(key_, 0)
    barrier = threading.Barrier(threads, timeout=10) if mode == "get_set_lockstep" else None
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(per_thread):
                if mode == "incr":
                    connection.incrby(key_, int(step))
                elif mode == "decr":
                    connection.decrby(key_, int(step))
                elif mode == "incrbyfloat":
                    connection.incrbyfloat(key_, step)
                else:
                    value = float(connection.get(key_))
                    if barrier is not None:
                        barrier.wait()  # everyone has read the same value
                    connection.set(key_, repr(value + step))
                    if barrier is not None:
                        barrier.wait()  # everyone has written before the next read
        except BaseException as exc:
            errors.append(exc)
            if barrier is not None:
                barrier.abort()

    pool = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    seconds = time.perf_counter() - start
    if errors:
        raise errors[0]
    sign = -1 if mode == "decr" else 1
    expected = sign * threads * per_thread * step
    final = float(connection.get(key_))
    return CounterRun(mode, threads, per_thread, expected, final, abs(expected - final), seconds)


def sell_concurrently(
    connection: Connection, key_: str, *, stock: int, buyers: int, threads: int = 4
) -> dict[str, int]:
    """``buyers`` attempts spread over ``threads`` race for ``stock`` items with ``DECR``.

    A ``DECR`` that goes below zero is undone with ``INCR`` and counts as sold out, so
    the number sold can never exceed the stock whatever the interleaving.
    """
    connection.set(key_, stock)
    sold = [0] * threads

    def work(idx: int, attempts: int) -> None:
        for _ in range(attempts):
            if connection.decr(key_) >= 0:
                sold[idx] += 1
            else:
                connection.incr(key_)

    share = [buyers // threads + (1 if i < buyers % threads else 0) for i in range(threads)]
    pool = [threading.Thread(target=work, args=(i, n), daemon=True) for i, n in enumerate(share)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    total = sum(sold)
    return {
        "stock": stock,
        "buyers": buyers,
        "sold": total,
        "sold_out": buyers - total,
        "final": int(connection.get(key_)),
    }


# bitmaps: one bit per user id per day


def mark_active(
    connection: Connection, key_: str, user_ids: Sequence[int], *, pipeline: Any = None
) -> None:
    """``SETBIT key uid 1`` for every user id (one pipeline unless one is given)."""
    pipe = pipeline if pipeline is not None else connection.pipeline(transaction=False)
    for uid in user_ids:
        pipe.setbit(key_, int(uid), 1)
    if pipeline is None:
        pipe.execute()


def active_users(connection: Connection, key_: str) -> np.ndarray:
    """The user ids whose bit is set, decoded client-side from the raw bitmap (``GET``)."""
    raw = _raw(connection, "GET", key_) or b""
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8))  # bit 0 = most significant
    return np.flatnonzero(bits)


def dau_counts(connection: Connection, keys: Mapping[str, str]) -> pd.DataFrame:
    """One row per day: ``BITCOUNT``, ``STRLEN`` (bytes of the bitmap) and ``MEMORY USAGE``."""
    pipe = connection.pipeline(transaction=False)
    for k in keys.values():
        pipe.bitcount(k)
        pipe.strlen(k)
        pipe.memory_usage(k, samples=0)
    replies = pipe.execute()
    rows = [
        {"day": day, "active": replies[3 * i], "bitmap_bytes": replies[3 * i + 1],
         "memory_bytes": replies[3 * i + 2]}
        for i, day in enumerate(keys)
    ]  # fmt: skip
    return pd.DataFrame(rows).set_index("day")


def combine_days(
    connection: Connection, op: str, dest: str, keys: Sequence[str], *, ttl_s: int = 60
) -> int:
    """``BITOP op dest keys...`` then ``BITCOUNT dest``; ``dest`` expires after ``ttl_s``."""
    op = op.upper()
    if op not in ("AND", "OR", "XOR"):
        raise StructureError(f"BITOP {op} is not a day-combining operation")
    pipe = connection.pipeline(transaction=True)
    pipe.bitop(op, dest, *keys)
    pipe.expire(dest, ttl_s)
    pipe.bitcount(dest)
    return int(pipe.execute()[-1])


def bitmap_vs_set_memory(
    connection: Connection, user_ids: Sequence[int], *, name: str
) -> pd.DataFrame:
    """Store the same user ids as a bitmap and as a set; compare ``MEMORY USAGE``."""
    kb, ks = key(DAU, name, "bitmap"), key(DAU, name, "set")
    connection.delete(kb, ks)
    mark_active(connection, kb, user_ids)
    for chunk in range(0, len(user_ids), 1000):
        connection.sadd(ks, *[int(u) for u in user_ids[chunk : chunk + 1000]])
    out = pd.DataFrame(
        [
            {"structure": "bitmap", "members": connection.bitcount(kb),
             "memory_bytes": memory_usage(connection, kb),
             "encoding": connection.object("encoding", kb)},
            {"structure": "set", "members": connection.scard(ks),
             "memory_bytes": memory_usage(connection, ks),
             "encoding": connection.object("encoding", ks)},
        ]
    )  # fmt: skip
    connection.delete(kb, ks)
    return out.set_index("structure")


# BITFIELD: many small counters packed in one string


def bitfield_incr_many(
    connection: Connection,
    key_: str,
    indexes: Sequence[int],
    *,
    bits: int = 16,
    overflow: str = "SAT",
    batch: int = 200,
    pipeline: Any = None,
) -> None:
    """Add 1 to counter ``#i`` (an unsigned ``bits``-wide field) for every i in ``indexes``.

    Several ``INCRBY`` sub-commands travel in one ``BITFIELD`` command (``batch`` per
    command), all commands in one pipeline unless one is given.
    """
    pipe = pipeline if pipeline is not None else connection.pipeline(transaction=False)
    for start in range(0, len(indexes), batch):
        op = pipe.bitfield(key_, default_overflow=overflow)
        for i in indexes[start : start + batch]:
            op.incrby(f"u{bits}", f"#{int(i)}", 1)
        op.execute()
    if pipeline is None:
        pipe.execute()


def bitfield_counters(connection: Connection, key_: str, n: int, *, bits: int = 16) -> np.ndarray:
    """All ``n`` unsigned counters, read with one ``GET`` and unpacked with numpy."""
    if bits not in (8, 16, 32):
        raise StructureError("bitfield_counters reads byte-aligned u8/u16/u32 fields only")
    raw = _raw(connection, "GET", key_) or b""
    width = bits // 8
    buf = raw.ljust(n * width, b"\0")[: n * width]  # missing tail = zero counters
    return np.frombuffer(buf, dtype=f">u{width}").astype(np.int64)


def bitfield_overflow(
    connection: Connection, *, increments: int = 300, bits: int = 8
) -> pd.DataFrame:
    """Increment one ``u{bits}`` field ``increments`` times under WRAP, SAT and FAIL."""
    rows = []
    for mode in ("WRAP", "SAT", "FAIL"):
        k = key(BITFIELD, "overflow", mode.lower())
        connection.delete(k)
        pipe = connection.pipeline(transaction=False)
        for _ in range(increments):
            pipe.bitfield(k, default_overflow=mode).incrby(f"u{bits}", 0, 1).execute()
        replies = [r[0] for r in pipe.execute()]
        final = connection.bitfield(k).get(f"u{bits}", 0).execute()[0]
        rows.append(
            {"overflow": mode, "increments": increments, "final": final,
             "refused (nil replies)": sum(r is None for r in replies)}
        )  # fmt: skip
        connection.delete(k)
    return pd.DataFrame(rows).set_index("overflow")
