"""Measuring helpers shared by the notebooks: timings, percentiles, polling, wire cost.

All timings use :func:`time.perf_counter` and are returned in **seconds**; the
summaries convert to milliseconds because that is what a reader compares.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import redis

from ..errors import UsageError
from ..lab.waits import wait_until
from ..types import Connection

__all__ = [
    "Stopwatch",
    "percentile",
    "progress",
    "round_trips",
    "summarize",
    "time_calls",
    "wait_until",
    "wire_cost",
]


def progress(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    enabled: bool = True,
) -> Any:
    """A progress bar for long work: a widget in Jupyter, text on a terminal (``tqdm.auto``).

    With ``enabled=False`` it prints nothing and ``update`` does nothing, so library
    functions can take a ``progress`` flag and call ``update`` unconditionally.
    ``REDISLAB_PROGRESS=0`` turns every bar off (CI logs).
    """
    import os

    from tqdm.auto import tqdm

    off = not enabled or os.environ.get("REDISLAB_PROGRESS", "1") == "0"
    return tqdm(iterable, total=total, desc=desc, disable=off, leave=True)


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
        raise UsageError("n must be positive")
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
        raise UsageError("no samples")
    return float(np.percentile(arr, q))


def summarize(samples: Iterable[float], *, unit: str = "ms") -> dict[str, float]:
    """p50/p95/p99/mean/max of durations given in seconds, converted to ``unit``.

    ``unit`` is ``"ms"`` or ``"us"``; ``n`` is the sample count.
    """
    scale = {"ms": 1e3, "us": 1e6, "s": 1.0}[unit]
    arr = np.asarray(list(samples) if not isinstance(samples, np.ndarray) else samples)
    if arr.size == 0:
        raise UsageError("no samples")
    arr = arr * scale
    return {
        "n": int(arr.size),
        f"p50_{unit}": float(np.percentile(arr, 50)),
        f"p95_{unit}": float(np.percentile(arr, 95)),
        f"p99_{unit}": float(np.percentile(arr, 99)),
        f"mean_{unit}": float(arr.mean()),
        f"max_{unit}": float(arr.max()),
    }


# --------------------------------------------------------------------------- wire cost

_INFO_ARGS = ("INFO", "stats", "commandstats")


def _resp_request_bytes(args: Sequence[str]) -> int:
    """Size of a command as RESP puts it on the wire (``*n`` then ``$len`` + arg each)."""
    return len(f"*{len(args)}\r\n") + sum(len(f"${len(a)}\r\n{a}\r\n") for a in args)


def _stats_snapshot(conn: Any) -> tuple[int, int, int, int]:
    """(command calls, net input bytes, net output bytes, size of this INFO reply)."""
    conn.send_command(*_INFO_ARGS)
    raw: bytes = conn.read_response(disable_decoding=True)
    calls = net_in = net_out = 0
    for line in raw.decode().splitlines():
        name, _, value = line.partition(":")
        if name.startswith("cmdstat_"):
            calls += int(value.split(",")[0].removeprefix("calls="))
        elif name == "total_net_input_bytes":
            net_in = int(value)
        elif name == "total_net_output_bytes":
            net_out = int(value)
    if str(getattr(conn, "protocol", 2)) == "3":  # RESP3 verbatim string: "=<n>\r\ntxt:..."
        payload = 4 + len(raw)
        return calls, net_in, net_out, len(f"={payload}\r\n") + payload + 2
    return calls, net_in, net_out, len(f"${len(raw)}\r\n") + len(raw) + 2


def wire_cost(connection: Connection, fn: Callable[[], Any], *, n: int) -> dict[str, float]:
    """Commands run and network bytes per call of ``fn``, from the server's own counters.

    After one warm-up call, two ``INFO stats commandstats`` snapshots bracket ``n``
    calls (on a separate pooled connection); the second one's
    request, the first one's reply (whose exact size we read) and the first ``INFO``
    call are subtracted. Commands run inside a script count too. Assumes no other
    client is busy on the server meanwhile.
    """
    conn = connection.connection_pool.get_connection()
    try:
        fn()  # untimed: lets ``fn``'s own pooled connection finish its handshake first
        b = _stats_snapshot(conn)
        for _ in range(n):
            fn()
        c = _stats_snapshot(conn)
    finally:
        connection.connection_pool.release(conn)
    return {
        "commands": (c[0] - b[0] - 1) / n,
        "bytes_in": (c[1] - b[1] - _resp_request_bytes(_INFO_ARGS)) / n,
        "bytes_out": (c[2] - b[2] - b[3]) / n,
    }


def round_trips(connection: Connection, fn: Callable[[Any], Any], *, n: int = 20) -> float:
    """Average request/reply round trips per call of ``fn(client)``.

    ``fn`` gets a fresh client to ``connection``'s server whose connections count their
    socket writes (one per round trip: a pipeline or a ``MULTI`` block is one; a
    ``WATCH``, ``GET``, ``MULTI``...``EXEC`` transaction three). The first call is a
    warm-up, so the handshake (``HELLO``, ``CLIENT SETINFO``) is not counted.
    """
    sends = [0]
    base: type[redis.Connection] = connection.connection_pool.connection_class

    class Counting(base):  # type: ignore[valid-type]
        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            sends[0] += 1
            super().send_packed_command(command, check_health)

    kwargs = dict(connection.connection_pool.connection_kwargs)
    pool = redis.ConnectionPool(connection_class=Counting, **kwargs)
    client = redis.Redis(connection_pool=pool)
    try:
        fn(client)
        sends[0] = 0
        for _ in range(n):
            fn(client)
        return sends[0] / n
    finally:
        client.close()
        pool.disconnect()
