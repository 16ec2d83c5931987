"""The catalogue service and its database: what a request does (notebook 10.06).

:class:`CatalogueDatabase` (products, users, category pages over the kit's SQLite
``Database``), :class:`CatalogueService` (write-through products, cache-aside users and
pages, each with the cache theme's breaker) and :func:`request_mix` (a seeded mix).
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import redis

from ...cache import CacheAside, WriteThrough
from ...errors import DesignError, ServiceUnavailable
from ...kit.measure import progress
from ...kit.workload import DEFAULT_LATENCY, Database, ZipfWorkload, make_row
from ...types import Connection

__all__ = [
    "COUNTERS",
    "DEFAULT_MIX",
    "KINDS",
    "TIERS",
    "CatalogueDatabase",
    "CatalogueService",
    "Request",
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
