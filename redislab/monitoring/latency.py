"""The latency monitor: ``LATENCY LATEST``, ``LATENCY HISTORY``, ``LATENCY DOCTOR``.

"The LATENCY monitor is a Redis feature that samples latency spikes ... Events that
take longer than the configured latency-monitor-threshold are logged" (https://redis.io/docs/latest/operate/oss_and_stack/management/optimization/latency-monitor/).
The threshold is ``latency-monitor-threshold`` in milliseconds; its default 0 turns
the monitor **off**. Events have names such as ``command`` (a slow command) and
``fast-command`` (O(1) and O(log N) commands), ``expire-cycle``, ``fork``, ``aof-*``.
"""

from __future__ import annotations

import pandas as pd

from ..replies import text
from ..types import PlainConnection

__all__ = ["latency_doctor", "latency_history", "latency_latest", "latency_threshold"]


def latency_threshold(connection: PlainConnection) -> int:
    """``latency-monitor-threshold`` (ms) of the live server; 0 means the monitor is off."""
    return int(connection.config_get("latency-monitor-threshold")["latency-monitor-threshold"])


def latency_latest(connection: PlainConnection) -> pd.DataFrame:
    """``LATENCY LATEST``: per event, when it last spiked, that spike and the worst (ms)."""
    reply = connection.execute_command("LATENCY", "LATEST")
    rows = []
    for entry in reply or []:
        event, when, latest, worst = entry[:4]
        rows.append(
            {
                "event": text(event),
                "time": pd.Timestamp(int(when), unit="s", tz="UTC"),
                "latest_ms": int(latest),
                "max_ms": int(worst),
            }
        )
    frame = pd.DataFrame(rows, columns=["event", "time", "latest_ms", "max_ms"])
    return frame.set_index("event")


def latency_history(connection: PlainConnection, event: str = "command") -> pd.DataFrame:
    """``LATENCY HISTORY <event>``: the spikes of one event (up to 160), oldest first."""
    reply = connection.execute_command("LATENCY", "HISTORY", event)
    rows = [
        {"time": pd.Timestamp(int(when), unit="s", tz="UTC"), "latency_ms": int(ms)}
        for when, ms in reply or []
    ]
    return pd.DataFrame(rows, columns=["time", "latency_ms"])


def latency_doctor(connection: PlainConnection) -> str:
    """``LATENCY DOCTOR``: the server's own human-readable analysis of its spikes."""
    return text(connection.execute_command("LATENCY", "DOCTOR"))
