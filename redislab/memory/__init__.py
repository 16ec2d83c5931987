"""Memory: eviction, expiry, encodings, analysis and cache sizing (notebooks 04.xx).

- :mod:`.eviction`: the eight ``maxmemory-policy`` values on one seeded Zipf trace,
  ``volatile-ttl``'s order, ``maxmemory 0``, ``mem_not_counted_for_evict``.
- :mod:`.lru`: Redis's approximated LRU against an exact LRU (the key-eviction page's test).
- :mod:`.lfu`: the LFU counter against ``redis.conf``'s table.
- :mod:`.expiry`: active and lazy expiry, TTL precision.
- :mod:`.encodings`: compact encodings, their thresholds, quicklist nodes.
- :mod:`.analysis`: keyspace analyser, MEMORY STATS/DOCTOR, fragmentation, client memory.
- :mod:`.monitor`: a background sampler with threshold alerts.
- :mod:`.sizing`: miss-ratio curve and a fitted capacity model.
- :mod:`.design`: client-side compression, key-name cost, hash bucketing.
"""

from __future__ import annotations

from .analysis import (
    KeyspaceReport,
    activedefrag_supported,
    analyse_keyspace,
    client_memory,
    fragmentation_after_delete,
    memory_overview,
)
from .design import CODECS, bucketed_vs_plain, compression_table, key_length_cost, sample_value
from .encodings import (
    KINDS,
    encoding_growth,
    encoding_switches,
    encoding_thresholds,
    quicklist_shape,
)
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
from .expiry import lazy_expiry, mass_expiry, set_active_expire, ttl_lateness
from .lfu import LFU_TABLE, LFU_TABLE_HITS, lfu_counter_table
from .lru import (
    approximated_lru,
    exact_lru_hit_ratio,
    exact_lru_survivors,
    lru_comparison,
    plot_lru_runs,
)
from .monitor import Alert, MemorySampler, default_alerts
from .sizing import CapacityModel, fit_capacity_model, load_keys, miss_ratio_curve

__all__ = [
    "CODECS",
    "KINDS",
    "LFU_TABLE",
    "LFU_TABLE_HITS",
    "POLICIES",
    "Alert",
    "CapacityModel",
    "KeyspaceReport",
    "MemorySampler",
    "PolicyRun",
    "activedefrag_supported",
    "analyse_keyspace",
    "approximated_lru",
    "bucketed_vs_plain",
    "client_memory",
    "compare_policies",
    "compression_table",
    "data_cost",
    "default_alerts",
    "encoding_growth",
    "encoding_switches",
    "encoding_thresholds",
    "exact_lru_hit_ratio",
    "exact_lru_survivors",
    "fill_unlimited",
    "fit_capacity_model",
    "fragmentation_after_delete",
    "key_length_cost",
    "lazy_expiry",
    "lfu_counter_table",
    "load_keys",
    "lru_comparison",
    "mass_expiry",
    "memory_overview",
    "miss_ratio_curve",
    "not_counted_for_evict",
    "plot_lru_runs",
    "quicklist_shape",
    "run_policy",
    "sample_value",
    "set_active_expire",
    "ttl_eviction_order",
    "ttl_lateness",
]
