"""Big keys, slow commands and persistence spikes, as *another* client sees them.

Redis runs commands one at a time, so a slow command makes every other client wait
("Redis latency problems troubleshooting",
https://redis.io/docs/latest/operate/oss_and_stack/management/optimization/latency/):
``KEYS`` walks the whole keyspace, ``SMEMBERS`` of a big set builds one huge reply, and
``DEL`` of a big key frees every element before replying, where ``SCAN``/``SSCAN`` do a
little per call and ``UNLINK`` frees the memory in a background thread. A fork for
``BGSAVE`` or an AOF rewrite stalls the server too, and the ``LATENCY`` monitor records
it once ``latency-monitor-threshold`` is set.

:func:`probe_during` runs a piece of work while a :class:`~.bench.LatencyProbe` PINGs
from a second connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import PerformanceError
from ..keys import PERFORMANCE, key
from ..kit.bench import LatencyProbe
from ..kit.counters import command_total
from ..kit.lua import script
from ..types import PlainConnection

__all__ = [
    "big_set",
    "command_usec",
    "fill_keys",
    "free_round",
    "latency_events",
    "probe_during",
    "probe_table",
    "scan_all",
    "sscan_all",
    "walk_round",
]

# KEYS[1]: the set to fill. ARGV[1]: first member, ARGV[2]: last member (integers).
# Adds the members in chunks of 1000 SADD arguments; returns the set's size.
BIG_SET_LUA = """
local first, last = tonumber(ARGV[1]), tonumber(ARGV[2])
local chunk = {}
for i = first, last do
  chunk[#chunk + 1] = i
  if #chunk == 1000 then redis.call('SADD', KEYS[1], unpack(chunk)); chunk = {} end
end
if #chunk > 0 then redis.call('SADD', KEYS[1], unpack(chunk)) end
return redis.call('SCARD', KEYS[1])
"""


def fill_keys(connection: PlainConnection, n: int, *, name: str = "fill") -> str:
    """``DEBUG POPULATE`` ``n`` small string keys under ``redislab:perf:<name>``; the prefix."""
    prefix = key(PERFORMANCE, name)
    connection.execute_command("DEBUG", "POPULATE", n, prefix, 16)
    return prefix


def big_set(connection: PlainConnection, members: int, *, name: str = "bigset") -> str:
    """A set of ``members`` integers, built server-side in slices of 100,000; its key."""
    k = key(PERFORMANCE, name)
    connection.delete(k)
    fill = script(connection, BIG_SET_LUA)
    for first in range(0, members, 100_000):
        fill(keys=[k], args=[first, min(members, first + 100_000) - 1])
    return k


def scan_all(connection: PlainConnection, *, match: str = "*", count: int = 1000) -> int:
    """Walk the keyspace with ``SCAN`` (``count`` per call); how many keys it returned."""
    return sum(1 for _ in connection.scan_iter(match=match, count=count))


def sscan_all(connection: PlainConnection, k: str, *, count: int = 1000) -> int:
    """Walk a set with ``SSCAN``; how many members it returned."""
    return sum(1 for _ in connection.sscan_iter(k, count=count))


def probe_during(
    probe_client: PlainConnection, fn: Callable[[], Any], *, settle: float = 0.02
) -> dict[str, Any]:
    """Run ``fn`` while a second client PINGs; the call's time and the PING latencies.

    Returns ``call_s`` (how long ``fn`` took), ``result``, ``latencies`` (s) and
    ``times`` (s since the probe started); ``settle`` seconds of PINGs come first.
    """
    with LatencyProbe(probe_client, interval=0.0005) as probe:
        time.sleep(settle)
        t0 = time.perf_counter()
        result = fn()
        call_s = time.perf_counter() - t0
        time.sleep(settle)
    return {
        "call_s": call_s,
        "result": result,
        "latencies": probe.latencies,
        "times": probe.times,
    }


def probe_table(runs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per :func:`probe_during` run: call time and the probe's p50/p99/max (ms)."""
    rows = []
    for name, run in runs.items():
        lat = np.asarray(run["latencies"]) * 1e3
        rows.append(
            {
                "work": name,
                "call_ms": run["call_s"] * 1e3,
                "pings": int(lat.size),
                "probe_p50_ms": float(np.percentile(lat, 50)),
                "probe_p99_ms": float(np.percentile(lat, 99)),
                "probe_max_ms": float(lat.max()),
            }
        )
    return pd.DataFrame(rows).set_index("work")


def latency_events(connection: PlainConnection) -> dict[str, int]:
    """``LATENCY LATEST`` as ``{event: max latency ms}`` (empty when nothing was recorded)."""
    out: dict[str, int] = {}
    for row in connection.execute_command("LATENCY", "LATEST") or []:
        name = row[0].decode() if isinstance(row[0], bytes) else str(row[0])
        out[name] = int(row[3])
    return out


def command_usec(connection: PlainConnection, command: str) -> int:
    """Total microseconds the server spent in ``command`` so far (``INFO commandstats``).

    The server's own clock: a difference of two readings is the time the command ran on
    the main thread, free of the client's scheduling delays.
    """
    return int(command_total(connection, command, "usec"))


def _server_time(connection: PlainConnection, command: str) -> tuple[float, float]:
    return (
        command_total(connection, command, "usec"),
        command_total(connection, command, "calls"),
    )


def walk_round(
    *,
    connection: PlainConnection,
    whole: Callable[[], Any],
    split: Callable[[], Any],
    whole_command: str,
    split_command: str,
    pairs: int = 3,
) -> tuple[list[float], list[float]]:
    """One round of the server's own time per call: a one-call walk against a split walk.

    Each of ``pairs`` pairs runs ``whole()`` (e.g. one ``KEYS *``) and then ``split()``
    (e.g. the same walk as ``SCAN`` calls), and reads from ``INFO commandstats`` the
    microseconds per call of ``whole_command`` and of ``split_command`` during it: how long
    one call held the main thread. Returns ``(whole, split)`` usec per call, one value
    per pair, for :func:`redislab.kit.evidence.compare` (``paired=True``). The server's
    clock has 1 usec resolution; a per-call time below it counts as 1 usec.
    """
    if pairs < 1:
        raise PerformanceError("pairs must be positive")
    a: list[float] = []
    b: list[float] = []
    for _ in range(pairs):
        for fn, command, out in ((whole, whole_command, a), (split, split_command, b)):
            usec0, calls0 = _server_time(connection, command)
            fn()
            usec1, calls1 = _server_time(connection, command)
            if calls1 <= calls0:
                raise PerformanceError(f"{command} was not called by its walk")
            out.append(max((usec1 - usec0) / (calls1 - calls0), 1.0))
    return a, b


def free_round(
    *, connection: PlainConnection, members: int, pairs: int = 1, name: str = "free"
) -> tuple[list[float], list[float]]:
    """One round of the server's own time to delete a big set: ``DEL`` against ``UNLINK``.

    Each of ``pairs`` pairs builds two sets of ``members`` members, then ``DEL``s one and
    ``UNLINK``s the other, and reads each command's microseconds from ``INFO
    commandstats``. Returns ``(del_usec, unlink_usec)``, one value per pair (at least 1,
    the clock's resolution), for :func:`redislab.kit.evidence.compare` (``paired=True``).
    What ``DEL`` does depends on ``lazyfree-lazy-user-del``: the caller sets it.
    """
    if pairs < 1 or members < 1:
        raise PerformanceError("pairs and members must be positive")
    a: list[float] = []
    b: list[float] = []
    for _ in range(pairs):
        gone = big_set(connection, members, name=f"{name}-del")
        unlinked = big_set(connection, members, name=f"{name}-unlink")
        for command, k, out in (("del", gone, a), ("unlink", unlinked, b)):
            before = command_usec(connection, command)
            connection.execute_command(command.upper(), k)
            out.append(max(float(command_usec(connection, command) - before), 1.0))
    return a, b
