"""Notebooks 05.03-05.04: Redis Cluster and client-side partitioning.

- :mod:`.operations`: ``CLUSTER NODES``/``SLOTS`` as tables, the slot map, a client-side
  router that follows ``MOVED``/``ASK``, slot migration and resharding under load,
  adding a shard and rebalancing;
- :mod:`.hashing`: CRC16 key slots and hash tags as the spec defines them, and modulo,
  consistent-hash and slot partitioners compared (``from redislab.cluster import hashing``);
- :mod:`.failover`: a primary killed under write load, timed and its lost writes counted.
"""

from __future__ import annotations

from ..errors import ClusterError
from . import hashing as hashing
from .failover import (
    cluster_failover,
    wait_cluster_ok,
)
from .hashing import (
    SLOTS,
    ConsistentHashRing,
    ModuloHashing,
    Partitioner,
    SlotPartitioner,
    balance,
    balance_stats,
    compare_add_node,
    crc16,
    crc16_many,
    hash64,
    hash_tag,
    key_slot,
    key_slots,
    keys_moved,
    tag_for_slot,
)
from .operations import (
    ClusterRouter,
    MigrationReport,
    ReshardReport,
    ScaleOutReport,
    add_shard,
    begin_slot_migration,
    cluster_nodes,
    end_slot_migration,
    key_holders,
    key_locations,
    lab_names,
    migrate_slots,
    migrate_slots_atomic,
    move_slot_keys,
    node_id,
    plot_slot_map,
    rebalance,
    reshard_under_load,
    scale_out_moves,
    server_key_slots,
    slot_keys,
    slot_map,
    slot_owners,
    supports_atomic_migration,
)

__all__ = [
    "SLOTS",
    "ClusterError",
    "ClusterRouter",
    "ConsistentHashRing",
    "MigrationReport",
    "ModuloHashing",
    "Partitioner",
    "ReshardReport",
    "ScaleOutReport",
    "SlotPartitioner",
    "add_shard",
    "balance",
    "balance_stats",
    "begin_slot_migration",
    "cluster_failover",
    "cluster_nodes",
    "compare_add_node",
    "crc16",
    "crc16_many",
    "end_slot_migration",
    "hash64",
    "hash_tag",
    "hashing",
    "key_holders",
    "key_locations",
    "key_slot",
    "key_slots",
    "keys_moved",
    "lab_names",
    "migrate_slots",
    "migrate_slots_atomic",
    "move_slot_keys",
    "node_id",
    "plot_slot_map",
    "rebalance",
    "reshard_under_load",
    "scale_out_moves",
    "server_key_slots",
    "slot_keys",
    "slot_map",
    "slot_owners",
    "supports_atomic_migration",
    "tag_for_slot",
    "wait_cluster_ok",
]

# ---- issue 17 (notebook 05.05): reads from replicas
from .reads import (
    cluster_read_distribution,
    cluster_read_throughput,
    read_strategies,
    replica_get_without_readonly,
)

__all__ += [
    "cluster_read_distribution",
    "cluster_read_throughput",
    "read_strategies",
    "replica_get_without_readonly",
]
