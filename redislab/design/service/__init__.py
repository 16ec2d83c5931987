"""A product-catalogue service with Redis in front of its database (notebook 10.06).

Three modules: :mod:`.catalogue` (the database, the service, the request mix),
:mod:`.load` (the driver) and :mod:`.failover` (the Sentinel failover run).

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
  :func:`paired_read_latencies`: the same reads served with and without the cache,
  interleaved, for a timing claim decided from samples.
- :func:`failover_run` / :func:`failover`: the same load on the Sentinel lab while the
  primary is SIGKILLed, with the fault, the promotion Sentinel announced and the
  moment the service read Redis again on one :class:`~redislab.kit.Timeline`.
"""

from __future__ import annotations

from .catalogue import (
    DEFAULT_MIX,
    KINDS,
    CatalogueDatabase,
    CatalogueService,
    Request,
    request_mix,
)
from .failover import (
    ServiceFailover,
    failover,
    failover_run,
    plot_failover,
)
from .load import (
    LoadResult,
    ServiceLoad,
    drive,
    paired_read_latencies,
)

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
    "paired_read_latencies",
    "plot_failover",
    "request_mix",
]
