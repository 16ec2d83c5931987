"""``SLOWLOG``: which commands took longer than ``slowlog-log-slower-than``.

"The Redis Slow Log is a system to log queries that exceeded a specified execution
time. The execution time does not include I/O operations like talking with the
client" (https://redis.io/docs/latest/commands/slowlog/). The threshold is
``slowlog-log-slower-than`` in microseconds (default 10000; 0 logs everything, a
negative value disables the log) and the log keeps the last ``slowlog-max-len``
entries (default 128).
"""

from __future__ import annotations

import pandas as pd

from ..replies import text
from ..types import PlainConnection

__all__ = ["slowlog", "slowlog_by_command", "slowlog_settings"]

_COLUMNS = ["id", "start_time", "duration_us", "command", "name", "args", "client"]


def slowlog_settings(connection: PlainConnection) -> dict[str, int]:
    """``slowlog-log-slower-than`` (µs) and ``slowlog-max-len``, read from the live server."""
    got = connection.config_get("slowlog-*")
    return {k: int(v) for k, v in got.items()}


def slowlog(connection: PlainConnection, count: int = 128) -> pd.DataFrame:
    """The newest ``count`` SLOWLOG entries, slowest first.

    Columns: ``id``, ``start_time`` (a UTC timestamp), ``duration_us``, ``command``
    (the whole command line), ``name`` (the command name, lower case), ``args``
    (number of arguments), ``client`` (``ip:port``).
    """
    entries = connection.slowlog_get(count)
    rows = []
    for e in entries:
        command = text(e.get("command", ""))
        rows.append(
            {
                "id": int(e["id"]),
                "start_time": pd.Timestamp(int(e["start_time"]), unit="s", tz="UTC"),
                "duration_us": int(e["duration"]),
                "command": command,
                "name": command.split(" ", 1)[0].lower(),
                "args": len(command.split(" ")) - 1,
                "client": text(e.get("client_address", "")),
            }
        )
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    return frame.sort_values("duration_us", ascending=False, ignore_index=True)


def slowlog_by_command(connection: PlainConnection, count: int = 128) -> pd.DataFrame:
    """SLOWLOG entries grouped by command name: how many, total, mean and max duration (µs)."""
    log = slowlog(connection, count)
    grouped = log.groupby("name")["duration_us"].agg(["count", "sum", "mean", "max"])
    grouped.columns = ["entries", "total_us", "mean_us", "max_us"]
    return grouped.sort_values("total_us", ascending=False)
