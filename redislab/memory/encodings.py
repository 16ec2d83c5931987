"""Compact encodings: where a small aggregate switches to its general encoding.

Small hashes, lists, sets and sorted sets are stored as a ``listpack`` (or an ``intset``
for a set of integers) until a count or a value length passes the thresholds set by
``*-max-listpack-entries`` / ``*-max-listpack-value`` / ``set-max-intset-entries``
(https://redis.io/docs/latest/operate/oss_and_stack/management/optimization/memory-optimization/).
Read the thresholds from the server (``CONFIG GET``): they differ between versions
(sets have a listpack since Redis 7.2; Redis 7.0 goes straight to ``hashtable``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from ..errors import MemoryLabError
from ..types import PlainConnection
from ._common import mkey

__all__ = [
    "KINDS",
    "encoding_growth",
    "encoding_switches",
    "encoding_thresholds",
    "quicklist_shape",
]

KINDS = ("hash", "list", "set", "intset", "zset")
"""The aggregates measured: ``intset`` is a set of integers."""


def _adder(connection: PlainConnection, kind: str, name: str, width: int) -> Callable[[int], None]:
    pad = "x" * max(0, width - 8)
    if kind == "hash":
        return lambda i: connection.hset(name, f"f{i:07d}", f"{pad}{i:08d}")
    if kind == "list":
        return lambda i: connection.rpush(name, f"{pad}{i:08d}")
    if kind == "set":
        return lambda i: connection.sadd(name, f"{pad}{i:08d}")
    if kind == "intset":
        return lambda i: connection.sadd(name, i)
    if kind == "zset":
        return lambda i: connection.zadd(name, {f"{pad}{i:08d}": i})
    raise MemoryLabError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")


def encoding_growth(
    connection: PlainConnection, kind: str, *, max_elements: int = 1200, width: int = 16
) -> pd.DataFrame:
    """Add elements one at a time; after each, ``OBJECT ENCODING`` and ``MEMORY USAGE``.

    One row per element count ``n``: ``encoding`` and ``bytes`` (``MEMORY USAGE ... SAMPLES 0``,
    every element counted). Elements are ``width`` bytes long (intsets: the integers 0..n-1).
    """
    name = mkey("enc", kind)
    connection.delete(name)
    pipe = connection.pipeline(transaction=False)
    add = _adder(pipe, kind, name, width)
    replies: list[object] = []
    for i in range(max_elements):
        add(i)
        pipe.object("encoding", name)
        pipe.memory_usage(name, samples=0)
        if i % 200 == 199:
            replies += pipe.execute()
    replies += pipe.execute()
    connection.delete(name)
    rows = []
    for i in range(max_elements):
        enc, size = replies[3 * i + 1], replies[3 * i + 2]
        rows.append(
            {
                "n": i + 1,
                "encoding": enc.decode() if isinstance(enc, bytes) else enc,
                "bytes": int(size),  # type: ignore[call-overload]
            }
        )
    return pd.DataFrame(rows)


def encoding_switches(growth: pd.DataFrame) -> list[tuple[int, str, str]]:
    """``(n, from, to)`` for every change of encoding in an :func:`encoding_growth` frame."""
    out = []
    prev = None
    for n, enc in zip(growth.n, growth.encoding, strict=True):
        if prev is not None and enc != prev:
            out.append((int(n), prev, enc))
        prev = enc
    return out


def encoding_thresholds(connection: PlainConnection) -> dict[str, int]:
    """The server's own encoding thresholds (``CONFIG GET``), only those it has."""
    names: Sequence[str] = (
        "hash-max-listpack-entries", "hash-max-listpack-value",
        "zset-max-listpack-entries", "zset-max-listpack-value",
        "set-max-intset-entries", "set-max-listpack-entries", "set-max-listpack-value",
        "list-max-listpack-size", "list-compress-depth",
    )  # fmt: skip
    out: dict[str, int] = {}
    for n in names:
        got = connection.config_get(n)
        if n in got:
            out[n] = int(got[n])
    return out


def quicklist_shape(
    connection: PlainConnection, n_elements: int, *, width: int = 64
) -> dict[str, object]:
    """A list of ``n_elements`` values of ``width`` bytes: encoding, ``MEMORY USAGE`` and
    its quicklist node count (``ql_nodes`` from ``DEBUG OBJECT``; ``None`` if not reported)."""
    name = mkey("quicklist")
    connection.delete(name)
    pipe = connection.pipeline(transaction=False)
    for _ in range(n_elements):
        pipe.rpush(name, b"q" * width)
    pipe.execute()
    enc = connection.object("encoding", name)
    info = connection.execute_command("DEBUG", "OBJECT", name)
    if isinstance(info, dict):
        nodes = info.get("ql_nodes")
    else:
        text = info.decode() if isinstance(info, bytes) else str(info)
        fields = dict(p.split(":", 1) for p in text.split() if ":" in p)
        nodes = fields.get("ql_nodes")
    result = {
        "elements": n_elements,
        "encoding": enc.decode() if isinstance(enc, bytes) else enc,
        "bytes": int(connection.memory_usage(name, samples=0)),
        "ql_nodes": int(nodes) if nodes is not None else None,
    }
    connection.delete(name)
    return result
