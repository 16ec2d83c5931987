"""Memory: eviction, expiry, encodings, analysis and cache sizing (notebooks 04.xx).

- :mod:`.eviction`: the eight ``maxmemory-policy`` values on one seeded Zipf trace,
  ``volatile-ttl``'s order, ``maxmemory 0``, ``mem_not_counted_for_evict``.
- :mod:`.lru`: Redis's approximated LRU against an exact LRU (the key-eviction page's test),
  and a trace replayed with distinct ages.
- :mod:`.lfu`: the LFU counter against ``redis.conf``'s table, its initial value and decay.
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
from .lfu import (
    LFU_INIT_VAL,
    LFU_TABLE,
    LFU_TABLE_HITS,
    DecayProbe,
    lfu_counter_table,
    lfu_decay_readings,
    lfu_decay_start,
    lfu_new_key,
    read_stores_decay,
    server_minute,
    wait_minute_turn,
)
from .lru import (
    approximated_lru,
    exact_lru_hit_ratio,
    exact_lru_survivors,
    lru_comparison,
    plot_lru_runs,
    replay_with_ages,
)
from .monitor import Alert, MemorySampler, default_alerts
from .sizing import CapacityModel, fit_capacity_model, load_keys, miss_ratio_curve

__all__ = [
    "CODECS",
    "KINDS",
    "LFU_INIT_VAL",
    "LFU_TABLE",
    "LFU_TABLE_HITS",
    "POLICIES",
    "Alert",
    "CapacityModel",
    "DecayProbe",
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
    "lfu_decay_readings",
    "lfu_decay_start",
    "lfu_new_key",
    "load_keys",
    "lru_comparison",
    "mass_expiry",
    "memory_overview",
    "miss_ratio_curve",
    "not_counted_for_evict",
    "plot_lru_runs",
    "quicklist_shape",
    "read_stores_decay",
    "replay_with_ages",
    "run_policy",
    "sample_value",
    "server_minute",
    "set_active_expire",
    "ttl_eviction_order",
    "ttl_lateness",
    "wait_minute_turn",
]
