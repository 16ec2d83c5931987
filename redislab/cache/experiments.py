"""Experiments shared by notebook 02, the tests and ``benchmarks/bench_cache.py``.

- :func:`standard_patterns` builds every pattern over one database and Redis;
  :func:`run_workload` drives one with a Zipf operation list and measures hit ratio,
  latency percentiles, database round trips and stale reads;
  :func:`compare_patterns` does it for all and :func:`rank_patterns` ranks them per goal.
- :func:`ttl_spread` shows what TTL jitter does to expiry times.
- :func:`hit_path_timings` times the hit paths (decorator, raw GET, L1) interleaved.
- :func:`tracking_staleness_pairs` gives paired staleness samples (no invalidation,
  ``CLIENT TRACKING``) for :func:`redislab.kit.evidence.compare`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import StateError
from ..kit.workload import Database, Op, make_row
from ..types import Connection
from ._common import CacheStats
from .aside import CacheAside, cached
from .multilevel import TwoLevelCache, staleness_after_write
from .refresh import RefreshAhead
from .write import FlushWorker, WriteBehind, WriteThrough

__all__ = [
    "GOALS",
    "PatternUnderTest",
    "compare_patterns",
    "hit_path_samples",
    "hit_path_timings",
    "rank_patterns",
    "refresh_vs_ttl",
    "run_workload",
    "staleness_comparison",
    "standard_patterns",
    "tracking_staleness_pairs",
    "ttl_spread",
    "write_path_costs",
]


def _row_version(row: dict[str, Any]) -> int:
    return int(row["version"])


# goal -> (column of run_workload's result, lower is better)
GOALS = {
    "read latency": "read_mean_ms",
    "write latency": "write_p50_ms",
    "consistency": "inconsistent",
    "database load": "db_round_trips",
}


@dataclass
class PatternUnderTest:
    """One pattern as the workload runner sees it."""

    name: str
    read: Callable[[int], dict[str, Any] | None]
    write: Callable[[dict[str, Any]], Any]
    stats: CacheStats | None = None
    backlog: Callable[[], int] | None = None
    begin: Callable[[], Any] | None = None
    finish: Callable[[], None] | None = None


def standard_patterns(
    connection: Connection,
    db: Database,
    *,
    ttl: float = 0.5,
    l1_size: int = 256,
    seed: int = 42,
    prefix: str = "mix",
) -> list[PatternUnderTest]:
    """Every pattern of the notebook over ``db``, each in its own key namespace."""
    aside = CacheAside(connection, db.get, name=f"{prefix}-aside", ttl=ttl, seed=seed)
    ttl_only = CacheAside(connection, db.get, name=f"{prefix}-ttlonly", ttl=ttl, seed=seed)
    wt = WriteThrough(connection, db, name=f"{prefix}-wt", ttl=ttl, seed=seed)
    wb = WriteBehind(connection, db, name=f"{prefix}-wb", ttl=ttl, seed=seed)
    worker = FlushWorker(wb, consumer="mix-flusher", batch=100)
    # Background reloads race with writes exactly like the stale-set race (a reload reads
    # version n, a write lands, the reload stores n): versioned entries refuse that store.
    ra = RefreshAhead(
        connection,
        db.get,
        name=f"{prefix}-refresh",
        ttl=ttl,
        seed=seed,
        version=_row_version,
    )
    l1l2 = TwoLevelCache(
        connection, db.get, name=f"{prefix}-l1l2", ttl=ttl, maxsize=l1_size, seed=seed
    )

    def aside_write(row: dict[str, Any]) -> None:
        db.put(row)
        aside.invalidate(row["id"])

    def ra_write(row: dict[str, Any]) -> None:
        db.put(row)
        ra.invalidate(row["id"], version=row["version"])

    def l1l2_write(row: dict[str, Any]) -> None:
        db.put(row)
        l1l2.delete(row["id"])

    return [
        PatternUnderTest("no cache", db.get, db.put),
        PatternUnderTest("cache-aside", aside.get, aside_write, aside.stats),
        PatternUnderTest("cache-aside, TTL only", ttl_only.get, db.put, ttl_only.stats),
        PatternUnderTest("write-through", wt.get, wt.write, wt.stats),
        PatternUnderTest(
            "write-behind",
            wb.get,
            wb.write,
            wb.stats,
            backlog=wb.backlog,
            begin=worker.start,
            finish=lambda: worker.stop(drain=True),
        ),
        PatternUnderTest("refresh-ahead", ra.get, ra_write, ra.stats, finish=ra.close),
        PatternUnderTest(
            f"L1/L2 ({l1l2.mode})", l1l2.get, l1l2_write, l1l2.stats, finish=l1l2.close
        ),
    ]


def run_workload(
    pattern: PatternUnderTest, ops: list[Op], db: Database, *, interval: float | None = None
) -> dict[str, Any]:
    """Drive ``pattern`` with ``ops``; every write stores the next version of its row.

    A read is *stale* when it returns an older version than the last acknowledged
    write of that row. ``unflushed`` counts acknowledged writes the database lacks
    when the run ends (before ``finish``). ``interval`` paces operations (seconds
    between starts) so that runs of fast and slow patterns span the same wall time
    and see the same number of TTL expiries.
    """
    if pattern.begin is not None:
        pattern.begin()
    truth = db.versions()
    db_before = db.stats.as_dict()
    reads: list[float] = []
    writes: list[float] = []
    stale = 0
    clock = time.perf_counter
    start = clock()
    for i, op in enumerate(ops):
        if interval:
            ahead = start + i * interval - clock()
            if ahead > 0:
                time.sleep(ahead)
        if op.kind == "read":
            t0 = clock()
            row = pattern.read(op.key)
            reads.append(clock() - t0)
            if row is None or row["version"] < truth[op.key]:
                stale += 1
        else:
            row = make_row(op.key, truth[op.key] + 1)
            t0 = clock()
            pattern.write(row)
            writes.append(clock() - t0)
            truth[op.key] = row["version"]
    seconds = clock() - start
    in_db = db.versions()
    unflushed = sum(1 for k, v in truth.items() if in_db.get(k, 0) < v)
    if pattern.finish is not None:
        pattern.finish()
    db_after = db.stats.as_dict()
    final = db.versions()
    st = pattern.stats
    r = np.asarray(reads) * 1000
    w = np.asarray(writes) * 1000
    return {
        "pattern": pattern.name,
        "reads": len(reads),
        "writes": len(writes),
        "hit_ratio": st.hit_ratio if st is not None else 0.0,
        "l1_hit_ratio": st.l1_hits / len(reads) if st is not None and reads else 0.0,
        "read_mean_ms": float(r.mean()),
        "read_p50_ms": float(np.percentile(r, 50)),
        "read_p95_ms": float(np.percentile(r, 95)),
        "read_p99_ms": float(np.percentile(r, 99)),
        "write_p50_ms": float(np.percentile(w, 50)) if w.size else np.nan,
        "write_p99_ms": float(np.percentile(w, 99)) if w.size else np.nan,
        "db_reads": db_after["reads"] - db_before["reads"],
        "db_writes": db_after["writes"] - db_before["writes"],
        "db_round_trips": db_after["round_trips"] - db_before["round_trips"],
        "stale_reads": stale,
        "unflushed": unflushed,
        "inconsistent": stale + unflushed,
        "db_complete_after_finish": all(final.get(k, 0) >= v for k, v in truth.items()),
        "seconds": seconds,
    }


def compare_patterns(
    connection: Connection,
    db: Database,
    ops: list[Op],
    *,
    ttl: float = 0.5,
    interval: float | None = 0.001,
    seed: int = 42,
) -> pd.DataFrame:
    """:func:`run_workload` for every :func:`standard_patterns` entry; one row each."""
    patterns = standard_patterns(connection, db, ttl=ttl, seed=seed)
    rows = []
    try:
        while patterns:
            rows.append(run_workload(patterns[0], ops, db, interval=interval))
            patterns.pop(0)  # run_workload has finished it
    finally:
        for p in patterns:  # only if a run failed
            if p.finish is not None:
                p.finish()
    return pd.DataFrame(rows).set_index("pattern")


def rank_patterns(results: pd.DataFrame) -> pd.DataFrame:
    """Rank (1 = best) every pattern per goal of :data:`GOALS`, from measured columns."""
    ranks = pd.DataFrame(index=results.index)
    for goal, column in GOALS.items():
        ranks[goal] = results[column].rank(method="min").astype(int)
    return ranks


def refresh_vs_ttl(
    connection: Connection,
    db: Database,
    keys: np.ndarray,
    *,
    hot: list[int] | None = None,
    ttl: float = 0.25,
    refresh_when: float = 0.5,
    interval: float = 0.0005,
    seed: int = 42,
) -> pd.DataFrame:
    """Read-only: plain TTL (cache-aside) against refresh-ahead on the same key sequence.

    ``hot`` (key ids) splits the misses: ``hot_key_misses`` counts misses of hot keys
    *after* their first load (the first one is a cold start for both). Refresh-ahead can
    only save the misses of keys read again before they expire.
    """
    ops = [Op("read", int(k)) for k in keys]
    hot_set = set(hot or [])
    plain = CacheAside(connection, db.get, name="rvt-plain", ttl=ttl, seed=seed)
    ahead = RefreshAhead(
        connection, db.get, name="rvt-ahead", ttl=ttl, refresh_when=refresh_when, seed=seed
    )
    rows = []
    for name, cache, finish in (
        ("plain TTL", plain, None),
        ("refresh-ahead", ahead, ahead.close),
    ):
        hot_misses = 0
        loaded: set[int] = set()

        def read(k: int, cache: CacheAside = cache, loaded: set[int] = loaded) -> Any:
            nonlocal hot_misses
            before = cache.stats.misses
            row = cache.get(k)
            if k in hot_set and cache.stats.misses > before:
                hot_misses += k in loaded
                loaded.add(k)
            return row

        p = PatternUnderTest(name, read, db.put, cache.stats, finish=finish)
        res = run_workload(p, ops, db, interval=interval)
        res["misses"] = cache.stats.misses
        res["hot_key_misses"] = hot_misses
        res["background_refreshes"] = cache.stats.refreshes
        rows.append(res)
    cols = [
        "pattern",
        "reads",
        "misses",
        "hot_key_misses",
        "hit_ratio",
        "background_refreshes",
        "db_reads",
        "read_p50_ms",
        "read_p99_ms",
        "seconds",
    ]
    return pd.DataFrame(rows)[cols].set_index("pattern")


def ttl_spread(
    connection: Connection, *, n: int = 1000, ttl: float = 60.0, jitter: float = 0.1, seed: int = 42
) -> pd.DataFrame:
    """Store ``n`` entries at once with ``ttl`` ± ``jitter``; read their PTTLs back.

    One row per entry: ``requested_ms`` (the ``PX`` the cache sent, replayed from a twin
    of its seeded TTL generator), ``pttl_ms`` (what ``PTTL`` returned) and ``window_ms``
    (the same for every row: wall-clock ms from sending the first ``SET`` to receiving
    the last ``PTTL`` reply, an upper bound on the server time that passed in between).
    A server that keeps expiry times to the millisecond answers
    ``0 <= requested_ms - pttl_ms <= window_ms + 1`` for every key.
    """
    name = f"spread-{jitter}"
    cache = CacheAside(connection, None, name=name, ttl=ttl, jitter=jitter, seed=seed)
    twin = CacheAside(connection, None, name=name, ttl=ttl, jitter=jitter, seed=seed)
    requested = [twin.next_ttl_ms(i) for i in range(n)]  # the same draws, in the same order
    pipe = connection.pipeline(transaction=False)
    for i in range(n):
        cache.set(i, i, pipeline=pipe)
    t0 = time.perf_counter()
    pipe.execute()
    for i in range(n):
        pipe.pttl(cache.key(i))
    pttls = pipe.execute()
    window_ms = (time.perf_counter() - t0) * 1000
    connection.delete(*[cache.key(i) for i in range(n)])
    return pd.DataFrame(
        {
            "requested_ms": np.asarray(requested, dtype=np.int64),
            "pttl_ms": np.asarray(pttls, dtype=np.int64),
            "window_ms": window_ms,
        }
    )


def _interleaved(
    fns: dict[str, Callable[[], Any]], *, n: int, rounds: int
) -> dict[str, np.ndarray]:
    """Per-call seconds of each fn: ``rounds`` rounds, each timing ``n`` calls of every fn.

    The order of the fns alternates between rounds, so neither side of a ratio always
    runs first; round ``i`` of every array was measured at about the same time.
    """
    out: dict[str, list[float]] = {k: [] for k in fns}
    clock = time.perf_counter
    items = list(fns.items())
    for _, fn in items:  # warm-up
        for _ in range(min(n, 100)):
            fn()
    for i in range(rounds):
        for name, fn in items if i % 2 == 0 else reversed(items):
            t0 = clock()
            for _ in range(n):
                fn()
            out[name].append((clock() - t0) / n)
    return {k: np.asarray(v) for k, v in out.items()}


def hit_path_samples(
    connection: Connection, *, n: int = 500, rounds: int = 15
) -> dict[str, np.ndarray]:
    """Per-round seconds per call of each hit path, measured interleaved in one run.

    Paths: ``redis GET`` (raw redis-py), ``GET + json.loads`` (the baseline a
    cache-aside hit must match), ``@cached hit`` (the decorator), ``L1 hit``
    (:class:`TwoLevelCache` serving from process memory).
    """
    value = make_row(1, 1)

    @cached(connection=connection, ttl=600, key="{item_id}", name="bench-hit")
    def load(item_id: int) -> dict[str, Any]:
        return value

    load(1)  # miss: stores the JSON
    rkey = load.key_for(1)  # type: ignore[attr-defined]
    l1l2 = TwoLevelCache(connection, lambda _: value, name="bench-l1", ttl=600)
    try:
        for _ in range(3):
            l1l2.get(1)  # miss, then an L2 read that fills L1
        if l1l2.key(1) not in l1l2.l1:
            raise StateError(f"L1 did not fill ({l1l2!r}, l1 enabled: {l1l2.l1_enabled})")
        get = connection.get
        loads = json.loads
        return _interleaved(
            {
                "redis GET": lambda: get(rkey),
                "GET + json.loads": lambda: loads(get(rkey)),
                "@cached hit": lambda: load(1),
                "L1 hit": lambda: l1l2.get(1),
            },
            n=n,
            rounds=rounds,
        )
    finally:
        l1l2.close()
        connection.delete(rkey, l1l2.key(1))


def hit_path_timings(connection: Connection, *, n: int = 500, rounds: int = 15) -> pd.DataFrame:
    """Median and p90 (µs per call) of :func:`hit_path_samples`."""
    samples = hit_path_samples(connection, n=n, rounds=rounds)
    return pd.DataFrame(
        {
            "median_us": {k: float(np.median(v)) * 1e6 for k, v in samples.items()},
            "p90_us": {k: float(np.percentile(v, 90)) * 1e6 for k, v in samples.items()},
        }
    )


def write_path_costs(
    connection: Connection, db: Database, keys: np.ndarray, *, batch: int = 100, seed: int = 42
) -> pd.DataFrame:
    """Write every key of ``keys`` (next version) through three write paths; time each write.

    ``db_round_trips`` for write-behind counts the worker's batched flush, run after
    the writes (so when each write returned, the database did not have it yet).
    """
    versions = db.versions()
    aside = CacheAside(connection, db.get, name="wp-aside", ttl=60, seed=seed)
    wt = WriteThrough(connection, db, name="wp-wt", ttl=60, seed=seed)
    wb = WriteBehind(connection, db, name="wp-wb", ttl=60, seed=seed)

    def aside_write(row: dict[str, Any]) -> None:
        db.put(row)
        aside.invalidate(row["id"])

    rows = []
    for name, write in (
        ("cache-aside (DB + DEL)", aside_write),
        ("write-through (DB + SET)", wt.write),
        ("write-behind (MULTI: SET + XADD)", wb.write),
    ):
        before = db.stats.as_dict()
        lat = []
        for k in keys:
            k = int(k)
            versions[k] = versions.get(k, 0) + 1
            row = make_row(k, versions[k])
            t0 = time.perf_counter()
            write(row)
            lat.append(time.perf_counter() - t0)
        if name.startswith("write-behind"):
            FlushWorker(wb, consumer="wp", batch=batch).drain()
        arr = np.asarray(lat) * 1000
        after = db.stats.as_dict()
        rows.append(
            {
                "path": name,
                "writes": len(keys),
                "write_p50_ms": float(np.percentile(arr, 50)),
                "write_p99_ms": float(np.percentile(arr, 99)),
                "db_round_trips": after["writes"] - before["writes"],
                "rows_changed": after["rows_written"] - before["rows_written"],
            }
        )
    return pd.DataFrame(rows).set_index("path")


def staleness_comparison(
    connection: Connection,
    writer: Any,
    *,
    rounds: int = 20,
    slow_rounds: int = 3,
    l1_ttl: float = 0.2,
) -> pd.DataFrame:
    """How long an L1 serves the old value after another client writes, per invalidation mode.

    ``writer`` is a second client (another application instance). Modes:
    tracking with a writer that knows nothing about L1; pub/sub with a cooperating
    writer (another :class:`TwoLevelCache`); pub/sub with a raw ``SET`` (not seen:
    stale until ``l1_ttl``); no invalidation (stale until ``l1_ttl``).
    """
    rows = []
    cases = (
        ("tracking", "raw SET", rounds),
        ("pubsub", "TwoLevelCache.set", rounds),
        ("pubsub", "raw SET", slow_rounds),
        ("none", "raw SET", slow_rounds),
    )
    for mode, how, n in cases:
        name = f"stale-{mode}-{how.split()[0].lower()}"
        cache = TwoLevelCache(connection, None, name=name, ttl=60, l1_ttl=l1_ttl, invalidation=mode)
        peer = None
        try:
            if how == "raw SET":

                def write(i: int, cache: TwoLevelCache = cache) -> None:
                    writer.set(cache.key(1), i)

            else:
                peer = TwoLevelCache(writer, None, name=name, ttl=60, invalidation=mode)

                def write(i: int, cache: TwoLevelCache = peer) -> None:
                    cache.set(1, i)

            connection.set(cache.key(1), -1)
            stale = staleness_after_write(cache, write, 1, rounds=n, timeout=4 * l1_ttl + 1)
        finally:
            cache.close()
            if peer is not None:
                peer.close()
        ms = stale * 1000
        rows.append(
            {
                "invalidation": mode,
                "writer": how,
                "rounds": n,
                "p50_ms": float(np.percentile(ms, 50)),
                "p95_ms": float(np.percentile(ms, 95)),
                "max_ms": float(ms.max()),
            }
        )
    return pd.DataFrame(rows).set_index(["invalidation", "writer"])


def tracking_staleness_pairs(
    connection: Connection,
    writer: Any,
    *,
    pairs: int = 8,
    l1_ttl: float = 0.2,
    first: int = 0,
) -> tuple[list[float], list[float]]:
    """One round of paired staleness samples: without invalidation, then with ``CLIENT TRACKING``.

    Two :class:`TwoLevelCache` instances on ``connection`` read the same kind of key;
    ``writer`` (another client) overwrites it with a raw ``SET``. For each of ``pairs``
    pairs the two measurements run back to back (the order alternates), so a pair shares
    the machine's load. Returns ``(untracked_s, tracking_s)``: seconds each L1 kept
    serving the old value. Without invalidation that is the rest of the L1 entry's
    ``l1_ttl``; with tracking it is the time the server's push took to arrive and be
    handled. ``first`` offsets the written values so that successive rounds write new ones.
    """
    untracked: list[float] = []
    tracked: list[float] = []
    caches = {
        mode: TwoLevelCache(
            connection, None, name=f"pair-{mode}", ttl=60, l1_ttl=l1_ttl, invalidation=mode
        )
        for mode in ("none", "tracking")
    }
    try:
        for cache in caches.values():
            connection.set(cache.key(1), -1)

        def measure(mode: str, value: int) -> float:
            cache = caches[mode]

            def write(i: int) -> None:
                writer.set(cache.key(1), i)

            out = staleness_after_write(
                cache, write, 1, rounds=1, timeout=4 * l1_ttl + 1, first=value
            )
            return float(out[0])

        for j in range(pairs):
            value = first + j
            order = ("none", "tracking") if j % 2 == 0 else ("tracking", "none")
            got = {mode: measure(mode, value) for mode in order}
            untracked.append(got["none"])
            tracked.append(got["tracking"])
    finally:
        for cache in caches.values():
            connection.delete(cache.key(1))
            cache.close()
    return untracked, tracked
