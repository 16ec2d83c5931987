"""A seeded Zipf workload and a real SQLite backing store with artificial latency.

The caching notebook needs two things that behave like production without a
production database: a *skewed* key popularity (a few hot keys, a long cold
tail) and a database whose every round trip costs a few milliseconds, so that a
cache miss is visibly expensive.

>>> wl = ZipfWorkload(n_keys=100, s=1.1, read_ratio=0.9, seed=42)
>>> ops = wl.ops(1000)
>>> ops == wl.ops(1000)          # same seed, same sequence
True
>>> round(float(wl.probabilities.sum()), 6)
1.0
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StateError, UsageError

__all__ = ["Database", "DbStats", "Op", "ZipfWorkload", "make_row"]

DEFAULT_LATENCY = 0.002  # seconds per round trip: a database on another host, lightly loaded

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id      INTEGER PRIMARY KEY,
    version INTEGER NOT NULL,
    name    TEXT    NOT NULL,
    price   REAL    NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# A newer version replaces an older one; an old or repeated write is a no-op. This makes
# every write idempotent, which write-behind needs (a redelivered batch changes nothing).
_UPSERT = """
INSERT INTO items (id, version, name, price) VALUES (:id, :version, :name, :price)
ON CONFLICT(id) DO UPDATE SET version = excluded.version, name = excluded.name,
    price = excluded.price
WHERE excluded.version > items.version
"""


def make_row(key: int, version: int = 1) -> dict[str, Any]:
    """The deterministic row for ``key`` at ``version`` (what a write stores).

    >>> make_row(7, 2)
    {'id': 7, 'version': 2, 'name': 'item-7', 'price': 48.91}
    """
    price = ((key * 7919 + version * 104729) % 10000) / 100
    return {"id": int(key), "version": int(version), "name": f"item-{key}", "price": price}


@dataclass(frozen=True, slots=True)
class Op:
    """One workload operation: ``kind`` is ``"read"`` or ``"write"`` on item ``key``."""

    kind: str
    key: int


class ZipfWorkload:
    """Zipf-distributed key popularity: P(rank r) is proportional to ``r ** -s``.

    Ranks are mapped to key ids through a seeded permutation, so the hottest key is
    not simply id 0. Every method is deterministic for a given ``seed``.

    Args:
        n_keys: number of distinct keys (ids ``0 .. n_keys-1``).
        s: Zipf exponent; 0 is uniform, about 1 is typical of web caches.
        read_ratio: fraction of operations that are reads.
        seed: seeds the permutation and every generated sequence.
    """

    def __init__(
        self, n_keys: int = 1000, *, s: float = 1.1, read_ratio: float = 0.9, seed: int = 42
    ) -> None:
        if n_keys <= 0:
            raise UsageError("n_keys must be positive")
        if not 0.0 <= read_ratio <= 1.0:
            raise UsageError("read_ratio must be within [0, 1]")
        if s < 0:
            raise UsageError("s must be >= 0")
        self.n_keys = n_keys
        self.s = s
        self.read_ratio = read_ratio
        self.seed = seed
        weights = np.arange(1, n_keys + 1, dtype=float) ** -s
        rank_p = weights / weights.sum()
        self.rank_to_key = np.random.default_rng(seed).permutation(n_keys)
        self.probabilities = np.empty(n_keys)
        self.probabilities[self.rank_to_key] = rank_p

    def keys(self, n: int, *, seed: int | None = None) -> np.ndarray:
        """``n`` key ids drawn from the Zipf distribution."""
        rng = np.random.default_rng(self.seed + 1 if seed is None else seed)
        return rng.choice(self.n_keys, size=n, p=self.probabilities)

    def ops(self, n: int, *, seed: int | None = None) -> list[Op]:
        """``n`` operations: reads with probability ``read_ratio``, else writes."""
        rng = np.random.default_rng(self.seed + 2 if seed is None else seed)
        keys = rng.choice(self.n_keys, size=n, p=self.probabilities)
        reads = rng.random(n) < self.read_ratio
        return [Op("read" if r else "write", int(k)) for r, k in zip(reads, keys, strict=True)]

    def hottest(self, k: int = 1) -> list[int]:
        """The ``k`` most popular key ids, hottest first."""
        return [int(x) for x in self.rank_to_key[:k]]

    def top_mass(self, k: int) -> float:
        """Probability that a request hits one of the ``k`` hottest keys.

        This is the hit ratio of an ideal cache that holds exactly those keys.
        """
        return float(np.sort(self.probabilities)[::-1][:k].sum())


@dataclass
class DbStats:
    """Round trips to the backing store (each one pays the artificial latency)."""

    reads: int = 0
    writes: int = 0
    rows_written: int = 0

    @property
    def round_trips(self) -> int:
        """Reads plus writes."""
        return self.reads + self.writes

    def as_dict(self) -> dict[str, int]:
        """The counters, plus ``round_trips``."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["round_trips"] = self.round_trips
        return out


class Database:
    """An SQLite file with an ``items`` table and a fixed artificial latency per round trip.

    Thread-safe: each thread gets its own SQLite connection (WAL mode), and the
    latency is slept *outside* any lock, so concurrent callers wait in parallel as
    they would on a real database server.

    Args:
        path: the SQLite file (created if missing).
        latency: seconds slept before every round trip (reads and writes).

    Set :attr:`available` to False and every round trip raises
    ``sqlite3.OperationalError``, as a database outage would.
    """

    def __init__(self, path: str | Path, *, latency: float = DEFAULT_LATENCY) -> None:
        self.path = Path(path)
        self.latency = latency
        self.available = True
        self.stats = DbStats()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._closed = False
        conn = self._conn()
        conn.executescript(_SCHEMA)

    @classmethod
    def create(
        cls,
        directory: str | Path,
        *,
        n_rows: int = 1000,
        latency: float = DEFAULT_LATENCY,
        name: str = "backing.sqlite3",
    ) -> Database:
        """A fresh database file ``directory/name`` holding rows ``0 .. n_rows-1`` at version 1."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        db = cls(path, latency=latency)
        with db._conn() as conn:
            conn.executemany(_UPSERT, (make_row(i, 1) for i in range(n_rows)))
        return db

    # ------------------------------------------------------------ plumbing
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StateError(f"database {self.path} is closed")
            conn = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def _round_trip(self, *, write: bool, rows: int = 0) -> None:
        if not self.available:
            raise sqlite3.OperationalError(f"database {self.path} unavailable (simulated outage)")
        with self._lock:
            if write:
                self.stats.writes += 1
                self.stats.rows_written += rows
            else:
                self.stats.reads += 1
        if self.latency > 0:
            time.sleep(self.latency)

    # -------------------------------------------------------------- queries
    def query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = (), *, write: bool = False
    ) -> list[dict[str, Any]]:
        """Any statement as one round trip (counted, paying ``latency``); rows as dicts.

        For designs that add tables (:meth:`setup`) and queries of their own. A write runs
        in a transaction; with :attr:`available` False it raises as an outage would.
        """
        self._round_trip(write=write, rows=1 if write else 0)
        if write:
            with self._conn() as conn:
                return [dict(r) for r in conn.execute(sql, params)]
        return [dict(r) for r in self._conn().execute(sql, params)]

    def setup(self, script: str, rows: Iterable[Sequence[Any]] = (), insert: str = "") -> None:
        """Out of band (no latency, not counted): run ``script`` (DDL), then ``insert`` per row."""
        with self._conn() as conn:
            if script:
                conn.executescript(script)
            if insert:
                conn.executemany(insert, rows)

    def inspect(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[dict[str, Any]]:
        """A read out of band (no latency, not counted in ``stats``), for checks."""
        return [dict(r) for r in self._conn().execute(sql, params)]

    def get(self, key: int) -> dict[str, Any] | None:
        """The row for ``key`` as a dict, or None. One round trip."""
        self._round_trip(write=False)
        row = (
            self._conn()
            .execute("SELECT id, version, name, price FROM items WHERE id = ?", (int(key),))
            .fetchone()
        )
        return dict(row) if row is not None else None

    def put(self, row: Mapping[str, Any]) -> bool:
        """Upsert one row unless the stored version is newer or equal. One round trip.

        Returns True if the row was written.
        """
        self._round_trip(write=True, rows=1)
        with self._conn() as conn:
            return conn.execute(_UPSERT, dict(row)).rowcount > 0

    def put_many(
        self, rows: Iterable[Mapping[str, Any]], *, meta: Mapping[str, str] | None = None
    ) -> int:
        """Upsert many rows (and ``meta`` entries) in one transaction and one round trip.

        Returns the number of rows actually written (older versions are skipped).
        """
        rows = [dict(r) for r in rows]
        self._round_trip(write=True, rows=len(rows))
        written = 0
        with self._conn() as conn:
            for row in rows:
                written += conn.execute(_UPSERT, row).rowcount
            for name, value in (meta or {}).items():
                conn.execute(
                    "INSERT INTO meta (name, value) VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                    (name, str(value)),
                )
        return written

    def delete(self, key: int) -> bool:
        """Delete the row for ``key``. One round trip."""
        self._round_trip(write=True, rows=1)
        with self._conn() as conn:
            return conn.execute("DELETE FROM items WHERE id = ?", (int(key),)).rowcount > 0

    # ------------------------------------------ inspection (no latency, not counted)
    def versions(self) -> dict[int, int]:
        """Every row's version, read out of band (no latency, not counted in ``stats``)."""
        cur = self._conn().execute("SELECT id, version FROM items")
        return {int(r["id"]): int(r["version"]) for r in cur}

    def meta(self, name: str) -> str | None:
        """A value written by :meth:`put_many` ``meta=`` (out of band)."""
        row = self._conn().execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row["value"])

    def count(self) -> int:
        """Number of rows (out of band)."""
        return int(self._conn().execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def reset_stats(self) -> DbStats:
        """Zero the counters; return the previous ones."""
        with self._lock:
            old, self.stats = self.stats, DbStats()
        return old

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            self._closed = True
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Database({str(self.path)!r}, latency={self.latency * 1000:.1f} ms)"
