"""Monitoring and alerting: see a live Redis, and be told when it goes wrong.

Usable from scripts against any server (a lab node, a ``redis.Redis``, a URL, a
``RedisCluster``), organised by concern:

- :mod:`.info`: ``INFO`` sections, ``commandstats``, ``latencystats``, ``keyspace``,
  ``CLIENT LIST`` and replication lag as tidy DataFrames;
- :mod:`.slowlog` and :mod:`.latency`: ``SLOWLOG`` analysis, ``LATENCY LATEST`` /
  ``HISTORY`` / ``DOCTOR``;
- :mod:`.metrics`: one scrape, under the metric names of the Prometheus
  ``redis_exporter``;
- :mod:`.sampler`: :class:`Sampler`, background threads that scrape every N ms and
  return a time-indexed frame with rates (counter resets handled);
- :mod:`.exporter`: the Prometheus text exposition through ``prometheus_client``;
- :mod:`.alerts`: rules with a ``for`` duration, evaluated into a fired/resolved table;
- :mod:`.faults`: loads and faults that trip one alert rule each;
- :mod:`.dashboard`: a live ipywidgets dashboard (:func:`dashboard`);
- :mod:`.drill`: the alert drill (:func:`alert_drill`): every rule tripped on purpose.
"""

from __future__ import annotations

from ..errors import MonitoringError
from .alerts import (
    AlertRule,
    alerts_between,
    default_rules,
    evaluate,
    plot_alerts,
    wait_for_alert,
)
from .dashboard import Dashboard, dashboard
from .drill import DRILL_INTENDED, DrillResult, alert_drill
from .exporter import RedisCollector, exposition, parse_exposition, registry, write_exposition
from .faults import (
    blocked_client,
    exceed_maxclients,
    fill_memory,
    fragment_memory,
    miss_lookups,
    read_load,
    refill_memory,
    slow_scripts,
    write_load,
)
from .info import clients, commandstats, info_frame, keyspace, latencystats, replication_lag
from .latency import latency_doctor, latency_history, latency_latest, latency_threshold
from .metrics import COUNTERS, GAUGES, Scrape, scrape
from .sampler import RATES, Sampler
from .slowlog import slowlog, slowlog_by_command, slowlog_settings

__all__ = [
    "COUNTERS",
    "DRILL_INTENDED",
    "GAUGES",
    "RATES",
    "AlertRule",
    "Dashboard",
    "DrillResult",
    "MonitoringError",
    "RedisCollector",
    "Sampler",
    "Scrape",
    "alert_drill",
    "alerts_between",
    "blocked_client",
    "clients",
    "commandstats",
    "dashboard",
    "default_rules",
    "evaluate",
    "exceed_maxclients",
    "exposition",
    "fill_memory",
    "fragment_memory",
    "info_frame",
    "keyspace",
    "latency_doctor",
    "latency_history",
    "latency_latest",
    "latency_threshold",
    "latencystats",
    "miss_lookups",
    "parse_exposition",
    "plot_alerts",
    "read_load",
    "refill_memory",
    "registry",
    "replication_lag",
    "scrape",
    "slow_scripts",
    "slowlog",
    "slowlog_by_command",
    "slowlog_settings",
    "wait_for_alert",
    "write_exposition",
    "write_load",
]
