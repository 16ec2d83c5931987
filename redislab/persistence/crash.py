"""Crash tests: a steady, acknowledged write load, a SIGKILL, and what the restart kept.

:func:`crash_trial` runs one trial; :func:`crash_table` sums trials per configuration
(the RPO table). A process kill loses only what the server never handed to the kernel.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import psutil
import redis

from ..keys import PERSISTENCE, key
from ..kit.timeline import no_retry
from ._common import (
    persistence_config,
)
from .aof import (
    EVERYSEC_POSTPONE_S,
    disk_usage,
)
from .repair import (
    check_rdb,
)
from .rto import (
    timed_restart,
)
from .snapshots import (
    persistence_label,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..lab.node import Node

__all__ = [
    "CrashTrial",
    "crash_table",
    "crash_trial",
]


# =============================================================== crash tests
@dataclass
class CrashTrial:
    """One SIGKILL under load and what the restarted server still had.

    ``lost`` counts *acknowledged* writes (a reply reached the client) that are
    missing after the restart. ``expected_lost`` is what the files on disk at the
    kill predict: 0 when the AOF is on (it is what gets loaded), otherwise the
    acknowledged writes that are not in the snapshot (``redis-check-rdb`` counted
    ``snapshot_keys`` in it before the restart).
    """

    label: str
    trial: int
    seconds: float
    acked: int
    present: int
    lost: int
    expected_lost: int
    snapshot_keys: int | None
    prefix_ok: bool
    inflight_persisted: bool
    acked_last_2s: int
    oldest_lost_age_s: float
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    restart_s: float
    load_s: float | None
    aof_delayed_fsync: int | None
    disk_bytes: int

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict (a DataFrame row)."""
        return asdict(self)


class _Writer(threading.Thread):
    """Sequential SETs; records the time of every acknowledged reply."""

    def __init__(self, client: redis.Redis, prefix: str, value_size: int) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.prefix = prefix
        self.value = "v" * value_size
        self.acks: list[float] = []
        self.latencies: list[float] = []
        self.started = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        clock = time.perf_counter
        acks, lats = self.acks, self.latencies
        i = 0
        self.started.set()
        try:
            while not self.stop.is_set():
                t0 = clock()
                self.client.set(f"{self.prefix}:{i}", self.value)
                t1 = clock()
                acks.append(t1)
                lats.append(t1 - t0)
                i += 1
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            self.error = exc  # the kill: the in-flight SET got no reply


def _present(connection: redis.Redis, prefix: str, n: int, batch: int = 1000) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    for start in range(0, n, batch):
        pipe = connection.pipeline(transaction=False)
        stop = min(n, start + batch)
        for i in range(start, stop):
            pipe.exists(f"{prefix}:{i}")
        out[start:stop] = np.asarray(pipe.execute(), dtype=int) > 0
    return out


def crash_trial(
    node: Node,
    *,
    seconds: float = 1.0,
    trial: int = 0,
    value_size: int = 64,
    label: str | None = None,
    check_rdb_tool: Path | None = None,
    child_timeout: float = 10.0,
) -> CrashTrial:
    """Write under steady load, SIGKILL ``node`` after ``seconds``, restart it, count losses.

    The writer is one client doing sequential SETs of unique keys
    ``redislab:persistence:crash:<trial>:<i>``; write ``i`` is acknowledged when its
    reply arrived. The dataset is flushed first (``FLUSHALL``), so a snapshot holds
    only this trial's keys. A background save still running at the kill is allowed
    to finish (its child is not killed) before the files are inspected.

    Args:
        node: the lab node to crash (``lab.primary``); it talks to its own clients.
        seconds: load duration before the kill.
        trial: trial number (part of the key names).
        value_size: bytes per value.
        label: name for the table (default: :func:`persistence_label` of the live config).
        check_rdb_tool: ``lab.server.tool("check-rdb")`` to count the keys in the snapshot
            (default: derived from ``node.server``).
        child_timeout: how long to wait for an orphaned BGSAVE child.
    """
    admin = node.client(socket_timeout=10)
    cfg = persistence_config(admin)
    label = label or persistence_label(cfg)
    aof_on = cfg["appendonly"] == "yes"
    admin.flushall()
    prefix = key(PERSISTENCE, "crash", trial)
    writer_client = node.client(socket_timeout=10, retry=no_retry())
    writer = _Writer(writer_client, prefix, value_size)
    proc = psutil.Process(node.pid)
    writer.start()
    writer.started.wait(5)
    time.sleep(seconds)
    delayed = int(admin.info("persistence").get("aof_delayed_fsync", 0)) if aof_on else None
    children = proc.children()
    t_kill = time.perf_counter()
    node.kill()
    writer.join(10)
    writer.stop.set()
    admin.close()
    writer_client.close()
    psutil.wait_procs(children, timeout=child_timeout)

    acked = len(writer.acks)
    dump = Path(cfg["dir"]) / cfg["dbfilename"]
    snapshot_keys: int | None = None
    if not aof_on and dump.exists():
        tool = check_rdb_tool or node.server.tool("check-rdb")
        report = check_rdb(tool, dump)
        snapshot_keys = report.keys if report.ok else None
    disk = disk_usage(cfg["dir"], dbfilename=cfg["dbfilename"])["total_bytes"]

    timing = timed_restart(node)
    check = node.client(socket_timeout=10)
    try:
        present = _present(check, prefix, acked + 1)
    finally:
        check.close()
    present_acked = int(present[:acked].sum())
    lost_ids = np.flatnonzero(~present[:acked])
    first_missing = int(np.argmin(present)) if not present.all() else len(present)
    prefix_ok = bool(present[:first_missing].all() and not present[first_missing:].any())
    expected = 0 if aof_on else acked - min(acked, snapshot_keys or 0)
    acks = np.asarray(writer.acks)
    lats = np.asarray(writer.latencies) * 1e3
    duration = (acks[-1] - acks[0]) if acked > 1 else float("nan")
    return CrashTrial(
        label=label,
        trial=trial,
        seconds=seconds,
        acked=acked,
        present=present_acked,
        lost=acked - present_acked,
        expected_lost=expected,
        snapshot_keys=snapshot_keys,
        prefix_ok=prefix_ok,
        inflight_persisted=bool(present[acked]),
        acked_last_2s=int((acks >= t_kill - EVERYSEC_POSTPONE_S).sum()),
        oldest_lost_age_s=float(t_kill - acks[lost_ids[0]]) if lost_ids.size else 0.0,
        ops_per_s=float((acked - 1) / duration) if acked > 1 and duration > 0 else 0.0,
        p50_ms=float(np.percentile(lats, 50)) if lats.size else float("nan"),
        p99_ms=float(np.percentile(lats, 99)) if lats.size else float("nan"),
        restart_s=timing.wall_s,
        load_s=timing.load_s,
        aof_delayed_fsync=delayed,
        disk_bytes=disk,
    )


def crash_table(trials: Iterable[CrashTrial]) -> pd.DataFrame:
    """One row per configuration: trials, writes acknowledged, lost (total and max),
    predicted from the files, throughput and latency medians, restart time."""
    import pandas as pd

    df = pd.DataFrame([t.as_dict() for t in trials])
    if df.empty:
        return df
    g = df.groupby("label", sort=False)
    return pd.DataFrame(
        {
            "trials": g.size(),
            "acked": g["acked"].sum(),
            "lost": g["lost"].sum(),
            "lost_max": g["lost"].max(),
            "expected_lost": g["expected_lost"].sum(),
            "ops_per_s": g["ops_per_s"].median().round(0),
            "p50_ms": g["p50_ms"].median().round(3),
            "p99_ms": g["p99_ms"].median().round(3),
            "restart_ms": (g["restart_s"].median() * 1e3).round(1),
        }
    )
