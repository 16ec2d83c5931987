"""Cache stampede (dog-pile) protection: many readers, one expired hot key.

Three strategies behind one :class:`StampedeCache`:

- ``"none"``: every reader that misses recomputes. N concurrent readers of an
  expired key make N database calls.
- ``"lock"``: single flight. The first reader to win ``SET lock NX PX`` recomputes;
  the others poll the cache until the value appears (or the lock disappears). One
  database call per expiry, but the waiters wait for it. The lock is released with
  a compare-and-delete script, as in Redis's distributed-locks pattern.
- ``"xfetch"``: probabilistic early expiration (Vattani, Chierichetti, Lowenstein,
  "Optimal Probabilistic Cache Stampede Prevention", VLDB 2015). Each reader
  recomputes *before* expiry with probability growing as expiry nears:
  ``-delta * beta * ln(U) >= remaining TTL`` with ``U ~ Uniform(0, 1]``, where ``delta``
  is how long the last recomputation took. One reader usually refreshes the value
  while the others keep hitting it; nobody waits. It cannot help when the key is
  already gone (a cold start): then it behaves like ``"none"``. Several readers may
  draw an early recomputation in the same instant (about e - 1 extra ones per
  refresh for ``beta=1``, by the paper's analysis).
- ``"xfetch+lock"``: XFetch decides *when*; the early recomputation is single-flight:
  a reader that draws it but loses ``SET NX`` on the lock simply returns the current,
  still valid value. On a missing key it falls back to the lock.
"""

from __future__ import annotations

import json
import math
import random
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UsageError
from ..keys import CACHE_LOCK, key
from ..kit.workload import Database
from ..types import Connection
from ._common import CacheStats, cache_key

__all__ = [
    "STRATEGIES",
    "StampedeCache",
    "stampede_burst",
    "stampede_comparison",
    "stampede_sustained",
]

STRATEGIES = ("none", "lock", "xfetch", "xfetch+lock")

# KEYS[1] = lock key
# ARGV[1] = the token this holder set
# Deletes the lock only if it is still ours (it may have expired and been re-taken).
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class StampedeCache:
    """A cache-aside read path with a choice of stampede protection.

    Entries are JSON ``{"v": value, "d": seconds the recomputation took}``.

    Args:
        connection: a ``redis.Redis`` (thread-safe; share it between threads).
        loader: ``ident -> value`` (the expensive query).
        name: key namespace.
        ttl: entry TTL in seconds.
        strategy: one of :data:`STRATEGIES`.
        beta: XFetch aggressiveness (1.0 is the paper's default; > 1 refreshes earlier).
        lock_ttl: lock expiry in seconds (default ``ttl``): bounds the wait if a holder dies.
        poll: seconds between a waiter's cache checks.
        max_wait: a waiter gives up and recomputes itself after this long.
        seed: seeds XFetch's random draws.
    """

    def __init__(
        self,
        connection: Connection,
        loader: Callable[[Any], Any],
        *,
        name: str,
        ttl: float,
        strategy: str = "none",
        beta: float = 1.0,
        lock_ttl: float | None = None,
        poll: float = 0.002,
        max_wait: float = 5.0,
        seed: int | None = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise UsageError(f"strategy must be one of {STRATEGIES}")
        self.connection = connection
        self.loader = loader
        self.name = name
        self.ttl_ms = max(1, round(ttl * 1000))
        self.strategy = strategy
        self.beta = beta
        self.lock_ms = max(1, round((lock_ttl or ttl) * 1000))
        self.poll = poll
        self.max_wait = max_wait
        self.stats = CacheStats()
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._release = connection.register_script(RELEASE_LOCK)

    def key(self, ident: object) -> str:
        return cache_key(self.name, ident)

    def lock_key(self, ident: object) -> str:
        return key(CACHE_LOCK, self.name, ident)

    def get(self, ident: object) -> Any:
        """The value of ``ident``, recomputed according to the strategy."""
        rkey = self.key(ident)
        if self.strategy.startswith("xfetch"):
            pipe = self.connection.pipeline(transaction=False)
            pipe.get(rkey)
            pipe.pttl(rkey)
            raw, pttl = pipe.execute()
            if raw is not None:
                entry = json.loads(raw)
                with self._rng_lock:
                    u = 1.0 - self._rng.random()  # (0, 1]
                if pttl < 0 or -entry["d"] * self.beta * math.log(u) * 1000 < pttl:
                    self.stats.incr("hits")
                    return entry["v"]
                if self.strategy == "xfetch+lock":
                    return self._early_single_flight(rkey, ident, entry["v"])
                self.stats.incr("refreshes")  # early recomputation: the value is still there
                return self._recompute(rkey, ident)
        else:
            raw = self.connection.get(rkey)
            if raw is not None:
                self.stats.incr("hits")
                return json.loads(raw)["v"]
        self.stats.incr("misses")
        if self.strategy in ("lock", "xfetch+lock"):
            return self._single_flight(rkey, ident)
        return self._recompute(rkey, ident)

    def _recompute(self, rkey: str, ident: object) -> Any:
        t0 = time.perf_counter()
        value = self.loader(ident)
        delta = time.perf_counter() - t0
        self.stats.incr("loads")
        self.connection.set(rkey, json.dumps({"v": value, "d": delta}), px=self.ttl_ms)
        return value

    def _early_single_flight(self, rkey: str, ident: object, current: Any) -> Any:
        lkey = self.lock_key(ident)
        token = secrets.token_hex(8)
        if not self.connection.set(lkey, token, nx=True, px=self.lock_ms):
            self.stats.incr("hits")  # someone else is refreshing: the value is still valid
            return current
        try:
            self.stats.incr("refreshes")
            return self._recompute(rkey, ident)
        finally:
            self._release(keys=[lkey], args=[token])

    def _single_flight(self, rkey: str, ident: object) -> Any:
        lkey = self.lock_key(ident)
        token = secrets.token_hex(8)
        deadline = time.monotonic() + self.max_wait
        waited = False
        while True:
            if self.connection.set(lkey, token, nx=True, px=self.lock_ms):
                try:
                    raw = self.connection.get(rkey)  # filled while we queued for the lock?
                    if raw is not None:
                        return json.loads(raw)["v"]
                    return self._recompute(rkey, ident)
                finally:
                    self._release(keys=[lkey], args=[token])
            if not waited:
                waited = True
                self.stats.incr("waits")
            time.sleep(self.poll)
            raw = self.connection.get(rkey)
            if raw is not None:
                return json.loads(raw)["v"]
            if time.monotonic() > deadline:
                return self._recompute(rkey, ident)


def _run_threads(n: int, target: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _latency_summary(samples: list[float], slow_ms: float) -> dict[str, float]:
    arr = np.asarray(samples) * 1000
    return {
        "slow_reads": int((arr > slow_ms).sum()),
        "p50_ms": float(np.percentile(arr, 50)),
        "p99_ms": float(np.percentile(arr, 99)),
        "max_ms": float(arr.max()),
    }


def stampede_burst(
    connection: Connection,
    db: Database,
    *,
    strategy: str,
    item_id: int,
    threads: int = 16,
    ttl: float = 5.0,
    slow_ms: float | None = None,
    seed: int = 42,
) -> dict[str, Any]:
    """``threads`` readers released together (a barrier) on a key that is not cached.

    Returns database calls, readers, *slow reads* (longer than ``slow_ms``, default
    half the database latency: they waited for a database call) and latency percentiles.
    """
    slow_ms = db.latency * 500 if slow_ms is None else slow_ms
    cache = StampedeCache(
        connection, db.get, name=f"burst-{strategy}", ttl=ttl, strategy=strategy, seed=seed
    )
    connection.delete(cache.key(item_id), cache.lock_key(item_id))
    barrier = threading.Barrier(threads)
    latencies: list[float] = []
    lat_lock = threading.Lock()
    before = db.stats.reads

    def reader(_: int) -> None:
        barrier.wait()
        t0 = time.perf_counter()
        cache.get(item_id)
        with lat_lock:
            latencies.append(time.perf_counter() - t0)

    _run_threads(threads, reader)
    return {
        "strategy": strategy,
        "scenario": "burst on a missing key",
        "readers": threads,
        "reads": len(latencies),
        "db_calls": db.stats.reads - before,
        **_latency_summary(latencies, slow_ms),
    }


def stampede_sustained(
    connection: Connection,
    db: Database,
    *,
    strategy: str,
    item_id: int,
    threads: int = 8,
    duration: float = 1.5,
    ttl: float = 0.5,
    beta: float = 1.0,
    think: float = 0.001,
    slow_ms: float | None = None,
    seed: int = 42,
) -> dict[str, Any]:
    """``threads`` readers hammer one hot key for ``duration`` s; its TTL is ``ttl`` s.

    The key is primed first. ``expiries`` is ``duration / ttl``: with perfect
    protection the database sees about one call per expiry. ``slow_reads`` counts
    reads longer than ``slow_ms`` (default half the database latency): readers that
    waited for a database call, their own or a lock holder's.
    """
    slow_ms = db.latency * 500 if slow_ms is None else slow_ms
    cache = StampedeCache(
        connection,
        db.get,
        name=f"sustained-{strategy}",
        ttl=ttl,
        strategy=strategy,
        beta=beta,
        seed=seed,
    )
    connection.delete(cache.key(item_id), cache.lock_key(item_id))
    cache.get(item_id)  # prime
    cache.stats.reset()
    before = db.stats.reads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads)

    def reader(i: int) -> None:
        start.wait()
        stop_at = time.perf_counter() + duration
        out = latencies[i]
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            cache.get(item_id)
            out.append(time.perf_counter() - t0)
            time.sleep(think)

    _run_threads(threads, reader)
    flat = [x for lat in latencies for x in lat]
    return {
        "strategy": strategy,
        "scenario": "sustained load across expiries",
        "readers": threads,
        "reads": len(flat),
        "expiries": round(duration / ttl),
        "db_calls": db.stats.reads - before,
        "early_refreshes": cache.stats.refreshes,
        "waiters": cache.stats.waits,
        **_latency_summary(flat, slow_ms),
    }


def stampede_comparison(
    connection: Connection,
    db: Database,
    *,
    item_id: int,
    burst_threads: int = 16,
    threads: int = 8,
    duration: float = 1.2,
    ttl: float = 0.4,
    strategies: tuple[str, ...] = STRATEGIES,
    seed: int = 42,
) -> pd.DataFrame:
    """:func:`stampede_burst` and :func:`stampede_sustained` for every strategy; one row each."""
    rows = [
        stampede_burst(
            connection, db, strategy=s, item_id=item_id, threads=burst_threads, seed=seed
        )
        for s in strategies
    ]
    rows += [
        stampede_sustained(
            connection,
            db,
            strategy=s,
            item_id=item_id,
            threads=threads,
            duration=duration,
            ttl=ttl,
            seed=seed,
        )
        for s in strategies
    ]
    return pd.DataFrame(rows).set_index(["scenario", "strategy"])
