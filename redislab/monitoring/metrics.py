"""One scrape of one server, and its metrics under the names ``redis_exporter`` uses.

The Prometheus exporter for Redis (https://github.com/oliver006/redis_exporter,
``exporter/exporter.go``) maps ``INFO`` fields to metric names such as
``redis_commands_processed_total`` (counter, from ``total_commands_processed``) or
``redis_memory_used_bytes`` (gauge, from ``used_memory``). :data:`COUNTERS` and
:data:`GAUGES` are that mapping for the fields this lab samples, so a column of a
:class:`~redislab.monitoring.Sampler` frame is the series a Grafana panel on a real
stack would query.

A :class:`Scrape` is one round trip (``INFO`` and ``SLOWLOG LEN``/``GET 1``,
pipelined); :func:`scrape` never raises: a server that does not answer gives a scrape
with ``up = 0`` and the error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..types import PlainConnection

__all__ = ["COUNTERS", "GAUGES", "Scrape", "scrape"]

#: INFO field -> redis_exporter counter name (monotonic; reset by a restart).
COUNTERS: dict[str, str] = {
    "total_commands_processed": "redis_commands_processed_total",
    "total_connections_received": "redis_connections_received_total",
    "rejected_connections": "redis_rejected_connections_total",
    "total_net_input_bytes": "redis_net_input_bytes_total",
    "total_net_output_bytes": "redis_net_output_bytes_total",
    "expired_keys": "redis_expired_keys_total",
    "evicted_keys": "redis_evicted_keys_total",
    "keyspace_hits": "redis_keyspace_hits_total",
    "keyspace_misses": "redis_keyspace_misses_total",
    "used_cpu_sys": "redis_cpu_sys_seconds_total",
    "used_cpu_user": "redis_cpu_user_seconds_total",
}

#: INFO field -> redis_exporter gauge name.
GAUGES: dict[str, str] = {
    "uptime_in_seconds": "redis_uptime_in_seconds",
    "connected_clients": "redis_connected_clients",
    "blocked_clients": "redis_blocked_clients",
    "used_memory": "redis_memory_used_bytes",
    "used_memory_rss": "redis_memory_used_rss_bytes",
    "used_memory_peak": "redis_memory_used_peak_bytes",
    "maxmemory": "redis_memory_max_bytes",
    "mem_fragmentation_ratio": "redis_mem_fragmentation_ratio",
    "mem_fragmentation_bytes": "redis_mem_fragmentation_bytes",
    # jemalloc's own view (allocator_active / allocator_allocated); a libc build
    # reports allocator_frag_ratio 1.0 whatever happens (it cannot see inside malloc)
    "allocator_frag_ratio": "redis_allocator_frag_ratio",
    "allocator_frag_bytes": "redis_allocator_frag_bytes",
    "connected_slaves": "redis_connected_slaves",
    "master_repl_offset": "redis_master_repl_offset",
    "rdb_bgsave_in_progress": "redis_rdb_bgsave_in_progress",
    "loading": "redis_loading_dump_file",
}

#: Counters computed from other replies (not INFO fields), as redis_exporter names them.
SLOWLOG_METRICS = ("redis_slowlog_length", "redis_slowlog_last_id")


@dataclass
class Scrape:
    """One scrape of one server: the raw ``INFO`` and the slow log's length and last id."""

    node: str
    time: float
    up: bool
    info: dict[str, Any] = field(default_factory=dict)
    slowlog_length: int | None = None
    slowlog_last_id: int | None = None
    slowlog_last_duration_us: int | None = None
    error: str | None = None
    seconds: float = 0.0  # how long the scrape took

    def replicas(self) -> list[dict[str, Any]]:
        """The ``slaveN`` entries of ``INFO replication`` (a primary's replicas)."""
        return [
            v
            for k, v in self.info.items()
            if k.startswith("slave") and k[5:].isdigit() and isinstance(v, dict)
        ]

    def databases(self) -> dict[str, dict[str, Any]]:
        """The ``dbN`` entries of ``INFO keyspace``."""
        return {
            k: v
            for k, v in self.info.items()
            if k.startswith("db") and k[2:].isdigit() and isinstance(v, dict)
        }

    def row(self) -> dict[str, Any]:
        """A flat record: redis_exporter names for every sampled series, plus context.

        Labelled families are summarised: ``redis_db_keys`` is the sum over databases,
        ``redis_connected_slave_lag_seconds`` the worst replica, and
        ``replication_lag_bytes`` (a redislab column) the largest gap between the
        primary's offset and a replica's acknowledged offset.
        """
        out: dict[str, Any] = {"node": self.node, "redis_up": int(self.up)}
        if not self.up:
            out["error"] = self.error
            return out
        info = self.info
        for src, name in (*COUNTERS.items(), *GAUGES.items()):
            if src in info:
                out[name] = float(info[src])
        if "mem_fragmentation_bytes" not in info and "used_memory_rss" in info:
            out["redis_mem_fragmentation_bytes"] = float(
                info["used_memory_rss"] - info.get("used_memory", 0)
            )
        out["run_id"] = info.get("run_id")
        out["role"] = info.get("role")
        out["mem_allocator"] = info.get("mem_allocator")
        out["redis_db_keys"] = float(sum(int(d.get("keys", 0)) for d in self.databases().values()))
        replicas = self.replicas()
        if replicas:
            offset = int(info.get("master_repl_offset", 0))
            lags = [int(r.get("lag", 0)) for r in replicas]
            gaps = [offset - int(r.get("offset", 0)) for r in replicas]
            out["redis_connected_slave_lag_seconds"] = float(max(lags))
            out["replication_lag_bytes"] = float(max(gaps))
        if info.get("role") == "slave":
            out["redis_master_link_up"] = float(info.get("master_link_status") == "up")
            last_io = info.get("master_last_io_seconds_ago", -1)
            out["redis_master_last_io_seconds_ago"] = float(last_io)
        if self.slowlog_length is not None:
            out["redis_slowlog_length"] = float(self.slowlog_length)
            out["redis_slowlog_last_id"] = float(self.slowlog_last_id or 0)
            # entries ever logged: ids count up from 0 per server (SLOWLOG RESET keeps it)
            out["slowlog_entries_total"] = float(
                (self.slowlog_last_id or 0) + 1 if self.slowlog_length else 0
            )
        return out


def scrape(connection: PlainConnection, *, node: str = "", slowlog: bool = True) -> Scrape:
    """Scrape one server in one round trip; never raises (``up=False`` and the error instead).

    ``slowlog=False`` skips ``SLOWLOG`` (an ACL user without it, or a cheaper scrape).
    """
    t0 = time.perf_counter()
    now = time.time()
    try:
        pipe = connection.pipeline(transaction=False)
        pipe.info()
        if slowlog:
            pipe.slowlog_len()
            pipe.slowlog_get(1)
        replies = pipe.execute(raise_on_error=False)
    except Exception as exc:  # down, paused past the timeout, refused
        return Scrape(
            node, now, False, error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - t0
        )
    info = replies[0]
    if isinstance(info, Exception):
        return Scrape(
            node,
            now,
            False,
            error=f"{type(info).__name__}: {info}",
            seconds=time.perf_counter() - t0,
        )
    result = Scrape(node, now, True, info=dict(info))
    if slowlog and not isinstance(replies[1], Exception) and not isinstance(replies[2], Exception):
        result.slowlog_length = int(replies[1])
        last = replies[2]
        result.slowlog_last_id = int(last[0]["id"]) if last else 0
        result.slowlog_last_duration_us = int(last[0]["duration"]) if last else 0
    result.seconds = time.perf_counter() - t0
    return result
