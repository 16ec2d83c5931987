"""Keyspace notifications: when does the ``expired`` event fire?

Redis deletes an expired key either when a command touches it (lazy expiry) or when
its active expiry cycle samples it, and sends the ``expired`` event *then*, not at the
instant the TTL reaches zero
(https://redis.io/docs/latest/develop/use/keyspace-notifications/#timing-of-expired-events).
:func:`expired_event_delays` measures the gap between each key's TTL instant and its
event, with active expiry on, or off (``DEBUG SET-ACTIVE-EXPIRE 0``) so that only an
access makes the event fire.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from ..keys import MESSAGING, key
from ..types import PlainConnection
from .pubsub import Subscriber

__all__ = ["delays_frame", "expired_event_delays", "keyspace_events", "notifications_default"]


def notifications_default(connection: PlainConnection) -> str:
    """The server's ``notify-keyspace-events`` as it runs (``""``: no events)."""
    return str(connection.config_get("notify-keyspace-events")["notify-keyspace-events"])


@contextmanager
def keyspace_events(connection: PlainConnection, flags: str = "Ex") -> Iterator[None]:
    """Set ``notify-keyspace-events`` to ``flags`` for the block; restore it after."""
    previous = notifications_default(connection)
    connection.config_set("notify-keyspace-events", flags)
    try:
        yield
    finally:
        connection.config_set("notify-keyspace-events", previous)


@contextmanager
def _active_expire(connection: PlainConnection, enabled: bool) -> Iterator[None]:
    connection.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", int(enabled))
    try:
        yield
    finally:
        connection.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 1)


def expired_event_delays(
    connection: PlainConnection,
    *,
    keys: int = 200,
    ttl_ms: int = 200,
    active_expiry: bool = True,
    touch_after_ms: int = 600,
    flags: str | None = "Ex",
    timeout: float = 5.0,
) -> dict[str, Any]:
    """Set ``keys`` keys with ``PX ttl_ms``; time each ``expired`` event against its TTL.

    Subscribes to ``__keyevent@<db>__:expired``. After ``touch_after_ms`` every key still
    without an event is read with ``EXISTS`` (a lazy-expiry access), so with active expiry
    off the events that follow are the ones the access caused. ``flags=None`` leaves
    ``notify-keyspace-events`` as the server has it (to show that the default sends
    nothing). Returns ``{"events_before_touch", "events_after_touch", "delays_ms"
    (event time minus TTL instant, per key), "early" (events before their TTL)}``.
    """
    db = int(connection.connection_pool.connection_kwargs.get("db", 0))
    names = [key(MESSAGING, "expiry", i) for i in range(keys)]
    channel = f"__keyevent@{db}__:expired"

    @contextmanager
    def maybe_events() -> Iterator[None]:
        if flags is None:
            yield
        else:
            with keyspace_events(connection, flags):
                yield

    with maybe_events(), _active_expire(connection, active_expiry):
        sub = Subscriber(connection, channels=[channel], name="expired").start()
        try:
            pipe = connection.pipeline(transaction=False)
            for n in names:
                pipe.set(n, "1", px=ttl_ms)
            t_set = time.perf_counter()
            pipe.execute()
            due = t_set + ttl_ms / 1000
            time.sleep(max(0.0, t_set + touch_after_ms / 1000 - time.perf_counter()))
            before = len(sub.messages)
            t_touch = time.perf_counter()
            pipe = connection.pipeline(transaction=False)
            for n in names:
                pipe.exists(n)
            still_there = sum(pipe.execute())
            deadline = time.monotonic() + timeout
            while len(sub.messages) < keys and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.05)
        finally:
            sub.stop()
    delays = np.array([(m.at - due) * 1000 for m in sub.messages])
    return {
        "keys": keys,
        "ttl_ms": ttl_ms,
        "active_expiry": active_expiry,
        "events_before_touch": before,
        "events_after_touch": len(sub.messages) - before,
        "exists_after_ttl": still_there,
        "touch_at_ms_after_ttl": (t_touch - due) * 1000,
        "delays_ms": delays,
        "early": int((delays < 0).sum()),
    }


def delays_frame(*runs: dict[str, Any]) -> pd.DataFrame:
    """One row per run of :func:`expired_event_delays`: counts and delay percentiles."""
    rows = []
    for r in runs:
        d = r["delays_ms"]
        rows.append({
            "active expiry": "on" if r["active_expiry"] else "off (DEBUG SET-ACTIVE-EXPIRE 0)",
            "events before access": r["events_before_touch"],
            "events after access": r["events_after_touch"],
            "delay p50 ms": float(np.percentile(d, 50)) if len(d) else float("nan"),
            "delay max ms": float(d.max()) if len(d) else float("nan"),
            "early events": r["early"],
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("active expiry")
