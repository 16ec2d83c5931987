"""Caching patterns over Redis and a real database, each usable from scripts.

- :func:`cached` / :class:`CacheAside`: cache-aside with TTL jitter, a pluggable
  serializer, a ``None`` policy, database fallback when Redis is away, and optional
  versioned entries.
- :class:`WriteThrough`, :class:`WriteBehind` + :class:`FlushWorker`, :func:`loss_report`.
- :class:`RefreshAhead`: background reload of entries close to expiry.
- :class:`TwoLevelCache`: in-process LRU over Redis, coherent through
  ``CLIENT TRACKING`` (or pub/sub).
- :class:`StampedeCache`: none / single-flight lock / XFetch.
- :mod:`.races`: the stale-set race, forced, and its fix.
- :mod:`.experiments`: the measurements notebook 02 and the benchmark run.
"""

from __future__ import annotations

from ._common import (
    CacheError,
    CacheStats,
    JsonSerializer,
    PickleSerializer,
    SerializationError,
    Serializer,
)
from .aside import CacheAside, cached
from .experiments import (
    compare_patterns,
    hit_path_samples,
    hit_path_timings,
    rank_patterns,
    refresh_vs_ttl,
    run_workload,
    staleness_comparison,
    standard_patterns,
    tracking_staleness_pairs,
    ttl_spread,
    write_path_costs,
)
from .multilevel import (
    LRU,
    TwoLevelCache,
    pubsub_gap,
    staleness_after_write,
    tracking_invalidations,
)
from .races import race_trials, stale_set_race
from .refresh import RefreshAhead
from .stampede import (
    STRATEGIES,
    StampedeCache,
    stampede_burst,
    stampede_comparison,
    stampede_sustained,
)
from .write import (
    CRASH_POINTS,
    FlushWorker,
    LossReport,
    WriteBehind,
    WriteThrough,
    loss_report,
    loss_scenario,
)

__all__ = [
    "CRASH_POINTS",
    "LRU",
    "STRATEGIES",
    "CacheAside",
    "CacheError",
    "CacheStats",
    "FlushWorker",
    "JsonSerializer",
    "LossReport",
    "PickleSerializer",
    "RefreshAhead",
    "SerializationError",
    "Serializer",
    "StampedeCache",
    "TwoLevelCache",
    "WriteBehind",
    "WriteThrough",
    "cached",
    "compare_patterns",
    "hit_path_samples",
    "hit_path_timings",
    "loss_report",
    "loss_scenario",
    "pubsub_gap",
    "race_trials",
    "rank_patterns",
    "refresh_vs_ttl",
    "run_workload",
    "stale_set_race",
    "staleness_after_write",
    "staleness_comparison",
    "stampede_burst",
    "stampede_comparison",
    "stampede_sustained",
    "standard_patterns",
    "tracking_invalidations",
    "tracking_staleness_pairs",
    "ttl_spread",
    "write_path_costs",
]
