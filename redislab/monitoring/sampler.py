"""A background sampler: scrape servers every ``interval`` seconds, return a time-indexed frame.

::

    from redislab.monitoring import Sampler
    with Sampler(connection=r, interval=0.1) as s:
        run_workload()
    s.frame()[["ops_per_sec", "redis_memory_used_bytes", "hit_ratio"]]

One thread per server scrapes it on a fixed schedule with its **own** connection (a
copy of the given client's settings with a short socket timeout), so a workload on
the caller's client and the sampler never share a socket, and a node that is killed
or paused (SIGSTOP) costs at most one timeout per tick: that node's rows get
``redis_up = 0`` (a gap in every other column), and the thread keeps going. The
threads stop at :meth:`Sampler.stop` (or leaving the ``with``) within one tick.

Rates come from counters the way Prometheus' ``rate()`` computes them: the increase
between two scrapes over the time between them, and a counter that went *down* (or a
server whose ``run_id`` changed: a restart) counts its new value as the increase
since the reset, never a negative rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import redis
from redis.cluster import RedisCluster

from ..errors import MonitoringError
from ..kit.connections import clone
from ..kit.timeline import no_retry
from ..types import Connection, PlainConnection
from .metrics import COUNTERS, Scrape, scrape

__all__ = ["RATES", "Sampler", "add_rates", "sampler_connections"]

#: counter -> the rate column :func:`add_rates` derives from it (per second).
RATES: dict[str, str] = {
    "redis_commands_processed_total": "ops_per_sec",
    "redis_keyspace_hits_total": "hits_per_sec",
    "redis_keyspace_misses_total": "misses_per_sec",
    "redis_evicted_keys_total": "evictions_per_sec",
    "redis_expired_keys_total": "expired_per_sec",
    "redis_rejected_connections_total": "rejected_connections_per_sec",
    "redis_connections_received_total": "connections_per_sec",
    "redis_net_input_bytes_total": "net_input_bytes_per_sec",
    "redis_net_output_bytes_total": "net_output_bytes_per_sec",
    "slowlog_entries_total": "slow_commands_per_sec",
}


def _copy_client(client: PlainConnection, timeout: float, **overrides: Any) -> PlainConnection:
    """A new client with ``client``'s address, credentials and TLS, and a short timeout."""
    return clone(
        client,
        **overrides,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=no_retry(),  # a failed scrape is a gap, not a hidden retry
        retry_on_timeout=False,
        max_connections=2,
    )


def sampler_connections(
    connection: Connection | str | Any, *, timeout: float = 0.5
) -> dict[str, PlainConnection]:
    """Name -> a dedicated client per server to sample, from what a user has at hand.

    ``connection`` may be a ``redis.Redis`` (one server), a ``RedisCluster`` (every
    node it knows), a URL (``redis://host:port``), a :class:`redislab.Lab` (every
    data node, by the lab's node names) or a mapping of names to clients.
    """
    if isinstance(connection, str):
        return {connection: _copy_client(redis.Redis.from_url(connection), timeout)}
    if isinstance(connection, Mapping):
        return {str(k): _copy_client(v, timeout) for k, v in connection.items()}
    if isinstance(connection, RedisCluster):
        # every node CLUSTER NODES lists (replicas too; redis-py may cache only primaries)
        seed = connection.get_default_node()
        template = seed.redis_connection or connection.get_redis_connection(seed)
        out = {}
        for address, flags in sorted(connection.cluster_nodes().items()):
            if "fail" in str(flags.get("flags", "")) or "noaddr" in str(flags.get("flags", "")):
                continue
            host, _, port = address.rpartition(":")
            out[address] = _copy_client(template, timeout, host=host, port=int(port))
        return out
    if isinstance(connection, redis.Redis):
        kw = connection.connection_pool.connection_kwargs
        return {
            f"{kw.get('host', 'unix')}:{kw.get('port', kw.get('path', ''))}": _copy_client(
                connection, timeout
            )
        }
    data_nodes = getattr(connection, "data_nodes", None)  # a Lab (no import of the lab here)
    if data_nodes is not None:
        return {n.name: _copy_client(n.client(), timeout) for n in data_nodes}
    raise MonitoringError(
        f"cannot sample {type(connection).__name__}: pass a redis.Redis, a RedisCluster, "
        "a URL, a Lab or a mapping of names to clients"
    )


def _increase(values: pd.Series, run_ids: pd.Series | None) -> pd.Series:
    """Per-step increase of a counter; a reset (drop, or a new run_id) counts the new value."""
    diff = values.diff()
    reset = diff < 0
    if run_ids is not None:
        reset |= (run_ids != run_ids.shift()) & run_ids.shift().notna()
    return diff.mask(reset, values)


def add_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``*_increase`` and rate columns (:data:`RATES`), ``hit_ratio`` and ratios.

    Works per node on the rows where the node answered; the first answered row after a
    gap gets the rate over the whole gap (as Prometheus' ``rate()`` would).
    """
    if frame.empty:
        return frame
    parts = []
    for _, part in frame.groupby("node", sort=False):
        part = part.copy()
        ok = part["redis_up"] == 1
        up = part[ok]
        dt = pd.Series(up["elapsed_s"].diff().to_numpy(), index=up.index)
        run_ids = up.get("run_id")
        for counter, rate in RATES.items():
            if counter not in up:
                continue
            inc = _increase(up[counter], run_ids)
            base = counter.removeprefix("redis_").removesuffix("_total")
            part.loc[ok, f"{base}_increase"] = inc
            part.loc[ok, rate] = inc / dt
        if "hits_per_sec" in part and "misses_per_sec" in part:
            lookups = part["hits_per_sec"] + part["misses_per_sec"]
            part["hit_ratio"] = (part["hits_per_sec"] / lookups).where(lookups > 0)
        if "redis_memory_max_bytes" in part:
            mx = part["redis_memory_max_bytes"]
            part["memory_used_ratio"] = (part["redis_memory_used_bytes"] / mx).where(mx > 0)
        parts.append(part)
    return pd.concat(parts).sort_index(kind="stable")


class Sampler:
    """Scrape one or more servers every ``interval`` s in background threads.

    Args:
        connection: a ``redis.Redis``, a ``RedisCluster``, a URL, a Lab or a mapping
            of names to clients (see :func:`sampler_connections`).
        interval: seconds between scrapes of each server (0.1 = 10 Hz).
        timeout: socket timeout of the sampler's own connections (default: the
            interval, at least 0.2 s): how long a paused node can hold one tick.
        slowlog: also read ``SLOWLOG LEN`` / ``GET 1`` (``redis_slowlog_*`` columns).
        max_samples: keep at most this many rows per server (a ring; ``None``: all).

    Use it as a context manager, or :meth:`start` / :meth:`stop`. :meth:`frame`
    returns everything so far (also while running), :meth:`latest` the last scrape
    per node (what :mod:`.exporter` exposes).
    """

    def __init__(
        self,
        connection: Connection | str | Any,
        *,
        interval: float = 0.1,
        timeout: float | None = None,
        slowlog: bool = True,
        max_samples: int | None = None,
    ) -> None:
        if interval <= 0:
            raise MonitoringError(f"interval must be positive, not {interval}")
        self.interval = float(interval)
        self.timeout = float(timeout if timeout is not None else max(interval, 0.2))
        self.slowlog = slowlog
        self.max_samples = max_samples
        self.connections = sampler_connections(connection, timeout=self.timeout)
        self._rows: dict[str, list[dict[str, Any]]] = {n: [] for n in self.connections}
        self._latest: dict[str, Scrape] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._t0: float | None = None
        self._windows: list[dict[str, Any]] = []
        self.errors: int = 0

    # -------------------------------------------------------------- lifecycle
    @property
    def nodes(self) -> list[str]:
        """The names of the sampled servers (columns ``node`` of :meth:`frame`)."""
        return list(self.connections)

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def start(self) -> Sampler:
        """Start one daemon thread per server (a no-op if already running)."""
        if self.running:
            return self
        self._stop.clear()
        if self._t0 is None:
            self._t0 = time.time()
        self._threads = [
            threading.Thread(
                target=self._run, args=(name,), name=f"redislab-sampler-{name}", daemon=True
            )
            for name in self.connections
        ]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> Sampler:
        """Stop sampling; returns once every thread has finished (within one tick)."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.interval + 2 * self.timeout + 1.0)
        return self

    def close(self) -> None:
        """Stop and close the sampler's own connections."""
        self.stop()
        for client in self.connections.values():
            try:
                client.close()
            except Exception:
                pass

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --------------------------------------------------------------- sampling
    def sample_once(self) -> list[Scrape]:
        """Scrape every server once now, in this thread (records the rows too)."""
        if self._t0 is None:
            self._t0 = time.time()
        return [self._record(name, self._scrape(name)) for name in self.connections]

    def _scrape(self, name: str) -> Scrape:
        return scrape(self.connections[name], node=name, slowlog=self.slowlog)

    def _record(self, name: str, result: Scrape) -> Scrape:
        row = result.row()
        row["time"] = result.time
        row["scrape_s"] = result.seconds
        with self._lock:
            rows = self._rows[name]
            rows.append(row)
            if self.max_samples is not None and len(rows) > self.max_samples:
                del rows[: len(rows) - self.max_samples]
            self._latest[name] = result
            if not result.up:
                self.errors += 1
        return result

    def _run(self, name: str) -> None:
        next_tick = time.monotonic()
        while not self._stop.is_set():
            try:
                self._record(name, self._scrape(name))
            except Exception as exc:  # never let the thread die; a row says what happened
                self._record(name, Scrape(name, time.time(), False, error=repr(exc)))
            next_tick += self.interval
            delay = next_tick - time.monotonic()
            if delay < 0:  # a slow scrape (timeout): skip the missed ticks, keep the grid
                next_tick += self.interval * (int(-delay / self.interval) + 1)
                delay = next_tick - time.monotonic()
            self._stop.wait(delay)

    @contextmanager
    def window(self, name: str) -> Iterator[None]:
        """Mark what happens inside the block (a fault, a load phase) on the sampler's clock.

        ``with sampler.window("fill memory"): ...``; :meth:`windows` lists them with
        ``start_s`` / ``end_s`` in the same seconds as the frame's ``elapsed_s``.
        """
        if self._t0 is None:
            self._t0 = time.time()
        mark = {"window": name, "start_s": time.time() - self._t0, "end_s": np.nan}
        self._windows.append(mark)  # listed while open (end_s NaN), so waits can use start_s
        try:
            yield
        finally:
            mark["end_s"] = time.time() - self._t0

    def windows(self) -> pd.DataFrame:
        """The marked windows (:meth:`window`), one row each, indexed by name.

        A window still open has ``end_s`` NaN.
        """
        return pd.DataFrame(self._windows, columns=["window", "start_s", "end_s"]).set_index(
            "window"
        )

    # ---------------------------------------------------------------- results
    def latest(self) -> dict[str, Scrape]:
        """The last scrape of each server."""
        with self._lock:
            return dict(self._latest)

    def frame(self, *, rates: bool = True) -> pd.DataFrame:
        """Everything sampled so far: a frame indexed by UTC ``time``, one row per scrape.

        Columns: ``node``, ``elapsed_s`` (since the sampler started), ``redis_up``
        (0 = the scrape failed: every metric is NaN there), the redis_exporter-named
        series (:data:`~redislab.monitoring.metrics.COUNTERS`, ``GAUGES``,
        ``redis_db_keys``, ``redis_slowlog_*``, replication), and with ``rates`` the
        derived ``ops_per_sec``, ``hit_ratio``, ``evictions_per_sec``... (:func:`add_rates`).
        """
        with self._lock:
            rows = [r for name in self.connections for r in self._rows[name]]
        if not rows:
            return pd.DataFrame(
                columns=["node", "elapsed_s", "redis_up"],
                index=pd.DatetimeIndex([], tz="UTC", name="time"),
            )
        frame = pd.DataFrame(rows)
        frame["elapsed_s"] = frame["time"] - (self._t0 or frame["time"].min())
        frame.index = pd.DatetimeIndex(
            pd.to_datetime(frame.pop("time"), unit="s", utc=True), name="time"
        )
        frame = frame.sort_index(kind="stable")
        for counter in COUNTERS.values():
            if counter not in frame:
                frame[counter] = np.nan
        return add_rates(frame) if rates else frame

    def wide(self, column: str) -> pd.DataFrame:
        """One column per node for one series (e.g. ``sampler.wide("ops_per_sec")``)."""
        f = self.frame()
        return f.pivot_table(index="elapsed_s", columns="node", values=column)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Sampler({', '.join(self.connections)}; every {self.interval}s; {state})"


def nodes_of(frame: pd.DataFrame) -> Iterable[str]:
    """The node names of a sampler frame, in order of appearance."""
    return list(dict.fromkeys(frame["node"])) if "node" in frame else []
