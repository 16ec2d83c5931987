"""Notebooks 05.01-05.02: asynchronous replication and Sentinel, measured under faults.

- :mod:`.probes`: offsets and lag, read-after-write staleness, ``WAIT``, how long an
  isolated primary keeps accepting writes;
- :mod:`.sentinel`: a failover under write load, split brain by SIGSTOP, and the
  Sentinels' own view (epoch, the primary they name).

The loads, timelines and lost-write accounting they use live in :mod:`redislab.kit`.
"""

from __future__ import annotations

from .probes import (
    partial_resync,
    primary_view,
    read_after_write,
    replication_offsets,
    sample_replication_lag,
    staleness_by_size,
    sync_counters,
    sync_replicas,
    time_until_write_fails,
    wait_round,
)
from .sentinel import (
    sentinel_epoch,
    sentinel_failover,
    sentinel_primary,
    sentinel_split_brain,
    single_failover,
    wait_sentinel_new_primary,
)

__all__ = [
    "partial_resync",
    "primary_view",
    "read_after_write",
    "replication_offsets",
    "sample_replication_lag",
    "sentinel_epoch",
    "sentinel_failover",
    "sentinel_primary",
    "sentinel_split_brain",
    "single_failover",
    "staleness_by_size",
    "sync_counters",
    "sync_replicas",
    "time_until_write_fails",
    "wait_round",
    "wait_sentinel_new_primary",
]

# ---- issue 17 (notebook 05.05): routing, read scaling, health checks
from .health import (
    HealthChecker,
    LinkProxy,
    Probe,
    probe,
    time_to_detect,
    time_to_error,
)
from .routing import (
    ReadRouter,
    calls_delta,
    command_calls,
    cpu_seconds,
    lab_clients,
    populate_keys,
    read_scaling,
    read_throughput,
    replica_refuses_writes,
)

__all__ += [
    "HealthChecker",
    "LinkProxy",
    "Probe",
    "ReadRouter",
    "calls_delta",
    "command_calls",
    "cpu_seconds",
    "lab_clients",
    "populate_keys",
    "probe",
    "read_scaling",
    "read_throughput",
    "replica_refuses_writes",
    "time_to_detect",
    "time_to_error",
]
