"""Measuring helpers shared by the notebooks: timings, percentiles, polling.

All timings use :func:`time.perf_counter` and are returned in **seconds**; the
summaries convert to milliseconds because that is what a reader compares.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Stopwatch", "percentile", "summarize", "time_calls", "wait_until"]


@dataclass
class Stopwatch:
    """Context manager that records the elapsed wall time in ``elapsed`` (s).

    >>> with Stopwatch() as sw:
    ...     pass
    >>> sw.elapsed >= 0
    True
    """

    elapsed: float = 0.0
    _start: float = field(default=0.0, repr=False)

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self._start


def time_calls(fn: Callable[[], Any], *, n: int, warmup: int = 0) -> np.ndarray:
    """Call ``fn`` ``warmup`` times untimed, then ``n`` times; return the n durations (s)."""
    if n <= 0:
        raise ValueError("n must be positive")
    for _ in range(warmup):
        fn()
    out = np.empty(n, dtype=float)
    clock = time.perf_counter
    for i in range(n):
        t0 = clock()
        fn()
        out[i] = clock() - t0
    return out


def percentile(samples: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``samples``."""
    arr = np.asarray(list(samples) if not isinstance(samples, np.ndarray) else samples)
    if arr.size == 0:
        raise ValueError("no samples")
    return float(np.percentile(arr, q))


def summarize(samples: Iterable[float], *, unit: str = "ms") -> dict[str, float]:
    """p50/p95/p99/mean/max of durations given in seconds, converted to ``unit``.

    ``unit`` is ``"ms"`` or ``"us"``; ``n`` is the sample count.
    """
    scale = {"ms": 1e3, "us": 1e6, "s": 1.0}[unit]
    arr = np.asarray(list(samples) if not isinstance(samples, np.ndarray) else samples)
    if arr.size == 0:
        raise ValueError("no samples")
    arr = arr * scale
    return {
        "n": int(arr.size),
        f"p50_{unit}": float(np.percentile(arr, 50)),
        f"p95_{unit}": float(np.percentile(arr, 95)),
        f"p99_{unit}": float(np.percentile(arr, 99)),
        f"mean_{unit}": float(arr.mean()),
        f"max_{unit}": float(arr.max()),
    }


def wait_until(
    predicate: Callable[[], Any],
    *,
    timeout: float,
    interval: float = 0.01,
    what: str = "condition",
) -> float:
    """Poll ``predicate`` until it returns a truthy value; return the seconds waited.

    Exceptions raised by ``predicate`` count as "not yet". Raises
    :class:`TimeoutError` naming ``what`` (and the last exception) after ``timeout``.
    """
    start = time.perf_counter()
    last_exc: BaseException | None = None
    while True:
        try:
            if predicate():
                return time.perf_counter() - start
        except Exception as exc:
            last_exc = exc
        if time.perf_counter() - start > timeout:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise TimeoutError(f"{what} not reached within {timeout:.1f} s{detail}")
        time.sleep(interval)
