"""One read-modify-write four ways: naive, WATCH/MULTI/EXEC, a Lua script, a function.

The operation reads a counter and writes it back plus one (a stand-in for any update
that computes the new value from the old). Done naively (``GET`` then ``SET``) by
concurrent writers, updates are lost. Three ways make it atomic:

- optimistic locking: ``WATCH`` the key, read, ``MULTI``/``SET``/``EXEC``; ``EXEC``
  answers nil when the key changed meanwhile and the client retries
  (https://redis.io/docs/latest/develop/interact/transactions/);
- a Lua script run by ``EVALSHA``: the server runs it without interleaving other
  commands (https://redis.io/docs/latest/develop/interact/programmability/eval-intro/);
- a function loaded with ``FUNCTION LOAD`` and called by ``FCALL`` (Redis 7.0+,
  https://redis.io/docs/latest/develop/interact/programmability/functions-intro/).

:func:`contention_sweep` runs each method with more and more writer threads and counts
retries, final value and throughput.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import redis

from ..errors import PerformanceError
from ..keys import PERFORMANCE, key
from ..kit.bench import concurrent_rate
from ..kit.features import has_command
from ..kit.lua import script
from ..types import PlainConnection

__all__ = [
    "METHODS",
    "contention_round",
    "contention_run",
    "contention_sweep",
    "has_functions",
    "load_functions",
]

METHODS: tuple[str, ...] = ("naive", "watch", "lua", "function")
"""The read-modify-write methods :func:`contention_run` knows."""

# KEYS[1]: the counter. No ARGV. Reads the counter (missing = 0), writes it + 1,
# returns the new value.
INCREMENT_LUA = """
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
redis.call('SET', KEYS[1], v + 1)
return v + 1
"""

FUNCTION_LIBRARY = "redislab_perf"
FUNCTION_NAME = "redislab_perf_increment"
# A library with one function: keys[1] is the counter; no args. Same body as INCREMENT_LUA.
INCREMENT_FUNCTION = f"""#!lua name={FUNCTION_LIBRARY}
redis.register_function('{FUNCTION_NAME}', function(keys, args)
  local v = tonumber(redis.call('GET', keys[1]) or '0')
  redis.call('SET', keys[1], v + 1)
  return v + 1
end)
"""


def has_functions(connection: PlainConnection) -> bool:
    """True if the server has ``FUNCTION LOAD``/``FCALL`` (Redis 7.0+, Valkey)."""
    return has_command(connection, "FCALL")


def load_functions(connection: PlainConnection) -> None:
    """``FUNCTION LOAD REPLACE`` the increment library (idempotent)."""
    if not has_functions(connection):
        raise PerformanceError("this server has no FUNCTION/FCALL (Redis 7.0+ or Valkey)")
    connection.function_load(INCREMENT_FUNCTION, replace=True)


def _increment(method: str, connection: PlainConnection, k: str) -> Callable[[], int]:
    """A callable doing one increment with ``method``; returns its retries (WATCH only)."""
    if method == "naive":

        def naive() -> int:
            v = int(connection.get(k) or 0)
            connection.set(k, v + 1)
            return 0

        return naive
    if method == "watch":

        def watch() -> int:
            retries = 0
            with connection.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        pipe.watch(k)
                        v = int(pipe.get(k) or 0)
                        pipe.multi()
                        pipe.set(k, v + 1)
                        pipe.execute()
                        return retries
                    except redis.WatchError:  # EXEC answered nil: the key changed
                        retries += 1

        return watch
    if method == "lua":
        inc = script(connection, INCREMENT_LUA)

        def lua() -> int:
            inc(keys=[k])
            return 0

        return lua
    if method == "function":

        def fcall() -> int:
            connection.fcall(FUNCTION_NAME, 1, k)
            return 0

        return fcall
    raise PerformanceError(f"unknown method {method!r}: use one of {METHODS}")


def contention_run(
    connection: PlainConnection,
    method: str,
    *,
    writers: int,
    seconds: float = 0.3,
    name: str = "counter",
) -> dict[str, Any]:
    """``writers`` threads increment one counter with ``method`` for ``seconds``.

    Threads share ``connection``'s pool (one connection each). Returns ``method,
    writers, increments`` (acknowledged by the client), ``final`` (the counter's value
    afterwards), ``lost`` (increments - final), ``retries`` (WATCH aborts),
    ``retries_per_op`` and ``ops_per_s``.
    """
    k = key(PERFORMANCE, name, method, writers)
    connection.delete(k)
    if method == "function":
        load_functions(connection)
    retries = [0] * writers
    inc = _increment(method, connection, k)
    inc()  # warm up (registers the script, opens a connection)
    connection.delete(k)

    def worker(i: int, stop: threading.Event) -> int:
        done = 0
        while not stop.is_set():
            retries[i] += inc()
            done += 1
        return done

    res = concurrent_rate(worker, workers=writers, seconds=seconds)
    final = int(connection.get(k) or 0)
    total_retries = sum(retries)
    return {
        "method": method,
        "writers": writers,
        "increments": res.ops,
        "final": final,
        "lost": res.ops - final,
        "retries": total_retries,
        "retries_per_op": total_retries / res.ops if res.ops else 0.0,
        "ops_per_s": res.ops_per_s,
    }


def contention_sweep(
    connection: PlainConnection,
    *,
    writers: Sequence[int] = (1, 2, 4, 8),
    methods: Sequence[str] = METHODS,
    seconds: float = 0.3,
    show_progress: bool = True,
) -> pd.DataFrame:
    """:func:`contention_run` for every method and writer count (one row each)."""
    from ..kit.measure import progress

    rows = []
    bar = progress(
        total=len(writers) * len(methods), desc="methods x writers", enabled=show_progress
    )
    for n in writers:
        for m in methods:
            rows.append(contention_run(connection, m, writers=n, seconds=seconds))
            bar.update(1)
    bar.close()
    return pd.DataFrame(rows)


def contention_round(
    *,
    connection: PlainConnection,
    slow: str = "watch",
    fast: str = "lua",
    writers: int = 8,
    seconds: float = 0.1,
    pairs: int = 3,
) -> tuple[list[float], list[float]]:
    """One round of interleaved contention runs: seconds per increment, ``slow`` against ``fast``.

    Each of ``pairs`` pairs runs :func:`contention_run` with ``writers`` threads for
    ``seconds``, first with ``slow`` then with ``fast``, right after each other. Returns
    ``(slow, fast)`` seconds per acknowledged increment (all writers together), one value
    per pair: ``slow / fast`` is how many times the throughput of ``fast`` is that of
    ``slow``, for :func:`redislab.kit.evidence.compare` (``paired=True``).
    """
    if pairs < 1 or writers < 1:
        raise PerformanceError("pairs and writers must be positive")
    a: list[float] = []
    b: list[float] = []
    for _ in range(pairs):
        for method, out in ((slow, a), (fast, b)):
            run = contention_run(connection, method, writers=writers, seconds=seconds)
            if run["increments"] <= 0:
                raise PerformanceError(f"{method}: no increment in {seconds} s")
            out.append(1.0 / run["ops_per_s"])
    return a, b
