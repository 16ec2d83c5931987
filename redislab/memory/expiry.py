"""Expiry: lazy (on access) and active (sampling in ``serverCron``), seen through INFO.

A key with a TTL is removed either when a client touches it after its time (lazy) or by
the active cycle that samples keys with a TTL and deletes the expired ones, repeating
while more than 10% of a sample was stale (``ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE 10``,
lowered by ``active-expire-effort`` - 1, in ``activeExpireCycle``, ``src/expire.c``, Redis 6
and later; https://redis.io/docs/latest/commands/expire/, *How Redis expires keys*, gives
no percentage). INFO ``stats``
counts ``expired_keys`` and estimates ``expired_stale_perc``.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ..errors import MemoryLabError
from ..kit.lua import script
from ..types import PlainConnection
from ._common import flush_sync, mkey

__all__ = ["lazy_expiry", "mass_expiry", "set_active_expire", "ttl_lateness"]


def set_active_expire(connection: PlainConnection, enabled: bool) -> None:
    """``DEBUG SET-ACTIVE-EXPIRE 0|1`` (needs ``enable-debug-command``, which the lab sets)."""
    connection.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 1 if enabled else 0)


# KEYS: none; ARGV[1]: key prefix, ARGV[2]: number of keys, ARGV[3]: TTL in ms.
# Gives keys <prefix>0 .. <prefix>N-1 the same TTL in one atomic step.
PEXPIRE_ALL_LUA = """
local n = tonumber(ARGV[2])
for i = 0, n - 1 do
    redis.call('PEXPIRE', ARGV[1] .. i, ARGV[3])
end
return n
"""


def _fill_with_ttl(connection: PlainConnection, n_keys: int, ttl_ms: int, name: str) -> None:
    pipe = connection.pipeline(transaction=False)
    for i in range(n_keys):
        pipe.set(mkey(name, i), b"e" * 32, px=ttl_ms)
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()


def mass_expiry(
    connection: PlainConnection,
    *,
    n_keys: int = 50_000,
    ttl_ms: int = 500,
    duration: float = 3.0,
    interval: float = 0.05,
    active: bool = True,
    settle: float = 0.0,
) -> pd.DataFrame:
    """Keys that all get one TTL at once (a Lua loop), sampled while nobody reads them.

    Sampling lasts ``duration`` seconds, then goes on for up to ``settle`` more seconds
    while keys are left (a loaded machine gives the server's expiry cycle less CPU; the
    bound keeps the wait finite).

    Columns: ``t`` (s since the keys were written), ``keys`` (``DBSIZE``: expired keys
    not yet reclaimed still count), ``expired_keys`` (INFO, since the start),
    ``expired_stale_perc`` and ``still_in_memory`` (share of the keys not yet reclaimed
    once their TTL has passed; NaN before).
    """
    flush_sync(connection)
    set_active_expire(connection, active)
    try:
        pipe = connection.pipeline(transaction=False)
        for i in range(n_keys):
            pipe.set(mkey("mass", i), b"e" * 32)
            if i % 2000 == 1999:
                pipe.execute()
        pipe.execute()
        start_expired = int(connection.info("stats")["expired_keys"])
        t0 = time.perf_counter()
        script(connection, PEXPIRE_ALL_LUA)(args=[mkey("mass", ""), n_keys, ttl_ms])
        written = 0.0
        rows = []
        size = n_keys
        while (now := time.perf_counter() - t0) < duration + written or (
            size > 0 and now < duration + written + settle
        ):
            stats = connection.info("stats")
            size = int(connection.dbsize())
            past = now > written + ttl_ms / 1000
            rows.append(
                {
                    "t": now,
                    "keys": size,
                    "expired_keys": int(stats["expired_keys"]) - start_expired,
                    "expired_stale_perc": float(stats.get("expired_stale_perc", np.nan)),
                    "still_in_memory": size / n_keys if past else np.nan,
                }
            )
            time.sleep(interval)
    finally:
        set_active_expire(connection, True)
    frame = pd.DataFrame(rows)
    frame.attrs.update(n_keys=n_keys, ttl_ms=ttl_ms, write_s=written, active=active)
    return frame


def lazy_expiry(
    connection: PlainConnection, *, n_keys: int = 1000, touch: int = 100
) -> dict[str, int]:
    """With the active cycle off, expired keys stay until read; reading ``touch`` of them
    removes exactly those. Returns the counts before and after."""
    if touch > n_keys:
        raise MemoryLabError("touch must not exceed n_keys")
    flush_sync(connection)
    set_active_expire(connection, False)
    try:
        _fill_with_ttl(connection, n_keys, 100, "lazy")
        time.sleep(0.3)
        before = int(connection.info("stats")["expired_keys"])
        size_after_ttl = int(connection.dbsize())
        pipe = connection.pipeline(transaction=False)
        for i in range(touch):
            pipe.get(mkey("lazy", i))
        values = pipe.execute()
        after = int(connection.info("stats")["expired_keys"])
        size_after_reads = int(connection.dbsize())
    finally:
        set_active_expire(connection, True)
    flush_sync(connection)
    return {
        "keys": n_keys,
        "dbsize_after_ttl": size_after_ttl,
        "reads": touch,
        "reads_answering_nil": sum(v is None for v in values),
        "expired_keys_by_reads": after - before,
        "dbsize_after_reads": size_after_reads,
    }


def ttl_lateness(
    connection: PlainConnection, *, ttl_ms: int = 100, trials: int = 20
) -> pd.DataFrame:
    """When does a key with ``PX ttl_ms`` stop answering? One row per trial.

    ``pttl_at_set`` is ``PTTL`` right after the SET; ``last_seen_ms`` / ``first_gone_ms``
    are the client's times (since the SET was sent) of the last GET that found the key
    and the first that did not, polling as fast as a round trip allows.
    """
    rows = []
    name = mkey("precision")
    for _ in range(trials):
        t0 = time.perf_counter()
        connection.set(name, b"p", px=ttl_ms)
        pttl = int(connection.pttl(name))
        last_seen = 0.0
        while True:
            got = connection.get(name)
            now = (time.perf_counter() - t0) * 1e3
            if got is None:
                rows.append({"pttl_at_set": pttl, "last_seen_ms": last_seen, "first_gone_ms": now})
                break
            last_seen = now
            if now < ttl_ms - 5:
                time.sleep(0.001)
    return pd.DataFrame(rows)
