"""The audit trail: ``ACL LOG`` as a table of who tried what, when, and why it was refused.

The server groups identical entries (same user, reason, context and object, close in
time) into one with a ``count``, and keeps ``acllog-max-len`` entries (128 by
default), so a count of attempts is the sum of ``count``, not the number of rows.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from ..types import PlainConnection

__all__ = ["acl_log", "attempts", "reset_acl_log"]

COLUMNS = ["when", "username", "reason", "context", "object", "count", "client_addr"]


def _field(entry: Any, name: str) -> Any:
    if isinstance(entry, dict):
        return entry.get(name)
    items = list(entry)
    pairs = dict(zip(items[::2], items[1::2], strict=False))
    return pairs.get(name)


def acl_log(connection: PlainConnection, count: int = 1000) -> pd.DataFrame:
    """``ACL LOG`` as a DataFrame (newest first): when, username, reason, context, object, count.

    ``when`` is a UTC timestamp: ``timestamp-last-updated`` where the server gives it
    (7.2+), else now minus ``age-seconds``. ``reason`` is ``command``, ``key``,
    ``channel`` or ``auth``. ``count``: how many entries to ask for (``ACL LOG``
    alone returns only the newest 10).
    """
    args = ["ACL", "LOG", str(count)]
    now = time.time()
    rows = []
    for entry in connection.execute_command(*args) or []:
        stamp = _field(entry, "timestamp-last-updated")
        when = (
            float(stamp) / 1000 if stamp is not None else now - float(_field(entry, "age-seconds"))
        )
        info = _field(entry, "client-info")
        if isinstance(info, dict):
            addr = info.get("addr")
        else:
            text = info.decode() if isinstance(info, bytes) else str(info or "")
            addr = next((p[5:] for p in text.split() if p.startswith("addr=")), None)
        rows.append(
            [
                pd.Timestamp(when, unit="s", tz="UTC"),
                _field(entry, "username"),
                _field(entry, "reason"),
                _field(entry, "context"),
                _field(entry, "object"),
                int(_field(entry, "count")),
                addr,
            ]
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def attempts(log: pd.DataFrame, reason: str | None = None) -> int:
    """How many refused attempts a log frame holds (the sum of ``count``), for one reason."""
    rows = log if reason is None else log[log["reason"] == reason]
    return int(rows["count"].sum())


def reset_acl_log(connection: PlainConnection) -> None:
    """``ACL LOG RESET``: start the trail afresh."""
    connection.execute_command("ACL", "LOG", "RESET")
