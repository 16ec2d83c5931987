"""The LFU counter: an 8-bit logarithmic (Morris) counter, read with ``OBJECT FREQ``.

``redis.conf`` (section *LRU/LFU*) prints a table made with ``redis-benchmark -n 1000000
incr foo`` and ``OBJECT FREQ``: the counter after 100 / 1K / 100K / 1M hits for
``lfu-log-factor`` 0, 1, 10 and 100. The increment happens with probability
``1 / ((counter - LFU_INIT_VAL) * lfu_log_factor + 1)`` (``LFULogIncr`` in ``src/evict.c``),
new keys start at ``LFU_INIT_VAL`` = 5, and the counter saturates at 255.

Decay (``LFUDecrAndReturn``, ``LFUTimeElapsed``, ``LFUGetTimeInMinutes`` in ``src/evict.c``):
next to its 8-bit counter every key keeps the 16-bit minute of its last access,
``(server.unixtime / 60) & 65535``. Whenever the counter is read (an access, an eviction
sample, ``OBJECT FREQ``) it is first lowered by ``elapsed_minutes / lfu-decay-time``
(integer division; never below 0); ``lfu-decay-time 0`` means never. ``OBJECT FREQ``
reports that decayed value but does not store it; an access stores it (``updateLFU`` in
``src/db.c``). Elapsed minutes count turns of the minute clock, not 60-second spans: a key
stored at 12:00:59 is one minute old at 12:01:00. :func:`lfu_decay_start` stores keys with
known counters (``RESTORE ... FREQ``), :func:`wait_minute_turn` waits for the clock to turn
and :func:`lfu_decay_readings` reads them under several ``lfu-decay-time`` values.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import pandas as pd
from packaging.version import Version

from ..errors import MemoryLabError, MinuteClockTimeout
from ..kit import server_engine, server_version, wait_until
from ..kit.lua import script
from ..kit.measure import progress
from ..types import PlainConnection
from ._common import config_scope, mkey

__all__ = [
    "LFU_INIT_VAL",
    "LFU_TABLE",
    "LFU_TABLE_HITS",
    "DecayProbe",
    "lfu_counter_table",
    "lfu_decay_readings",
    "lfu_decay_start",
    "lfu_new_key",
    "read_stores_decay",
    "server_minute",
    "wait_minute_turn",
]

LFU_INIT_VAL = 5
"""The counter of a new key (``LFU_INIT_VAL`` in ``src/server.h``; redis.conf's "NOTE 2")."""

LFU_TABLE_HITS = (100, 1_000, 100_000, 1_000_000)
"""The hit counts of redis.conf's table (its 10M column is left out: it is 255 everywhere)."""

LFU_TABLE: dict[int, tuple[int, ...]] = {
    0: (104, 255, 255, 255),
    1: (18, 49, 255, 255),
    10: (10, 18, 142, 255),
    100: (8, 11, 49, 143),
}
"""redis.conf's documented counter values: ``lfu-log-factor`` -> value after each of
:data:`LFU_TABLE_HITS` hits."""

# KEYS: the counter keys; ARGV[1]: how many INCRs to run against each.
# Each INCR is an access that may bump the key's LFU counter, as redis-benchmark's were.
INCR_MANY_LUA = """
local n = tonumber(ARGV[1])
for i = 1, n do
    for k = 1, #KEYS do
        redis.call('INCR', KEYS[k])
    end
end
return n
"""


def lfu_counter_table(
    connection: PlainConnection,
    *,
    factors: tuple[int, ...] = (0, 1, 10, 100),
    hits: tuple[int, ...] = LFU_TABLE_HITS,
    keys: int = 5,
    chunk: int = 100_000,
    show_progress: bool = True,
) -> pd.DataFrame:
    """``OBJECT FREQ`` after each number of ``hits`` for each ``lfu-log-factor``.

    Each cell is the median of ``keys`` counters hit alike: the counter is a random
    process (``rand()`` in ``LFULogIncr``), and one key's value after 100 hits under factor
    1 read 17 to 27 across runs here (redis.conf's table is one run of one key).
    ``table.attrs["readings"]`` holds every key's value, ``{factor: {hits: [...]}}``.

    Runs under ``maxmemory-policy allkeys-lfu`` with ``lfu-decay-time 0`` (no decay, as
    in a benchmark that runs in seconds) and a ``maxmemory`` 1 GB above what is used:
    with ``maxmemory 0`` INCR results below 10000 are the server's *shared* integer
    objects (``OBJ_SHARED_INTEGERS``, ``src/object.c``), whose one LFU counter every such
    key would share. All three are set back afterwards. One row per
    factor, one column per hit count.
    """
    if keys < 1:
        raise MemoryLabError(f"keys must be at least 1, not {keys}")
    incr = script(connection, INCR_MANY_LUA)
    room = int(connection.info("memory")["used_memory"]) + 2**30
    settings = {"maxmemory-policy": "allkeys-lfu", "lfu-decay-time": 0, "maxmemory": room}
    rows: dict[int, dict[int, int]] = {}
    readings: dict[int, dict[int, list[int]]] = {}
    with config_scope(connection, {**settings, "lfu-log-factor": 10}):
        for factor in progress(factors, desc="lfu-log-factor", enabled=show_progress):
            connection.config_set("lfu-log-factor", factor)
            names = [mkey("lfu", factor, k) for k in range(keys)]
            connection.delete(*names)
            done = 0
            rows[factor], readings[factor] = {}, {}
            for target in sorted(hits):
                while done < target:
                    step = min(chunk // keys or 1, target - done)
                    incr(keys=names, args=[step])
                    done += step
                values = [int(connection.object("freq", n)) for n in names]
                readings[factor][target] = values
                rows[factor][target] = int(statistics.median_low(values))
            connection.delete(*names)
    table = pd.DataFrame(rows).T
    table.attrs["readings"] = readings
    table.index.name = "lfu-log-factor"
    table.columns.name = "hits"
    return table


# Stay this many seconds away from a minute boundary when storing or reading: the server's
# cached ``unixtime`` (refreshed by its cron, 10 times a second at the default ``hz``) may
# lag the TIME command by a fraction of a second.
_EDGE_S = 1.0


def server_minute(connection: PlainConnection) -> tuple[int, float]:
    """The server's minute clock (``unixtime // 60``) and the seconds into that minute (TIME)."""
    seconds, micros = connection.time()
    now = seconds + micros / 1e6
    return int(seconds // 60), now - (seconds // 60) * 60


def _away_from_edge(connection: PlainConnection) -> bool:
    _, into = server_minute(connection)
    return _EDGE_S <= into <= 60 - _EDGE_S


def _wait_off_edge(connection: PlainConnection, timeout: float) -> None:
    wait_until(
        lambda: _away_from_edge(connection),
        timeout=timeout,
        interval=0.05,
        what="a server time away from a minute boundary",
        error=MinuteClockTimeout,
    )


def _require_lfu(connection: PlainConnection) -> None:
    policy = connection.config_get("maxmemory-policy")["maxmemory-policy"]
    if "lfu" not in policy:
        raise MemoryLabError(
            f"maxmemory-policy is {policy}: OBJECT FREQ and RESTORE FREQ need an LFU policy"
        )


@dataclass
class DecayProbe:
    """Keys stored with known LFU counters, and the server minute they were stored in.

    ``keys[(group, counter)]`` is the key stored with ``counter``; one group per
    ``lfu-decay-time`` to read under (``"decay_0"``, ``"decay_1"``, ...) and ``"access"``,
    the keys that get a real access. Each group is read first under its own setting:
    on Valkey 9.1 a read stores the decay (see :func:`lfu_decay_readings`).
    """

    keys: dict[tuple[str, int], str]
    minute: int
    decay_times: tuple[int, ...]
    counters: tuple[int, ...]
    stored_at_s: float = field(default=0.0)


def lfu_decay_start(
    connection: PlainConnection,
    *,
    counters: tuple[int, ...] = (0, 5, 100, 255),
    decay_times: tuple[int, ...] = (0, 1000, 1),
    timeout: float = 5.0,
) -> DecayProbe:
    """Store keys with known counters (``RESTORE ... FREQ n``) and note the server minute.

    One key per counter value for each of ``decay_times`` and for the ``access`` group.
    The server must run an LFU ``maxmemory-policy`` (without one ``RESTORE`` ignores
    ``FREQ``). Nothing may touch the keys until :func:`lfu_decay_readings`, and the policy
    must stay LFU (an access under an LRU policy overwrites the field): give them a
    server of their own. They are written at least a second away from a minute boundary,
    so the stored minute is the one the server's clock showed.
    """
    _require_lfu(connection)
    probe_key = mkey("lfu-decay-probe")
    connection.set(probe_key, b"x")
    payload = connection.dump(probe_key)
    connection.delete(probe_key)
    groups = [f"decay_{t}" for t in decay_times] + ["access"]
    names = {(g, n): mkey("lfu-decay", g, n) for g in groups for n in counters}
    for _ in range(3):
        _wait_off_edge(connection, timeout)
        before, _ = server_minute(connection)
        pipe = connection.pipeline(transaction=False)
        for (_, n), name in names.items():
            pipe.restore(name, 0, payload, replace=True, frequency=n)
        pipe.execute()
        after, into = server_minute(connection)
        if before == after and into <= 60 - _EDGE_S:
            return DecayProbe(keys=names, minute=before, decay_times=tuple(decay_times),
                              counters=tuple(counters), stored_at_s=into)  # fmt: skip
    raise MinuteClockTimeout("could not store the decay keys within one minute of the clock")


def wait_minute_turn(
    connection: PlainConnection, probe: DecayProbe, *, minutes: int = 1, timeout: float = 125.0
) -> float:
    """Wait until the server's minute clock is ``minutes`` past the probe's; the seconds waited.

    Returns at once when the clock has already turned (a notebook that ran a minute since
    :func:`lfu_decay_start` waits for nothing); also waits to be a second away from the
    next boundary, so the readings all fall in one minute.
    """

    def turned() -> bool:
        minute, into = server_minute(connection)
        return minute >= probe.minute + minutes and _EDGE_S <= into <= 60 - _EDGE_S

    return wait_until(turned, timeout=timeout, interval=0.1,
                      what=f"the server minute clock {minutes} past {probe.minute}",
                      error=MinuteClockTimeout)  # fmt: skip


def lfu_decay_readings(connection: PlainConnection, probe: DecayProbe) -> tuple[pd.DataFrame, int]:
    """Read the probe's keys; a table (one row per stored counter) and the minutes elapsed.

    Columns, in the order they are read:

    - ``decay_<t>`` for each of the probe's decay times: ``OBJECT FREQ`` of that group's
      keys under ``lfu-decay-time t`` (their first read);
    - ``reread_decay_0``: the keys of the last group read again under ``lfu-decay-time 0``,
      which shows whether the first read stored anything (Redis: no, ``OBJECT FREQ``
      calls ``LFUDecrAndReturn`` and stores nothing; Valkey 9.1: yes, its
      ``lfu_getFrequency`` returns the decayed value re-dated to now, and the caller
      keeps it);
    - ``after_get``: the ``access`` group, one ``GET`` each under ``lfu-decay-time 1``,
      then ``OBJECT FREQ`` under 0: what an access stores.

    The minutes elapsed are the turns of the server's minute clock (``TIME // 60``) since
    :func:`lfu_decay_start`. ``lfu-decay-time`` is set back. Raises
    :class:`~redislab.errors.MinuteClockTimeout` if the readings straddle a minute.
    """
    _require_lfu(connection)
    _wait_off_edge(connection, 5.0)
    start_minute, _ = server_minute(connection)
    table = pd.DataFrame(index=pd.Index(probe.counters, name="stored"))

    def read(group: str) -> list[int]:
        return [int(connection.object("freq", probe.keys[(group, n)])) for n in probe.counters]

    with config_scope(connection, {"lfu-decay-time": probe.decay_times[0]}):
        for t in probe.decay_times:
            connection.config_set("lfu-decay-time", t)
            table[f"decay_{t}"] = read(f"decay_{t}")
        connection.config_set("lfu-decay-time", 0)
        table["reread_decay_0"] = read(f"decay_{probe.decay_times[-1]}")
        connection.config_set("lfu-decay-time", 1)
        for n in probe.counters:
            connection.get(probe.keys[("access", n)])
        connection.config_set("lfu-decay-time", 0)
        table["after_get"] = read("access")
    end_minute, into = server_minute(connection)
    if end_minute != start_minute or into > 60 - _EDGE_S / 2:
        raise MinuteClockTimeout("the decay readings straddled a minute boundary; read again")
    return table, end_minute - probe.minute


def read_stores_decay(connection: PlainConnection) -> bool:
    """Whether reading the counter (``OBJECT FREQ``, an eviction sample) stores its decay.

    Redis: no (``LFUDecrAndReturn`` in ``src/evict.c`` only computes it). Valkey 9.1
    moved LFU into ``src/lrulfu.c`` (valkey-io/valkey PR #2857), whose ``lfu_getFrequency``
    returns the decayed counter re-dated to the current minute, kept by the caller.
    """
    return server_engine(connection) == "valkey" and server_version(connection) >= Version("9.1")


def lfu_new_key(connection: PlainConnection, *, gets: int = 2) -> list[int]:
    """``OBJECT FREQ`` of a new key right after SET, then after each of ``gets`` GETs.

    Under an LFU policy and ``lfu-decay-time 0`` (set for the call, then set back). The
    first access always counts (``LFULogIncr``: probability ``1 / (0 * factor + 1)`` while
    the counter is at most ``LFU_INIT_VAL``); later ones only with ``1/((c - 5) * factor + 1)``.
    """
    _require_lfu(connection)
    name = mkey("lfu-new")
    with config_scope(connection, {"lfu-decay-time": 0}):
        connection.delete(name)
        connection.set(name, b"x")
        seen = [int(connection.object("freq", name))]
        for _ in range(gets):
            connection.get(name)
            seen.append(int(connection.object("freq", name)))
        connection.delete(name)
    return seen
