"""One nested document stored three ways: a serialized string, a flattened hash, native JSON.

Native JSON (the RedisJSON module, ``Lab.start(..., modules=("json",))``) keeps the
document as a tree on the server, so a client reads one path (``JSON.GET key $.a.b``)
and updates one in place (``JSON.NUMINCRBY``, ``JSON.ARRAPPEND``) in a single atomic
command. A serialized string must be fetched, edited and written back whole (optimistic
``WATCH``/``MULTI``/``EXEC``); a hash updates a scalar field in place (``HINCRBY``) but has
no arrays and no nesting, so an array lives as a JSON string in one field and is
rewritten whole. :func:`document_comparison` measures memory, latency, commands, bytes
and round trips of each operation in each layout; :func:`concurrent_increments` counts
the updates that survive concurrent writers.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from ..errors import StructureError
from ..keys import DOCS, key
from ..kit.features import has_module
from ..kit.measure import progress, round_trips, summarize, time_calls, wire_cost
from ..types import Connection

DOC_LAYOUTS = ("string", "hash", "json")

_CITIES = ("Paris", "Berlin", "Austin", "Leeds", "Madrid", "Turin", "Delft", "Recife")
_KINDS = ("login", "view", "click", "purchase", "logout")


def _need_json(connection: Connection) -> None:
    if not has_module(connection, "ReJSON"):
        raise StructureError("the RedisJSON module (ReJSON) is not loaded on this server")


def make_documents(n: int, *, seed: int, events: int = 8) -> list[dict[str, Any]]:
    """``n`` seeded nested documents: a user with an address, counters and an event list."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        docs.append(
            {"id": i, "name": f"user{i}", "email": f"user{i}@example.com",
             "address": {"city": rng.choice(_CITIES), "zip": f"{rng.randrange(10**5):05d}"},
             "stats": {"score": rng.randrange(100_000), "visits": rng.randrange(1000)},
             "tags": rng.sample(["a", "b", "c", "d", "e", "f"], rng.randint(1, 3)),
             "events": [{"ts": 1_700_000_000 + rng.randrange(10**7), "kind": rng.choice(_KINDS)}
                        for _ in range(events)]}
        )  # fmt: skip
    return docs


def flatten_document(doc: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested objects become dotted fields; lists stay JSON text in one field (a hash has
    neither nesting nor arrays)."""
    out: dict[str, str] = {}
    for k, v in doc.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten_document(v, f"{name}."))
        elif isinstance(v, list | tuple):
            out[name] = json.dumps(v, separators=(",", ":"))
        else:
            out[name] = str(v)
    return out


def document_key(layout: str, doc_id: int | str) -> str:
    """The key of document ``doc_id`` in ``layout``."""
    if layout not in DOC_LAYOUTS:
        raise StructureError(f"unknown layout {layout!r}; use one of {DOC_LAYOUTS}")
    return key(DOCS, layout, doc_id)


def store_documents(
    connection: Connection, layout: str, docs: Sequence[Mapping[str, Any]], *, chunk: int = 500
) -> None:
    """Write every document in ``layout`` (pipelined, ``chunk`` per round trip)."""
    if layout == "json":
        _need_json(connection)
    pipe = connection.pipeline(transaction=False)
    for n, doc in enumerate(docs, 1):
        k = document_key(layout, doc["id"])
        if layout == "string":
            pipe.set(k, json.dumps(doc, separators=(",", ":")))
        elif layout == "hash":
            pipe.hset(k, mapping=flatten_document(doc))
        else:
            pipe.execute_command("JSON.SET", k, "$", json.dumps(doc, separators=(",", ":")))
        if n % chunk == 0:
            pipe.execute()
    pipe.execute()


def _dig(doc: Any, path: str) -> Any:
    for part in path.split("."):
        doc = doc[part]
    return doc


def read_path(connection: Connection, layout: str, doc_id: int | str, path: str) -> Any:
    """Read one (dotted) path: the string is fetched and parsed whole, the hash field and
    the JSON path come alone (JSON keeps the type; the hash gives a string)."""
    k = document_key(layout, doc_id)
    if layout == "string":
        raw = connection.get(k)
        return _dig(json.loads(raw), path) if raw is not None else None
    if layout == "hash":
        value = connection.hget(k, path)
        return json.loads(value) if value is not None and value[:1] in "[{" else value
    raw = connection.execute_command("JSON.GET", k, f"$.{path}")
    return json.loads(raw)[0] if raw else None


def _rewrite(connection: Connection, k: str, edit: Callable[[dict[str, Any]], None]) -> None:
    """Optimistic read-modify-write of a serialized document (retried on conflict)."""

    def txn(pipe: Any) -> None:
        raw = pipe.get(k)  # immediate: the pipeline is WATCHing k
        if raw is None:
            raise StructureError(f"no document at {k}")
        doc = json.loads(raw)
        edit(doc)
        pipe.multi()
        pipe.set(k, json.dumps(doc, separators=(",", ":")), keepttl=True)

    connection.transaction(txn, k)


def increment_field(
    connection: Connection, layout: str, doc_id: int | str, path: str = "stats.score", by: int = 1
) -> None:
    """Add ``by`` to a numeric field: ``WATCH``-rewrite of the string, ``HINCRBY``, or
    ``JSON.NUMINCRBY`` (one atomic command)."""
    k = document_key(layout, doc_id)
    if layout == "string":
        *parents, leaf = path.split(".")

        def edit(doc: dict[str, Any]) -> None:
            node = _dig(doc, ".".join(parents)) if parents else doc
            node[leaf] += by

        _rewrite(connection, k, edit)
    elif layout == "hash":
        connection.hincrby(k, path, by)
    else:
        connection.execute_command("JSON.NUMINCRBY", k, f"$.{path}", by)


def append_event(
    connection: Connection, layout: str, doc_id: int | str, event: Mapping[str, Any]
) -> None:
    """Append ``event`` to the document's ``events`` array: a string or the hash's JSON
    field is rewritten whole under ``WATCH``; native JSON runs ``JSON.ARRAPPEND``."""
    k = document_key(layout, doc_id)
    if layout == "string":
        _rewrite(connection, k, lambda doc: doc["events"].append(dict(event)))
    elif layout == "hash":

        def txn(pipe: Any) -> None:
            events = json.loads(pipe.hget(k, "events") or "[]")
            events.append(dict(event))
            pipe.multi()
            pipe.hset(k, "events", json.dumps(events, separators=(",", ":")))

        connection.transaction(txn, k)
    else:
        connection.execute_command(
            "JSON.ARRAPPEND", k, "$.events", json.dumps(dict(event), separators=(",", ":"))
        )


def json_update_check(
    connection: Connection,
    doc: Mapping[str, Any],
    *,
    doc_id: int | str = "update-check",
    by: int = 1,
    event: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Store ``doc`` natively, then ``JSON.NUMINCRBY $.stats.score`` and ``JSON.ARRAPPEND
    $.events``; after each, read the whole document back (``JSON.GET key $``) and compare
    it with the same edit made here to a copy.

    Returns ``{"after_numincrby": bool, "after_arrappend": bool, "score": ..., "events":
    n}``: True where the document read back equals the original with exactly that change.
    """
    _need_json(connection)
    k = document_key("json", doc_id)
    expected = json.loads(json.dumps(doc))
    added = dict(event or {"ts": 1_710_000_000, "kind": "view"})

    def whole() -> Any:
        return json.loads(connection.execute_command("JSON.GET", k, "$"))[0]

    connection.execute_command("JSON.SET", k, "$", json.dumps(doc))
    try:
        increment_field(connection, "json", doc_id, "stats.score", by)
        expected["stats"]["score"] += by
        after_incr = whole() == expected
        append_event(connection, "json", doc_id, added)
        expected["events"].append(added)
        final = whole()
    finally:
        connection.delete(k)
    return {
        "after_numincrby": after_incr,
        "after_arrappend": final == expected,
        "score": final["stats"]["score"],
        "events": len(final["events"]),
    }


def update_bytes_by_size(
    connection: Connection,
    *,
    sizes: Sequence[int] = (8, 800),
    layouts: Sequence[str] = ("json", "string"),
    seed: int = 0,
    n: int = 30,
) -> pd.DataFrame:
    """Bytes the server received and sent per update, for documents of each ``sizes``
    (number of events), from its own counters (:func:`wire_cost`).

    One row per (layout, events, operation): ``bytes_in``, ``bytes_out``. An update made
    in place on the server costs the same bytes whatever the document's size; a
    read-modify-write of the serialized string grows with it.
    """
    event = {"ts": 1_710_000_000, "kind": "view"}
    rows = []
    for layout in layouts:
        if layout == "json":
            _need_json(connection)
        for size in sizes:
            doc = make_documents(1, seed=seed, events=size)[0]
            doc_id = f"size-{size:05d}"
            k = document_key(layout, doc_id)
            if layout == "json":
                connection.execute_command("JSON.SET", k, "$", json.dumps(doc))
            else:
                connection.set(k, json.dumps(doc, separators=(",", ":")))
            ops: dict[str, Callable[[], Any]] = {
                "stats.score += 1": lambda L=layout, d=doc_id: increment_field(connection, L, d),
                "append an event": lambda L=layout, d=doc_id: append_event(connection, L, d, event),
            }
            try:
                for name, op in ops.items():
                    wire = wire_cost(connection, op, n=n)
                    rows.append(
                        {"layout": layout, "events": size, "operation": name,
                         "bytes_in": wire["bytes_in"], "bytes_out": wire["bytes_out"]}
                    )  # fmt: skip
            finally:
                connection.delete(k)
    return pd.DataFrame(rows)


def document_comparison(
    connection: Connection,
    docs: Sequence[Mapping[str, Any]],
    *,
    layouts: Sequence[str] | None = None,
    sample: int = 200,
    seed: int = 0,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Store ``docs`` in each layout and measure each access on ``sample`` seeded ids.

    One row per (layout, operation): ``memory_per_doc_B`` (``MEMORY USAGE`` averaged over
    the sample), ``p50_us``/``p95_us`` (one call at a time), ``commands``,
    ``bytes_sent``/``bytes_received`` per operation (the server's counters, via
    :func:`wire_cost`) and ``round_trips`` (:func:`round_trips`). Operations: read the
    whole document, read one nested field, ``stats.score += 1``, append one event.
    """
    if layouts is None:
        layouts = [x for x in DOC_LAYOUTS if x != "json" or has_module(connection, "ReJSON")]
    rng = random.Random(seed)
    ids = [rng.randrange(len(docs)) for _ in range(sample)]
    event = {"ts": 1_710_000_000, "kind": "view"}
    rows = []
    bar = progress(total=len(layouts), desc="layouts", enabled=show_progress)
    for layout in layouts:
        store_documents(connection, layout, docs)
        pipe = connection.pipeline(transaction=False)
        for i in ids:
            pipe.memory_usage(document_key(layout, i), samples=0)
        mem = sum(int(m or 0) for m in pipe.execute()) / len(ids)

        def whole(c: Connection, i: int, L: str = layout) -> Any:
            k = document_key(L, i)
            if L == "string":
                return json.loads(c.get(k))
            if L == "hash":
                return c.hgetall(k)
            return json.loads(c.execute_command("JSON.GET", k))

        ops: list[tuple[str, Callable[[Connection, int], Any]]] = [
            ("read whole", whole),
            ("read address.city", lambda c, i, L=layout: read_path(c, L, i, "address.city")),
            ("stats.score += 1", lambda c, i, L=layout: increment_field(c, L, i)),
            ("append an event", lambda c, i, L=layout: append_event(c, L, i, event)),
        ]
        for name, op in ops:
            it = iter(ids * 4)

            def call(
                c: Connection,
                op: Callable[[Connection, int], Any] = op,
                it: Any = it,
            ) -> Any:
                return op(c, next(it))

            lat = summarize(time_calls(lambda: call(connection), n=sample), unit="us")
            wire = wire_cost(connection, lambda: call(connection), n=min(sample, 100))
            rows.append(
                {"layout": layout, "operation": name, "memory_per_doc_B": mem,
                 "p50_us": lat["p50_us"], "p95_us": lat["p95_us"],
                 "commands": wire["commands"], "bytes_sent": wire["bytes_in"],
                 "bytes_received": wire["bytes_out"],
                 "round_trips": round_trips(connection, call, n=min(sample, 50))}
            )  # fmt: skip
        bar.update(1)
    bar.close()
    return pd.DataFrame(rows)


def concurrent_increments(
    connection: Connection,
    mode: str,
    *,
    threads: int = 4,
    per_thread: int = 200,
    doc_id: int = 0,
) -> dict[str, int]:
    """``threads`` writers each add 1 to ``stats.score`` of one document ``per_thread``
    times. Modes: ``json`` (``JSON.NUMINCRBY``), ``string_watch`` (the optimistic rewrite
    of :func:`increment_field`), ``string_naive`` (``GET``, edit, ``SET``: no ``WATCH``).
    Returns ``expected``, ``final`` (the increase measured) and ``lost``."""
    modes = ("json", "string_watch", "string_naive")
    if mode not in modes:
        raise StructureError(f"unknown mode {mode!r}; use one of {modes}")
    layout = "json" if mode == "json" else "string"
    doc = make_documents(1, seed=0)[0] | {"id": doc_id}
    store_documents(connection, layout, [doc])
    start = int(read_path(connection, layout, doc_id, "stats.score"))
    k = document_key(layout, doc_id)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(per_thread):
                if mode == "string_naive":
                    d = json.loads(connection.get(k))
                    d["stats"]["score"] += 1
                    connection.set(k, json.dumps(d, separators=(",", ":")))
                else:
                    increment_field(connection, layout, doc_id)
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    final = int(read_path(connection, layout, doc_id, "stats.score")) - start
    expected = threads * per_thread
    return {"expected": expected, "final": final, "lost": expected - final}
