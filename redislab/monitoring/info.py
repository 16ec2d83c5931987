"""``INFO`` and ``CLIENT LIST`` as tidy DataFrames, for a lab node or any server.

Every function takes a redis-py client (``connection``) to **one** server; for a
cluster, call it per node (``cluster.get_nodes()`` ... ``node.redis_connection``).

- :func:`info_frame`: one or more ``INFO`` sections as a ``section / field / value`` table;
- :func:`commandstats`: ``INFO commandstats`` (calls, usec, usec_per_call, rejected/failed);
- :func:`latencystats`: ``INFO latencystats`` (p50/p99/p99.9 per command, Redis >= 7.0);
- :func:`keyspace`: ``INFO keyspace`` (keys, expires, avg_ttl per database);
- :func:`clients`: ``CLIENT LIST`` (age, idle, buffers, per-client memory);
- :func:`replication_lag`: what a primary knows of each replica (offset lag, seconds lag).

A server without a section (an old Redis without ``latencystats``, a restricted
``INFO``) gives an empty frame with the right columns, never an exception; the frame's
``attrs["note"]`` says why it is empty.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..types import PlainConnection

__all__ = [
    "clients",
    "commandstats",
    "info_frame",
    "keyspace",
    "latencystats",
    "replication_lag",
]

_COMMANDSTATS_COLUMNS = ["calls", "usec", "usec_per_call", "rejected_calls", "failed_calls"]
_LATENCY_COLUMNS = ["p50", "p99", "p99.9"]
_KEYSPACE_COLUMNS = ["keys", "expires", "avg_ttl"]
_CLIENT_NUMERIC = [
    "id", "fd", "age", "idle", "db", "sub", "psub", "ssub", "multi", "qbuf", "qbuf-free",
    "argv-mem", "multi-mem", "rbs", "rbp", "obl", "oll", "omem", "tot-mem", "redir", "resp",
]  # fmt: skip


def _section(connection: PlainConnection, name: str) -> dict[str, Any]:
    """One INFO section as redis-py parses it; ``{}`` if the server refuses or lacks it."""
    try:
        return dict(connection.info(name))
    except Exception:
        return {}


def _empty(columns: list[str], index: str, note: str) -> pd.DataFrame:
    frame = pd.DataFrame(columns=columns)
    frame.index.name = index
    frame.attrs["note"] = note
    return frame


def info_frame(connection: PlainConnection, *sections: str) -> pd.DataFrame:
    """``INFO <section>...`` as a long table with columns ``section``, ``field``, ``value``.

    Without ``sections`` it reads the default ``INFO``. Nested fields (``slave0``,
    ``db0``) are flattened to ``slave0.offset``, ``db0.keys``.
    """
    rows: list[dict[str, Any]] = []
    for name in sections or ("default",):
        for field, value in _section(connection, name).items():
            if isinstance(value, dict):
                for sub, v in value.items():
                    rows.append({"section": name, "field": f"{field}.{sub}", "value": v})
            else:
                rows.append({"section": name, "field": field, "value": value})
    return pd.DataFrame(rows, columns=["section", "field", "value"])


def commandstats(connection: PlainConnection) -> pd.DataFrame:
    """``INFO commandstats``: one row per command (``get``, ``config|set``), busiest first.

    Columns: ``calls``, ``usec`` (total time in the command), ``usec_per_call``,
    ``rejected_calls`` and ``failed_calls`` (Redis >= 7.0; NaN where the server lacks them).
    """
    raw = _section(connection, "commandstats")
    if not raw:
        return _empty(_COMMANDSTATS_COLUMNS, "command", "the server gave no INFO commandstats")
    rows = {name.removeprefix("cmdstat_"): stats for name, stats in raw.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=_COMMANDSTATS_COLUMNS)
    frame.index.name = "command"
    return frame.astype(float).sort_values("calls", ascending=False)


def latencystats(connection: PlainConnection) -> pd.DataFrame:
    """``INFO latencystats``: per-command latency percentiles in microseconds.

    The section exists since Redis 7.0 (``latency-tracking yes`` by default); elsewhere
    the frame is empty and ``attrs["note"]`` says so.
    """
    raw = _section(connection, "latencystats")
    if not raw:
        return _empty(_LATENCY_COLUMNS, "command", "the server has no INFO latencystats")
    rows = {name.removeprefix("latency_percentiles_usec_"): v for name, v in raw.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index").astype(float)
    frame.index.name = "command"
    return frame.sort_values(frame.columns[-1], ascending=False)


def keyspace(connection: PlainConnection) -> pd.DataFrame:
    """``INFO keyspace``: ``keys``, ``expires``, ``avg_ttl`` (ms) per database (``db0``...)."""
    raw = _section(connection, "keyspace")
    if not raw:
        return _empty(_KEYSPACE_COLUMNS, "db", "no database holds keys")
    frame = pd.DataFrame.from_dict(raw, orient="index").reindex(columns=_KEYSPACE_COLUMNS)
    frame.index.name = "db"
    return frame.fillna(0).astype(int)


def clients(connection: PlainConnection) -> pd.DataFrame:
    """``CLIENT LIST`` as a DataFrame indexed by client ``id``.

    Numeric fields become numbers: ``age``/``idle`` (s), ``qbuf`` (query buffer bytes),
    ``omem`` (output buffer bytes), ``tot-mem`` (all memory the client uses), ``oll``
    (output list length). ``flags`` holds e.g. ``b`` (blocked), ``S`` (replica), ``M``
    (primary), ``N`` (none).
    """
    try:
        listing = connection.client_list()
    except Exception as exc:  # ACL without CLIENT LIST
        return _empty(["addr", "name", "age", "idle", "flags", "cmd"], "id", str(exc))
    frame = pd.DataFrame(listing)
    for col in _CLIENT_NUMERIC:
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame.set_index("id").sort_index()


def replication_lag(connection: PlainConnection) -> pd.DataFrame:
    """What a primary knows of each replica: one row per ``slaveN`` of ``INFO replication``.

    ``offset_lag_bytes`` is ``master_repl_offset`` minus the replica's acknowledged
    offset; ``lag_seconds`` is the time since the replica's last ``REPLCONF ACK``
    (replicas acknowledge once a second). On a replica or a primary without replicas
    the frame is empty.
    """
    raw = _section(connection, "replication")
    columns = ["ip", "port", "state", "offset", "lag_seconds", "offset_lag_bytes"]
    rows = []
    for field, value in raw.items():
        if field.startswith("slave") and isinstance(value, dict):
            rows.append(
                {
                    "replica": field,
                    "ip": value.get("ip"),
                    "port": value.get("port"),
                    "state": value.get("state"),
                    "offset": value.get("offset"),
                    "lag_seconds": value.get("lag"),
                    "offset_lag_bytes": raw.get("master_repl_offset", 0)
                    - int(value.get("offset", 0)),
                }
            )
    if not rows:
        return _empty(columns, "replica", f"role {raw.get('role', '?')}: no replicas")
    return pd.DataFrame(rows).set_index("replica")
