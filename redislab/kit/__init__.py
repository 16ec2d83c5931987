"""The kit: what every experiment shares, above the lab and below the themes.

- :mod:`.measure`: timings, percentiles, progress bars, wire cost; ``wait_until``
- :mod:`.bench`: a small benchmark toolkit: ``rate``, interleaved ``compare`` and
  ``median_ratio``, ``sweep``, ``concurrent_rate``, ``LatencyProbe``
- :mod:`.features`: what the live server has (commands, modules, engine, version)
- :mod:`.workload`: seeded Zipf workloads and the SQLite ``Database`` behind caches
- :mod:`.timeline` and :mod:`.loads`: one clock per experiment, steady write loads,
  lost-write accounting, SIGSTOP partitions, retry presets, the fault sequence
- :mod:`.claims`: :func:`claim`, the one way a notebook asserts a Redis claim
- :mod:`.evidence`: timing claims decided from samples with a stated confidence
  (``evidence.compare``, ``evidence.locate``, :class:`Evidence`), never from one number
- :mod:`.lua`: :func:`script`, the one way to register a Lua script
- :mod:`.connections`: :func:`~.connections.clone`, a second client to the same server;
  :func:`~.connections.readonly_probe`, GET before and after READONLY on one connection
- :mod:`.counters`: a server's own per-command counters (``INFO commandstats``)
- :mod:`.notebook`: ``%load_ext redislab`` and the ``%%local_lab`` cell magic for
  sections that cannot run against ``REDISLAB_URL``

Import what you need from the module (``from redislab.kit.measure import summarize``)
or the names below from ``redislab.kit``.
"""

from __future__ import annotations

from ..lab.waits import wait_until
from .claims import LEDGER, Claim, claim, claims_table
from .connections import clone, readonly_probe, reply_text
from .counters import command_calls, command_stats, command_total
from .evidence import Evidence
from .features import has_command, has_module, server_engine, server_version
from .loads import FailoverRun, WriteLoad, lost_writes, paused, plot_writes, sync_replicas
from .lua import script
from .measure import Stopwatch, percentile, progress, summarize, time_calls, wire_cost
from .timeline import RETRYABLE, Timeline, backoff_retry, no_retry, wait_for, wait_role

__all__ = [
    "LEDGER",
    "RETRYABLE",
    "Claim",
    "Evidence",
    "FailoverRun",
    "Stopwatch",
    "Timeline",
    "WriteLoad",
    "backoff_retry",
    "claim",
    "claims_table",
    "clone",
    "command_calls",
    "command_stats",
    "command_total",
    "has_command",
    "has_module",
    "lost_writes",
    "no_retry",
    "paused",
    "percentile",
    "plot_writes",
    "progress",
    "readonly_probe",
    "reply_text",
    "script",
    "server_engine",
    "server_version",
    "summarize",
    "sync_replicas",
    "time_calls",
    "wait_for",
    "wait_role",
    "wait_until",
    "wire_cost",
]
