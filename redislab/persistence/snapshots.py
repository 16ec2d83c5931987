"""RDB snapshots: save points, ``BGSAVE`` waits, the snapshot file, fork cost.

:func:`bgsave` runs a background save and waits for it (:func:`wait_for_bgsave`);
:func:`fork_cost` measures ``latest_fork_usec`` and :func:`ping_latencies_during`
shows who waits while a blocking ``SAVE`` runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import redis

from ..errors import UsageError
from ._common import (
    _persistence_info,
    _wait_persistence,
    persistence_config,
)

__all__ = [
    "PingTimeline",
    "bgsave",
    "fork_cost",
    "fork_pairs",
    "parse_save_points",
    "persistence_label",
    "ping_latencies_during",
    "ping_timeline_during",
    "save_point_due",
    "snapshot_path",
    "wait_for_bgsave",
]


def persistence_label(config: dict[str, str]) -> str:
    """The lab preset name a live configuration matches (``none``, ``rdb``, ``aof-<fsync>``,
    ``hybrid``), from :func:`persistence_config`."""
    aof = config.get("appendonly") == "yes"
    snapshots = bool(parse_save_points(config.get("save", "")))
    if not aof:
        return "rdb" if snapshots else "none"
    if config.get("aof-use-rdb-preamble") == "yes" and snapshots:
        return "hybrid"
    return f"aof-{config.get('appendfsync', 'everysec')}"


def parse_save_points(text: str) -> list[tuple[int, int]]:
    """``"3600 1 300 100"`` -> ``[(3600, 1), (300, 100)]`` (an empty string: no snapshots)."""
    parts = text.replace('"', "").split()
    if len(parts) % 2:
        raise UsageError(f"save points come in <seconds> <changes> pairs: {text!r}")
    return [(int(parts[i]), int(parts[i + 1])) for i in range(0, len(parts), 2)]


def save_point_due(points: Sequence[tuple[int, int]], elapsed: float, changes: int) -> bool:
    """True if a save point fires: *more* than ``seconds`` elapsed and at least ``changes``.

    The server checks this in ``serverCron`` (``hz`` times a second) with
    ``now - lastsave > seconds && dirty >= changes``, in whole seconds.
    """
    return any(elapsed > seconds and changes >= needed for seconds, needed in points)


# ======================================================== waiting for children
def wait_for_bgsave(
    connection: redis.Redis, *, after: int | None = None, timeout: float = 60.0
) -> dict[str, Any]:
    """Wait until no RDB child runs (and, with ``after``, until ``rdb_saves`` passed it).

    Returns ``INFO persistence``; raises :class:`PersistenceError` if the last
    background save failed or ``timeout`` passed.
    """

    def finished(info: dict[str, Any]) -> bool:
        if info.get("rdb_bgsave_in_progress"):
            return False
        return after is None or int(info.get("rdb_saves", after + 1)) > after

    return _wait_persistence(
        connection,
        finished,
        timeout=timeout,
        what="BGSAVE to finish",
        status_field="rdb_last_bgsave_status",
    )


def bgsave(connection: redis.Redis, *, timeout: float = 60.0) -> dict[str, float]:
    """Run ``BGSAVE`` and wait for the snapshot to be on disk.

    A save already running is waited for first (its snapshot may be older than now);
    during an AOF rewrite the save is scheduled (``BGSAVE SCHEDULE``).

    Returns ``{"seconds": wall time, "fork_usec": latest_fork_usec,
    "reply_seconds": how long the BGSAVE call itself took, "in_progress_after_reply":
    1.0 if INFO, asked right after the reply, showed the child still writing}``.
    """
    t0 = time.perf_counter()
    before = _persistence_info(connection)
    if before.get("rdb_bgsave_in_progress"):
        before = wait_for_bgsave(connection, timeout=timeout)
    saves = int(before.get("rdb_saves", 0))
    t_call = time.perf_counter()
    try:
        connection.bgsave()
    except redis.ResponseError as exc:
        text = str(exc).lower()
        if "in progress" in text and "aof" not in text:
            wait_for_bgsave(connection, timeout=timeout)
            saves = int(_persistence_info(connection).get("rdb_saves", 0))
            connection.bgsave()
        elif "another child" in text or "aof" in text:
            connection.execute_command("BGSAVE", "SCHEDULE")
        else:
            raise
    reply = time.perf_counter() - t_call
    running = float(bool(_persistence_info(connection).get("rdb_bgsave_in_progress")))
    wait_for_bgsave(connection, after=saves, timeout=timeout)
    fork = int(connection.info("stats").get("latest_fork_usec", 0))
    return {
        "seconds": time.perf_counter() - t0,
        "fork_usec": float(fork),
        "reply_seconds": reply,
        "in_progress_after_reply": running,
    }


# ================================================================= files on disk
def snapshot_path(connection: redis.Redis) -> Path:
    """Where the server writes its RDB snapshot (``dir`` / ``dbfilename``)."""
    cfg = persistence_config(connection)
    return Path(cfg["dir"]) / cfg["dbfilename"]


# ================================================================ write costs
@dataclass(frozen=True)
class PingTimeline:
    """PINGs sent while a call ran, on one ``time.perf_counter`` clock (seconds).

    ``sent[i]`` is when PING ``i`` was sent and ``latency[i]`` how long its reply took;
    ``started`` / ``ended`` bracket the call, taken in its own thread right before it
    was made and right after it returned.
    """

    sent: np.ndarray
    latency: np.ndarray
    started: float
    ended: float

    @property
    def seconds(self) -> float:
        """How long the call took."""
        return self.ended - self.started

    @property
    def inside(self) -> np.ndarray:
        """Latencies of the PINGs sent after the call began and answered before it returned."""
        answered = self.sent + self.latency
        mask = (self.sent >= self.started) & (answered <= self.ended)
        return self.latency[mask]


def ping_timeline_during(
    fn: Callable[[], Any], probe: redis.Redis, *, interval: float = 0.001
) -> PingTimeline:
    """Run ``fn`` in a thread and PING through ``probe`` until it returns.

    A PING that arrives while the server runs a blocking ``SAVE`` waits for it;
    :attr:`PingTimeline.inside` counts the ones answered while the call was under way.
    Re-raises an exception from ``fn``.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        box["started"] = time.perf_counter()
        try:
            fn()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc
        box["ended"] = time.perf_counter()

    thread = threading.Thread(target=run, daemon=True)
    sent, latencies = [], []
    thread.start()
    while thread.is_alive():
        t0 = time.perf_counter()
        probe.ping()
        sent.append(t0)
        latencies.append(time.perf_counter() - t0)
        time.sleep(interval)
    thread.join()
    if "error" in box:
        raise box["error"]
    return PingTimeline(
        sent=np.asarray(sent, dtype=float),
        latency=np.asarray(latencies, dtype=float),
        started=float(box["started"]),
        ended=float(box["ended"]),
    )


def ping_latencies_during(
    fn: Callable[[], Any], probe: redis.Redis, *, interval: float = 0.001
) -> tuple[np.ndarray, float]:
    """:func:`ping_timeline_during`, reduced to (every PING latency, seconds ``fn`` took)."""
    timeline = ping_timeline_during(fn, probe, interval=interval)
    return timeline.latency, timeline.seconds


def fork_pairs(
    large: redis.Redis, small: redis.Redis, *, n: int = 5
) -> tuple[list[float], list[float]]:
    """``n`` pairs of ``latest_fork_usec``: a ``BGSAVE`` on ``large``, one on ``small``.

    The two members of a pair run back to back (the order alternates), so a busy
    moment of the machine slows both: paired samples for
    :func:`redislab.kit.evidence.compare`. Returns ``(large_usec, small_usec)``.
    """
    big: list[float] = []
    little: list[float] = []
    for i in range(n):
        order = ((large, big), (small, little)) if i % 2 == 0 else ((small, little), (large, big))
        for connection, out in order:
            out.append(bgsave(connection)["fork_usec"])
    return big, little


def fork_cost(connection: redis.Redis, *, repeats: int = 3) -> dict[str, Any]:
    """BGSAVE ``repeats`` times; ``latest_fork_usec`` of each, memory and snapshot size.

    Returns ``fork_usec`` (median), ``fork_usec_min``, ``fork_usecs`` (every sample, a
    list), ``used_memory``, ``rss``, ``rdb_bytes``, ``keys`` and ``bgsave_s`` (median
    wall time of one BGSAVE).
    """
    forks, walls = [], []
    for _ in range(repeats):
        res = bgsave(connection)
        forks.append(res["fork_usec"])
        walls.append(res["seconds"])
    mem = connection.info("memory")
    return {
        "keys": float(connection.dbsize()),
        "used_memory": float(mem["used_memory"]),
        "rss": float(mem["used_memory_rss"]),
        "rdb_bytes": float(snapshot_path(connection).stat().st_size),
        "fork_usec": float(np.median(forks)),
        "fork_usec_min": float(min(forks)),
        "fork_usecs": [float(f) for f in forks],
        "bgsave_s": float(np.median(walls)),
    }
