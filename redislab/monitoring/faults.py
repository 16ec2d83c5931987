"""Faults and loads that trip one alert rule each, on purpose, on a real server.

Each function does one thing a production incident does (fill memory, miss the
cache, block a client, run a slow script, exceed ``maxclients``)
and returns what it did, so a notebook can show that exactly the intended rule fired.
Process faults (kill, pause, restart a node) are the lab's own: ``node.kill()``,
``node.pause()``/``resume()``, ``node.restart()``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..errors import MonitoringError
from ..keys import MONITORING, key
from ..kit.lua import script
from ..types import PlainConnection
from ._common import clone

__all__ = [
    "SLOW_LUA",
    "blocked_client",
    "exceed_maxclients",
    "fill_memory",
    "miss_lookups",
    "read_load",
    "slow_scripts",
    "write_load",
]

SLOW_LUA = """
-- A deliberately slow script: ARGV[1] iterations of arithmetic inside the server.
-- KEYS: none. ARGV[1]: iterations. Returns the sum (so the loop is not optimised away).
-- (A loop on redis.call('TIME') would not end on Redis >= 7.2: time is frozen in a script.)
local x = 0
for i = 1, tonumber(ARGV[1]) do
  x = (x + i) % 1000003
end
return x
"""


def fill_memory(
    connection: PlainConnection,
    *,
    fraction: float = 1.0,
    value_bytes: int = 1024,
    batch: int = 200,
    seed: int = 0,
) -> dict[str, int]:
    """Write ``value_bytes`` values until ``used_memory`` reaches ``fraction`` × maxmemory.

    Stops early if the server answers OOM (``noeviction``). With an evicting policy
    and ``fraction > 1`` it writes ``fraction`` × maxmemory worth of values, so the
    server evicts. Returns ``written``, ``oom_errors`` and ``bytes_written``.
    """
    maxmemory = int(connection.config_get("maxmemory")["maxmemory"])
    if maxmemory <= 0:
        raise MonitoringError("fill_memory needs a maxmemory (CONFIG SET maxmemory 16mb)")
    rng = np.random.default_rng(seed)
    value = rng.bytes(value_bytes).hex()[:value_bytes]
    target = int(maxmemory * fraction)
    written = oom = sent = 0
    while True:
        used = int(connection.info("memory")["used_memory"])
        if fraction <= 1.0 and used >= target:
            break
        if fraction > 1.0 and sent >= target:
            break
        pipe = connection.pipeline(transaction=False)
        for i in range(written + oom, written + oom + batch):
            pipe.set(key(MONITORING, "fill", i), value)
        for reply in pipe.execute(raise_on_error=False):
            if isinstance(reply, redis.exceptions.OutOfMemoryError):
                oom += 1
            elif isinstance(reply, Exception):
                raise reply
            else:
                written += 1
        sent += batch * value_bytes
        if oom:
            break
    return {"written": written, "oom_errors": oom, "bytes_written": sent}


def miss_lookups(connection: PlainConnection, *, n: int = 2000, seconds: float = 1.5) -> int:
    """``GET`` keys that do not exist, ``n`` of them spread over ``seconds``; returns n."""
    chunks = max(1, int(seconds / 0.05))
    per = max(1, n // chunks)
    done = 0
    for c in range(chunks):
        pipe = connection.pipeline(transaction=False)
        for i in range(per):
            pipe.get(key(MONITORING, "missing", c, i))
        pipe.execute()
        done += per
        time.sleep(seconds / chunks)
    return done


@contextmanager
def blocked_client(connection: PlainConnection, *, seconds: float = 2.0) -> Iterator[None]:
    """A second client waits in ``BLPOP`` on an empty list for ``seconds`` inside the block."""
    client = clone(connection)
    waiting = threading.Thread(
        target=lambda: client.blpop([key(MONITORING, "never")], timeout=seconds),
        daemon=True,
    )
    waiting.start()
    try:
        yield
    finally:
        waiting.join(timeout=seconds + 5)
        client.close()


def slow_scripts(connection: PlainConnection, *, ms: int = 30, times: int = 3) -> list[int]:
    """Run :data:`SLOW_LUA` ``times`` times, each busy for about ``ms`` ms in the server.

    The iteration count is calibrated first with a short run (well under any slow-log
    threshold), timed by the client. Returns each run's duration in microseconds as the
    server's ``SLOWLOG`` would not include the round trip: measured client-side here.
    """
    slow = script(connection, SLOW_LUA)
    probe = 200_000
    t0 = time.perf_counter()
    slow(keys=[], args=[probe])
    per_iter = max(time.perf_counter() - t0, 1e-4) / probe
    iterations = int(ms / 1000 / per_iter)
    out = []
    for _ in range(times):
        t0 = time.perf_counter()
        slow(keys=[], args=[iterations])
        out.append(int((time.perf_counter() - t0) * 1e6))
    return out


def exceed_maxclients(connection: PlainConnection, *, headroom: int = 2, extra: int = 5) -> int:
    """Set ``maxclients`` just above the current clients and try ``headroom + extra`` more.

    Returns how many connections the server refused ("max number of clients
    reached"); ``maxclients`` is set back before returning.
    """
    before = connection.config_get("maxclients")["maxclients"]
    connected = int(connection.info("clients")["connected_clients"])
    connection.config_set("maxclients", connected + headroom)
    opened: list[PlainConnection] = []
    refused = 0
    try:
        for _ in range(headroom + extra):
            c = clone(connection, retry=Retry(NoBackoff(), 0))
            try:
                c.ping()
                opened.append(c)
            except redis.exceptions.ConnectionError:
                refused += 1
                c.close()
    finally:
        for c in opened:
            c.close()
        connection.config_set("maxclients", before)
    return refused


def write_load(
    connection: PlainConnection,
    *,
    seconds: float,
    rate: int = 2000,
    keys: int = 10_000,
    seed: int = 0,
) -> int:
    """Steady pipelined ``SET`` traffic for ``seconds`` (``rate`` writes/s) over ``keys``
    random keys; returns the number of writes."""
    rng = np.random.default_rng(seed)
    end = time.monotonic() + seconds
    done = 0
    step = 0.05
    per = max(1, int(rate * step))
    while time.monotonic() < end:
        pipe = connection.pipeline(transaction=False)
        for i in rng.integers(0, keys, per):
            pipe.set(key(MONITORING, "load", int(i)), done)
        pipe.execute()
        done += per
        time.sleep(step)
    return done


def read_load(
    connection: PlainConnection,
    *,
    seconds: float,
    rate: int = 2000,
    miss_fraction: float = 0.0,
    keys: int = 10_000,
    seed: int = 0,
) -> int:
    """Steady pipelined ``GET`` traffic over :func:`write_load`'s keys for ``seconds``.

    A ``miss_fraction`` of the reads ask for keys that do not exist (cache misses).
    Returns the number of reads.
    """
    rng = np.random.default_rng(seed)
    end = time.monotonic() + seconds
    done = 0
    step = 0.05
    per = max(1, int(rate * step))
    while time.monotonic() < end:
        pipe = connection.pipeline(transaction=False)
        for i, miss in zip(rng.integers(0, keys, per), rng.random(per) < miss_fraction,
                           strict=True):  # fmt: skip
            pipe.get(key(MONITORING, "missing" if miss else "load", int(i)))
        pipe.execute()
        done += per
        time.sleep(step)
    return done
