"""Encodings: grow a key one step at a time and watch ``OBJECT ENCODING`` and ``MEMORY USAGE``
to find where the compact encoding ends; per-field hash expiry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from ..keys import ENCODING, key
from ..types import Connection
from ._common import config_int


def grow_and_observe(
    connection: Connection,
    key_: str,
    add: Callable[[Any, int], None],
    *,
    n_max: int,
    stop_after_switch: int | None = None,
) -> pd.DataFrame:
    """Grow ``key_`` one step at a time; after each, read ``OBJECT ENCODING`` and memory.

    Args:
        connection: client.
        key_: the key to grow (deleted first).
        add: ``add(pipe, i)`` queues the commands of step ``i`` (0-based) on ``pipe``.
        n_max: number of steps.
        stop_after_switch: stop this many steps after the first encoding change.

    Returns:
        DataFrame with columns ``n`` (steps done), ``encoding``, ``memory_bytes``.
    """
    connection.delete(key_)
    rows = []
    switched_at: int | None = None
    for i in range(n_max):
        pipe = connection.pipeline(transaction=False)
        add(pipe, i)
        pipe.object("encoding", key_)
        pipe.memory_usage(key_, samples=0)
        *_, enc, mem = pipe.execute()
        rows.append({"n": i + 1, "encoding": enc, "memory_bytes": mem})
        if switched_at is None and i > 0 and enc != rows[-2]["encoding"]:
            switched_at = i
        if (
            stop_after_switch is not None
            and switched_at is not None
            and i >= switched_at + stop_after_switch
        ):
            break
    connection.delete(key_)
    return pd.DataFrame(rows)


def encoding_switches(df: pd.DataFrame, *, at: str = "n") -> list[dict[str, Any]]:
    """Every row of a :func:`grow_and_observe` frame where the encoding changed."""
    enc = df["encoding"].tolist()
    return [
        {"at": df[at].iloc[i], "from": enc[i - 1], "to": enc[i]}
        for i in range(1, len(enc))
        if enc[i] != enc[i - 1]
    ]


def _experiments(connection: Connection) -> list[dict[str, Any]]:
    """What :func:`encoding_thresholds` grows, with the config that should govern it."""

    def cfg(name: str) -> int | None:
        return config_int(connection, name)

    hash_entries, hash_value = cfg("hash-max-listpack-entries"), cfg("hash-max-listpack-value")
    set_int, set_lp = cfg("set-max-intset-entries"), cfg("set-max-listpack-entries")
    zset_entries, zset_value = cfg("zset-max-listpack-entries"), cfg("zset-max-listpack-value")
    out = [
        {"type": "hash", "grows": "fields (8-byte values)", "config": "hash-max-listpack-entries",
         "limit": hash_entries, "steps": (hash_entries or 512) + 20,
         "add": lambda p, k, i: p.hset(k, f"f{i}", "v" * 8)},
        {"type": "hash", "grows": "one field's value length (bytes)",
         "config": "hash-max-listpack-value", "limit": hash_value,
         "steps": (hash_value or 64) + 10, "add": lambda p, k, i: p.hset(k, "f", "v" * (i + 1))},
        {"type": "set", "grows": "integer members", "config": "set-max-intset-entries",
         "limit": set_int, "steps": (set_int or 512) + 20, "add": lambda p, k, i: p.sadd(k, i)},
        {"type": "set", "grows": "string members", "config": "set-max-listpack-entries",
         "limit": set_lp, "steps": (set_lp or 128) + 20,
         "add": lambda p, k, i: p.sadd(k, f"m{i}")},
        {"type": "zset", "grows": "members", "config": "zset-max-listpack-entries",
         "limit": zset_entries, "steps": (zset_entries or 128) + 20,
         "add": lambda p, k, i: p.zadd(k, {f"m{i}": i})},
        {"type": "zset", "grows": "one member's length (bytes)",
         "config": "zset-max-listpack-value",
         "limit": zset_value, "steps": (zset_value or 64) + 10,
         "add": lambda p, k, i: (p.delete(k), p.zadd(k, {"m" * (i + 1): 1}))},
    ]  # fmt: skip
    return out


def encoding_thresholds(connection: Connection) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Find, by experiment, where each type leaves its compact encoding.

    Each experiment grows a fresh key one step at a time. The summary has the
    encodings seen before and after the first switch, the step that caused it, and the
    live ``CONFIG GET`` limit that should govern it (None if this server has no such
    parameter); ``expected_switch = limit + 1``.

    Returns:
        ``(summary, curves)`` with the per-step frames keyed ``"<type>: <grows>"``.
    """
    rows, curves = [], {}
    for exp in _experiments(connection):
        k = key(ENCODING, exp["type"], exp["config"])
        df = grow_and_observe(
            connection,
            k,
            lambda p, i, add=exp["add"], k=k: add(p, k, i),
            n_max=exp["steps"],
        )
        label = f"{exp['type']}: {exp['grows']}"
        curves[label] = df
        sw = encoding_switches(df)
        first = sw[0] if sw else None
        rows.append(
            {"type": exp["type"], "grows": exp["grows"],
             "small_encoding": df["encoding"].iloc[0],
             "large_encoding": first["to"] if first else None,
             "switch_at": first["at"] if first else None,
             "config": exp["config"], "limit": exp["limit"],
             "expected_switch": exp["limit"] + 1 if exp["limit"] is not None else None}
        )  # fmt: skip
    return pd.DataFrame(rows), curves


# hash field expiry (Redis >= 7.4, Valkey >= 9): feature-detected by the caller


def expire_fields(
    connection: Connection, key_: str, fields: Sequence[str], *, ttl_ms: int
) -> list[int]:
    """``HPEXPIRE key ttl FIELDS n f...``: per field 1 = set, -2 = no such field."""
    return list(
        connection.execute_command("HPEXPIRE", key_, ttl_ms, "FIELDS", len(fields), *fields)
    )


def field_ttls_ms(connection: Connection, key_: str, fields: Sequence[str]) -> list[int]:
    """``HPTTL``: remaining ms per field, -1 = no TTL, -2 = no such field."""
    return list(connection.execute_command("HPTTL", key_, "FIELDS", len(fields), *fields))
