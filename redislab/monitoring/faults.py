"""Faults and loads that trip one alert rule each, on purpose, on a real server.

Each function does one thing a production incident does (fill memory, fragment it
with a mass delete, miss the cache, block a client, run a slow script, exceed
``maxclients``)
and returns what it did, so a notebook can show that exactly the intended rule fired.
Process faults (kill, pause, restart a node) are the lab's own: ``node.kill()``,
``node.pause()``/``resume()``, ``node.restart()``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import redis

from ..errors import MonitoringError
from ..keys import MONITORING, key
from ..kit.connections import clone
from ..kit.counters import command_stats
from ..kit.lua import script
from ..kit.timeline import no_retry
from ..types import PlainConnection

__all__ = [
    "SLOW_LUA",
    "blocked_client",
    "exceed_maxclients",
    "fill_memory",
    "fragment_memory",
    "miss_lookups",
    "read_load",
    "refill_memory",
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


def _fragment_ids(keys: int, delete_fraction: float, seed: int) -> np.ndarray:
    """The key numbers :func:`fragment_memory` deletes: a seeded random ``delete_fraction``."""
    rng = np.random.default_rng(seed)
    return np.flatnonzero(rng.random(keys) < delete_fraction)


def _chunks(
    connection: PlainConnection, names: list[str], per: int, send: Callable[[Any, list[str]], Any]
) -> None:
    """Queue ``send(pipe, names[i:i + per])`` for every chunk; execute 20 commands at a time."""
    pipe = connection.pipeline(transaction=False)
    for start in range(0, len(names), per):
        send(pipe, names[start : start + per])
        if len(pipe) >= 20:
            pipe.execute()
    pipe.execute()


def fragment_memory(
    connection: PlainConnection,
    *,
    keys: int = 150_000,
    value_bytes: int = 400,
    delete_fraction: float = 0.8,
    batch: int = 100,
    seed: int = 0,
) -> dict[str, int]:
    """Fragment the allocator: write ``keys`` small values, then delete a random 80%.

    The deleted values are scattered over nearly every allocator page (each page
    keeps about one live value in five), so the allocator cannot give those pages back:
    RSS stays where the fill left it while ``used_memory`` falls, and
    ``mem_fragmentation_ratio`` (RSS / used) rises. ``MSET`` of ``batch`` keys and
    ``DEL`` of ``5 * batch`` keys per command keep every command well under a slow-log
    threshold. Returns ``written`` and ``deleted``; :func:`refill_memory` with the same
    arguments writes the deleted keys back.
    """
    if not 0 < delete_fraction < 1:
        raise MonitoringError(f"delete_fraction must be in (0, 1), not {delete_fraction}")
    value = "v" * value_bytes
    names = [key(MONITORING, "frag", i) for i in range(keys)]
    _chunks(connection, names, batch, lambda pipe, chunk: pipe.mset(dict.fromkeys(chunk, value)))
    victims = [names[i] for i in _fragment_ids(keys, delete_fraction, seed)]
    _chunks(connection, victims, 5 * batch, lambda pipe, chunk: pipe.delete(*chunk))
    return {"written": keys, "deleted": len(victims)}


def refill_memory(
    connection: PlainConnection,
    *,
    keys: int = 150_000,
    value_bytes: int = 400,
    delete_fraction: float = 0.8,
    batch: int = 100,
    seed: int = 0,
) -> int:
    """Write back the keys :func:`fragment_memory` (same arguments) deleted; returns how many.

    Same-sized values land in the holes the delete left (the allocator reuses freed
    chunks of their size class), so ``used_memory`` climbs back while RSS hardly moves.
    """
    value = "v" * value_bytes
    victims = [key(MONITORING, "frag", int(i)) for i in _fragment_ids(keys, delete_fraction, seed)]
    _chunks(connection, victims, batch, lambda pipe, chunk: pipe.mset(dict.fromkeys(chunk, value)))
    return len(victims)


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


def _script_usec(connection: PlainConnection) -> float | None:
    """Server-side microseconds spent in EVAL/EVALSHA so far (``INFO commandstats``)."""
    try:
        stats = command_stats(connection)
    except redis.exceptions.ResponseError:  # INFO not allowed (ACL)
        return None
    return sum(stats.get(c, {}).get("usec", 0.0) for c in ("eval", "evalsha"))


def slow_scripts(connection: PlainConnection, *, ms: int = 30, times: int = 3) -> list[int]:
    """Run :data:`SLOW_LUA` ``times`` times, each busy for about ``ms`` ms in the server.

    The iteration count is calibrated first with three short runs, timed by the server
    itself (the ``usec`` that ``INFO commandstats`` adds for EVALSHA; the client's clock
    where INFO is not allowed), the fastest counting: a round trip or a descheduled
    client would make the estimate too high and the runs too short. Returns each run's
    duration in microseconds, measured client-side (``SLOWLOG`` has the server's).
    """
    slow = script(connection, SLOW_LUA)
    probe = 100_000
    probes = []
    for _ in range(3):
        u0, t0 = _script_usec(connection), time.perf_counter()
        slow(keys=[], args=[probe])
        elapsed, u1 = time.perf_counter() - t0, _script_usec(connection)
        probes.append((u1 - u0) / 1e6 if u0 is not None and u1 is not None else elapsed)
    per_iter = max(min(probes), 1e-5) / probe
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
            c = clone(connection, retry=no_retry())
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
