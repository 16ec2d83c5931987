"""The LFU counter: an 8-bit logarithmic (Morris) counter, read with ``OBJECT FREQ``.

``redis.conf`` (section *LRU/LFU*) prints a table made with ``redis-benchmark -n 1000000
incr foo`` and ``OBJECT FREQ``: the counter after 100 / 1K / 100K / 1M hits for
``lfu-log-factor`` 0, 1, 10 and 100. The increment happens with probability
``1 / ((counter - LFU_INIT_VAL) * lfu_log_factor + 1)`` (``LFULogIncr`` in ``src/evict.c``),
new keys start at ``LFU_INIT_VAL`` = 5, and the counter saturates at 255.
"""

from __future__ import annotations

import pandas as pd

from ..kit.lua import script
from ..kit.measure import progress
from ..types import PlainConnection
from ._common import config_scope, mkey

__all__ = ["LFU_TABLE", "LFU_TABLE_HITS", "lfu_counter_table"]

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

# KEYS[1]: the counter key; ARGV[1]: how many INCRs to run against it.
# Each INCR is an access that may bump the key's LFU counter, as redis-benchmark's were.
INCR_MANY_LUA = """
local n = tonumber(ARGV[1])
for i = 1, n do
    redis.call('INCR', KEYS[1])
end
return n
"""


def lfu_counter_table(
    connection: PlainConnection,
    *,
    factors: tuple[int, ...] = (0, 1, 10, 100),
    hits: tuple[int, ...] = LFU_TABLE_HITS,
    chunk: int = 100_000,
    show_progress: bool = True,
) -> pd.DataFrame:
    """``OBJECT FREQ`` after each number of ``hits`` for each ``lfu-log-factor``.

    Runs under ``maxmemory-policy allkeys-lfu`` with ``lfu-decay-time 0`` (no decay, as
    in a benchmark that runs in seconds) and a ``maxmemory`` 1 GB above what is used:
    with ``maxmemory 0`` INCR results below 10000 are the server's *shared* integer
    objects (``OBJ_SHARED_INTEGERS``, ``src/object.c``), whose one LFU counter every such
    key would share. All three are set back afterwards. One row per
    factor, one column per hit count.
    """
    incr = script(connection, INCR_MANY_LUA)
    room = int(connection.info("memory")["used_memory"]) + 2**30
    settings = {"maxmemory-policy": "allkeys-lfu", "lfu-decay-time": 0, "maxmemory": room}
    rows: dict[int, dict[int, int]] = {}
    with config_scope(connection, {**settings, "lfu-log-factor": 10}):
        for factor in progress(factors, desc="lfu-log-factor", enabled=show_progress):
            connection.config_set("lfu-log-factor", factor)
            name = mkey("lfu", factor)
            connection.delete(name)
            done = 0
            rows[factor] = {}
            for target in sorted(hits):
                while done < target:
                    step = min(chunk, target - done)
                    incr(keys=[name], args=[step])
                    done += step
                rows[factor][target] = int(connection.object("freq", name))
            connection.delete(name)
    table = pd.DataFrame(rows).T
    table.index.name = "lfu-log-factor"
    table.columns.name = "hits"
    return table
