"""Data-structure patterns and the experiments that choose between them.

Every function that talks to Redis takes ``connection=`` (a ``redis.Redis``,
``decode_responses=True`` as :meth:`redislab.Lab.client` gives); write helpers take
an optional ``pipeline=`` so several patterns compose in one round trip. Keys come
from :func:`redislab.keys.key`.

Families, in the order notebook 01 uses them:

- strings: cache-aside with a TTL, counters under concurrent threads, DAU bitmaps,
  ``BITFIELD`` packed counters;
- objects stored three ways (JSON string, hash, one key per field, plus native JSON
  where the server has it) and the wire cost of each access;
- encodings: grow a key one element at a time and watch ``OBJECT ENCODING`` and
  ``MEMORY USAGE`` to find where the compact encoding ends;
- lists, sets, sorted sets, streams: queue/feed/leaderboard/time-index helpers;
- HyperLogLog accuracy, geo distances against a haversine, and the closing
  storage comparison on a seeded user dataset.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from redis.client import NEVER_DECODE

from .errors import RedislabError
from .features import has_command
from .keys import key
from .measure import summarize, time_calls

__all__ = [
    "COUNTER_MODES",
    "EARTH_RADIUS_M",
    "HLL_DENSE_BYTES",
    "HLL_HEADER_BYTES",
    "HLL_STANDARD_ERROR",
    "JSON_SET_FIELD",
    "LAYOUTS",
    "CounterRun",
    "StructureError",
    "active_users",
    "autocomplete",
    "bitfield_counters",
    "bitfield_incr_many",
    "bitfield_overflow",
    "bitmap_vs_set_memory",
    "blocking_pop_timeout",
    "cache_aside",
    "claim",
    "combine_days",
    "concurrent_counter",
    "config_int",
    "dau_counts",
    "decision_table",
    "encoding_switches",
    "encoding_thresholds",
    "expire_fields",
    "feed_push",
    "field_ttls_ms",
    "flatten_profile",
    "geo_box_check",
    "geo_distance_check",
    "geo_load",
    "geo_radius_check",
    "grow_and_observe",
    "haversine_m",
    "hll_accuracy",
    "hll_is_sparse",
    "layouts_available",
    "leaderboard_add",
    "load_profile",
    "make_users",
    "mark_active",
    "measure_wakeup",
    "memory_usage",
    "neighbours",
    "page_by_score",
    "parse_stream_id",
    "priority_pop",
    "priority_push",
    "profile_key",
    "random_points",
    "read_field",
    "recover_processing",
    "save_profile",
    "sell_concurrently",
    "storage_comparison",
    "stream_burst",
    "tag_item",
    "tag_query",
    "top_n",
    "trim_experiment",
    "wire_cost",
    "write_field",
]


class StructureError(RedislabError):
    """A pattern was asked for something it cannot do (unknown layout, missing feature)."""


# --------------------------------------------------------------------------- common


def config_int(connection: Any, name: str) -> int | None:
    """The live value of an integer ``CONFIG GET`` parameter, or None if the server lacks it."""
    reply = connection.config_get(name)
    return int(reply[name]) if name in reply else None


def memory_usage(connection: Any, key_: str) -> int:
    """``MEMORY USAGE key SAMPLES 0``: bytes, counting every element (no sampling)."""
    return int(connection.memory_usage(key_, samples=0) or 0)


def _raw(connection: Any, *args: Any) -> Any:
    """Run a command and return its reply undecoded (bytes), whatever the client decodes."""
    return connection.execute_command(*args, **{NEVER_DECODE: True})


# --------------------------------------------------------------------------- strings


def cache_aside(
    connection: Any, key_: str, compute: Callable[[], str], *, ttl_ms: int
) -> tuple[str, bool]:
    """Return ``(value, hit)``: the cached value, or ``compute()`` stored with a TTL.

    Args:
        connection: client.
        key_: cache key.
        compute: the slow source of truth, called on a miss.
        ttl_ms: time to live of a freshly cached value (``SET ... PX``).
    """
    cached = connection.get(key_)
    if cached is not None:
        return cached, True
    value = compute()
    connection.set(key_, value, px=ttl_ms)
    return value, False


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
    connection: Any,
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
    connection: Any, key_: str, *, stock: int, buyers: int, threads: int = 4
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
    connection: Any, key_: str, user_ids: Sequence[int], *, pipeline: Any = None
) -> None:
    """``SETBIT key uid 1`` for every user id (one pipeline unless one is given)."""
    pipe = pipeline if pipeline is not None else connection.pipeline(transaction=False)
    for uid in user_ids:
        pipe.setbit(key_, int(uid), 1)
    if pipeline is None:
        pipe.execute()


def active_users(connection: Any, key_: str) -> np.ndarray:
    """The user ids whose bit is set, decoded client-side from the raw bitmap (``GET``)."""
    raw = _raw(connection, "GET", key_) or b""
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8))  # bit 0 = most significant
    return np.flatnonzero(bits)


def dau_counts(connection: Any, keys: Mapping[str, str]) -> pd.DataFrame:
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
    connection: Any, op: str, dest: str, keys: Sequence[str], *, ttl_s: int = 60
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


def bitmap_vs_set_memory(connection: Any, user_ids: Sequence[int], *, name: str) -> pd.DataFrame:
    """Store the same user ids as a bitmap and as a set; compare ``MEMORY USAGE``."""
    kb, ks = key("dau", name, "bitmap"), key("dau", name, "set")
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
    connection: Any,
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


def bitfield_counters(connection: Any, key_: str, n: int, *, bits: int = 16) -> np.ndarray:
    """All ``n`` unsigned counters, read with one ``GET`` and unpacked with numpy."""
    if bits not in (8, 16, 32):
        raise StructureError("bitfield_counters reads byte-aligned u8/u16/u32 fields only")
    raw = _raw(connection, "GET", key_) or b""
    width = bits // 8
    buf = raw.ljust(n * width, b"\0")[: n * width]  # missing tail = zero counters
    return np.frombuffer(buf, dtype=f">u{width}").astype(np.int64)


def bitfield_overflow(connection: Any, *, increments: int = 300, bits: int = 8) -> pd.DataFrame:
    """Increment one ``u{bits}`` field ``increments`` times under WRAP, SAT and FAIL."""
    rows = []
    for mode in ("WRAP", "SAT", "FAIL"):
        k = key("bitfield", "overflow", mode.lower())
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


# --------------------------------------------------------------------------- objects

LAYOUTS = ("json", "hash", "keys", "native_json")

# KEYS[1]: a key holding a JSON object serialized as a string
# ARGV[1]: the field to set; ARGV[2]: its new value, JSON-encoded
# Returns 1 when the document existed and was rewritten, 0 when the key is missing.
JSON_SET_FIELD = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local doc = cjson.decode(raw)
doc[ARGV[1]] = cjson.decode(ARGV[2])
redis.call('SET', KEYS[1], cjson.encode(doc), 'KEEPTTL')
return 1
"""

_scripts: dict[str, Any] = {}


def _script(connection: Any, name: str, source: str) -> Any:
    """Register ``source`` once per process; call the result with ``client=``."""
    if name not in _scripts:
        _scripts[name] = connection.register_script(source)
    return _scripts[name]


def layouts_available(connection: Any) -> list[str]:
    """The storage layouts this server supports (``native_json`` needs ``JSON.SET``)."""
    out = ["json", "hash", "keys"]
    if has_command(connection, "JSON.SET"):
        out.append("native_json")
    return out


def profile_key(layout: str, uid: int | str, field: str | None = None) -> str:
    """Key of a user's document (or, for the ``keys`` layout, of one of its fields)."""
    if layout not in LAYOUTS:
        raise StructureError(f"unknown layout {layout!r}; use one of {LAYOUTS}")
    if layout == "keys":
        if field is None:
            raise StructureError("the 'keys' layout stores one key per field: name the field")
        return key("profile", layout, uid, field)
    return key("profile", layout, uid)


def flatten_profile(profile: Mapping[str, Any]) -> dict[str, str]:
    """Field -> string, as a hash or one-key-per-field stores it (lists comma-joined)."""
    return {
        f: ",".join(map(str, v)) if isinstance(v, list | tuple) else str(v)
        for f, v in profile.items()
    }


def save_profile(
    connection: Any,
    layout: str,
    uid: int | str,
    profile: Mapping[str, Any],
    *,
    pipeline: Any = None,
) -> None:
    """Write a whole user document in ``layout`` (one command, or ``MSET`` for ``keys``)."""
    target = pipeline if pipeline is not None else connection
    if layout == "json":
        target.set(profile_key(layout, uid), json.dumps(profile, separators=(",", ":")))
    elif layout == "hash":
        target.hset(profile_key(layout, uid), mapping=flatten_profile(profile))
    elif layout == "keys":
        target.mset({profile_key(layout, uid, f): v for f, v in flatten_profile(profile).items()})
    elif layout == "native_json":
        target.execute_command("JSON.SET", profile_key(layout, uid), "$", json.dumps(profile))
    else:
        raise StructureError(f"unknown layout {layout!r}")


def load_profile(
    connection: Any, layout: str, uid: int | str, fields: Sequence[str]
) -> dict[str, Any]:
    """Read a whole user document back (JSON layouts keep types; hash/keys return strings)."""
    if layout == "json":
        raw = connection.get(profile_key(layout, uid))
        return json.loads(raw) if raw is not None else {}
    if layout == "hash":
        return connection.hgetall(profile_key(layout, uid))
    if layout == "keys":
        values = connection.mget([profile_key(layout, uid, f) for f in fields])
        return {f: v for f, v in zip(fields, values, strict=True) if v is not None}
    if layout == "native_json":
        raw = connection.execute_command("JSON.GET", profile_key(layout, uid))
        return json.loads(raw) if raw is not None else {}
    raise StructureError(f"unknown layout {layout!r}")


def read_field(connection: Any, layout: str, uid: int | str, field: str) -> Any:
    """Read one field. A JSON string must be fetched and parsed whole."""
    if layout == "json":
        raw = connection.get(profile_key(layout, uid))
        return json.loads(raw).get(field) if raw is not None else None
    if layout == "hash":
        return connection.hget(profile_key(layout, uid), field)
    if layout == "keys":
        return connection.get(profile_key(layout, uid, field))
    if layout == "native_json":
        raw = connection.execute_command("JSON.GET", profile_key(layout, uid), f"$.{field}")
        return json.loads(raw)[0] if raw else None
    raise StructureError(f"unknown layout {layout!r}")


def write_field(
    connection: Any,
    layout: str,
    uid: int | str,
    field: str,
    value: Any,
    *,
    json_update: str = "watch",
) -> None:
    """Set one field, safely under concurrent writers.

    For the ``json`` layout, ``json_update="watch"`` does an optimistic
    read-modify-write (``WATCH``/``GET``, edit in Python, ``MULTI``/``SET``/``EXEC``,
    retried on conflict); ``"lua"`` edits server-side in one round trip with
    :data:`JSON_SET_FIELD`. The other layouts write the field alone.
    """
    if layout == "json":
        k = profile_key(layout, uid)
        if json_update == "lua":
            _script(connection, "json_set_field", JSON_SET_FIELD)(
                keys=[k], args=[field, json.dumps(value)], client=connection
            )
            return
        if json_update != "watch":
            raise StructureError(f"json_update must be 'watch' or 'lua', not {json_update!r}")
        connection.transaction(
            lambda pipe: _json_rmw(pipe, k, field, value), k, value_from_callable=False
        )
    elif layout == "hash":
        connection.hset(profile_key(layout, uid), field, str(value))
    elif layout == "keys":
        connection.set(profile_key(layout, uid, field), str(value))
    elif layout == "native_json":
        connection.execute_command(
            "JSON.SET", profile_key(layout, uid), f"$.{field}", json.dumps(value)
        )
    else:
        raise StructureError(f"unknown layout {layout!r}")


def _json_rmw(pipe: Any, k: str, field: str, value: Any) -> None:
    raw = pipe.get(k)  # immediate: the pipeline is WATCHing k
    doc = json.loads(raw) if raw is not None else {}
    doc[field] = value
    pipe.multi()
    pipe.set(k, json.dumps(doc, separators=(",", ":")), keepttl=True)


# --------------------------------------------------------------------------- encodings


def grow_and_observe(
    connection: Any,
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


def _experiments(connection: Any) -> list[dict[str, Any]]:
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


def encoding_thresholds(connection: Any) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
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
        k = key("encoding", exp["type"], exp["config"])
        df = grow_and_observe(
            connection, k, lambda p, i, add=exp["add"], k=k: add(p, k, i), n_max=exp["steps"]
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


def expire_fields(connection: Any, key_: str, fields: Sequence[str], *, ttl_ms: int) -> list[int]:
    """``HPEXPIRE key ttl FIELDS n f...``: per field 1 = set, -2 = no such field."""
    return list(
        connection.execute_command("HPEXPIRE", key_, ttl_ms, "FIELDS", len(fields), *fields)
    )


def field_ttls_ms(connection: Any, key_: str, fields: Sequence[str]) -> list[int]:
    """``HPTTL``: remaining ms per field, -1 = no TTL, -2 = no such field."""
    return list(connection.execute_command("HPTTL", key_, "FIELDS", len(fields), *fields))


# --------------------------------------------------------------------------- lists


def feed_push(connection: Any, key_: str, item: str, *, cap: int, pipeline: Any = None) -> None:
    """Prepend ``item`` and keep only the newest ``cap`` (``LPUSH`` + ``LTRIM`` in MULTI)."""
    pipe = pipeline if pipeline is not None else connection.pipeline(transaction=True)
    pipe.lpush(key_, item)
    pipe.ltrim(key_, 0, cap - 1)
    if pipeline is None:
        pipe.execute()


def claim(connection: Any, queue: str, processing: str) -> str | None:
    """Reliable-queue take: ``LMOVE queue processing RIGHT LEFT`` (atomic; FIFO with LPUSH)."""
    return connection.lmove(queue, processing, "RIGHT", "LEFT")


def recover_processing(connection: Any, processing: str, queue: str) -> int:
    """After a consumer crash, put every un-acknowledged item back at the queue's head.

    The newest claim is moved first, so the oldest ends up next in line: the original
    order is kept.
    """
    moved = 0
    while connection.lmove(processing, queue, "LEFT", "RIGHT") is not None:
        moved += 1
    return moved


def measure_wakeup(
    wait: Callable[[], Any], wake: Callable[[], Any], *, delay_s: float
) -> dict[str, Any]:
    """Run blocking ``wait()`` here while another thread calls ``wake()`` after ``delay_s``.

    Returns the result of ``wait()``, the seconds it blocked, and how long after
    ``wake()`` was *sent* the waiter returned (``wakeup_ms``: one trip to the server and
    back, since the waiter can return before the waker has its own reply).
    """
    sent_at: list[float] = []
    errors: list[BaseException] = []

    def waker() -> None:
        time.sleep(delay_s)
        sent_at.append(time.perf_counter())
        try:
            wake()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=waker, daemon=True)
    start = time.perf_counter()
    t.start()
    result = wait()
    end = time.perf_counter()
    t.join()
    if errors:
        raise errors[0]
    return {
        "result": result,
        "blocked_s": end - start,
        "wakeup_ms": (end - sent_at[0]) * 1e3 if sent_at else float("nan"),
    }


def blocking_pop_timeout(connection: Any, key_: str, *, timeout_s: float) -> dict[str, Any]:
    """``BRPOP`` on an empty list: returns None after ``timeout_s`` (fractional since 6.0)."""
    connection.delete(key_)
    start = time.perf_counter()
    reply = connection.brpop([key_], timeout=timeout_s)
    return {"result": reply, "blocked_s": time.perf_counter() - start, "timeout_s": timeout_s}


# --------------------------------------------------------------------------- sets


def tag_item(connection: Any, item: str, tags: Sequence[str], *, pipeline: Any = None) -> None:
    """Index ``item`` under each tag (``SADD tag-set item``) and keep its own tag set."""
    pipe = pipeline if pipeline is not None else connection.pipeline(transaction=False)
    for t in tags:
        pipe.sadd(key("tags", "tag", t), item)
    if tags:
        pipe.sadd(key("tags", "item", item), *tags)
    if pipeline is None:
        pipe.execute()


def tag_query(
    connection: Any,
    *,
    all_of: Sequence[str] = (),
    any_of: Sequence[str] = (),
    none_of: Sequence[str] = (),
) -> set[str]:
    """Items with every tag in ``all_of``, at least one of ``any_of`` and none of ``none_of``.

    Runs server-side in one MULTI with ``SINTERSTORE`` / ``SUNIONSTORE`` / ``SDIFF`` on
    temporary keys that are deleted in the same transaction.
    """
    if not all_of and not any_of:
        raise StructureError("tag_query needs all_of or any_of")
    tk = lambda t: key("tags", "tag", t)  # noqa: E731
    tmp_all = key("tags", "tmp", "all", threading.get_ident())
    tmp_any = key("tags", "tmp", "any", threading.get_ident())
    pipe = connection.pipeline(transaction=True)
    sources = []
    if all_of:
        pipe.sinterstore(tmp_all, [tk(t) for t in all_of])
        sources.append(tmp_all)
    if any_of:
        pipe.sunionstore(tmp_any, [tk(t) for t in any_of])
        sources.append(tmp_any)
    if len(sources) == 2:
        pipe.sinterstore(tmp_all, sources)
    base = tmp_all if all_of else tmp_any
    pipe.sdiff([base, *[tk(t) for t in none_of]])
    pipe.delete(tmp_all, tmp_any)
    return set(pipe.execute()[-2])


# --------------------------------------------------------------------------- sorted sets


def leaderboard_add(
    connection: Any, board: str, player: str, points: float, *, pipeline: Any = None
) -> Any:
    """``ZINCRBY board points player``: add points (creates the player at 0)."""
    return (pipeline if pipeline is not None else connection).zincrby(board, points, player)


def top_n(connection: Any, board: str, n: int) -> list[tuple[str, float]]:
    """The ``n`` best ``(player, score)``, highest first (equal scores: reverse lexical)."""
    return connection.zrange(board, 0, n - 1, desc=True, withscores=True)


def neighbours(
    connection: Any, board: str, player: str, *, k: int = 2
) -> list[tuple[int, str, float]]:
    """``(rank, player, score)`` for the ``k`` players above and below ``player``.

    Ranks are 0-based, highest score first (``ZREVRANK``).
    """
    rank = connection.zrevrank(board, player)
    if rank is None:
        return []
    lo = max(0, rank - k)
    entries = connection.zrange(board, lo, rank + k, desc=True, withscores=True)
    return [(lo + i, m, s) for i, (m, s) in enumerate(entries)]


def page_by_score(
    connection: Any, index: str, lo: float | str, hi: float | str, *, page_size: int
) -> Iterator[list[tuple[str, float]]]:
    """Pages of ``ZRANGE index lo hi BYSCORE LIMIT offset page_size WITHSCORES``."""
    offset = 0
    while True:
        page = connection.zrange(
            index, lo, hi, byscore=True, offset=offset, num=page_size, withscores=True
        )
        if not page:
            return
        yield page
        offset += len(page)


def autocomplete(connection: Any, index: str, prefix: str, *, limit: int = 10) -> list[str]:
    """Members of an equal-score sorted set starting with ``prefix`` (``BYLEX`` range)."""
    return connection.zrange(index, f"[{prefix}", f"[{prefix}\xff", bylex=True, offset=0, num=limit)


def priority_push(
    connection: Any, queue: str, items: Mapping[str, float], *, pipeline: Any = None
) -> Any:
    """Add jobs with their priority (lower score = more urgent)."""
    return (pipeline if pipeline is not None else connection).zadd(queue, dict(items))


def priority_pop(connection: Any, queue: str, count: int = 1) -> list[tuple[str, float]]:
    """Take the ``count`` most urgent jobs atomically (``ZPOPMIN``)."""
    return connection.zpopmin(queue, count)


# --------------------------------------------------------------------------- streams


def parse_stream_id(entry_id: str) -> tuple[int, int]:
    """``"1700000000000-3"`` -> ``(1700000000000, 3)``."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)


def stream_burst(connection: Any, key_: str, n: int, *, pipeline: Any = None) -> list[str]:
    """``XADD key * ...`` ``n`` times in one pipeline; return the server-assigned IDs.

    With ``pipeline=`` the commands are only queued and the IDs come back from the
    caller's ``execute()`` (this returns ``[]``).
    """
    pipe = pipeline if pipeline is not None else connection.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(key_, {"seq": i})
    return pipe.execute() if pipeline is None else []


def trim_experiment(connection: Any, key_: str, *, n: int, maxlen: int) -> pd.DataFrame:
    """Append ``n`` entries with ``MAXLEN maxlen`` exact and ``MAXLEN ~ maxlen``; compare."""
    rows = []
    for approximate in (False, True):
        k = key_ + (":approx" if approximate else ":exact")
        connection.delete(k)
        pipe = connection.pipeline(transaction=False)
        for i in range(n):
            pipe.xadd(k, {"i": i}, maxlen=maxlen, approximate=approximate)
        pipe.execute()
        first = connection.xrange(k, count=1)[0][1]["i"]
        rows.append(
            {"trim": "MAXLEN ~" if approximate else "MAXLEN =", "appended": n, "maxlen": maxlen,
             "length": connection.xlen(k), "oldest_kept": int(first),
             "memory_bytes": memory_usage(connection, k)}
        )  # fmt: skip
        connection.delete(k)
    return pd.DataFrame(rows).set_index("trim")


# --------------------------------------------------------------------------- HyperLogLog

HLL_STANDARD_ERROR = 0.0081  # documented standard error of Redis's HLL (16384 registers)
HLL_HEADER_BYTES = 16  # "HYLL" magic, encoding, 3 unused, 8-byte cached cardinality
HLL_DENSE_BYTES = HLL_HEADER_BYTES + 16384 * 6 // 8  # 12 KiB of 6-bit registers + header


def hll_is_sparse(connection: Any, key_: str) -> bool:
    """Byte 4 of the HLL header is the encoding: 0 = dense, 1 = sparse."""
    return _raw(connection, "GETRANGE", key_, 4, 4) == b"\x01"


def hll_accuracy(
    connection: Any,
    *,
    checkpoints: Sequence[int],
    seed: int,
    name: str = "visitors",
    exact_set: bool = True,
    chunk: int = 5000,
) -> pd.DataFrame:
    """Add distinct seeded ids to an HLL (and an exact set); measure at each checkpoint.

    Columns: ``n`` (true distinct count), ``estimate`` (``PFCOUNT``), ``rel_error``,
    ``hll_bytes`` (``STRLEN``), ``hll_memory`` and ``set_memory`` (``MEMORY USAGE``),
    ``sparse`` (header encoding byte).
    """
    cps = sorted(int(c) for c in checkpoints)
    rng = np.random.default_rng(seed)
    ids = np.unique(rng.integers(0, 2**62, size=int(cps[-1] * 1.01) + 100))
    ids = rng.permutation(ids)[: cps[-1]]  # distinct, in random order
    if len(ids) < cps[-1]:
        raise StructureError("could not draw enough distinct ids")  # pragma: no cover
    k_hll, k_set = key("hll", name), key("hll", name, "exact")
    connection.delete(k_hll, k_set)
    rows, done = [], 0
    for cp in cps:
        while done < cp:
            batch = [str(x) for x in ids[done : min(cp, done + chunk)]]
            pipe = connection.pipeline(transaction=False)
            pipe.pfadd(k_hll, *batch)
            if exact_set:
                pipe.sadd(k_set, *batch)
            pipe.execute()
            done += len(batch)
        est = connection.pfcount(k_hll)
        rows.append(
            {"n": cp, "estimate": est, "rel_error": (est - cp) / cp,
             "hll_bytes": connection.strlen(k_hll), "sparse": hll_is_sparse(connection, k_hll),
             "hll_memory": memory_usage(connection, k_hll),
             "set_memory": memory_usage(connection, k_set) if exact_set else None}
        )  # fmt: skip
    connection.delete(k_hll, k_set)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- geo

EARTH_RADIUS_M = 6372797.560856  # the sphere Redis measures on (src/geohash_helper.c)


def haversine_m(
    lon1: Any, lat1: Any, lon2: Any, lat2: Any, *, radius_m: float = EARTH_RADIUS_M
) -> np.ndarray:
    """Great-circle distance in metres on a sphere (vectorised)."""
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(v, dtype=float)) for v in (lon1, lat1, lon2, lat2)
    )
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * radius_m * np.arcsin(np.sqrt(a))


def random_points(
    n: int, *, center: tuple[float, float], spread_km: float, seed: int
) -> pd.DataFrame:
    """``n`` seeded points (member, lon, lat) scattered around ``center`` (lon, lat)."""
    rng = np.random.default_rng(seed)
    dlat = spread_km / 111.0
    dlon = dlat / math.cos(math.radians(center[1]))
    return pd.DataFrame(
        {"member": [f"place:{i}" for i in range(n)],
         "lon": center[0] + rng.uniform(-dlon, dlon, n),
         "lat": center[1] + rng.uniform(-dlat, dlat, n)}
    )  # fmt: skip


def geo_load(connection: Any, key_: str, points: pd.DataFrame, *, pipeline: Any = None) -> None:
    """``GEOADD`` every point, 500 per command."""
    target = pipeline if pipeline is not None else connection.pipeline(transaction=False)
    for start in range(0, len(points), 500):
        part = points.iloc[start : start + 500]
        flat: list[Any] = []
        for m, lon, lat in zip(part["member"], part["lon"], part["lat"], strict=True):
            flat += [lon, lat, m]
        target.geoadd(key_, flat)
    if pipeline is None:
        target.execute()


def geo_distance_check(
    connection: Any, key_: str, points: pd.DataFrame, origin: str
) -> pd.DataFrame:
    """``GEODIST origin m`` for every member vs haversine on the coordinates we stored."""
    o = points.set_index("member").loc[origin]
    pipe = connection.pipeline(transaction=False)
    for m in points["member"]:
        pipe.geodist(key_, origin, m, unit="m")
    redis_m = np.array(pipe.execute(), dtype=float)
    hav = haversine_m(o["lon"], o["lat"], points["lon"], points["lat"])
    return pd.DataFrame(
        {"member": points["member"], "redis_m": redis_m, "haversine_m": hav,
         "abs_diff_m": np.abs(redis_m - hav)}
    )  # fmt: skip


def geo_radius_check(
    connection: Any,
    key_: str,
    points: pd.DataFrame,
    center: tuple[float, float],
    radius_m: float,
) -> dict[str, Any]:
    """``GEOSEARCH FROMLONLAT BYRADIUS`` vs a haversine filter; disagreements and their margin.

    ``margin_m`` is how far each disagreeing point lies from the circle's edge.
    """
    got = set(connection.geosearch(key_, longitude=center[0], latitude=center[1],
                                   radius=radius_m, unit="m"))  # fmt: skip
    d = haversine_m(center[0], center[1], points["lon"], points["lat"])
    want = set(points["member"][d <= radius_m])
    diff = got ^ want
    margin = np.abs(d[points["member"].isin(diff).to_numpy()] - radius_m)
    return {"redis": len(got), "python": len(want), "disagree": len(diff),
            "max_margin_m": float(margin.max()) if len(margin) else 0.0}  # fmt: skip


def geo_box_check(
    connection: Any,
    key_: str,
    points: pd.DataFrame,
    center: tuple[float, float],
    width_m: float,
    height_m: float,
) -> dict[str, Any]:
    """``GEOSEARCH BYBOX`` vs Python: |north-south distance| <= h/2 and east-west <= w/2.

    The east-west distance is measured along the point's own latitude, as Redis does.
    """
    got = set(connection.geosearch(key_, longitude=center[0], latitude=center[1],
                                   width=width_m, height=height_m, unit="m"))  # fmt: skip
    lon, lat = points["lon"].to_numpy(), points["lat"].to_numpy()
    ns = haversine_m(center[0], center[1], center[0], lat)
    ew = haversine_m(center[0], lat, lon, lat)
    inside = (ns <= height_m / 2) & (ew <= width_m / 2)
    want = set(points["member"][inside])
    diff = got ^ want
    mask = points["member"].isin(diff).to_numpy()
    margin = np.minimum(np.abs(ns[mask] - height_m / 2), np.abs(ew[mask] - width_m / 2))
    return {"redis": len(got), "python": len(want), "disagree": len(diff),
            "max_margin_m": float(margin.max()) if len(margin) else 0.0}  # fmt: skip


# --------------------------------------------------------------------------- which structure?

_COUNTRIES = ("FR", "DE", "US", "GB", "ES", "IT", "NL", "BR", "IN", "JP")
_TAGS = ("sports", "music", "tech", "travel", "food", "books", "games", "film", "art", "news")
_PLANS = ("free", "pro", "team")
_SYLL = ("ka", "lo", "mi", "ra", "to", "ne", "su", "vi", "an", "el", "or", "is")


def make_users(n: int, *, seed: int) -> list[dict[str, Any]]:
    """``n`` seeded user profiles: 10 fields, tags as a list, a score and timestamps."""
    rng = random.Random(seed)
    users = []
    for uid in range(n):
        first = "".join(rng.choice(_SYLL) for _ in range(rng.randint(2, 3))).title()
        last = "".join(rng.choice(_SYLL) for _ in range(rng.randint(2, 4))).title()
        signup = 1_600_000_000 + rng.randrange(100_000_000)
        users.append(
            {"id": uid, "name": f"{first} {last}",
             "email": f"{first}.{last}{uid}@example.com".lower(),
             "country": rng.choice(_COUNTRIES), "plan": rng.choice(_PLANS),
             "age": rng.randint(16, 80), "score": rng.randint(0, 100_000),
             "tags": rng.sample(_TAGS, rng.randint(1, 4)),
             "signup_ts": signup, "last_login_ts": signup + rng.randrange(30_000_000)}
        )  # fmt: skip
    return users


def _used_memory(connection: Any) -> int:
    return int(connection.info("memory")["used_memory"])


_INFO_ARGS = ("INFO", "stats", "commandstats")


def _resp_request_bytes(args: Sequence[str]) -> int:
    """Size of a command as RESP puts it on the wire (``*n`` then ``$len`` + arg each)."""
    return len(f"*{len(args)}\r\n") + sum(len(f"${len(a)}\r\n{a}\r\n") for a in args)


def _stats_snapshot(conn: Any) -> tuple[int, int, int, int]:
    """(command calls, net input bytes, net output bytes, size of this INFO reply)."""
    conn.send_command(*_INFO_ARGS)
    raw: bytes = conn.read_response(disable_decoding=True)
    calls = net_in = net_out = 0
    for line in raw.decode().splitlines():
        name, _, value = line.partition(":")
        if name.startswith("cmdstat_"):
            calls += int(value.split(",")[0].removeprefix("calls="))
        elif name == "total_net_input_bytes":
            net_in = int(value)
        elif name == "total_net_output_bytes":
            net_out = int(value)
    if str(getattr(conn, "protocol", 2)) == "3":  # RESP3 verbatim string: "=<n>\r\ntxt:..."
        payload = 4 + len(raw)
        return calls, net_in, net_out, len(f"={payload}\r\n") + payload + 2
    return calls, net_in, net_out, len(f"${len(raw)}\r\n") + len(raw) + 2


def wire_cost(connection: Any, fn: Callable[[], Any], *, n: int) -> dict[str, float]:
    """Commands run and network bytes per call of ``fn``, from the server's own counters.

    After one warm-up call, two ``INFO stats commandstats`` snapshots bracket ``n``
    calls (on a separate pooled connection); the second one's
    request, the first one's reply (whose exact size we read) and the first ``INFO``
    call are subtracted. Commands run inside a script count too. Assumes no other
    client is busy on the server meanwhile.
    """
    conn = connection.connection_pool.get_connection()
    try:
        fn()  # untimed: lets ``fn``'s own pooled connection finish its handshake first
        b = _stats_snapshot(conn)
        for _ in range(n):
            fn()
        c = _stats_snapshot(conn)
    finally:
        connection.connection_pool.release(conn)
    return {
        "commands": (c[0] - b[0] - 1) / n,
        "bytes_in": (c[1] - b[1] - _resp_request_bytes(_INFO_ARGS)) / n,
        "bytes_out": (c[2] - b[2] - b[3]) / n,
    }


def storage_comparison(
    connection: Any,
    users: Sequence[Mapping[str, Any]],
    *,
    layouts: Sequence[str] | None = None,
    sample: int = 300,
    seed: int = 0,
    field: str = "score",
) -> pd.DataFrame:
    """Store ``users`` in each layout; measure memory, latency and wire cost per access.

    Memory per user: ``memory_per_user_B`` sums ``MEMORY USAGE`` over every key of
    ``sample`` users (value, key name and entry overhead; independent of what else is
    stored); ``used_memory_delta_B`` is how much ``used_memory`` grew per user while
    loading the layout (also counts the keyspace table growing, so it depends on how
    many keys were there before). Latencies are p50/p95 over ``sample`` seeded users,
    one call at a time; wire costs come from :func:`wire_cost`. One row per
    (layout, operation).
    """
    layouts = list(layouts or layouts_available(connection))
    fields = list(users[0].keys())
    rng = random.Random(seed)
    ids = [rng.randrange(len(users)) for _ in range(sample)]
    rows = []
    for layout in layouts:
        before = _used_memory(connection)
        pipe = connection.pipeline(transaction=False)
        for i, u in enumerate(users):
            save_profile(connection, layout, u["id"], u, pipeline=pipe)
            if i % 500 == 499:
                pipe.execute()
        pipe.execute()
        delta = (_used_memory(connection) - before) / len(users)
        n_keys = len(fields) if layout == "keys" else 1
        for i in ids:
            for f in fields if layout == "keys" else [None]:
                pipe.memory_usage(profile_key(layout, i, f), samples=0)
        mem = sum(pipe.execute()) / len(ids)

        def cycle(op: Callable[[int], Any]) -> Callable[[], Any]:
            it = iter(ids * 3)
            return lambda: op(next(it))

        ops: list[tuple[str, Callable[[int], Any]]] = [
            ("write whole", lambda i, L=layout: save_profile(connection, L, i, users[i])),
            ("read whole", lambda i, L=layout: load_profile(connection, L, i, fields)),
            ("read field", lambda i, L=layout: read_field(connection, L, i, field)),
            ("write field", lambda i, L=layout: write_field(connection, L, i, field, i)),
        ]
        if layout == "json":
            ops.append(
                ("write field (Lua)",
                 lambda i: write_field(connection, "json", i, field, i, json_update="lua"))
            )  # fmt: skip
        for op_name, op in ops:
            lat = summarize(time_calls(cycle(op), n=sample, warmup=10), unit="us")
            wire = wire_cost(connection, cycle(op), n=min(sample, 100))
            rows.append(
                {"layout": layout, "operation": op_name, "memory_per_user_B": mem,
                 "used_memory_delta_B": delta, "keys_per_user": n_keys,
                 "p50_us": lat["p50_us"], "p95_us": lat["p95_us"],
                 "commands_per_op": wire["commands"], "bytes_in_per_op": wire["bytes_in"],
                 "bytes_out_per_op": wire["bytes_out"]}
            )  # fmt: skip
    return pd.DataFrame(rows)


def decision_table(df: pd.DataFrame) -> pd.DataFrame:
    """From :func:`storage_comparison`: per criterion, each layout's value and the winner."""
    mem = df.groupby("layout")["memory_per_user_B"].first()
    crit: dict[str, pd.Series] = {"memory per user (B)": mem}
    for op in ("write whole", "read whole", "read field", "write field"):
        crit[f"{op} p50 (us)"] = df[df["operation"] == op].set_index("layout")["p50_us"]
        crit[f"{op} bytes on the wire"] = (
            df[df["operation"] == op]
            .set_index("layout")[["bytes_in_per_op", "bytes_out_per_op"]]
            .sum(axis=1)
        )
    table = pd.DataFrame(crit).T
    table["best"] = table.idxmin(axis=1)
    return table
