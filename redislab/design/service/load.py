"""Driving the service: a fixed request rate from worker threads, every request recorded.

:class:`ServiceLoad` runs a :func:`~.catalogue.request_mix` against a
:class:`~.catalogue.CatalogueService` and samples its counters every 20 ms;
:func:`drive` does it in one call and returns a :class:`LoadResult`.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...errors import DesignError
from ...kit.measure import percentile, progress
from ...kit.timeline import Timeline
from .catalogue import (
    COUNTERS,
    CatalogueService,
    Request,
)

__all__ = [
    "LoadResult",
    "ServiceLoad",
    "drive",
    "paired_read_latencies",
]


@dataclass
class LoadResult:
    """What one run of a :class:`ServiceLoad` saw.

    ``records``: one row per request (``t`` start on the timeline, ``latency_ms``,
    ``kind``, ``error`` the exception's name or None, ``late_ms`` how late the request
    started against its schedule). ``samples``: the service's counters every 20 ms.
    ``events``: the timeline's named instants.
    """

    records: pd.DataFrame
    samples: pd.DataFrame
    events: dict[str, float] = field(default_factory=dict)

    def _counter_delta(self, name: str, start: float, end: float) -> float:
        t = self.samples["t"].to_numpy()
        v = self.samples[name].to_numpy(dtype=float)
        return float(np.interp(end, t, v) - np.interp(start, t, v))

    def window(self, start: float | None = None, end: float | None = None) -> dict[str, float]:
        """Requests started in ``[start, end)``: latency percentiles, errors, DB load, hits."""
        r = self.records
        lo = float(self.samples["t"].min()) if start is None else start
        hi = float(self.samples["t"].max()) if end is None else end
        sel = r[(r["t"] >= lo) & (r["t"] < hi)]
        lat = sel["latency_ms"].to_numpy()
        n = len(sel)
        d = {k: self._counter_delta(k, lo, hi) for k in (*COUNTERS, "db_round_trips")}
        reads = d["hits"] + d["misses"] + d["fallbacks"]
        return {
            "requests": n,
            "p50_ms": percentile(lat, 50) if n else math.nan,
            "p99_ms": percentile(lat, 99) if n else math.nan,
            "errors": int(sel["error"].notna().sum()),
            "db_per_request": d["db_round_trips"] / n if n else math.nan,
            "hit_ratio": d["hits"] / reads if reads else math.nan,
            "fallbacks": d["fallbacks"],
            "redis_errors": d["redis_errors"],
            "bypasses": d["bypasses"],
        }

    def summary(self) -> dict[str, float]:
        """:meth:`window` over the whole run."""
        return self.window()

    def by_kind(self) -> pd.DataFrame:
        """Latency percentiles and errors per request kind."""
        g = self.records.groupby("kind")
        return pd.DataFrame(
            {
                "requests": g.size(),
                "p50_ms": g["latency_ms"].median(),
                "p99_ms": g["latency_ms"].quantile(0.99),
                "errors": g["error"].count(),
            }
        )

    def intervals(self, width: float = 0.1) -> pd.DataFrame:
        """:meth:`window` over consecutive intervals of ``width`` seconds (the timeline)."""
        lo = float(self.records["t"].min())
        hi = float(self.samples["t"].max())
        edges = np.arange(lo, hi + width, width)
        rows = [{"t": a, **self.window(a, b)} for a, b in itertools.pairwise(edges)]
        return pd.DataFrame(rows).set_index("t")


class ServiceLoad:
    """Drive ``service`` with ``requests`` at ``rate`` requests/s from ``workers`` threads.

    Request ``k`` is due at ``k / rate`` seconds after :meth:`start`; worker ``w`` serves
    the requests ``k = w, w + workers, ...``, each when due (at once if it is late:
    ``late_ms`` records by how much). Latency is measured from the request's start.
    Every exception a request raises is what a user would see: it is recorded, not
    raised. A sampler thread reads ``service.counters()`` every ``sample_every`` s.
    """

    def __init__(
        self,
        service: CatalogueService,
        requests: Sequence[Request],
        *,
        rate: float,
        workers: int = 4,
        timeline: Timeline | None = None,
        sample_every: float = 0.02,
    ) -> None:
        if rate <= 0 or workers <= 0:
            raise DesignError("rate and workers must be positive")
        self.service = service
        self.requests = list(requests)
        self.rate = float(rate)
        self.workers = workers
        self.timeline = timeline or Timeline()
        self.sample_every = sample_every
        self._stop = threading.Event()
        self._records: list[list[tuple[float, float, str, str | None, float]]] = [
            [] for _ in range(workers)
        ]
        self._samples: list[tuple[float, ...]] = []
        self._threads: list[threading.Thread] = []
        self._sampler: threading.Thread | None = None
        self._sampler_stop = threading.Event()
        self._begin = 0.0

    @property
    def done(self) -> int:
        """Requests served so far."""
        return sum(len(r) for r in self._records)

    def _sample(self) -> None:
        c = self.service.counters()
        self._samples.append((self.timeline.now(), *c.values()))

    def _run_sampler(self) -> None:
        while not self._sampler_stop.wait(self.sample_every):
            self._sample()

    def _work(self, w: int) -> None:
        out = self._records[w]
        now = self.timeline.now
        handle = self.service.handle
        reqs = self.requests
        k = w
        while k < len(reqs) and not self._stop.is_set():
            due = self._begin + k / self.rate
            delay = due - now()
            if delay > 0 and self._stop.wait(delay):
                break
            req = reqs[k]
            t0 = now()
            err: str | None = None
            try:
                handle(req)
            except Exception as exc:  # what the user sees, whatever it is
                err = type(exc).__name__
            t1 = now()
            out.append((t0, (t1 - t0) * 1000, req.kind, err, max(0.0, t0 - due) * 1000))
            k += self.workers

    def start(self) -> ServiceLoad:
        """Start the sampler and the workers; returns self."""
        self._sample()
        self._begin = self.timeline.now()
        self._sampler = threading.Thread(target=self._run_sampler, daemon=True)
        self._sampler.start()
        self._threads = [
            threading.Thread(target=self._work, args=(w,), daemon=True, name=f"service-load-{w}")
            for w in range(self.workers)
        ]
        for t in self._threads:
            t.start()
        return self

    def wait(self, *, show_progress: bool = True, desc: str = "requests") -> None:
        """Block until every request was served (a progress bar of requests served)."""
        bar = progress(total=len(self.requests), desc=desc, enabled=show_progress)
        while any(t.is_alive() for t in self._threads):
            time.sleep(0.1)
            bar.update(self.done - bar.n)
        bar.update(self.done - bar.n)
        bar.close()

    def stop(self) -> LoadResult:
        """Stop issuing requests, join the threads, return the :class:`LoadResult`."""
        self._stop.set()
        for t in self._threads:
            t.join()
        self._sampler_stop.set()
        if self._sampler is not None:
            self._sampler.join()
        self._sample()
        return self.result()

    def result(self) -> LoadResult:
        """The records and samples so far."""
        rows = [r for per in self._records for r in per]
        records = pd.DataFrame(rows, columns=["t", "latency_ms", "kind", "error", "late_ms"])
        records = records.sort_values("t", ignore_index=True)
        samples = pd.DataFrame(self._samples, columns=["t", *COUNTERS, "db_round_trips"])
        return LoadResult(records, samples, dict(self.timeline.events))


def drive(
    service: CatalogueService,
    requests: Sequence[Request],
    *,
    rate: float,
    workers: int = 4,
    show_progress: bool = True,
    desc: str = "requests",
) -> LoadResult:
    """Run :class:`ServiceLoad` to the end and return what it saw."""
    load = ServiceLoad(service, requests, rate=rate, workers=workers).start()
    try:
        load.wait(show_progress=show_progress, desc=desc)
    finally:
        result = load.stop()
    return result


def paired_read_latencies(
    plain: CatalogueService,
    cached: CatalogueService,
    requests: Sequence[Request],
    *,
    n: int = 40,
    seed: int = 0,
) -> tuple[list[float], list[float]]:
    """One round of paired read latencies (ms): ``(plain_ms, cached_ms)``, one pair per read.

    ``n`` read requests drawn (seeded) from ``requests`` (price updates are skipped: they
    would change the data between the two halves of a pair) are each served by ``plain``
    and by ``cached`` right after each other, in one thread, the order alternating: the
    machine's load at that moment is shared by both, so the ratio of a pair is what the
    cache saves. For :func:`redislab.kit.evidence.compare` with ``paired=True``.
    """
    reads = [r for r in requests if r.kind != "update_price"]
    if not reads:
        raise DesignError("paired_read_latencies needs read requests")
    rng = np.random.default_rng(seed)
    plain_ms: list[float] = []
    cached_ms: list[float] = []
    for i, idx in enumerate(rng.integers(0, len(reads), size=n)):
        request = reads[int(idx)]
        order = [(plain, plain_ms), (cached, cached_ms)]
        for service, out in order if i % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            service.handle(request)
            out.append((time.perf_counter() - t0) * 1000)
    return plain_ms, cached_ms
