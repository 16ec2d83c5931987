"""Secondary indexes three ways: RediSearch, a hand-built set/sorted-set index, a full scan.

The same seeded users (:func:`redislab.structures.make_users`) are stored as hashes
(and, for a second RediSearch index, as JSON documents). A query is a small dict of
filters over the fields of :data:`SEARCH_FIELDS` (tags: any of some values; numerics:
an inclusive range; ``name``: one word), answered by:

- ``FT.SEARCH`` over an index made by ``FT.CREATE ... ON HASH`` or ``ON JSON``
  (:func:`create_indexes`; the module keeps it up to date on every write);
- the hand-built index the application maintains beside each write: a set per tag value
  and per name word, a sorted set per numeric field (:func:`hand_index_user`,
  :func:`hand_update`), read in one pipelined round trip and intersected in Python;
- a brute-force ``SCAN`` + ``HGETALL`` of every record, filtered in Python (the truth).

:func:`search_comparison` checks all three answer the same ids and times them;
:func:`concurrent_updates` and :func:`index_consistency` measure what it takes to keep
the hand-built index right while writers race.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..errors import StructureError
from ..keys import SEARCH, key
from ..kit.features import has_module
from ..kit.measure import summarize, time_calls, wire_cost
from ..lab.waits import wait_until
from ..types import Connection
from .layouts import _COUNTRIES, flatten_profile

SEARCH_FIELDS: dict[str, str] = {
    "name": "text", "country": "tag", "plan": "tag", "tags": "tag",
    "age": "numeric", "score": "numeric",
}  # fmt: skip
INDEX_HASH = key(SEARCH, "ft", "hash")
INDEX_JSON = key(SEARCH, "ft", "json")


def _need_search(connection: Connection) -> None:
    if not has_module(connection, "search"):
        raise StructureError("the RediSearch module (search) is not loaded on this server")


def record_key(kind: str, uid: int | str) -> str:
    """Key of a user record: ``kind`` is ``hash`` or ``json``."""
    if kind not in ("hash", "json"):
        raise StructureError(f"kind must be 'hash' or 'json', not {kind!r}")
    return key(SEARCH, kind, uid)


def _idx_key(field: str, value: Any | None = None) -> str:
    return key(SEARCH, "idx", field) if value is None else key(SEARCH, "idx", field, value)


def search_words(name: str) -> list[str]:
    """The lower-cased words of ``name``, as the hand-built text index keys them."""
    return sorted({w.lower() for w in str(name).split()})


# ------------------------------------------------------------------ loading and indexing


def hand_index_user(pipe: Any, user: Mapping[str, Any]) -> None:
    """Queue the hand-built index entries of ``user`` on ``pipe`` (adds only)."""
    uid = str(user["id"])
    for field, kind in SEARCH_FIELDS.items():
        value = user[field]
        if kind == "numeric":
            pipe.zadd(_idx_key(field), {uid: float(value)})
        elif kind == "text":
            for w in search_words(value):
                pipe.sadd(_idx_key(field, w), uid)
        else:
            for v in value if isinstance(value, list | tuple) else [value]:
                pipe.sadd(_idx_key(field, v), uid)


def load_users(
    connection: Connection,
    users: Sequence[Mapping[str, Any]],
    *,
    json_docs: bool = True,
    hand_index: bool = True,
    chunk: int = 500,
) -> None:
    """Write ``users`` as hashes (tags comma-joined), optionally as JSON documents too,
    and maintain the hand-built index in the same pipeline."""
    pipe = connection.pipeline(transaction=False)
    for n, u in enumerate(users, 1):
        pipe.hset(record_key("hash", u["id"]), mapping=flatten_profile(u))
        if json_docs:
            pipe.execute_command("JSON.SET", record_key("json", u["id"]), "$", json.dumps(u))
        if hand_index:
            hand_index_user(pipe, u)
        if n % chunk == 0:
            pipe.execute()
    pipe.execute()


def _schema(json_path: bool) -> list[str]:
    out: list[str] = []
    for field, kind in SEARCH_FIELDS.items():
        if json_path:
            out += [f"$.{field}[*]" if field == "tags" else f"$.{field}", "AS", field]
        else:
            out.append(field)
        if kind == "text":
            out += ["TEXT", "NOSTEM"]
        elif kind == "numeric":
            out.append("NUMERIC")
        else:
            out.append("TAG")
            if field == "tags" and not json_path:
                out += ["SEPARATOR", ","]
    return out


def _pairs(reply: Any) -> dict[str, Any]:
    """A RESP3 map or a RESP2 flat list of pairs, as a dict with string keys."""
    if isinstance(reply, dict):
        return {str(k): v for k, v in reply.items()}
    items = list(reply)
    return {str(k): v for k, v in zip(items[::2], items[1::2], strict=False)}


def index_info(connection: Connection, index: str) -> dict[str, Any]:
    """``FT.INFO index`` as a dict."""
    return _pairs(connection.execute_command("FT.INFO", index))


def create_indexes(
    connection: Connection, *, json_index: bool = True, timeout: float = 60.0
) -> dict[str, float]:
    """``FT.CREATE`` over the hashes (and JSON documents), then wait for the background
    scan of the existing keys to finish; returns the seconds each index took."""
    _need_search(connection)
    out = {}
    targets = [(INDEX_HASH, "HASH", record_key("hash", ""))]
    if json_index:
        targets.append((INDEX_JSON, "JSON", record_key("json", "")))
    for index, on, prefix in targets:
        try:
            connection.execute_command("FT.DROPINDEX", index)
        except Exception:
            pass
        connection.execute_command(
            "FT.CREATE", index, "ON", on, "PREFIX", 1, prefix, "STOPWORDS", 0,
            "SCHEMA", *_schema(on == "JSON"),
        )  # fmt: skip
        out[index] = wait_until(
            lambda i=index: _indexed(connection, i),
            timeout=timeout,
            what=f"{index} to finish indexing",
        )
    return out


# ------------------------------------------------------------------ the three query paths


def _tag_values(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list | tuple) else [value])]


def ft_query(filters: Mapping[str, Any]) -> str:
    """The ``FT.SEARCH`` query string for ``filters`` (dialect 1)."""
    parts = []
    for field, value in filters.items():
        kind = SEARCH_FIELDS[field]
        if kind == "numeric":
            parts.append(f"@{field}:[{value[0]} {value[1]}]")
        elif kind == "text":
            parts.append(f"@{field}:{value}")
        else:
            parts.append(f"@{field}:{{{'|'.join(_tag_values(value))}}}")
    return " ".join(parts) or "*"


def _search_ids(reply: Any, prefix: str) -> set[str]:
    if isinstance(reply, dict):
        ids = [r["id"] for r in reply.get("results", [])]
    else:
        ids = list(reply[1:])
    return {str(i).removeprefix(prefix) for i in ids}


def ft_search(
    connection: Connection, filters: Mapping[str, Any], *, index: str = INDEX_HASH, limit: int
) -> set[str]:
    """The ids ``FT.SEARCH`` returns for ``filters`` (``NOCONTENT``, up to ``limit``)."""
    prefix = record_key("json" if index == INDEX_JSON else "hash", "")
    reply = connection.execute_command(
        "FT.SEARCH", index, ft_query(filters), "NOCONTENT", "LIMIT", 0, limit
    )
    return _search_ids(reply, prefix)


def hand_search(connection: Connection, filters: Mapping[str, Any]) -> set[str]:
    """The ids the hand-built index gives: one pipelined round trip, intersected here."""
    pipe = connection.pipeline(transaction=False)
    for field, value in filters.items():
        kind = SEARCH_FIELDS[field]
        if kind == "numeric":
            pipe.zrangebyscore(_idx_key(field), value[0], value[1])
        elif kind == "text":
            pipe.smembers(_idx_key(field, str(value).lower()))
        else:
            pipe.sunion([_idx_key(field, v) for v in _tag_values(value)])
    sets = [set(map(str, r)) for r in pipe.execute()]
    return set.intersection(*sets) if sets else set()


def matches(user: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    """Does a record (as ``HGETALL`` returns it: strings) match ``filters``?"""
    for field, value in filters.items():
        kind = SEARCH_FIELDS[field]
        got = user.get(field)
        if got is None:
            return False
        if kind == "numeric":
            if not value[0] <= float(got) <= value[1]:
                return False
        elif kind == "text":
            if str(value).lower() not in search_words(got):
                return False
        else:
            have = {v.lower() for v in str(got).split(",")}
            if not have & {v.lower() for v in _tag_values(value)}:
                return False
    return True


def scan_records(connection: Connection, *, count: int = 1000) -> dict[str, dict[str, str]]:
    """Every user hash, by id: ``SCAN`` then pipelined ``HGETALL``."""
    prefix = record_key("hash", "")
    keys = list(connection.scan_iter(match=f"{prefix}*", count=count))
    pipe = connection.pipeline(transaction=False)
    for k in keys:
        pipe.hgetall(k)
    return {str(k).removeprefix(prefix): v for k, v in zip(keys, pipe.execute(), strict=True)}


def scan_search(connection: Connection, filters: Mapping[str, Any]) -> set[str]:
    """Brute force: read every record and filter in Python."""
    return {uid for uid, rec in scan_records(connection).items() if matches(rec, filters)}


def search_comparison(
    connection: Connection,
    queries: Mapping[str, Mapping[str, Any]],
    *,
    n_records: int,
    repeat: int = 30,
    json_index: bool = True,
) -> pd.DataFrame:
    """For each named query: the result count of each method, whether it equals the scan,
    and p50 latency (µs) over ``repeat`` calls (the scan, which reads every record, is
    timed once: the call that gives the truth)."""
    methods: dict[str, Any] = {
        "FT.SEARCH (hash)": lambda f: ft_search(connection, f, limit=n_records),
        "hand-built index": lambda f: hand_search(connection, f),
    }
    if json_index:
        methods["FT.SEARCH (JSON)"] = lambda f: ft_search(
            connection, f, index=INDEX_JSON, limit=n_records
        )
    rows = []
    for qname, filters in queries.items():
        t0 = time.perf_counter()
        truth = scan_search(connection, filters)
        scan_us = (time.perf_counter() - t0) * 1e6
        rows.append({"query": qname, "method": "scan (truth)", "results": len(truth),
                     "equal_to_scan": True, "p50_us": scan_us})  # fmt: skip
        for mname, fn in methods.items():
            got = fn(filters)
            lat = summarize(time_calls(lambda f=filters, fn=fn: fn(f), n=repeat), unit="us")
            rows.append({"query": qname, "method": mname, "results": len(got),
                         "equal_to_scan": got == truth, "p50_us": lat["p50_us"]})  # fmt: skip
    return pd.DataFrame(rows)


def aggregate_counts(connection: Connection, field: str = "country") -> dict[str, int]:
    """``FT.AGGREGATE ... GROUPBY @field REDUCE COUNT``: records per value."""
    reply = connection.execute_command(
        "FT.AGGREGATE", INDEX_HASH, "*", "GROUPBY", 1, f"@{field}", "REDUCE", "COUNT", 0,
        "AS", "n",
    )  # fmt: skip
    out = {}
    if isinstance(reply, dict):
        for r in reply.get("results", []):
            attrs = r.get("extra_attributes", {})
            out[str(attrs[field])] = int(attrs["n"])
    else:
        for row in reply[1:]:
            d = _pairs(row)
            out[str(d[field])] = int(d["n"])
    return out


# ------------------------------------------------------------------ keeping it consistent


def hand_update(
    connection: Connection, uid: int | str, changes: Mapping[str, Any], *, mode: str = "watch"
) -> None:
    """Change tag/numeric fields of a record and its hand-built index entries.

    ``watch``: ``WATCH`` the record, read the old values, then ``MULTI``: remove the old
    memberships, add the new ones, ``HSET``; ``EXEC`` (retried if a writer got in
    between). ``naive``: the same without ``WATCH`` (two writers can both remove the
    same old value and both add theirs: the record ends in two sets).
    """
    if mode not in ("watch", "naive"):
        raise StructureError(f"mode must be 'watch' or 'naive', not {mode!r}")
    k, sid = record_key("hash", uid), str(uid)
    fields = list(changes)

    def queue(pipe: Any, old: Sequence[Any]) -> None:
        for field, before in zip(fields, old, strict=True):
            after = changes[field]
            if SEARCH_FIELDS[field] == "numeric":
                pipe.zadd(_idx_key(field), {sid: float(after)})
            else:
                if before is not None:
                    pipe.srem(_idx_key(field, before), sid)
                pipe.sadd(_idx_key(field, after), sid)
        pipe.hset(k, mapping={f: str(v) for f, v in changes.items()})

    if any(SEARCH_FIELDS[f] == "text" or f == "tags" for f in fields):
        raise StructureError("hand_update changes single-valued tag and numeric fields only")
    if mode == "watch":

        def txn(pipe: Any) -> None:
            old = pipe.hmget(k, fields)
            pipe.multi()
            queue(pipe, old)

        connection.transaction(txn, k)
    else:
        old = connection.hmget(k, fields)
        pipe = connection.pipeline(transaction=True)
        queue(pipe, old)
        pipe.execute()


def ft_update(connection: Connection, uid: int | str, changes: Mapping[str, Any]) -> None:
    """Change fields of a record: one ``HSET``; RediSearch reindexes it in the same command."""
    connection.hset(record_key("hash", uid), mapping={f: str(v) for f, v in changes.items()})


def read_after_write(
    connection: Connection, *, n_records: int, checks: int = 50, seed: int = 0
) -> dict[str, int]:
    """``HSET`` a new, unique age on ``checks`` seeded records and ``FT.SEARCH`` for it right
    after each, on the same connection, before anything else runs; then restore the age.

    Returns ``{"checks": n, "found_at_once": k}``: how many of the queries sent straight
    after the write already found the record (all of them if the index is updated inside
    the write command).
    """
    _need_search(connection)
    rng = random.Random(seed)
    found = 0
    for i in range(checks):
        uid = rng.randrange(n_records)
        k = record_key("hash", uid)
        old = connection.hget(k, "age")
        fresh = 10_000 + i  # no record has it
        connection.hset(k, "age", fresh)
        found += ft_search(connection, {"age": (fresh, fresh)}, limit=10) == {str(uid)}
        connection.hset(k, "age", old if old is not None else 0)
    return {"checks": checks, "found_at_once": found}


def update_cost(connection: Connection, *, n_records: int, seed: int) -> pd.DataFrame:
    """Commands and bytes per update of (country, age) for each way of keeping an index."""
    rng = random.Random(seed)

    def changes() -> tuple[int, dict[str, Any]]:
        return rng.randrange(n_records), {
            "country": rng.choice(_COUNTRIES), "age": rng.randint(16, 80)}  # fmt: skip

    rows = []
    for name, fn in (
        ("RediSearch: HSET", lambda: ft_update(connection, *changes())),
        ("hand-built: WATCH + MULTI", lambda: hand_update(connection, *changes())),
    ):
        w = wire_cost(connection, fn, n=100)
        lat = summarize(time_calls(fn, n=200), unit="us")
        rows.append({"update": name, "commands": w["commands"], "bytes_sent": w["bytes_in"],
                     "bytes_received": w["bytes_out"], "p50_us": lat["p50_us"]})  # fmt: skip
    return pd.DataFrame(rows)


def concurrent_updates(
    connection: Connection,
    mode: str,
    *,
    n_records: int,
    threads: int = 4,
    per_thread: int = 150,
    hot: int = 20,
    seed: int,
) -> None:
    """``threads`` writers change the country and age of ``hot`` records (a few, so they
    collide), ``per_thread`` updates each. ``mode``: ``ft`` (:func:`ft_update`, the hand
    index untouched), ``watch`` or ``naive`` (:func:`hand_update`)."""
    if mode not in ("ft", "watch", "naive"):
        raise StructureError(f"mode must be 'ft', 'watch' or 'naive', not {mode!r}")
    ids = random.Random(seed).sample(range(n_records), hot)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        rng = random.Random(seed * 1000 + t)
        try:
            for _ in range(per_thread):
                uid = rng.choice(ids)
                ch = {"country": rng.choice(_COUNTRIES), "age": rng.randint(16, 80)}
                if mode == "ft":
                    ft_update(connection, uid, ch)
                else:
                    hand_update(connection, uid, ch, mode=mode)
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]


def index_consistency(
    connection: Connection, *, n_records: int, countries: Sequence[str] = _COUNTRIES
) -> dict[str, int]:
    """Wrong answers of each index against a scan, summed over one query per country
    (``@country:{X}``) and a few age ranges: ids missing plus ids extra."""
    records = scan_records(connection)
    queries: list[dict[str, Any]] = [{"country": c} for c in countries]
    queries += [{"age": (lo, lo + 9)} for lo in range(16, 80, 10)]
    out = {"ft_wrong": 0, "hand_wrong": 0, "queries": len(queries)}
    for q in queries:
        truth = {uid for uid, rec in records.items() if matches(rec, q)}
        out["ft_wrong"] += len(ft_search(connection, q, limit=n_records) ^ truth)
        out["hand_wrong"] += len(hand_search(connection, q) ^ truth)
    return out


def rebuild_hand_index(connection: Connection) -> int:
    """Drop the hand-built index and rebuild it from the records (what an application does
    after it finds the index wrong); returns the number of records indexed."""
    stale = list(connection.scan_iter(match=_idx_key("*"), count=1000))
    if stale:
        connection.delete(*stale)
    records = scan_records(connection)
    pipe = connection.pipeline(transaction=False)
    for uid, rec in records.items():
        user = dict(rec) | {"id": uid, "tags": str(rec.get("tags", "")).split(",")}
        hand_index_user(pipe, user)
    pipe.execute()
    return len(records)


def index_memory(connection: Connection) -> dict[str, float]:
    """Bytes held by each index: RediSearch's ``total_index_memory_sz_mb`` (``FT.INFO``)
    and the sum of ``MEMORY USAGE`` over the hand-built index keys."""
    hand_keys = list(connection.scan_iter(match=_idx_key("*"), count=1000))
    pipe = connection.pipeline(transaction=False)
    for k in set(hand_keys):
        pipe.memory_usage(k, samples=0)
    hand = sum(int(m or 0) for m in pipe.execute())
    info = index_info(connection, INDEX_HASH)
    return {"redisearch_B": float(info["total_index_memory_sz_mb"]) * 2**20,
            "hand_built_B": float(hand), "hand_built_keys": float(len(set(hand_keys)))}  # fmt: skip


def shard_index_name(cluster: Any, port: int) -> str:
    """An index name whose slot the primary on ``port`` serves: RediSearch declares the
    index name as the command's key, so a cluster node answers ``MOVED`` for any other."""
    for n in range(10_000):
        name = key(SEARCH, "ft", f"shard{n}")
        if int(cluster.get_node_from_key(name).port) == port:
            return name
    raise StructureError(f"no index name found for the primary on port {port}")


def per_shard_search(
    cluster: Any, primaries: Sequence[Connection], users: Sequence[Mapping[str, Any]]
) -> pd.DataFrame:
    """On a cluster without RediSearch's coordinator: write ``users`` through the cluster
    client (each hash lands on its slot's shard), ``FT.CREATE`` an index on every
    primary, then ask each primary ``FT.SEARCH * LIMIT 0 0``. One row per primary: the
    records it holds (``SCAN``) and how many its index answers; ``cluster_total`` is how
    many were written."""
    for u in users:
        cluster.hset(record_key("hash", u["id"]), mapping=flatten_profile(u))
    rows = []
    for i, node in enumerate(primaries):
        _need_search(node)
        index = shard_index_name(cluster, int(node.connection_pool.connection_kwargs["port"]))
        node.execute_command(
            "FT.CREATE", index, "ON", "HASH", "PREFIX", 1, record_key("hash", ""),
            "STOPWORDS", 0, "SCHEMA", *_schema(False),
        )  # fmt: skip
        wait_until(lambda n=node, x=index: _indexed(n, x), timeout=30, what="the shard's index")
        held = sum(1 for _ in node.scan_iter(match=f"{record_key('hash', '')}*", count=1000))
        reply = node.execute_command("FT.SEARCH", index, "*", "LIMIT", 0, 0)
        total = int(reply["total_results"] if isinstance(reply, dict) else reply[0])
        rows.append({"shard": i, "index": index, "records_on_shard": held,
                     "ft_search_total": total, "cluster_total": len(users)})  # fmt: skip
    return pd.DataFrame(rows)


def _indexed(connection: Connection, index: str = INDEX_HASH) -> bool:
    info = index_info(connection, index)
    return float(info.get("percent_indexed", 0)) >= 1.0 and int(info.get("indexing", 1)) == 0
