"""Designs a team would put into production, built from redislab's pieces (notebook 10).

The one layer above the themes: it may import their public exports, never internals.

- :mod:`.ratelimit`: fixed window, sliding log, sliding-window counter, token bucket,
  GCRA (atomic Lua), the ``limits`` library beside them, an exact accuracy checker.
- :mod:`.locks`: a token lock with safe release and renewal, redis-py's ``Lock``,
  fencing tokens, a mutual-exclusion detector, a paused holder, a failover.
- :mod:`.sessions`: hashes with sliding expiry and a per-user index.
- :mod:`.leaderboard`: sorted-set boards, ties, merges, growth of query cost.
- :mod:`.analytics`: unique visitors (set, bitmap, HyperLogLog), activity bitmaps and
  retention, per-minute counters, top-K.
- :mod:`.service`: a product-catalogue service with Redis in front of its database
  (the cache theme's patterns), a request-mix driver, and a Sentinel failover.
- :mod:`.planner`: a capacity planner (measured per-key memory and throughput), as a
  function returning a :class:`Plan` and as an ipywidgets form.
"""

from __future__ import annotations

from . import analytics, leaderboard, locks, planner, ratelimit, service, sessions
from .leaderboard import Leaderboard
from .locks import FencedResource, NaiveLock, RedisPyLock, TokenLock
from .planner import KeyShape, Plan, Workload, plan, planner_widget
from .ratelimit import (
    ALGORITHMS,
    GCRA,
    Accuracy,
    FixedWindow,
    LimitsLibrary,
    RateLimiter,
    SlidingLog,
    SlidingWindowCounter,
    TokenBucket,
    check,
)
from .service import (
    CatalogueDatabase,
    CatalogueService,
    LoadResult,
    Request,
    ServiceFailover,
    ServiceLoad,
    request_mix,
)
from .sessions import SessionStore

__all__ = [
    "ALGORITHMS",
    "GCRA",
    "Accuracy",
    "CatalogueDatabase",
    "CatalogueService",
    "FencedResource",
    "FixedWindow",
    "KeyShape",
    "Leaderboard",
    "LimitsLibrary",
    "LoadResult",
    "NaiveLock",
    "Plan",
    "RateLimiter",
    "RedisPyLock",
    "Request",
    "ServiceFailover",
    "ServiceLoad",
    "SessionStore",
    "SlidingLog",
    "SlidingWindowCounter",
    "TokenBucket",
    "TokenLock",
    "Workload",
    "analytics",
    "check",
    "leaderboard",
    "locks",
    "plan",
    "planner",
    "planner_widget",
    "ratelimit",
    "request_mix",
    "service",
    "sessions",
]
