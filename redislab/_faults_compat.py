"""Compatibility: the names ``redislab.faults`` had before the layout of the three layers.

They now live in :mod:`redislab.kit` (loads, timelines, retries, waits),
:mod:`redislab.replication` (replication probes, Sentinel experiments) and
:mod:`redislab.cluster` (cluster failover). New code imports them from there.
"""

from __future__ import annotations

from .cluster.failover import cluster_failover, wait_cluster_ok
from .errors import FaultTimeout
from .kit.loads import FailoverRun, WriteLoad, lost_writes, paused, plot_writes
from .kit.timeline import PATTERN as PATTERN
from .kit.timeline import RETRYABLE as RETRYABLE
from .kit.timeline import (
    Timeline,
    backoff_retry,
    no_retry,
    wait_for,
    wait_role,
)
from .replication.probes import (
    read_after_write,
    replication_offsets,
    sample_replication_lag,
    staleness_by_size,
    sync_replicas,
    time_until_write_fails,
)
from .replication.sentinel import (
    sentinel_epoch,
    sentinel_failover,
    sentinel_primary,
    sentinel_split_brain,
    single_failover,
    wait_sentinel_new_primary,
)

__all__ = [
    "FailoverRun",
    "FaultTimeout",
    "Timeline",
    "WriteLoad",
    "backoff_retry",
    "cluster_failover",
    "lost_writes",
    "no_retry",
    "paused",
    "plot_writes",
    "read_after_write",
    "replication_offsets",
    "sample_replication_lag",
    "sentinel_epoch",
    "sentinel_failover",
    "sentinel_primary",
    "sentinel_split_brain",
    "single_failover",
    "staleness_by_size",
    "sync_replicas",
    "time_until_write_fails",
    "wait_cluster_ok",
    "wait_for",
    "wait_role",
    "wait_sentinel_new_primary",
]
