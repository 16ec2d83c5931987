"""Write-through and write-behind over a :class:`~redislab.kit.workload.Database`.

- :class:`WriteThrough`: every write goes to the database *and* the cache before it
  returns. Reads after a write see it; each write pays the database round trip plus
  a Redis one.
- :class:`WriteBehind`: a write lands in Redis only (the cache entry and a stream
  entry in one ``MULTI``), and a :class:`FlushWorker` moves stream entries to the
  database in batches (``XREADGROUP`` then one transaction then ``XACK`` + ``XDEL``).
  Writes are as fast as Redis and many writes share one database round trip; the
  price is a window in which acknowledged writes exist only in Redis.

Rows are dicts with ``id`` and ``version`` (:func:`redislab.kit.workload.make_row`);
cache entries are versioned (``"<version>|<json>"``), so an older row never
overwrites a newer one anywhere, and redelivered batches change nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from ..errors import StateError, UsageError
from ..keys import CACHE_WRITEBEHIND, key
from ..kit.workload import Database, make_row
from ..types import Connection
from ._common import REDIS_ERRORS, log
from .aside import CacheAside

__all__ = [
    "CRASH_POINTS",
    "FlushStats",
    "FlushWorker",
    "LossReport",
    "WriteBehind",
    "WriteThrough",
    "loss_report",
    "loss_scenario",
    "stream_id_tuple",
]

CRASH_POINTS = ("after_read", "after_flush")

# KEYS[1] = cache key
# ARGV[1] = version just flushed to the database, ARGV[2] = TTL ms
# Gives the entry its TTL once the database holds it, unless a newer unflushed write
# replaced it meanwhile (that one must not expire before it is flushed).
EXPIRE_IF_VERSION = """
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(string.match(cur, '^(%d+)|')) == tonumber(ARGV[1]) then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


def _row_version(row: dict[str, Any]) -> int:
    return int(row["version"])


def stream_id_tuple(entry_id: str | bytes) -> tuple[int, int]:
    """``"1700000000000-3"`` -> ``(1700000000000, 3)`` (stream IDs order as these tuples)."""
    if isinstance(entry_id, bytes):
        entry_id = entry_id.decode()
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class WriteThrough:
    """Database first, then the cache, before the write returns.

    Args:
        connection: a ``redis.Redis``.
        db: the backing store.
        name: key namespace (``redislab:cache:<name>:<id>``).
        ttl, jitter, seed, cooldown: as for :class:`~redislab.cache.CacheAside`.
    """

    def __init__(
        self,
        connection: Connection,
        db: Database,
        *,
        name: str = "wt",
        ttl: float = 60.0,
        jitter: float = 0.1,
        cooldown: float = 1.0,
        seed: int | None = None,
    ) -> None:
        self.db = db
        self.cache = CacheAside(
            connection,
            db.get,
            name=name,
            ttl=ttl,
            jitter=jitter,
            version=_row_version,
            cooldown=cooldown,
            seed=seed,
        )
        self.stats = self.cache.stats

    def get(self, item_id: int) -> dict[str, Any] | None:
        """Read through the cache."""
        return self.cache.get(item_id)

    def write(self, row: dict[str, Any]) -> None:
        """Write the database, then the cache (a newer cached version is kept)."""
        self.db.put(row)
        self.cache.set(row["id"], row)


class WriteBehind:
    """Writes go to Redis; a :class:`FlushWorker` copies them to the database later.

    Args:
        connection: a ``redis.Redis`` with ``decode_responses=True``.
        db: the backing store.
        name: namespace: the stream is ``redislab:writebehind:<name>:stream``, entries
            ``redislab:cache:<name>:<id>``.
        ttl: TTL given to an entry once flushed (unflushed entries never expire).
        group: the consumer group of the flushers.
        fallback_to_db: if Redis is down, write the database directly (versioned
            upserts make that safe against older rows still in the stream).
    """

    def __init__(
        self,
        connection: Connection,
        db: Database,
        *,
        name: str = "wb",
        ttl: float = 60.0,
        group: str = "flushers",
        fallback_to_db: bool = True,
        seed: int | None = None,
    ) -> None:
        self.connection = connection
        self.db = db
        self.name = name
        self.ttl = ttl
        self.group = group
        self.fallback_to_db = fallback_to_db
        self.stream = key(CACHE_WRITEBEHIND, name, "stream")
        self.checkpoint_name = f"writebehind:{name}"
        self.cache = CacheAside(
            connection, db.get, name=name, ttl=ttl, jitter=0.1, version=_row_version, seed=seed
        )
        self.stats = self.cache.stats
        self.ensure_group()

    def ensure_group(self) -> None:
        """Create the stream and its consumer group (from the first entry) if missing."""
        try:
            self.connection.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):  # BUSYGROUP: it exists already
                raise

    def get(self, item_id: int) -> dict[str, Any] | None:
        """Read: the cache holds every unflushed write, so it is checked first."""
        return self.cache.get(item_id)

    def write(self, row: dict[str, Any], *, pipeline: Any = None) -> str | None:
        """Store ``row`` in the cache and append it to the stream, atomically.

        Returns the stream entry ID (None with ``pipeline=``, or when Redis was down
        and the row went straight to the database).
        """
        pipe = pipeline if pipeline is not None else self.connection.pipeline(transaction=True)
        self.cache.set(row["id"], row, pipeline=pipe, persist=True)
        pipe.xadd(self.stream, {"id": row["id"], "version": row["version"], "row": json.dumps(row)})
        if pipeline is not None:
            return None
        try:
            return pipe.execute()[-1]
        except REDIS_ERRORS as exc:
            if not self.fallback_to_db:
                raise
            self.stats.incr("fallbacks")
            self.stats.incr("redis_errors")
            log.warning("write-behind %s: Redis unavailable (%s); writing the database", self, exc)
            self.db.put(row)
            return None

    def backlog(self) -> int:
        """Stream entries not yet flushed and acknowledged (``XLEN``: flushed ones are deleted)."""
        return int(self.connection.xlen(self.stream))

    def __repr__(self) -> str:
        return f"WriteBehind({self.name!r}, stream={self.stream!r})"


@dataclass
class FlushStats:
    """What a :class:`FlushWorker` did."""

    entries: int = 0
    batches: int = 0
    rows_written: int = 0
    rows_skipped: int = 0  # already in the database at that version or newer (redelivery)
    recovered: int = 0


@dataclass
class FlushWorker:
    """Moves write-behind stream entries to the database in batches.

    Use :meth:`start` for a background thread that flushes whenever ``batch`` entries
    are waiting or ``interval`` seconds have passed, or :meth:`step` to drive it by hand
    (deterministic experiments). ``step(crash=...)`` stops the worker at one of
    :data:`CRASH_POINTS` exactly as a ``kill -9`` at that line would: ``after_read``
    leaves the batch delivered but unflushed and unacknowledged; ``after_flush`` leaves
    it in the database but unacknowledged. A later worker's :meth:`recover` claims
    such entries (``XAUTOCLAIM``) and flushes them again.
    """

    wb: WriteBehind
    consumer: str = "flusher-1"
    batch: int = 100
    block_ms: int = 20
    interval: float = 0.1
    stats: FlushStats = field(default_factory=FlushStats)
    alive: bool = True

    def __post_init__(self) -> None:
        self._conn = self.wb.connection
        self._expire = self._conn.register_script(EXPIRE_IF_VERSION)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    # -------------------------------------------------------------- batches
    def step(self, *, count: int | None = None, crash: str | None = None) -> int:
        """Read one batch of new entries and flush it; returns the number of entries."""
        if not self.alive:
            raise StateError(f"worker {self.consumer} crashed; start a new one and recover()")
        if crash is not None and crash not in CRASH_POINTS:
            raise UsageError(f"crash must be one of {CRASH_POINTS}")
        resp = self._conn.xreadgroup(
            self.wb.group,
            self.consumer,
            {self.wb.stream: ">"},
            count=count or self.batch,
            block=self.block_ms,
        )
        entries = resp[0][1] if resp else []
        return self._flush(entries, crash=crash)

    def recover(self, *, min_idle_ms: int = 0) -> int:
        """Claim entries other (dead) consumers read but never acknowledged; flush them."""
        total = 0
        cursor = "0-0"
        while True:
            reply = self._conn.xautoclaim(
                self.wb.stream,
                self.wb.group,
                self.consumer,
                min_idle_time=min_idle_ms,
                start_id=cursor,
                count=self.batch,
            )
            cursor, claimed = reply[0], reply[1]
            claimed = [(i, f) for i, f in claimed if f]  # deleted entries come back empty
            total += self._flush(claimed)
            if cursor in ("0-0", b"0-0"):
                break
        self.stats.recovered += total
        return total

    def _flush(self, entries: list[tuple[str, dict[str, str]]], *, crash: str | None = None) -> int:
        if not entries:
            return 0
        if crash == "after_read":
            self.alive = False
            return len(entries)
        newest: dict[int, dict[str, Any]] = {}
        for _, fields_ in entries:
            row = json.loads(fields_["row"])
            prev = newest.get(row["id"])
            if prev is None or row["version"] > prev["version"]:
                newest[row["id"]] = row
        last = max((e[0] for e in entries), key=stream_id_tuple)
        checkpoint = self.wb.db.meta(self.wb.checkpoint_name)
        meta = {}
        if checkpoint is None or stream_id_tuple(last) > stream_id_tuple(checkpoint):
            meta[self.wb.checkpoint_name] = last
        written = self.wb.db.put_many(newest.values(), meta=meta)
        self.stats.batches += 1
        self.stats.entries += len(entries)
        self.stats.rows_written += written
        self.stats.rows_skipped += len(newest) - written
        if crash == "after_flush":
            self.alive = False
            return len(entries)
        ids = [e[0] for e in entries]
        pipe = self._conn.pipeline(transaction=False)
        pipe.xack(self.wb.stream, self.wb.group, *ids)
        pipe.xdel(self.wb.stream, *ids)
        ttl_ms = max(1, round(self.wb.ttl * 1000))
        for row in newest.values():
            self._expire(
                keys=[self.wb.cache.key(row["id"])], args=[row["version"], ttl_ms], client=pipe
            )
        pipe.execute()
        return len(entries)

    def drain(self, *, max_batches: int = 10_000) -> int:
        """Flush until no new entry is left (then recover leftovers); entries flushed."""
        total = 0
        for _ in range(max_batches):
            n = self.step()
            total += n
            if n == 0:
                break
        return total + self.recover()

    # --------------------------------------------------------------- thread
    def start(self) -> FlushWorker:
        """Run :meth:`step` in a daemon thread until :meth:`stop`."""
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"flush-{self.consumer}", daemon=True
        )
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set() and self.alive:
            try:
                if self.step() < self.batch:  # not a full batch: let writes accumulate
                    self._stop.wait(self.interval)
            except REDIS_ERRORS as exc:
                self.error = exc
                self._stop.wait(0.05)
            except Exception as exc:  # keep the reason, end the thread
                self.error = exc
                log.exception("flush worker %s failed", self.consumer)
                return

    def stop(self, *, drain: bool = False) -> None:
        """Stop the thread (after a final :meth:`drain` if ``drain``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if drain and self.alive:
            self.drain()


@dataclass
class LossReport:
    """Which acknowledged writes the database does not hold.

    ``lost`` lists ``(id, version)`` of every acknowledged write whose version the
    database lacks; ``beyond_checkpoint`` lists the writes whose stream ID is after
    the last ID the worker recorded in the database in the same transaction as its
    last batch. The two are computed independently; they agree when exactly the
    unflushed writes were lost.
    """

    acknowledged: int
    in_database: int
    lost: list[tuple[int, int]]
    beyond_checkpoint: list[tuple[int, int]]
    checkpoint: str | None

    @property
    def lost_count(self) -> int:
        return len(self.lost)

    def as_dict(self) -> dict[str, Any]:
        return {
            "acknowledged": self.acknowledged,
            "in_database": self.in_database,
            "lost": self.lost_count,
            "checkpoint": self.checkpoint,
        }


def loss_report(acked: list[tuple[str | None, dict[str, Any]]], wb: WriteBehind) -> LossReport:
    """Compare acknowledged writes ``[(stream_id, row), ...]`` with the database."""
    versions = wb.db.versions()
    checkpoint = wb.db.meta(wb.checkpoint_name)
    cp = stream_id_tuple(checkpoint) if checkpoint else (-1, -1)
    lost, beyond = [], []
    for entry_id, row in acked:
        if versions.get(row["id"], 0) < row["version"]:
            lost.append((row["id"], row["version"]))
        if entry_id is not None and stream_id_tuple(entry_id) > cp:
            beyond.append((row["id"], row["version"]))
    return LossReport(
        acknowledged=len(acked),
        in_database=len(acked) - len(lost),
        lost=lost,
        beyond_checkpoint=beyond,
        checkpoint=checkpoint,
    )


def loss_scenario(
    connection: Connection,
    db: Database,
    *,
    scenario: str,
    name: str,
    first_id: int,
    writes: int = 200,
    batch: int = 50,
    flushed_batches: int = 2,
    crash: str | None = None,
    fault: Callable[[], None] | None = None,
    recover: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """One honest write-behind failure, counted.

    ``writes`` new rows (ids ``first_id ..``) are acknowledged by Redis; a worker
    flushes ``flushed_batches`` batches of ``batch``; then it crashes at ``crash``
    (one of :data:`CRASH_POINTS`) and/or ``fault()`` runs (e.g. ``node.kill``). The
    database is compared with the acknowledged writes at that moment; then
    ``recover()`` runs (e.g. ``node.restart``), a new worker recovers and drains
    what Redis still holds, and the database is compared again.
    """
    wb = WriteBehind(connection, db, name=name, fallback_to_db=False)
    acked = []
    for i in range(writes):
        row = make_row(first_id + i, 1)
        acked.append((wb.write(row), row))
    worker = FlushWorker(wb, consumer=f"{name}-1", batch=batch)
    for _ in range(flushed_batches):
        worker.step()
    if crash is not None:
        worker.step(crash=crash)
    if fault is not None:
        fault()
    at_fault = loss_report(acked, wb)
    if recover is not None:
        recover()
    wb.ensure_group()  # a Redis that restarted empty has no stream and no group
    heir = FlushWorker(wb, consumer=f"{name}-2", batch=batch)
    heir.drain()
    final = loss_report(acked, wb)
    return {
        "scenario": scenario,
        "acknowledged": final.acknowledged,
        "in_db_at_fault": at_fault.in_database,
        "recovered_after": final.in_database - at_fault.in_database,
        "lost": final.lost_count,
        "redelivered_no_op": heir.stats.rows_skipped,
        "lost_are_exactly_the_unflushed": final.lost == at_fault.beyond_checkpoint
        if final.lost
        else None,
        "lost_ids": f"{final.lost[0][0]}..{final.lost[-1][0]}" if final.lost else "",
    }
