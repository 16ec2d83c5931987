"""A product-catalogue service with Redis in front of its database (notebook 10.06).

The caching notebook's patterns, applied to one service a team would run:

- :class:`CatalogueDatabase`: the kit's SQLite :class:`~redislab.kit.workload.Database`
  (every round trip pays its artificial latency) with a ``users`` table and a
  category-page query beside the ``items`` (products) table.
- :class:`CatalogueService`: ``get_product`` (write-through, versioned entries),
  ``get_user`` (cache-aside), ``category_page`` (a list read, cache-aside, invalidated
  when a price in the category changes) and ``update_price`` (database, then the
  product's entry, then the page's invalidation). All three caches are the cache
  theme's public :class:`~redislab.cache.CacheAside` / :class:`~redislab.cache.WriteThrough`:
  a Redis error trips their breaker (``cooldown`` seconds served from the database,
  counted as ``fallbacks``) and invalidations that could not be sent are replayed
  before Redis is read again. Any other Redis error (a ``READONLY``, an ``OOM``) is
  caught here and answered from the database too (``bypasses``). A request fails
  only if the database fails: :class:`~redislab.errors.ServiceUnavailable`.
- :func:`request_mix`: a seeded mix of requests, Zipf popularity for reads, uniform
  price updates (a back-office feed), 10 % writes by default.
- :class:`ServiceLoad`: drives a service at a fixed request rate from worker threads,
  records every request (start, latency, error) and samples the counters (cache hits,
  misses, fallbacks, database round trips) every 20 ms: a :class:`LoadResult`.
- :func:`failover_run` / :func:`failover`: the same load on the Sentinel lab while the
  primary is SIGKILLed, with the fault, the promotion Sentinel announced and the
  moment the service read Redis again on one :class:`~redislab.kit.Timeline`.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import redis

from ..cache import CacheAside, WriteThrough
from ..errors import DesignError, ServiceUnavailable
from ..kit.loads import sync_replicas
from ..kit.measure import percentile, progress
from ..kit.timeline import Timeline, no_retry, wait_for
from ..kit.workload import DEFAULT_LATENCY, Database, ZipfWorkload, make_row
from ..replication import (
    sentinel_epoch,
    sentinel_primary,
    single_failover,
    wait_sentinel_new_primary,
)
from ..types import Connection

__all__ = [
    "DEFAULT_MIX",
    "KINDS",
    "CatalogueDatabase",
    "CatalogueService",
    "LoadResult",
    "Request",
    "ServiceFailover",
    "ServiceLoad",
    "drive",
    "failover",
    "failover_run",
    "plot_failover",
    "request_mix",
]

KINDS = ("get_product", "get_user", "category_page", "update_price")
"""The service's request kinds; ``update_price`` is the only write."""

DEFAULT_MIX: dict[str, float] = {
    "get_product": 0.55,
    "get_user": 0.25,
    "category_page": 0.10,
    "update_price": 0.10,
}
"""90 % reads, 10 % writes: a catalogue is read far more often than it changes."""

TIERS = ("free", "plus", "pro")

_USERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id   INTEGER PRIMARY KEY,
    name TEXT    NOT NULL,
    tier TEXT    NOT NULL
);
"""

COUNTERS = ("hits", "misses", "fallbacks", "redis_errors", "invalidations", "bypasses")


# ------------------------------------------------------------------ the database
class CatalogueDatabase(Database):
    """Products (the kit's ``items`` table), users and a category-page query.

    A product's category is ``id % n_categories``. Every query is one round trip
    (counted in ``stats``, paying ``latency``). Set ``available = False`` to make every
    round trip fail (``sqlite3.OperationalError``), as a database outage would
    (:class:`~redislab.kit.workload.Database`'s ``query``/``setup``/``inspect``).
    """

    def __init__(
        self, path: str | Path, *, latency: float = DEFAULT_LATENCY, n_categories: int = 20
    ) -> None:
        super().__init__(path, latency=latency)
        if n_categories <= 0:
            raise DesignError("n_categories must be positive")
        self.n_categories = n_categories
        self.setup(_USERS_SCHEMA)

    @classmethod
    def build(
        cls,
        directory: str | Path,
        *,
        n_products: int = 1000,
        n_users: int = 500,
        n_categories: int = 20,
        latency: float = DEFAULT_LATENCY,
    ) -> CatalogueDatabase:
        """A fresh ``directory/catalogue.sqlite3``: products at version 1 and users."""
        db = cls.create(directory, n_rows=n_products, latency=latency, name="catalogue.sqlite3")
        assert isinstance(db, CatalogueDatabase)
        db.n_categories = n_categories
        db.setup(
            "DELETE FROM users;",
            ((i, f"user-{i}", TIERS[i % len(TIERS)]) for i in range(n_users)),
            insert="INSERT INTO users (id, name, tier) VALUES (?, ?, ?)",
        )
        return db

    def category(self, product_id: int) -> int:
        """The category of a product."""
        return int(product_id) % self.n_categories

    def get_user(self, user_id: int) -> dict[str, Any] | None:
        """A user's profile, or None. One round trip."""
        rows = self.query("SELECT id, name, tier FROM users WHERE id = ?", (int(user_id),))
        return rows[0] if rows else None

    def category_page(self, category: int, limit: int = 10) -> list[dict[str, Any]]:
        """The ``limit`` cheapest products of ``category`` (a list read). One round trip."""
        return self.query(
            "SELECT id, name, price FROM items WHERE id % ? = ? ORDER BY price, id LIMIT ?",
            (self.n_categories, int(category), int(limit)),
        )

    def user_count(self) -> int:
        """Number of users (out of band: no latency, not counted)."""
        return int(self.inspect("SELECT COUNT(*) AS n FROM users")[0]["n"])


# ------------------------------------------------------------------- the service
@contextlib.contextmanager
def _database_errors(what: str) -> Any:
    """Turn a database failure into the one error users may see."""
    try:
        yield
    except sqlite3.Error as exc:
        raise ServiceUnavailable(f"{what}: the database failed ({exc})") from exc


class CatalogueService:
    """A catalogue API over a :class:`CatalogueDatabase`, with Redis in front if given.

    Args:
        db: the database.
        connection: a ``redis.Redis`` (``decode_responses=True``), e.g. from
            ``Sentinel.master_for``; None runs the service without a cache. Give it a
            short ``socket_timeout`` and ``retry=no_retry()`` (or a small retry):
            redis-py 6+ retries a failed command by default (10 times with
            exponential backoff in 8.x), which makes one call to a dead Redis take
            seconds before the breaker can open.
        ttl: seconds a cache entry lives (±10 % jitter).
        cooldown: seconds the caches serve from the database after a Redis error.
        page_size: products per category page.
        seed: seeds the TTL jitter.
    """

    def __init__(
        self,
        db: CatalogueDatabase,
        connection: Connection | None = None,
        *,
        ttl: float = 300.0,
        cooldown: float = 0.25,
        page_size: int = 10,
        seed: int = 0,
    ) -> None:
        self.db = db
        self.connection = connection
        self.page_size = page_size
        self.bypasses = 0
        self._lock = threading.Lock()
        self.products: WriteThrough | None = None
        self.users: CacheAside | None = None
        self.pages: CacheAside | None = None
        if connection is not None:
            kw: dict[str, Any] = {"ttl": ttl, "cooldown": cooldown}
            self.products = WriteThrough(connection, db, name="catalogue-product", seed=seed, **kw)
            self.users = CacheAside(
                connection, db.get_user, name="catalogue-user", seed=seed + 1, **kw
            )
            self.pages = CacheAside(
                connection, self._load_page, name="catalogue-page", seed=seed + 2, **kw
            )
        self._handlers: dict[str, Callable[[int], Any]] = {
            "get_product": self.get_product,
            "get_user": self.get_user,
            "category_page": self.category_page,
            "update_price": self.update_price,
        }

    @property
    def cached(self) -> bool:
        """True if Redis is in front of the database."""
        return self.connection is not None

    def _load_page(self, category: int) -> list[dict[str, Any]]:
        return self.db.category_page(category, self.page_size)

    def _bypass(self, exc: redis.RedisError) -> None:
        """A Redis error the cache patterns do not absorb: answer from the database."""
        with self._lock:
            self.bypasses += 1

    # ------------------------------------------------------------- requests
    def get_product(self, product_id: int) -> dict[str, Any] | None:
        """One product (id, version, name, price)."""
        with _database_errors(f"get_product({product_id})"):
            if self.products is not None:
                try:
                    return self.products.get(product_id)
                except redis.RedisError as exc:
                    self._bypass(exc)
            return self.db.get(product_id)

    def get_user(self, user_id: int) -> dict[str, Any] | None:
        """One user profile (id, name, tier)."""
        with _database_errors(f"get_user({user_id})"):
            if self.users is not None:
                try:
                    return self.users.get(user_id)
                except redis.RedisError as exc:
                    self._bypass(exc)
            return self.db.get_user(user_id)

    def category_page(self, category: int) -> list[dict[str, Any]]:
        """The cheapest products of a category (a list read)."""
        with _database_errors(f"category_page({category})"):
            if self.pages is not None:
                try:
                    return self.pages.get(category)
                except redis.RedisError as exc:
                    self._bypass(exc)
            return self._load_page(category)

    def update_price(self, product_id: int) -> dict[str, Any]:
        """Give a product its next version (a new price): two database round trips.

        The database is written first; then the product's cache entry (write-through,
        versioned: an older row never replaces it) and the invalidation of its
        category page. A Redis failure after the database write is queued by the cache
        and replayed before it reads Redis again.
        """
        with _database_errors(f"update_price({product_id})"):
            row = self.db.get(product_id)
            if row is None:
                raise DesignError(f"no product {product_id}")
            new = make_row(product_id, int(row["version"]) + 1)
            if self.products is None or self.pages is None:
                self.db.put(new)
                return new
            try:
                self.products.write(new)  # the database, then the entry
                self.pages.invalidate(self.db.category(product_id))
            except redis.RedisError as exc:  # after the database write: the caches may lag
                self._bypass(exc)
                with contextlib.suppress(redis.RedisError):
                    self.products.cache.invalidate(product_id, version=new["version"])
                    self.pages.invalidate(self.db.category(product_id))
            return new

    def handle(self, request: Request) -> Any:
        """Serve one :class:`Request`."""
        return self._handlers[request.kind](request.ident)

    # ------------------------------------------------------------ counters
    def _caches(self) -> list[CacheAside]:
        if self.products is None or self.users is None or self.pages is None:
            return []
        return [self.products.cache, self.users, self.pages]

    def counters(self) -> dict[str, int]:
        """Cache counters summed over the three caches, plus database round trips."""
        out = dict.fromkeys(COUNTERS, 0)
        for c in self._caches():
            s = c.stats
            for name in COUNTERS[:-1]:
                out[name] += int(getattr(s, name))
        out["bypasses"] = self.bypasses
        out["db_round_trips"] = self.db.stats.round_trips
        return out

    def pending_invalidations(self) -> int:
        """Invalidations Redis has not received yet (queued during an outage)."""
        return sum(len(c.pending_invalidations) for c in self._caches())

    def warm(self, *, workers: int = 8, show_progress: bool = True) -> int:
        """Load every product, user and category page once (threads). Returns the count."""
        calls: list[tuple[Callable[[int], Any], int]] = [
            *((self.get_product, i) for i in range(self.db.count())),
            *((self.get_user, i) for i in range(self.db.user_count())),
            *((self.category_page, c) for c in range(self.db.n_categories)),
        ]
        bar = progress(total=len(calls), desc="warming the cache", enabled=show_progress)
        with ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(lambda call: call[0](call[1]), calls):
                bar.update(1)
        bar.close()
        return len(calls)

    def __repr__(self) -> str:
        where = "with Redis" if self.cached else "without a cache"
        return f"CatalogueService({self.db!r}, {where})"


# ------------------------------------------------------------- the request mix
@dataclass(frozen=True, slots=True)
class Request:
    """One request: ``kind`` (one of :data:`KINDS`) on ``ident`` (a product, user or category)."""

    kind: str
    ident: int


def request_mix(
    n: int,
    *,
    n_products: int,
    n_users: int,
    n_categories: int,
    mix: Mapping[str, float] | None = None,
    s: float = 1.1,
    seed: int = 42,
) -> list[Request]:
    """``n`` seeded requests: kinds drawn from ``mix``; reads Zipf(``s``), writes uniform.

    Reads follow popularity (a few hot products, users and categories); price updates
    come from a back-office feed and touch every product alike.
    """
    mix = dict(DEFAULT_MIX if mix is None else mix)
    unknown = set(mix) - set(KINDS)
    if unknown or not math.isclose(sum(mix.values()), 1.0, abs_tol=1e-9):
        raise DesignError(f"a mix gives each of {KINDS} a share, summing to 1; got {mix}")
    names = list(mix)
    rng = np.random.default_rng(seed)
    kinds = rng.choice(len(names), size=n, p=[mix[k] for k in names])
    idents = {
        "get_product": ZipfWorkload(n_products, s=s, seed=seed).keys(n, seed=seed + 1),
        "get_user": ZipfWorkload(n_users, s=s, seed=seed + 10).keys(n, seed=seed + 11),
        "category_page": ZipfWorkload(n_categories, s=s, seed=seed + 20).keys(n, seed=seed + 21),
        "update_price": rng.integers(0, n_products, size=n),
    }
    return [Request(names[k], int(idents[names[k]][i])) for i, k in enumerate(kinds)]


# ------------------------------------------------------------------- the driver
@dataclass
class LoadResult:
    """What one run of a :class:`ServiceLoad` saw.

    ``records``: one row per request (``t`` start on the timeline, ``latency_ms``,
    ``kind``, ``error`` the exception's name or None, ``late_ms`` how late the request
    started against its schedule). ``samples``: the service's counters every 20 ms.
    ``events``: the timeline's named instants.
    """

    records: pd.DataFrame
    samples: pd.DataFrame
    events: dict[str, float] = field(default_factory=dict)

    def _counter_delta(self, name: str, start: float, end: float) -> float:
        t = self.samples["t"].to_numpy()
        v = self.samples[name].to_numpy(dtype=float)
        return float(np.interp(end, t, v) - np.interp(start, t, v))

    def window(self, start: float | None = None, end: float | None = None) -> dict[str, float]:
        """Requests started in ``[start, end)``: latency percentiles, errors, DB load, hits."""
        r = self.records
        lo = float(self.samples["t"].min()) if start is None else start
        hi = float(self.samples["t"].max()) if end is None else end
        sel = r[(r["t"] >= lo) & (r["t"] < hi)]
        lat = sel["latency_ms"].to_numpy()
        n = len(sel)
        d = {k: self._counter_delta(k, lo, hi) for k in (*COUNTERS, "db_round_trips")}
        reads = d["hits"] + d["misses"] + d["fallbacks"]
        return {
            "requests": n,
            "p50_ms": percentile(lat, 50) if n else math.nan,
            "p99_ms": percentile(lat, 99) if n else math.nan,
            "errors": int(sel["error"].notna().sum()),
            "db_per_request": d["db_round_trips"] / n if n else math.nan,
            "hit_ratio": d["hits"] / reads if reads else math.nan,
            "fallbacks": d["fallbacks"],
            "redis_errors": d["redis_errors"],
            "bypasses": d["bypasses"],
        }

    def summary(self) -> dict[str, float]:
        """:meth:`window` over the whole run."""
        return self.window()

    def by_kind(self) -> pd.DataFrame:
        """Latency percentiles and errors per request kind."""
        g = self.records.groupby("kind")
        return pd.DataFrame(
            {
                "requests": g.size(),
                "p50_ms": g["latency_ms"].median(),
                "p99_ms": g["latency_ms"].quantile(0.99),
                "errors": g["error"].count(),
            }
        )

    def intervals(self, width: float = 0.1) -> pd.DataFrame:
        """:meth:`window` over consecutive intervals of ``width`` seconds (the timeline)."""
        lo = float(self.records["t"].min())
        hi = float(self.samples["t"].max())
        edges = np.arange(lo, hi + width, width)
        rows = [{"t": a, **self.window(a, b)} for a, b in itertools.pairwise(edges)]
        return pd.DataFrame(rows).set_index("t")


class ServiceLoad:
    """Drive ``service`` with ``requests`` at ``rate`` requests/s from ``workers`` threads.

    Request ``k`` is due at ``k / rate`` seconds after :meth:`start`; worker ``w`` serves
    the requests ``k = w, w + workers, ...``, each when due (at once if it is late:
    ``late_ms`` records by how much). Latency is measured from the request's start.
    Every exception a request raises is what a user would see: it is recorded, not
    raised. A sampler thread reads ``service.counters()`` every ``sample_every`` s.
    """

    def __init__(
        self,
        service: CatalogueService,
        requests: Sequence[Request],
        *,
        rate: float,
        workers: int = 4,
        timeline: Timeline | None = None,
        sample_every: float = 0.02,
    ) -> None:
        if rate <= 0 or workers <= 0:
            raise DesignError("rate and workers must be positive")
        self.service = service
        self.requests = list(requests)
        self.rate = float(rate)
        self.workers = workers
        self.timeline = timeline or Timeline()
        self.sample_every = sample_every
        self._stop = threading.Event()
        self._records: list[list[tuple[float, float, str, str | None, float]]] = [
            [] for _ in range(workers)
        ]
        self._samples: list[tuple[float, ...]] = []
        self._threads: list[threading.Thread] = []
        self._sampler: threading.Thread | None = None
        self._sampler_stop = threading.Event()
        self._begin = 0.0

    @property
    def done(self) -> int:
        """Requests served so far."""
        return sum(len(r) for r in self._records)

    def _sample(self) -> None:
        c = self.service.counters()
        self._samples.append((self.timeline.now(), *c.values()))

    def _run_sampler(self) -> None:
        while not self._sampler_stop.wait(self.sample_every):
            self._sample()

    def _work(self, w: int) -> None:
        out = self._records[w]
        now = self.timeline.now
        handle = self.service.handle
        reqs = self.requests
        k = w
        while k < len(reqs) and not self._stop.is_set():
            due = self._begin + k / self.rate
            delay = due - now()
            if delay > 0 and self._stop.wait(delay):
                break
            req = reqs[k]
            t0 = now()
            err: str | None = None
            try:
                handle(req)
            except Exception as exc:  # what the user sees, whatever it is
                err = type(exc).__name__
            t1 = now()
            out.append((t0, (t1 - t0) * 1000, req.kind, err, max(0.0, t0 - due) * 1000))
            k += self.workers

    def start(self) -> ServiceLoad:
        """Start the sampler and the workers; returns self."""
        self._sample()
        self._begin = self.timeline.now()
        self._sampler = threading.Thread(target=self._run_sampler, daemon=True)
        self._sampler.start()
        self._threads = [
            threading.Thread(target=self._work, args=(w,), daemon=True, name=f"service-load-{w}")
            for w in range(self.workers)
        ]
        for t in self._threads:
            t.start()
        return self

    def wait(self, *, show_progress: bool = True, desc: str = "requests") -> None:
        """Block until every request was served (a progress bar of requests served)."""
        bar = progress(total=len(self.requests), desc=desc, enabled=show_progress)
        while any(t.is_alive() for t in self._threads):
            time.sleep(0.1)
            bar.update(self.done - bar.n)
        bar.update(self.done - bar.n)
        bar.close()

    def stop(self) -> LoadResult:
        """Stop issuing requests, join the threads, return the :class:`LoadResult`."""
        self._stop.set()
        for t in self._threads:
            t.join()
        self._sampler_stop.set()
        if self._sampler is not None:
            self._sampler.join()
        self._sample()
        return self.result()

    def result(self) -> LoadResult:
        """The records and samples so far."""
        rows = [r for per in self._records for r in per]
        records = pd.DataFrame(rows, columns=["t", "latency_ms", "kind", "error", "late_ms"])
        records = records.sort_values("t", ignore_index=True)
        samples = pd.DataFrame(self._samples, columns=["t", *COUNTERS, "db_round_trips"])
        return LoadResult(records, samples, dict(self.timeline.events))


def drive(
    service: CatalogueService,
    requests: Sequence[Request],
    *,
    rate: float,
    workers: int = 4,
    show_progress: bool = True,
    desc: str = "requests",
) -> LoadResult:
    """Run :class:`ServiceLoad` to the end and return what it saw."""
    load = ServiceLoad(service, requests, rate=rate, workers=workers).start()
    try:
        load.wait(show_progress=show_progress, desc=desc)
    finally:
        result = load.stop()
    return result


# ------------------------------------------------------------------- failover
@dataclass
class ServiceFailover:
    """The service's view of a Sentinel failover (see :func:`failover_run`)."""

    load: LoadResult
    old_primary: str
    """``host:port`` Sentinel named before the kill."""
    new_primary: str
    """``host:port`` a majority of Sentinels named after it."""
    served_port: int
    """Port of the server the service's client talks to after the run (``INFO server``)."""
    served_role: str
    """``ROLE`` of that server."""
    keys_before: int
    """Keys on the old primary just before the kill (``DBSIZE``)."""
    keys_promoted: int
    """Keys on the promoted replica when Sentinel named it."""
    stale_products: int
    """Products the service answered with an older version than the database's, after."""
    down_after_s: float
    failover_timeout_s: float
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def events(self) -> dict[str, float]:
        """``fault``, ``promoted``, ``cache back`` (seconds on the run's timeline)."""
        return self.load.events

    def phases(self, *, settle: float = 0.1) -> pd.DataFrame:
        """:meth:`LoadResult.window` before the kill, during the outage, and after.

        The outage is from the kill to ``cache back`` (the first read Redis answered
        again); "after" starts ``settle`` seconds later.
        """
        ev = self.events
        rows = {
            "before": self.load.window(None, ev["fault"]),
            "outage": self.load.window(ev["fault"], ev["cache back"]),
            "after": self.load.window(ev["cache back"] + settle, None),
        }
        return pd.DataFrame(rows).T

    def outage_s(self) -> float:
        """Seconds from the kill until the service read from Redis again."""
        return self.events["cache back"] - self.events["fault"]


def _cache_back(result: LoadResult, since: float, *, settle: float = 0.05) -> float | None:
    """The first sample time after ``since`` at which the hit counter rose again.

    The baseline is the counter ``settle`` seconds after ``since``: a request whose GET
    was answered just before the kill may count its hit a moment after it.
    """
    s = result.samples
    base = s[s["t"] >= since + settle]
    if base.empty:
        return None
    rose = base[base["hits"] > base["hits"].iloc[0]]
    return None if rose.empty else float(rose["t"].iloc[0])


def failover_run(
    lab: Any,
    *,
    db: CatalogueDatabase,
    rate: float = 400.0,
    workers: int = 4,
    before: float = 1.0,
    after: float = 1.5,
    ttl: float = 300.0,
    cooldown: float = 0.25,
    client_timeout: float = 0.1,
    seed: int = 42,
    timeout: float = 20.0,
    show_progress: bool = True,
) -> ServiceFailover:
    """SIGKILL the primary of a Sentinel lab while the cached service takes requests.

    The service's client comes from ``Sentinel.master_for`` with a short socket
    timeout (``client_timeout``) and no retries, so a dead primary costs one quick
    error, then ``cooldown`` seconds served from the database. The cache is warmed and
    replicated (``WAIT``) first. Events on the timeline: ``fault`` (the kill),
    ``promoted`` (a majority of Sentinels name another primary), ``cache back`` (the
    first read Redis answered after the kill, from the sampled hit counter).

    ``details["failovers"]`` is the rise of the Sentinels' config epoch: one per
    failover (:func:`failover` repeats a run that caused two).
    """
    sentinel = lab.sentinel_client(socket_timeout=0.2)
    client = sentinel.master_for(
        lab.master_name,
        socket_timeout=client_timeout,
        socket_connect_timeout=client_timeout,
        retry=no_retry(),
        decode_responses=True,
    )
    sentinels = [s.client(socket_timeout=0.5) for s in lab.sentinels if s.alive]
    try:
        with lab.sentinels[0].client() as s0:
            m = s0.sentinel_master(lab.master_name)
        service = CatalogueService(db, client, ttl=ttl, cooldown=cooldown, seed=seed)
        service.warm(show_progress=show_progress)
        old = lab.primary
        old_addr = sentinel_primary(sentinels[0], lab.master_name)
        control = old.client()
        sync_replicas(control)
        epoch = sentinel_epoch(lab)
        n = int(rate * (before + timeout + after + 5))
        requests = request_mix(
            n,
            n_products=db.count(),
            n_users=db.user_count(),
            n_categories=db.n_categories,
            seed=seed,
        )
        timeline = Timeline()
        load = ServiceLoad(service, requests, rate=rate, workers=workers, timeline=timeline)
        bar = progress(total=4, desc="failover", enabled=show_progress)
        load.start()
        try:
            time.sleep(before)
            keys_before = int(control.dbsize())
            control.close()
            old.kill()
            t_fault = timeline.mark("fault")
            bar.update(1)
            new_addr = wait_sentinel_new_primary(
                sentinels, lab.master_name, old_addr, timeout=timeout
            )
            timeline.mark("promoted")
            bar.update(1)
            new_node = next(nd for nd in lab.data_nodes if nd.address == new_addr)
            with new_node.client() as nc:
                keys_promoted = int(nc.dbsize())
            hits = service.counters()["hits"]
            wait_for(
                lambda: service.counters()["hits"] > hits,
                timeout=timeout,
                what="the service reading Redis again",
            )
            bar.update(1)
            time.sleep(after)
        finally:
            result = load.stop()
        back = _cache_back(result, t_fault)
        result.events["cache back"] = back if back is not None else math.nan
        bar.update(1)
        bar.close()
        served_port = int(client.info("server")["tcp_port"])
        served_role = str(client.execute_command("ROLE")[0])
        versions = db.versions()
        stale = 0
        for pid, version in versions.items():
            row = service.get_product(pid)
            stale += row is None or int(row["version"]) < version
        return ServiceFailover(
            load=result,
            old_primary=old_addr or old.address,
            new_primary=new_addr,
            served_port=served_port,
            served_role=served_role,
            keys_before=keys_before,
            keys_promoted=keys_promoted,
            stale_products=stale,
            down_after_s=int(m["down-after-milliseconds"]) / 1000,
            failover_timeout_s=int(m["failover-timeout"]) / 1000,
            details={
                "failovers": sentinel_epoch(lab) - epoch,
                "engine": lab.server.label,
                "old_node": old.name,
                "new_node": new_node.name,
                "pending_invalidations": service.pending_invalidations(),
                "counters": service.counters(),
            },
        )
    finally:
        for c in (client, *sentinels):
            with contextlib.suppress(Exception):
                c.close()


def failover(lab: Any, *, db: CatalogueDatabase, attempts: int = 3, **kwargs: Any) -> Any:
    """:func:`failover_run`, repeated on a fresh lab like ``lab`` if it caused two failovers.

    (With the lab's 1 s ``down-after-milliseconds`` a second failover can follow the
    first: see :mod:`redislab.replication`'s Sentinel notes.) Returns a
    :class:`ServiceFailover`; ``details["attempts"]`` says how many runs it took.
    """
    return single_failover(failover_run, lab, attempts=attempts, db=db, **kwargs)


def plot_failover(run: ServiceFailover, *, width: float = 0.1, title: str | None = None) -> Any:
    """One figure, four panels over time: latency, errors, DB load, hit ratio, with events."""
    import matplotlib.pyplot as plt

    iv = run.load.intervals(width)
    t = iv.index.to_numpy()
    fig, axes = plt.subplots(4, 1, figsize=(9, 8), sharex=True)
    ax = axes[0]
    ax.plot(t, iv["p50_ms"], label="p50")
    ax.plot(t, iv["p99_ms"], label="p99")
    ax.set_yscale("log")
    ax.set_ylabel("latency ms")
    ax.legend(loc="upper right")
    ax = axes[1]
    ax.bar(t, iv["requests"], width=width, align="edge", alpha=0.4, label="requests")
    ax.bar(t, iv["errors"], width=width, align="edge", color="red", label="errors")
    ax.set_ylabel(f"per {width:g} s")
    ax.legend(loc="upper right")
    axes[2].plot(t, iv["db_per_request"], color="tab:brown")
    axes[2].set_ylabel("DB queries\nper request")
    axes[3].plot(t, iv["hit_ratio"], color="tab:green")
    axes[3].set_ylabel("reads Redis\nanswered")
    axes[3].set_ylim(-0.05, 1.05)
    axes[3].set_xlabel("seconds")
    styles = {
        "fault": ("red", "-", "primary killed"),
        "promoted": ("black", "--", "Sentinel promoted"),
        "cache back": ("tab:green", ":", "Redis again"),
    }
    for name, (color, ls, label) in styles.items():
        x = run.events.get(name)
        if x is None or math.isnan(x):
            continue
        for a in axes:
            a.axvline(x, color=color, ls=ls, lw=1, label=label if a is axes[3] else None)
    axes[3].legend(loc="lower left", fontsize=8)
    errors = int(iv["errors"].sum())
    axes[1].set_title(f"errors users saw: {errors}", fontsize=9, loc="left")
    fig.suptitle(title or f"The service through a Sentinel failover ({run.details.get('engine')})")
    fig.tight_layout()
    return fig
