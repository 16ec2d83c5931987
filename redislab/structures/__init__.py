"""Data-structure patterns and the experiments that choose between them.

Every function that talks to Redis takes ``connection=`` (a ``redis.Redis``,
``decode_responses=True`` as :meth:`redislab.Lab.client` gives); write helpers take
an optional ``pipeline=`` so several patterns compose in one round trip. Keys come
from :func:`redislab.keys.key`. Everything is re-exported here, so
``from redislab import structures as S`` then ``S.<name>`` is the whole API.

Families, in the order notebook 01 uses them, and the module holding each:

- ``strings``: cache-aside with a TTL, counters under concurrent threads, DAU bitmaps,
  ``BITFIELD`` packed counters;
- ``layouts``: objects stored three ways (JSON string, hash, one key per field, plus
  native JSON where the server has it), and the closing storage comparison on a seeded
  user dataset; the wire cost of each access is :func:`redislab.kit.measure.wire_cost`
  (re-exported here);
- ``encodings``: grow a key one element at a time and watch ``OBJECT ENCODING`` and
  ``MEMORY USAGE`` to find where the compact encoding ends; per-field hash expiry;
- ``containers``: lists, sets, sorted sets, streams: queue/feed/leaderboard/time-index
  helpers;
- ``probabilistic``: HyperLogLog accuracy; ``geo``: distances against a haversine.

``_common`` holds what they share (:class:`StructureError`, :func:`config_int`,
:func:`memory_usage`, raw replies, Lua registration).
"""

from __future__ import annotations

from ..errors import StructureError
from ..kit.measure import wire_cost
from ._common import config_int, memory_usage
from .containers import (
    autocomplete,
    blocking_pop_timeout,
    claim,
    feed_push,
    leaderboard_add,
    measure_wakeup,
    neighbours,
    page_by_score,
    parse_stream_id,
    priority_pop,
    priority_push,
    recover_processing,
    stream_burst,
    tag_item,
    tag_query,
    top_n,
    trim_experiment,
)
from .encodings import (
    encoding_switches,
    encoding_thresholds,
    expire_fields,
    field_ttls_ms,
    grow_and_observe,
)
from .geo import (
    EARTH_RADIUS_M,
    geo_box_check,
    geo_distance_check,
    geo_load,
    geo_radius_check,
    haversine_m,
    random_points,
)
from .layouts import (
    JSON_SET_FIELD,
    LAYOUTS,
    decision_table,
    flatten_profile,
    layouts_available,
    load_profile,
    make_users,
    profile_key,
    read_field,
    save_profile,
    storage_comparison,
    write_field,
)
from .probabilistic import (
    HLL_DENSE_BYTES,
    HLL_HEADER_BYTES,
    HLL_STANDARD_ERROR,
    hll_accuracy,
    hll_is_sparse,
)
from .strings import (
    COUNTER_MODES,
    CounterRun,
    active_users,
    bitfield_counters,
    bitfield_incr_many,
    bitfield_overflow,
    bitmap_vs_set_memory,
    combine_days,
    concurrent_counter,
    dau_counts,
    mark_active,
    sell_concurrently,
)

__all__ = [
    "COUNTER_MODES",
    "EARTH_RADIUS_M",
    "HLL_DENSE_BYTES",
    "HLL_HEADER_BYTES",
    "HLL_STANDARD_ERROR",
    "JSON_SET_FIELD",
    "LAYOUTS",
    "CounterRun",
    "StructureError",
    "active_users",
    "autocomplete",
    "bitfield_counters",
    "bitfield_incr_many",
    "bitfield_overflow",
    "bitmap_vs_set_memory",
    "blocking_pop_timeout",
    "claim",
    "combine_days",
    "concurrent_counter",
    "config_int",
    "dau_counts",
    "decision_table",
    "encoding_switches",
    "encoding_thresholds",
    "expire_fields",
    "feed_push",
    "field_ttls_ms",
    "flatten_profile",
    "geo_box_check",
    "geo_distance_check",
    "geo_load",
    "geo_radius_check",
    "grow_and_observe",
    "haversine_m",
    "hll_accuracy",
    "hll_is_sparse",
    "layouts_available",
    "leaderboard_add",
    "load_profile",
    "make_users",
    "mark_active",
    "measure_wakeup",
    "memory_usage",
    "neighbours",
    "page_by_score",
    "parse_stream_id",
    "priority_pop",
    "priority_push",
    "profile_key",
    "random_points",
    "read_field",
    "recover_processing",
    "save_profile",
    "sell_concurrently",
    "storage_comparison",
    "stream_burst",
    "tag_item",
    "tag_query",
    "top_n",
    "trim_experiment",
    "wire_cost",
    "write_field",
]

# RedisBloom (module "bloom"): notebook 01.03
# RedisJSON, RediSearch, vector similarity (modules "json", "search"; Redis 8 vector sets):
# notebook 01.02
from .documents import (
    DOC_LAYOUTS,
    append_event,
    concurrent_increments,
    document_comparison,
    document_key,
    flatten_document,
    increment_field,
    json_update_check,
    make_documents,
    read_path,
    round_trips,
    store_documents,
    update_bytes_by_size,
)
from .search import (
    INDEX_HASH,
    INDEX_JSON,
    SEARCH_FIELDS,
    aggregate_counts,
    concurrent_updates,
    create_indexes,
    ft_query,
    ft_search,
    ft_update,
    hand_index_user,
    hand_search,
    hand_update,
    index_consistency,
    index_info,
    index_memory,
    load_users,
    matches,
    per_shard_search,
    read_after_write,
    rebuild_hand_index,
    record_key,
    scan_records,
    scan_search,
    search_comparison,
    search_words,
    shard_index_name,
    update_cost,
)
from .sketches import (
    bloom_filter_check,
    count_min_check,
    cuckoo_filter_check,
    t_digest_check,
    top_k_check,
    zipf_stream,
)
from .vectors import (
    INDEX_FLAT,
    INDEX_HNSW,
    create_vector_indexes,
    exact_knn,
    item_key,
    knn,
    knn_sweep,
    load_vector_set,
    load_vectors,
    make_vectors,
    recall_at_k,
    vector_set_key,
    vsim,
)

__all__ += [
    "bloom_filter_check",
    "count_min_check",
    "cuckoo_filter_check",
    "t_digest_check",
    "top_k_check",
    "zipf_stream",
]

__all__ += [
    "DOC_LAYOUTS",
    "INDEX_FLAT",
    "INDEX_HASH",
    "INDEX_HNSW",
    "INDEX_JSON",
    "SEARCH_FIELDS",
    "aggregate_counts",
    "append_event",
    "concurrent_increments",
    "concurrent_updates",
    "create_indexes",
    "create_vector_indexes",
    "document_comparison",
    "document_key",
    "exact_knn",
    "flatten_document",
    "ft_query",
    "ft_search",
    "ft_update",
    "hand_index_user",
    "hand_search",
    "hand_update",
    "increment_field",
    "index_consistency",
    "index_info",
    "index_memory",
    "item_key",
    "json_update_check",
    "knn",
    "knn_sweep",
    "load_users",
    "load_vector_set",
    "load_vectors",
    "make_documents",
    "make_vectors",
    "matches",
    "per_shard_search",
    "read_after_write",
    "read_path",
    "rebuild_hand_index",
    "recall_at_k",
    "record_key",
    "round_trips",
    "scan_records",
    "scan_search",
    "search_comparison",
    "search_words",
    "shard_index_name",
    "store_documents",
    "update_bytes_by_size",
    "update_cost",
    "vector_set_key",
    "vsim",
]
