"""The stale-set race of cache-aside, forced to happen, and its fix.

The race (two clients, one key, the cache empty):

1. Reader: cache miss, reads the row from the database (version 1).
2. Writer: updates the row (version 2), deletes the cache key.
3. Reader: stores what it read, version 1, in the cache.

Now the cache serves version 1 until its TTL ends, although the database has
version 2. In production the window between 1 and 3 is short and the race is rare;
here two :class:`threading.Event` objects hold the reader between its database read
and its cache write until the writer has finished, so it happens on every trial.

The fix is versioned entries (:class:`~redislab.cache.CacheAside` with ``version=``):
the writer leaves a tombstone carrying version 2 instead of deleting, and the
reader's store goes through a Lua script that refuses anything older than what is
cached. The same forced interleaving then leaves nothing stale.
"""

from __future__ import annotations

import threading
from typing import Any

import pandas as pd

from ..errors import WaitTimeout
from ..kit.workload import Database, make_row
from ..types import Connection
from .aside import CacheAside

__all__ = ["race_trials", "stale_set_race"]


def stale_set_race(
    connection: Connection,
    db: Database,
    *,
    item_id: int,
    versioned: bool,
    name: str = "race",
    timeout: float = 5.0,
) -> dict[str, Any]:
    """Run one forced interleaving of the stale-set race; report what the cache serves after.

    Returns the version the reader loaded, the database's version, the version a
    later read gets from the cache, and ``stale`` (cache older than the database).
    """
    cache = CacheAside(
        connection,
        db.get,
        name=name,
        ttl=60,
        jitter=0.0,
        version=(lambda row: row["version"]) if versioned else None,
    )
    rkey = cache.key(item_id)
    connection.delete(rkey)
    read_done = threading.Event()
    write_done = threading.Event()
    got: dict[str, Any] = {}

    def slow_loader(ident: int) -> dict[str, Any] | None:
        row = db.get(ident)  # step 1: the reader has the old row...
        read_done.set()
        write_done.wait(timeout)  # ...and is descheduled until the writer is done
        return row

    def reader() -> None:
        got["row"] = cache.fetch(rkey, slow_loader, (item_id,), {})

    t = threading.Thread(target=reader, name="race-reader", daemon=True)
    t.start()
    if not read_done.wait(timeout):
        raise WaitTimeout("the reader never reached the database")
    # step 2: the writer updates the database, then invalidates the cache
    current = db.get(item_id)
    new = make_row(item_id, (current["version"] if current else 0) + 1)
    db.put(new)
    cache.invalidate(item_id, version=new["version"])
    write_done.set()
    t.join(timeout)  # step 3: the reader stores what it read
    later = cache.get(item_id)  # what every reader sees from now on
    db_row = db.get(item_id)
    assert later is not None and db_row is not None and got["row"] is not None
    return {
        "fix": "versioned entries" if versioned else "none (DEL)",
        "reader_loaded": got["row"]["version"],
        "database": db_row["version"],
        "cache_serves": later["version"],
        "stale": later["version"] < db_row["version"],
        "stale_set_refused": cache.stats.sets_refused,
    }


def race_trials(
    connection: Connection, db: Database, *, item_id: int, versioned: bool, trials: int = 10
) -> pd.DataFrame:
    """:func:`stale_set_race` ``trials`` times; one row per trial."""
    return pd.DataFrame(
        [
            stale_set_race(connection, db, item_id=item_id, versioned=versioned)
            for _ in range(trials)
        ]
    )
