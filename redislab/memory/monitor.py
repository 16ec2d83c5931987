"""Sampling memory and cache health over time, with threshold alerts.

This sampler is meant to live once in the kit (the monitoring notebook wants it too);
it sits here until it moves. It reads ``INFO memory`` and ``INFO stats`` every
``interval`` seconds on a background thread: ``used_memory``, ``used_memory_peak``,
``evicted_keys`` and the hit ratio of the interval (https://redis.io/docs/latest/commands/info/).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from ..types import PlainConnection
from ._common import counters, hit_ratio

__all__ = ["Alert", "MemorySampler", "default_alerts"]


@dataclass(frozen=True)
class Alert:
    """A rule: ``name`` fires on a sample row when ``test(row)`` is true."""

    name: str
    test: Callable[[dict[str, float]], bool]


def default_alerts(*, memory_share: float = 0.9, hit_ratio_below: float = 0.5) -> list[Alert]:
    """Used memory over ``memory_share`` of maxmemory, any eviction, hit ratio below a floor."""
    return [
        Alert(f"used_memory > {memory_share:.0%} of maxmemory",
              lambda r: r["maxmemory"] > 0 and r["used_memory"] > memory_share * r["maxmemory"]),
        Alert("keys evicted in the interval", lambda r: r["evicted"] > 0),
        Alert(f"hit ratio < {hit_ratio_below:.0%}",
              lambda r: r["reads"] > 0 and r["hit_ratio"] < hit_ratio_below),
    ]  # fmt: skip


class MemorySampler:
    """Samples a server in the background; ``with MemorySampler(r) as s: ...; s.samples``."""

    def __init__(
        self,
        connection: PlainConnection,
        *,
        interval: float = 0.2,
        alerts: list[Alert] | None = None,
    ) -> None:
        self.connection = connection
        self.interval = interval
        self.alerts = default_alerts() if alerts is None else alerts
        self._rows: list[dict[str, float]] = []
        self._fired: list[dict[str, object]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self, t0: float, prev: dict[str, int]) -> dict[str, int]:
        cur = counters(self.connection)
        hits = cur["keyspace_hits"] - prev["keyspace_hits"]
        misses = cur["keyspace_misses"] - prev["keyspace_misses"]
        row = {
            "t": time.perf_counter() - t0,
            "used_memory": cur["used_memory"],
            "used_memory_peak": cur["used_memory_peak"],
            "maxmemory": cur["maxmemory"],
            "evicted": cur["evicted_keys"] - prev["evicted_keys"],
            "reads": hits + misses,
            "hit_ratio": hit_ratio(hits, misses),
        }
        self._rows.append(row)
        for a in self.alerts:
            if a.test(row):
                self._fired.append({"t": row["t"], "alert": a.name})
        return cur

    def _run(self, t0: float, prev: dict[str, int]) -> None:
        while not self._stop.wait(self.interval):
            prev = self._sample(t0, prev)
        self._sample(t0, prev)  # the last partial interval, so a short run is not missed

    def __enter__(self) -> MemorySampler:
        # the baseline is read before the caller's work starts, not when the thread gets to run
        args = (time.perf_counter(), counters(self.connection))
        self._thread = threading.Thread(
            target=self._run, args=args, name="redislab-memory-sampler", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def samples(self) -> pd.DataFrame:
        """One row per interval."""
        return pd.DataFrame(self._rows)

    @property
    def fired(self) -> pd.DataFrame:
        """Every alert that fired: ``t`` and ``alert``."""
        return pd.DataFrame(self._fired, columns=["t", "alert"])
