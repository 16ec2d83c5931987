"""Memory: eviction, expiry, encodings, analysis and cache sizing (notebooks 04.xx).

- :mod:`.eviction`: the eight ``maxmemory-policy`` values on one seeded Zipf trace,
  ``volatile-ttl``'s order, ``maxmemory 0``, ``mem_not_counted_for_evict``.
- :mod:`.lru`: Redis's approximated LRU against an exact LRU (the key-eviction page's test).
- :mod:`.lfu`: the LFU counter against ``redis.conf``'s table.
"""

from __future__ import annotations

from .eviction import (
    POLICIES,
    PolicyRun,
    compare_policies,
    data_cost,
    fill_unlimited,
    not_counted_for_evict,
    run_policy,
    ttl_eviction_order,
)
from .lfu import LFU_TABLE, LFU_TABLE_HITS, lfu_counter_table
from .lru import (
    approximated_lru,
    exact_lru_hit_ratio,
    exact_lru_survivors,
    lru_comparison,
    plot_lru_runs,
)

__all__ = [
    "LFU_TABLE",
    "LFU_TABLE_HITS",
    "POLICIES",
    "PolicyRun",
    "approximated_lru",
    "compare_policies",
    "data_cost",
    "exact_lru_hit_ratio",
    "exact_lru_survivors",
    "fill_unlimited",
    "lfu_counter_table",
    "lru_comparison",
    "not_counted_for_evict",
    "plot_lru_runs",
    "run_policy",
    "ttl_eviction_order",
]
