"""Fault injection and measurement: steady write loads, failovers, partitions, lost writes.

The building blocks:

- :class:`Timeline`: one clock for a whole experiment and its named events
  (``fault``, ``sentinel named``, ``promoted``...).
- :class:`WriteLoad`: a background thread that writes at a steady rate and records
  every attempt (start, latency, success, error, and, with ``WAIT``, how many
  replicas acknowledged it). A write is *acknowledged* when the client got a
  success reply (and, with ``wait_replicas=n``, ``WAIT`` reported at least ``n``
  replicas).
- :func:`lost_writes`: acknowledged writes that are no longer there.
- :func:`paused`: SIGSTOP some nodes (a partition a laptop can do) and always
  SIGCONT them again.
- Experiments that compose them: :func:`sentinel_failover`,
  :func:`sentinel_split_brain`, :func:`cluster_failover`, and the replication
  probes :func:`sample_replication_lag`, :func:`read_after_write`,
  :func:`time_until_write_fails`.

Every wait is bounded (``timeout=``, 10 s by default) and raises
:class:`FaultTimeout` rather than hanging a notebook.

Modules, each re-exported here (``from redislab import faults as F`` then ``F.<name>``):

- ``_common``: :class:`FaultTimeout`, :class:`Timeline`, :func:`wait_for`,
  :func:`wait_role`, the retry presets :func:`no_retry` / :func:`backoff_retry`;
- ``load``: :class:`WriteLoad`, :func:`lost_writes`, :func:`paused`,
  :class:`FailoverRun`, :func:`plot_writes`;
- ``replication``: offsets and lag, :func:`read_after_write`, :func:`staleness_by_size`,
  :func:`sync_replicas`, :func:`time_until_write_fails`;
- ``sentinel``: :func:`sentinel_failover`, :func:`sentinel_split_brain`, their waits,
  :func:`sentinel_epoch` and :func:`single_failover` (repeat on a fresh lab when a second
  failover followed the first);
- ``cluster_failover``: :func:`cluster_failover`, :func:`wait_cluster_ok`.
"""

from __future__ import annotations

from ._common import PATTERN as PATTERN
from ._common import RETRYABLE as RETRYABLE
from ._common import (
    FaultTimeout,
    Timeline,
    backoff_retry,
    no_retry,
    wait_for,
    wait_role,
)
from .cluster_failover import cluster_failover, wait_cluster_ok
from .load import FailoverRun, WriteLoad, lost_writes, paused, plot_writes
from .replication import (
    read_after_write,
    replication_offsets,
    sample_replication_lag,
    staleness_by_size,
    sync_replicas,
    time_until_write_fails,
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
