"""The Prometheus text exposition of a scrape, with ``redis_exporter``'s metric names.

:func:`exposition` renders what a Prometheus server would read from
``redis_exporter``'s ``/metrics``: ``# HELP``/``# TYPE`` lines and one sample per
series, through the official client library ``prometheus_client`` (a custom
collector, :class:`RedisCollector`). With several nodes (a cluster, a lab) each
series carries a ``node`` label, which a real stack gets from the scrape target
(``instance``) instead.

``registry(sampler)`` can be served as is: ``prometheus_client.start_http_server(9121,
registry=registry(sampler))`` (9121 is redis_exporter's port).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from ..types import PlainConnection
from .metrics import COUNTERS, GAUGES, Scrape, scrape
from .sampler import Sampler

__all__ = ["RedisCollector", "exposition", "parse_exposition", "registry", "write_exposition"]

_HELP = {
    "redis_up": "Could the redis server be reached.",
    "redis_db_keys": "Total number of keys by DB",
    "redis_db_keys_expiring": "Total number of expiring keys by DB",
    "redis_connected_slave_lag_seconds": "Lag of connected slave",
    "redis_connected_slave_offset_bytes": "Offset of connected slave",
    "redis_master_link_up": "Master link status on Redis slave",
    "redis_slowlog_length": "Total slowlog",
    "redis_slowlog_last_id": "Last id of slowlog",
    "redis_last_slow_execution_duration_seconds": (
        "The amount of time needed for last slow execution, in seconds"
    ),
}


class RedisCollector:
    """A ``prometheus_client`` collector over the latest scrape of each node.

    ``source`` is a :class:`Sampler` (its :meth:`~Sampler.latest` scrapes) or a client
    (scraped anew at every collection, like redis_exporter does per request).
    """

    def __init__(self, source: Sampler | PlainConnection, *, node_label: bool | None = None):
        self.source = source
        self.node_label = node_label

    def _scrapes(self) -> list[Scrape]:
        if isinstance(self.source, Sampler):
            return list(self.source.latest().values())
        return [scrape(self.source, node="")]

    def collect(self) -> Iterator[Metric]:
        scrapes = self._scrapes()
        labelled = self.node_label if self.node_label is not None else len(scrapes) > 1
        base = ["node"] if labelled else []

        def lv(s: Scrape, *more: str) -> list[str]:
            return ([s.node] if labelled else []) + list(more)

        up = GaugeMetricFamily("redis_up", _HELP["redis_up"], labels=base)
        for s in scrapes:
            up.add_metric(lv(s), float(s.up))
        yield up
        live = [s for s in scrapes if s.up]
        for src, name in COUNTERS.items():
            fam: Any = CounterMetricFamily(name.removesuffix("_total"), f"INFO {src}", labels=base)
            for s in live:
                if src in s.info:
                    fam.add_metric(lv(s), float(s.info[src]))
            yield fam
        for src, name in GAUGES.items():
            fam = GaugeMetricFamily(name, f"INFO {src}", labels=base)
            for s in live:
                if src in s.info:
                    fam.add_metric(lv(s), float(s.info[src]))
            yield fam
        keys = GaugeMetricFamily("redis_db_keys", _HELP["redis_db_keys"], labels=[*base, "db"])
        expiring = GaugeMetricFamily(
            "redis_db_keys_expiring", _HELP["redis_db_keys_expiring"], labels=[*base, "db"]
        )
        for s in live:
            for db, d in s.databases().items():
                keys.add_metric(lv(s, db), float(d.get("keys", 0)))
                expiring.add_metric(lv(s, db), float(d.get("expires", 0)))
        yield keys
        yield expiring
        slave_labels = [*base, "slave_ip", "slave_port", "slave_state"]
        lag = GaugeMetricFamily(
            "redis_connected_slave_lag_seconds",
            _HELP["redis_connected_slave_lag_seconds"],
            labels=slave_labels,
        )
        off = GaugeMetricFamily(
            "redis_connected_slave_offset_bytes",
            _HELP["redis_connected_slave_offset_bytes"],
            labels=slave_labels,
        )
        link = GaugeMetricFamily(
            "redis_master_link_up",
            _HELP["redis_master_link_up"],
            labels=[*base, "master_host", "master_port"],
        )
        for s in live:
            for r in s.replicas():
                labels = lv(s, str(r.get("ip")), str(r.get("port")), str(r.get("state")))
                lag.add_metric(labels, float(r.get("lag", 0)))
                off.add_metric(labels, float(r.get("offset", 0)))
            if s.info.get("role") == "slave":
                link.add_metric(
                    lv(s, str(s.info.get("master_host")), str(s.info.get("master_port"))),
                    float(s.info.get("master_link_status") == "up"),
                )
        yield lag
        yield off
        yield link
        slow_len = GaugeMetricFamily(
            "redis_slowlog_length", _HELP["redis_slowlog_length"], labels=base
        )
        slow_id = GaugeMetricFamily(
            "redis_slowlog_last_id", _HELP["redis_slowlog_last_id"], labels=base
        )
        slow_dur = GaugeMetricFamily(
            "redis_last_slow_execution_duration_seconds",
            _HELP["redis_last_slow_execution_duration_seconds"],
            labels=base,
        )
        for s in live:
            if s.slowlog_length is not None:
                slow_len.add_metric(lv(s), float(s.slowlog_length))
                slow_id.add_metric(lv(s), float(s.slowlog_last_id or 0))
                slow_dur.add_metric(lv(s), (s.slowlog_last_duration_us or 0) / 1e6)
        yield slow_len
        yield slow_id
        yield slow_dur


def registry(source: Sampler | PlainConnection, **kwargs: Any) -> CollectorRegistry:
    """A fresh ``CollectorRegistry`` holding only a :class:`RedisCollector` over ``source``."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(RedisCollector(source, **kwargs))
    return reg


def exposition(source: Sampler | PlainConnection, **kwargs: Any) -> str:
    """The Prometheus text exposition (format 0.0.4) of ``source``'s latest scrape(s)."""
    return generate_latest(registry(source, **kwargs)).decode()


def write_exposition(source: Sampler | PlainConnection, path: str | Path, **kwargs: Any) -> Path:
    """Write the exposition to ``path`` atomically (node_exporter's textfile collector format)."""
    write_to_textfile(str(path), registry(source, **kwargs))
    return Path(path)


def parse_exposition(text: str) -> dict[str, float]:
    """Parse exposition text back into ``{"name{labels}": value}`` (for checks and tests)."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out
