"""Steady write loads, lost acknowledged writes, SIGSTOP partitions and the run result.

:class:`WriteLoad` records every attempt; :func:`lost_writes` finds the acknowledged
writes that are gone; :func:`paused` pauses nodes for a ``with`` block;
:class:`FailoverRun` gathers one experiment's timeline, loads and losses, and
:func:`plot_writes` draws it.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import redis
from redis.cluster import RedisCluster
from redis.retry import Retry

from ..errors import FaultTimeout, StateError, UsageError
from ..keys import key
from ..types import Connection
from .timeline import PATTERN, Timeline

if TYPE_CHECKING:
    import matplotlib.axes

    from ..lab.node import Node


# ------------------------------------------------------------------- load
@dataclass
class _Attempt:
    seq: int
    key: str
    t: float
    latency: float
    ok: bool
    replicas: int | None
    error: str
    message: str


class WriteLoad:
    """Write at a steady rate from a background thread and record every attempt.

    Each write is ``SET <key> <seq>``: unique keys ``redislab:faults:<name slug>:<seq>``
    by default, or the given ``keys`` in turn (then a key's value is the sequence
    number of its last write, so a lost overwrite is detectable too).

    Args:
        connection: anything with ``set`` and ``pipeline`` (``redis.Redis``, a Sentinel
            ``master_for`` client, ``RedisCluster``, :class:`redislab.cluster.ClusterRouter`).
        name: the load's name, part of its keys.
        rate: writes per second (``None``: as fast as possible).
        keys: write these keys round-robin instead of unique ones.
        wait_replicas: if > 0, send ``WAIT wait_replicas wait_timeout_ms`` after each
            ``SET`` (same round trip) and count the write as acknowledged only if at
            least that many replicas confirmed it.
        retry: a redis-py ``Retry`` wrapped around each write (``call_with_retry``);
            ``None`` means one attempt.
        timeline: the experiment's clock (a new one by default).
    """

    def __init__(
        self,
        connection: Connection,
        *,
        name: str = "load",
        rate: float | None = 500.0,
        keys: Sequence[str] | None = None,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 100,
        retry: Retry | None = None,
        timeline: Timeline | None = None,
    ) -> None:
        if wait_replicas and isinstance(connection, RedisCluster):
            raise UsageError("WAIT is per node; use wait_replicas with a non-cluster client")
        self.connection = connection
        self.name = name
        self._slug = re.sub(r"[^a-z0-9_.]+", "-", name.lower()).strip("-") or "load"
        self.rate = rate
        self.keys = list(keys) if keys is not None else None
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self.retry = retry
        self.timeline = timeline or Timeline()
        self._attempts: list[_Attempt] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0
        self.last_ok: float | None = None

    # ------------------------------------------------------------ running
    def key_for(self, seq: int) -> str:
        """The key written by attempt ``seq`` (1-based)."""
        if self.keys is not None:
            return self.keys[(seq - 1) % len(self.keys)]
        return key(PATTERN, self._slug, seq)

    def _write(self, k: str, seq: int) -> int | None:
        if not self.wait_replicas:
            self.connection.set(k, seq)
            return None
        pipe = self.connection.pipeline(transaction=False)
        pipe.set(k, seq)
        pipe.execute_command("WAIT", self.wait_replicas, self.wait_timeout_ms)
        _, replicas = pipe.execute()
        return int(replicas)

    def _one(self, seq: int) -> None:
        k = self.key_for(seq)
        t = self.timeline.now()
        replicas: int | None = None
        error = message = ""
        ok = True
        try:
            if self.retry is None:
                replicas = self._write(k, seq)
            else:
                replicas = self.retry.call_with_retry(lambda: self._write(k, seq), lambda _e: None)
        except (redis.RedisError, OSError) as exc:
            ok = False
            error = type(exc).__name__
            message = str(exc)[:200]
        end = self.timeline.now()
        if ok:
            self.last_ok = end
        self._attempts.append(_Attempt(seq, k, t, end - t, ok, replicas, error, message))

    def _run(self) -> None:
        interval = 1.0 / self.rate if self.rate else 0.0
        next_t = time.perf_counter()
        while not self._stop.is_set():
            self._seq += 1
            self._one(self._seq)
            if not interval:
                continue
            next_t += interval
            delay = next_t - time.perf_counter()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_t = time.perf_counter()  # behind schedule: do not burst to catch up

    def start(self) -> WriteLoad:
        """Start the writer thread; returns self."""
        if self._thread is not None:
            raise StateError(f"load {self.name!r} was started already")
        self._thread = threading.Thread(
            target=self._run, name=f"redislab-load-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> WriteLoad:
        """Stop the writer and wait for its last attempt to finish; returns self."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return self

    def __enter__(self) -> WriteLoad:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ results
    def ok_since(self, t: float) -> int:
        """Number of successful writes that completed after time ``t``."""
        return sum(1 for a in list(self._attempts) if a.ok and a.t + a.latency > t)

    @property
    def records(self) -> pd.DataFrame:
        """One row per attempt: seq, key, t, latency, end, ok, replicas, acked, error, ...

        ``t`` and ``end`` are seconds on the timeline; ``error`` is the exception class,
        ``message`` the start of its text and ``kind`` the server's error code when there
        is one (``NOREPLICAS``, ``READONLY``), else the class.
        """
        rows = list(self._attempts)
        df = pd.DataFrame(
            [a.__dict__ for a in rows],
            columns=["seq", "key", "t", "latency", "ok", "replicas", "error", "message"],
        )
        df["end"] = df["t"] + df["latency"]
        df["kind"] = [_failure_kind(e, m) for e, m in zip(df["error"], df["message"], strict=True)]
        if self.wait_replicas:
            df["acked"] = df["ok"] & (df["replicas"].fillna(0) >= self.wait_replicas)
        else:
            df["acked"] = df["ok"].astype(bool)
        df["load"] = self.name
        return df

    def summary(
        self,
        since: float | None = None,
        *,
        keys_filter: Callable[[pd.Series], pd.Series] | None = None,
    ) -> dict[str, Any]:
        """Counts and timings; with ``since`` (a fault time), when writes worked again.

        Args:
            since: the fault's time on the timeline. ``resumed_s`` is then the time
                from ``since`` until the first successful write that completed after the
                last failure (after ``since``), or after ``since`` if nothing failed.
            keys_filter: restrict the outage figures to writes whose key passes
                (a function of the ``key`` column returning a bool Series); e.g. only
                the slots of a killed cluster primary.
        """
        df = self.records
        out: dict[str, Any] = {
            "load": self.name,
            "attempts": len(df),
            "ok": int(df["ok"].sum()),
            "failed": int((~df["ok"]).sum()),
            "acked": int(df["acked"].sum()),
            "not_acked": int((df["ok"] & ~df["acked"]).sum()),
            "max_latency_s": float(df["latency"].max()) if len(df) else float("nan"),
        }
        if since is not None:
            sub = df[df["end"] > since]
            if keys_filter is not None and len(sub):
                sub = sub[keys_filter(sub["key"]).to_numpy()]
            failed = sub[~sub["ok"]]
            after = failed["end"].max() if len(failed) else since
            good = sub[sub["ok"] & (sub["end"] > after)]
            out["failed_after_fault"] = len(failed)
            out["resumed_s"] = float(good["end"].min() - since) if len(good) else None
        return out


def _failure_kind(error: str, message: str) -> str:
    """The error code of a server error (``NOREPLICAS``, also inside a pipeline), else the class."""
    if not error:
        return ""
    m = re.search(r"(?:^|caused error: )([A-Z]{4,})\b", message)
    return m.group(1) if m else error


def lost_writes(connection: Connection, *loads: WriteLoad, chunk: int = 1000) -> pd.DataFrame:
    """Acknowledged writes that are gone: one row per key (key, load, acked_seq, stored).

    A key is lost if it is missing, or holds an older sequence number than the last
    write to it that was acknowledged.

    Args:
        connection: a client that reads the surviving data (``RedisCluster`` works too).
        loads: the loads to check.
    """
    frames = []
    for load in loads:
        df = load.records
        acked = df[df["acked"]].groupby("key", sort=False)["seq"].max()
        if acked.empty:
            continue
        keys = list(acked.index)
        stored: list[Any] = []
        for i in range(0, len(keys), chunk):
            part = keys[i : i + chunk]
            if isinstance(connection, RedisCluster):
                stored += connection.mget_nonatomic(part)
            else:
                stored += connection.mget(part)
        values = pd.Series([int(v) if v is not None else -1 for v in stored], index=acked.index)
        gone = values < acked
        frames.append(
            pd.DataFrame(
                {
                    "key": acked.index[gone],
                    "load": load.name,
                    "acked_seq": acked[gone].to_numpy(),
                    "stored": pd.Series(
                        [None if v < 0 else int(v) for v in values[gone]], dtype=object
                    ),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=["key", "load", "acked_seq", "stored"])
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------ faults
@contextlib.contextmanager
def paused(*nodes: Node) -> Iterator[None]:
    """SIGSTOP ``nodes`` for the ``with`` block and SIGCONT them afterwards, whatever happens."""
    done: list[Node] = []
    try:
        for n in nodes:
            n.pause()
            done.append(n)
        yield
    finally:
        for n in done:
            with contextlib.suppress(Exception):
                n.resume()


# -------------------------------------------------------------- experiments
@dataclass
class FailoverRun:
    """The result of one fault experiment: its timeline, its loads and what was lost.

    Attributes:
        kind: ``sentinel-kill``, ``sentinel-split-brain`` or ``cluster-kill``.
        engine: the server label (``Redis 7.0.15``...).
        timeline: events in seconds on the loads' clock.
        loads: the write loads, by name.
        lost: lost acknowledged writes (:func:`lost_writes`), all loads together.
        old_primary / new_primary: node names.
        details: anything else measured (config read back, slots of the victim...).
    """

    kind: str
    engine: str
    timeline: Timeline
    loads: dict[str, WriteLoad]
    lost: pd.DataFrame
    old_primary: str
    new_primary: str
    details: dict[str, Any] = field(default_factory=dict)
    keys_filter: Callable[[pd.Series], pd.Series] | None = None

    def interval(self, first: str, second: str) -> float | None:
        """Seconds between two events of the timeline."""
        return self.timeline.between(first, second)

    def lost_count(self, load: str) -> int:
        """Acknowledged writes of ``load`` that are gone."""
        return int((self.lost["load"] == load).sum()) if len(self.lost) else 0

    def summary(self, since: str = "fault") -> pd.DataFrame:
        """One row per load: attempts, failures, acknowledged and lost writes, outage."""
        t = self.timeline.events.get(since)
        rows = []
        for name, load in self.loads.items():
            s = load.summary(t, keys_filter=self.keys_filter)
            s["lost_acked"] = self.lost_count(name)
            rows.append(s)
        return pd.DataFrame(rows).set_index("load")

    def failures(self) -> pd.Series:
        """Failed writes per load and kind (``NOREPLICAS``, ``ConnectionError``, ...)."""
        recs = self.records
        bad = recs[~recs["ok"]]
        return bad.groupby(["load", "kind"], sort=False).size().rename("failed writes")

    @property
    def records(self) -> pd.DataFrame:
        """Every attempt of every load, with a ``load`` column (for plots)."""
        return pd.concat([ld.records for ld in self.loads.values()], ignore_index=True)


def plot_writes(
    run: FailoverRun,
    ax: matplotlib.axes.Axes | None = None,
    *,
    bin_s: float = 0.1,
    title: str | None = None,
) -> matplotlib.axes.Axes:
    """Writes per ``bin_s`` over time: one colour per load, one line style per outcome.

    Solid: acknowledged; dotted: failed; dashed: succeeded but not acknowledged
    (``WAIT`` got too few replicas). The timeline's events are grey vertical lines.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.2))
    df = run.records
    if df.empty:
        return ax
    edges = np.arange(0, df["end"].max() + bin_s, bin_s)
    for i, (name, grp) in enumerate(df.groupby("load", sort=False)):
        for outcome, sel, style in (
            ("acked", grp["acked"], "-"),
            ("failed", ~grp["ok"], ":"),
            ("not acked", grp["ok"] & ~grp["acked"], "--"),
        ):
            if not sel.any():
                continue
            counts, _ = np.histogram(grp.loc[sel, "end"], bins=edges)
            ax.step(edges[:-1], counts, where="post", linestyle=style, color=f"C{i}",
                    label=f"{name}: {outcome}")  # fmt: skip
    for j, (label, t) in enumerate(sorted(run.timeline.events.items(), key=lambda kv: kv[1])):
        ax.axvline(t, color="grey", linewidth=0.8)
        ax.annotate(f" {label}", (t, 0.97 - 0.1 * (j % 4)), xycoords=("data", "axes fraction"),
                    va="top", ha="left", fontsize=8, color="dimgrey")  # fmt: skip
    ax.set_xlabel("seconds")
    ax.set_ylabel(f"writes per {bin_s * 1000:.0f} ms")
    ax.set_title(title or f"{run.kind} on {run.engine}")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return ax


def sync_replicas(
    connection: redis.Redis, *, replicas: int | None = None, timeout: float = 10.0
) -> int:
    """Make sure every replica has acknowledged everything written so far (``WAIT``).

    A fault experiment starts from here, so that a write lost later was lost to the
    fault. (Right after a diskless full sync, Redis 7.0 streams new writes to a
    replica only once it has sent its first ``REPLCONF ACK``, up to a second later,
    although the replica already reports ``master_link_status:up``.)

    Args:
        connection: the primary.
        replicas: how many must acknowledge (default: every connected replica).

    Returns:
        The number of replicas that acknowledged.
    """
    if replicas is None:
        replicas = int(connection.info("replication").get("connected_slaves", 0))
    connection.set(key(PATTERN, "sync"), time.time())
    got = int(connection.execute_command("WAIT", replicas, int(timeout * 1000)))
    if got < replicas:
        raise FaultTimeout(f"only {got} of {replicas} replicas acknowledged within {timeout:.1f} s")
    return got
