"""Streams with consumer groups: a worker usable from scripts, retries, dead letters, replay.

A stream keeps every entry until trimmed; a consumer group remembers, per consumer,
which entries were delivered and not yet acknowledged (the pending entries list,
PEL). That is what makes delivery at-least-once
(https://redis.io/docs/latest/develop/data-types/streams/):

- :class:`StreamWorker`: ``XREADGROUP`` batches, a handler per message, ``XACK`` of what
  it finished (pipelined with the next read), ``XAUTOCLAIM`` of entries another consumer
  left idle, a dead-letter stream after ``max_deliveries`` (counted by ``XPENDING``) or
  at once for a malformed message, reconnect with backoff (counted), and Ctrl-C that
  acknowledges what was finished before it stops.
- :func:`produce`, :func:`bare_loop` (the baseline the worker is measured against),
  :func:`trim_costs`, :func:`replay`, :func:`time_window`, :func:`id_order_enforced`.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import redis

from ..errors import MalformedMessage, MessagingError
from ..replies import text
from ..types import PlainConnection

__all__ = [
    "StreamWorker",
    "WorkerStats",
    "bare_loop",
    "decode_json",
    "id_order_enforced",
    "pending_summary",
    "produce",
    "replay",
    "time_window",
    "trim_costs",
]

Handler = Callable[[Any], object]

_RETRYABLE = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)


_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # the C scanner json.loads ends up in


def decode_json(fields: Mapping[Any, Any]) -> Any:
    """The JSON in an entry's ``data`` field; :class:`MalformedMessage` if there is none.

    The hot path of :class:`StreamWorker`: one dict lookup and the C scanner, without
    ``json.loads``'s type checks and whitespace regexes (leading or trailing bytes around
    the JSON are malformed, as ``json.dumps`` never writes them)."""
    try:
        raw = fields["data"]
    except (KeyError, TypeError):
        try:
            raw = fields[b"data"]
        except (KeyError, TypeError):
            raise MalformedMessage(f"no 'data' field in {fields!r}") from None
    if raw.__class__ is bytes:
        raw = raw.decode("utf-8", errors="replace")
    try:
        value, end = _scan(raw, 0)
    except StopIteration as exc:
        raise MalformedMessage(f"data is not JSON at char {exc.value}: {raw[:40]!r}") from None
    except (ValueError, TypeError) as exc:  # JSONDecodeError, or data that is not text
        raise MalformedMessage(f"data is not JSON: {exc}") from None
    if end != len(raw):
        raise MalformedMessage(f"data has trailing bytes after the JSON at {end}")
    return value


def produce(
    connection: PlainConnection,
    stream: str,
    payloads: Iterable[Any],
    *,
    maxlen: int | None = None,
    approximate: bool = True,
    batch: int = 200,
) -> list[str]:
    """``XADD`` each payload as ``data=<json>`` (pipelined by ``batch``); return the IDs."""
    ids: list[str] = []
    pipe = connection.pipeline(transaction=False)
    for p in payloads:
        pipe.xadd(stream, {"data": json.dumps(p)}, maxlen=maxlen, approximate=approximate)
        if len(pipe) >= batch:
            ids += [text(i) for i in pipe.execute()]
    if len(pipe):
        ids += [text(i) for i in pipe.execute()]
    return ids


@dataclass
class WorkerStats:
    """What a :class:`StreamWorker` did."""

    processed: int = 0  # handler returned
    acked: int = 0
    failed: int = 0  # handler raised (left pending for a retry, or dead-lettered)
    malformed: int = 0
    dead_lettered: int = 0
    claimed: int = 0  # taken over from an idle consumer with XAUTOCLAIM
    reconnects: int = 0
    batches: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class StreamWorker:
    """A consumer-group worker: at-least-once processing of a stream.

    ``StreamWorker(r, "orders", "billing", "worker-1", handler).run(max_messages=1000)``

    ``handler(payload)`` gets the decoded message (:func:`decode_json` by default).
    Returning means done: the entry is acknowledged with the next read. Raising leaves
    it pending; once it has been idle ``claim_idle_ms``, ``XAUTOCLAIM`` delivers it again
    (to this or another worker), and after ``max_deliveries`` deliveries it goes to the
    dead-letter stream with the error. A :class:`MalformedMessage` (raised by ``decode``,
    or by the handler for a message it cannot use) goes there at once.
    ``on_claimed(n)`` is called after each ``XAUTOCLAIM`` that took ``n`` entries over.
    Connection errors are retried with capped, jittered exponential backoff
    (``stats.reconnects``); a group lost with the data (``NOGROUP``) is created again.
    """

    def __init__(
        self,
        connection: PlainConnection,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler,
        *,
        decode: Callable[[Mapping[Any, Any]], Any] = decode_json,
        batch: int = 100,
        block_ms: int = 100,
        claim_idle_ms: int = 1000,
        max_deliveries: int = 3,
        dead_letter: str | None = None,
        backoff: tuple[float, float] = (0.05, 1.0),
        seed: int = 0,
        on_claimed: Callable[[int], object] | None = None,
    ) -> None:
        self.connection = connection
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.handler = handler
        self.decode = decode
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.max_deliveries = max_deliveries
        self.dead_letter = dead_letter or f"{stream}:dead"
        self.backoff = backoff
        self.on_claimed = on_claimed
        self.stats = WorkerStats()
        self._rng = random.Random(seed)
        self._to_ack: list[str] = []
        self._last_claim = 0.0

    # ------------------------------------------------------------------ group
    def ensure_group(self, start_id: str = "0") -> None:
        """Create the group (and the stream) if missing; an existing group is kept."""
        try:
            self.connection.xgroup_create(self.stream, self.group, id=start_id, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # ------------------------------------------------------------------ steps
    def _deliveries(self, ids: Sequence[str]) -> dict[str, int]:
        if not ids:
            return {}
        rows = self.connection.xpending_range(
            self.stream, self.group, min=ids[0], max=ids[-1], count=len(ids) + 10,
            consumername=self.consumer,
        )  # fmt: skip
        return {text(r["message_id"]): int(r["times_delivered"]) for r in rows}

    def _claim(self) -> tuple[list[tuple[Any, Any]], dict[str, int]]:
        """Entries idle longer than ``claim_idle_ms`` in any consumer, and their delivery
        counts (``XPENDING``), keyed by ID."""
        out: list[tuple[Any, Any]] = []
        counts: dict[str, int] = {}
        cursor = "0-0"
        while True:
            reply = self.connection.xautoclaim(
                self.stream, self.group, self.consumer, self.claim_idle_ms,
                start_id=cursor, count=self.batch,
            )  # fmt: skip
            cursor, entries = text(reply[0]), [(i, f) for i, f in reply[1] if f is not None]
            counts.update(self._deliveries([text(i) for i, _ in entries]))
            out += entries
            if cursor == "0-0" or len(out) >= self.batch:
                break
        self.stats.claimed += len(out)
        if out and self.on_claimed is not None:
            self.on_claimed(len(out))
        return out, counts

    def _read(self) -> list[tuple[Any, Any]]:
        """Acknowledge the previous batch and read new entries, in one round trip.

        The entries are redis-py's ``(id, fields)`` pairs as they came (no copy); each was
        delivered once (``>`` hands out only never-delivered entries)."""
        pipe = self.connection.pipeline(transaction=False)
        acks = self._to_ack
        if acks:
            pipe.xack(self.stream, self.group, *acks)
        pipe.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=self.batch,
            block=self.block_ms,
        )  # fmt: skip
        replies = pipe.execute()
        if acks:
            self.stats.acked += int(replies[0])
            self._to_ack = []
        reply = replies[-1]
        return reply[0][1] if reply else []

    def flush(self) -> None:
        """Acknowledge what was finished and not yet acknowledged."""
        if self._to_ack:
            self.stats.acked += int(self.connection.xack(self.stream, self.group, *self._to_ack))
            self._to_ack = []

    def _dead(self, entry_id: Any, fields: Any, error: str, deliveries: int) -> None:
        raw = fields.get("data", fields.get(b"data", "")) if isinstance(fields, Mapping) else ""
        pipe = self.connection.pipeline(transaction=True)  # dead letter and ack together
        pipe.xadd(self.dead_letter, {"id": text(entry_id), "stream": self.stream, "error": error,
                                     "deliveries": deliveries, "data": text(raw)})  # fmt: skip
        pipe.xack(self.stream, self.group, entry_id)
        pipe.execute()
        self.stats.dead_lettered += 1

    def _failed(self, entry_id: Any, fields: Any, exc: Exception, deliveries: int) -> None:
        """The slow path: a malformed message, or a handler that raised."""
        if isinstance(exc, MalformedMessage):
            self.stats.malformed += 1
            self._dead(entry_id, fields, f"MalformedMessage: {exc}", deliveries)
            return
        self.stats.failed += 1
        if deliveries >= self.max_deliveries:
            self._dead(entry_id, fields, f"{type(exc).__name__}: {exc}", deliveries)

    def _handle(
        self, entries: Sequence[tuple[Any, Any]], deliveries: Mapping[str, int] | None = None
    ) -> None:
        """Decode, handle and queue the acknowledgement of each entry, in order.

        ``deliveries`` (claimed entries) gives each entry's delivery count; without it,
        every entry was delivered once. The loop body is the worker's per-message cost:
        two calls and an append, no copies; failures leave it for :meth:`_failed`."""
        decode, handler, ack = self.decode, self.handler, self._to_ack.append
        done = 0
        try:
            for entry_id, fields in entries:
                try:
                    handler(decode(fields))
                except KeyboardInterrupt:
                    raise
                except Exception as exc:
                    n = 1 if deliveries is None else deliveries.get(text(entry_id), 1)
                    self._failed(entry_id, fields, exc, n)
                    continue
                done += 1
                ack(entry_id)
        except KeyboardInterrupt:
            self.stats.processed += done
            done = 0
            self.flush()  # what was finished before Ctrl-C is acknowledged
            raise
        finally:
            self.stats.processed += done

    def step(self) -> int:
        """One batch: claimed entries first (every ``claim_idle_ms / 2``), then new ones."""
        now = time.monotonic()
        if now - self._last_claim >= self.claim_idle_ms / 2000:
            self._last_claim = now
            claimed, counts = self._claim()
            if claimed:
                self._handle(claimed, counts)
                self.stats.batches += 1
                return len(claimed)
        entries = self._read()
        self._handle(entries)
        self.stats.batches += 1
        return len(entries)

    def run(
        self,
        *,
        max_messages: int | None = None,
        idle_stop_s: float | None = None,
        stop: threading.Event | None = None,
        max_seconds: float | None = None,
    ) -> WorkerStats:
        """Loop over :meth:`step` until ``max_messages`` were handled, nothing came for
        ``idle_stop_s``, ``stop`` was set or ``max_seconds`` passed. Acknowledges before
        returning, also on Ctrl-C (``KeyboardInterrupt`` is re-raised)."""
        started = last_work = time.monotonic()
        failures = 0
        self.ensure_group()
        try:
            while True:
                if stop is not None and stop.is_set():
                    break
                now = time.monotonic()
                if max_seconds is not None and now - started > max_seconds:
                    break
                if idle_stop_s is not None and now - last_work > idle_stop_s:
                    break
                done = self.stats.processed + self.stats.dead_lettered
                if max_messages is not None and done >= max_messages:
                    break
                try:
                    if self.step():
                        last_work = time.monotonic()
                    failures = 0
                except _RETRYABLE:
                    self.stats.reconnects += 1
                    failures += 1
                    low, cap = self.backoff
                    time.sleep(min(cap, low * 2 ** (failures - 1)) * self._rng.uniform(0.5, 1))
                    last_work = time.monotonic()
                except redis.ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    self.ensure_group()  # the server lost it (restart without persistence)
            self.flush()
        except KeyboardInterrupt:
            try:
                self.flush()
            finally:
                raise
        return self.stats


def pending_summary(connection: PlainConnection, stream: str, group: str) -> dict[str, int]:
    """``XPENDING`` summary: total pending and pending per consumer."""
    info = connection.xpending(stream, group)
    per = {text(c["name"]): int(c["pending"]) for c in info.get("consumers") or []}
    return {"pending": int(info["pending"]), **{f"pending[{k}]": v for k, v in per.items()}}


def bare_loop(
    connection: PlainConnection,
    stream: str,
    group: str,
    consumer: str,
    *,
    batch: int = 100,
    decode: Callable[[Mapping[Any, Any]], Any] | None = None,
) -> int:
    """The baseline: ``XREADGROUP COUNT batch`` + ``XACK`` of the previous batch, pipelined,
    until a read comes back empty. Returns how many entries it acknowledged.

    With ``decode`` (e.g. :func:`decode_json`), each entry's fields are decoded too and
    the result dropped: the same per-entry decoding a :class:`StreamWorker` does, so the
    two compare like with like. No handler, no stats, no retries, no dead letters."""
    acked = 0
    ids: list[Any] = []
    while True:
        pipe = connection.pipeline(transaction=False)
        if ids:
            pipe.xack(stream, group, *ids)
        pipe.xreadgroup(group, consumer, {stream: ">"}, count=batch)
        replies = pipe.execute()
        if ids:
            acked += int(replies[0])
        reply = replies[-1]
        entries = reply[0][1] if reply else []
        if decode is not None:
            for _, fields in entries:
                decode(fields)
        ids = [i for i, _ in entries]
        if not ids:
            return acked


def trim_costs(
    connection: PlainConnection,
    stream_prefix: str,
    *,
    entries: int = 20_000,
    maxlen: int = 1000,
    batch: int = 100,
) -> list[dict[str, Any]]:
    """``XADD`` ``entries`` entries with no trimming, ``MAXLEN = maxlen`` and
    ``MAXLEN ~ maxlen``; per mode: seconds, final ``XLEN`` and ``MEMORY USAGE``."""
    rows = []
    for mode, kw in (
        ("no trim", {}),
        ("MAXLEN =", {"maxlen": maxlen, "approximate": False}),
        ("MAXLEN ~", {"maxlen": maxlen, "approximate": True}),
    ):
        name = (
            f"{stream_prefix}:{mode.replace(' ', '').replace('=', 'exact').replace('~', 'approx')}"
        )
        connection.delete(name)
        t0 = time.perf_counter()
        pipe = connection.pipeline(transaction=False)
        for i in range(entries):
            pipe.xadd(name, {"i": i}, **kw)
            if len(pipe) >= batch:
                pipe.execute()
        pipe.execute()
        seconds = time.perf_counter() - t0
        rows.append({"mode": mode, "us_per_xadd": seconds / entries * 1e6,
                     "xlen": int(connection.xlen(name)),
                     "memory_bytes": int(connection.memory_usage(name, samples=0) or 0),
                     "stream": name})  # fmt: skip
    return rows


def replay(
    connection: PlainConnection,
    stream: str,
    apply: Callable[[Any, Any], Any],
    initial: Any,
    *,
    start: str = "-",
    end: str = "+",
    page: int = 500,
) -> tuple[Any, int]:
    """Fold ``apply(state, payload)`` over the stream from ``start`` to ``end`` (``XRANGE``
    pages of ``page``). Returns the state and how many entries were applied."""
    state, n, cursor = initial, 0, start
    while True:
        entries = connection.xrange(stream, min=cursor, max=end, count=page)
        for _, fields in entries:
            state = apply(state, decode_json(fields))
            n += 1
        if len(entries) < page:
            return state, n
        cursor = "(" + text(entries[-1][0])


def time_window(
    connection: PlainConnection, stream: str, start_ms: int, end_ms: int
) -> list[tuple[str, Any]]:
    """The entries whose ID time part is in ``[start_ms, end_ms]``: ``XRANGE start end``."""
    return [(text(i), f) for i, f in connection.xrange(stream, min=str(start_ms), max=str(end_ms))]


def id_order_enforced(connection: PlainConnection, stream: str) -> dict[str, Any]:
    """Try to ``XADD`` an explicit ID equal to and below the stream's last one.

    Returns the server's answers (an error each, if Redis keeps IDs increasing)."""
    if connection.xlen(stream) == 0:
        raise MessagingError(f"{stream} is empty: add entries first")
    last = text(connection.xinfo_stream(stream)["last-generated-id"])
    ms, seq = (int(x) for x in last.split("-"))
    answers = {}
    for label, entry_id in (("equal", last), ("older", f"{max(ms - 1, 0)}-{seq}")):
        try:
            connection.xadd(stream, {"bad": 1}, id=entry_id)
            answers[label] = "accepted"
        except redis.ResponseError as exc:
            answers[label] = str(exc)
    return {"last_id": last, **answers}
