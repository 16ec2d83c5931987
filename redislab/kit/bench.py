"""A small benchmark toolkit: ops/s from timed loops, interleaved comparisons, sweeps.

Everything here measures *relative* speed on a shared, noisy machine:

- :func:`rate` times a callable and returns a :class:`Rate` (operations per second);
- :func:`compare` runs several paths in interleaved rounds (the order alternates per
  round), so each round compares measurements taken moments apart, and returns one row
  per (round, path); :func:`median_ratio` is the median of the per-round ratios;
- :func:`sweep` measures a path for each value of a parameter, also interleaved;
- :func:`concurrent_rate` runs workers on threads for a fixed time and counts their ops;
- :class:`LatencyProbe` is a second client that PINGs in a thread and records how long
  each PING took and when: the latency *other* clients see while something runs.

These are the pieces that should move to :mod:`redislab.kit.measure` once a second
theme needs them (see ``docs/performance.md``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UsageError
from .measure import progress

__all__ = [
    "LatencyProbe",
    "Rate",
    "compare",
    "concurrent_rate",
    "median_ratio",
    "rate",
    "sweep",
]


@dataclass(frozen=True)
class Rate:
    """``ops`` operations done in ``seconds`` of wall time."""

    ops: int
    seconds: float

    @property
    def ops_per_s(self) -> float:
        """Operations per second (``inf`` if no time was measured)."""
        return self.ops / self.seconds if self.seconds > 0 else float("inf")

    @property
    def us_per_op(self) -> float:
        """Microseconds per operation."""
        return self.seconds / self.ops * 1e6 if self.ops else float("nan")


def rate(fn: Callable[[], Any], *, calls: int, ops_per_call: int = 1, warmup: int = 1) -> Rate:
    """Call ``fn`` ``warmup`` times untimed, then ``calls`` times in one timed loop.

    Each call counts as ``ops_per_call`` operations (a pipeline of 100 SETs is 100).
    One ``perf_counter`` pair brackets the whole loop, so the timer costs nothing per call.
    """
    if calls <= 0 or ops_per_call <= 0:
        raise UsageError("calls and ops_per_call must be positive")
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return Rate(calls * ops_per_call, time.perf_counter() - t0)


def compare(
    paths: Mapping[str, Callable[[], Any]],
    *,
    calls: int | Mapping[str, int],
    ops_per_call: int | Mapping[str, int] = 1,
    rounds: int = 5,
    warmup: int = 1,
    desc: str | None = None,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Time every path in each of ``rounds`` rounds; the order alternates per round.

    ``calls`` and ``ops_per_call`` are one number or one per path. Returns a DataFrame
    with columns ``round, path, ops, seconds, ops_per_s``.
    """
    names = list(paths)
    if not names or rounds <= 0:
        raise UsageError("compare() needs at least one path and one round")

    def per(value: int | Mapping[str, int], name: str) -> int:
        return int(value[name]) if isinstance(value, Mapping) else int(value)

    rows = []
    bar = progress(total=rounds * len(names), desc=desc or "compare", enabled=show_progress)
    for rnd in range(rounds):
        order = names if rnd % 2 == 0 else names[::-1]
        for name in order:
            r = rate(
                paths[name],
                calls=per(calls, name),
                ops_per_call=per(ops_per_call, name),
                warmup=warmup,
            )
            rows.append(
                {
                    "round": rnd,
                    "path": name,
                    "ops": r.ops,
                    "seconds": r.seconds,
                    "ops_per_s": r.ops_per_s,
                }
            )
            bar.update(1)
    bar.close()
    return pd.DataFrame(rows)


def median_ratio(results: pd.DataFrame, numerator: str, denominator: str) -> float:
    """Median over rounds of ``ops_per_s(numerator) / ops_per_s(denominator)``.

    ``results`` is what :func:`compare` or :func:`sweep` returned (``path`` names the
    series). A ratio per round cancels the machine's slow phases, which hit both paths
    of one round alike.
    """
    wide = results.pivot_table(index="round", columns="path", values="ops_per_s")
    for name in (numerator, denominator):
        if name not in wide.columns:
            raise UsageError(f"no measurements for {name!r}; have {list(wide.columns)}")
    return float(np.median(wide[numerator] / wide[denominator]))


def sweep(
    values: Sequence[Any],
    make: Callable[[Any], tuple[Callable[[], Any], int, int]],
    *,
    rounds: int = 3,
    warmup: int = 1,
    desc: str | None = None,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Measure one path per parameter value; ``make(value)`` -> ``(fn, calls, ops_per_call)``.

    Values are visited in alternating order per round. Returns ``round, value, path,
    ops, seconds, ops_per_s`` (``path`` is ``str(value)``, for :func:`median_ratio`).
    """
    if not values:
        raise UsageError("sweep() needs at least one value")
    prepared = {v: make(v) for v in values}
    rows = []
    bar = progress(total=rounds * len(values), desc=desc or "sweep", enabled=show_progress)
    for rnd in range(rounds):
        order = list(values) if rnd % 2 == 0 else list(values)[::-1]
        for v in order:
            fn, calls, per_call = prepared[v]
            r = rate(fn, calls=calls, ops_per_call=per_call, warmup=warmup)
            rows.append(
                {
                    "round": rnd,
                    "value": v,
                    "path": str(v),
                    "ops": r.ops,
                    "seconds": r.seconds,
                    "ops_per_s": r.ops_per_s,
                }
            )
            bar.update(1)
    bar.close()
    return pd.DataFrame(rows)


def concurrent_rate(
    worker: Callable[[int, threading.Event], int],
    *,
    workers: int,
    seconds: float,
) -> Rate:
    """Run ``worker(index, stop)`` on ``workers`` threads for ``seconds``; sum their ops.

    Each worker loops until ``stop`` is set and returns how many operations it did.
    The time is measured from the start barrier to the last thread's end. An exception
    in a worker is re-raised here.
    """
    if workers <= 0 or seconds <= 0:
        raise UsageError("workers and seconds must be positive")
    stop = threading.Event()
    barrier = threading.Barrier(workers + 1)
    counts = [0] * workers
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            counts[i] = worker(i, stop)
        except BaseException as exc:  # handed to the caller below
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return Rate(sum(counts), elapsed)


@dataclass
class LatencyProbe:
    """A client that PINGs in a background thread: what *other* clients wait meanwhile.

    ``with LatencyProbe(client) as probe: work()`` then ``probe.latencies`` (s) and
    ``probe.times`` (s since the probe started). ``interval`` is the pause between PINGs.
    """

    client: Any
    interval: float = 0.0005
    latencies: np.ndarray = field(default_factory=lambda: np.empty(0))
    times: np.ndarray = field(default_factory=lambda: np.empty(0))
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _lat: list[float] = field(default_factory=list, repr=False)
    _at: list[float] = field(default_factory=list, repr=False)
    _started: threading.Event = field(default_factory=threading.Event, repr=False)

    def _run(self) -> None:
        t_start = time.perf_counter()
        ping = self.client.ping
        while not self._stop.is_set():
            t0 = time.perf_counter()
            ping()
            t1 = time.perf_counter()
            self._lat.append(t1 - t0)
            self._at.append(t0 - t_start)
            self._started.set()
            if self.interval:
                time.sleep(self.interval)

    def __enter__(self) -> LatencyProbe:
        self.client.ping()  # connect before timing
        self._thread = threading.Thread(target=self._run, daemon=True, name="latency-probe")
        self._thread.start()
        self._started.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.latencies = np.asarray(self._lat)
        self.times = np.asarray(self._at)

    def p(self, q: float) -> float:
        """The ``q``-th percentile of the PING latencies (s)."""
        if self.latencies.size == 0:
            raise UsageError("the probe recorded no PING")
        return float(np.percentile(self.latencies, q))


def percentiles(samples: Iterable[float], qs: Sequence[float] = (50, 99)) -> dict[str, float]:
    """``{"p50": ..., "p99": ...}`` of ``samples`` (same unit)."""
    arr = np.asarray(list(samples))
    if arr.size == 0:
        raise UsageError("no samples")
    return {f"p{q:g}": float(np.percentile(arr, q)) for q in qs}
