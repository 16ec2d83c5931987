"""Fault injection and measurement: steady write loads, failovers, partitions, lost writes.

The building blocks:

- :class:`Timeline`: one clock for a whole experiment and its named events
  (``fault``, ``sentinel named``, ``promoted``...).
- :class:`WriteLoad`: a background thread that writes at a steady rate and records
  every attempt (start, latency, success, error, and, with ``WAIT``, how many
  replicas acknowledged it). A write is *acknowledged* when the client got a
  success reply (and, with ``wait_replicas=n``, ``WAIT`` reported at least ``n``
  replicas).
- :func:`lost_writes`: acknowledged writes that are no longer there.
- :func:`paused`: SIGSTOP some nodes (a partition a laptop can do) and always
  SIGCONT them again.
- Experiments that compose them: :func:`sentinel_failover`,
  :func:`sentinel_split_brain`, :func:`cluster_failover`, and the replication
  probes :func:`sample_replication_lag`, :func:`read_after_write`,
  :func:`time_until_write_fails`.

Every wait is bounded (``timeout=``, 10 s by default) and raises
:class:`FaultTimeout` rather than hanging a notebook.
"""

from __future__ import annotations

import contextlib
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import ClusterDownError, ReadOnlyError, TryAgainError
from redis.retry import Retry

from .errors import RedislabError
from .hashing import key_slots
from .keys import key
from .measure import wait_until

if TYPE_CHECKING:
    import matplotlib.axes

    from .lab import Lab
    from .node import Node

__all__ = [
    "FailoverRun",
    "FaultTimeout",
    "Timeline",
    "WriteLoad",
    "backoff_retry",
    "cluster_failover",
    "lost_writes",
    "no_retry",
    "paused",
    "plot_writes",
    "read_after_write",
    "replication_offsets",
    "sample_replication_lag",
    "sentinel_failover",
    "sentinel_primary",
    "sentinel_split_brain",
    "staleness_by_size",
    "sync_replicas",
    "time_until_write_fails",
    "wait_cluster_ok",
    "wait_for",
    "wait_role",
    "wait_sentinel_new_primary",
]

PATTERN = "faults"
"""Key pattern of every key the loads write: ``redislab:faults:<load name>:<seq>``."""

RETRYABLE = (
    redis.ConnectionError,
    redis.TimeoutError,
    ClusterDownError,
    TryAgainError,
    ReadOnlyError,
)
"""Errors worth retrying during a failover (``MasterNotFoundError`` is a ``ConnectionError``)."""


class FaultTimeout(RedislabError, TimeoutError):
    """A fault experiment waited longer than its bound for the system to react."""


# --------------------------------------------------------------------- clock
class Timeline:
    """A shared clock (seconds since creation) and the named events of one experiment."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.events: dict[str, float] = {}

    def now(self) -> float:
        """Seconds since the timeline started."""
        return time.perf_counter() - self.t0

    def mark(self, label: str) -> float:
        """Record ``label`` at the current time and return that time."""
        t = self.now()
        self.events[label] = t
        return t

    def since(self, label: str) -> float:
        """Seconds since event ``label``."""
        return self.now() - self.events[label]

    def between(self, first: str, second: str) -> float | None:
        """Seconds from event ``first`` to event ``second`` (None if either is missing)."""
        if first not in self.events or second not in self.events:
            return None
        return self.events[second] - self.events[first]


def wait_for(
    predicate: Callable[[], Any],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str = "condition",
) -> float:
    """:func:`redislab.measure.wait_until`, raising :class:`FaultTimeout` after ``timeout``.

    Returns the seconds waited. Exceptions from ``predicate`` count as "not yet" (a
    node may be down or paused).
    """
    try:
        return wait_until(predicate, timeout=timeout, interval=interval, what=what)
    except TimeoutError as exc:
        raise FaultTimeout(str(exc)) from None


# ---------------------------------------------------------------- retries
def no_retry() -> Retry:
    """A redis-py ``Retry`` that never retries: every failure reaches the caller."""
    return Retry(NoBackoff(), 0)


def backoff_retry(retries: int = 20, *, base: float = 0.05, cap: float = 0.25) -> Retry:
    """Exponential backoff (``base * 2**n`` capped at ``cap``) on failover-type errors.

    The defaults wait 0.05, 0.1, 0.2, then 0.25 s per attempt: up to 4.6 s in all,
    longer than a lab failover (2-3.5 s), and a write lands at most 0.25 s after the
    new primary is there. No jitter, so runs are reproducible; production clients
    should add jitter (``ExponentialWithJitterBackoff``) so that they do not retry
    in lockstep.
    """
    return Retry(ExponentialBackoff(cap=cap, base=base), retries, supported_errors=RETRYABLE)


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
        connection: Any,
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
            raise ValueError("WAIT is per node; use wait_replicas with a non-cluster client")
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
            raise RuntimeError(f"load {self.name!r} was started already")
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


def lost_writes(connection: Any, *loads: WriteLoad, chunk: int = 1000) -> pd.DataFrame:
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


def _addr(host: str, port: int | str) -> str:
    return f"{host}:{int(port)}"


def sentinel_primary(connection: redis.Redis, master_name: str) -> str | None:
    """The primary one sentinel names now, ``host:port`` (``SENTINEL GET-MASTER-ADDR-BY-NAME``)."""
    reply = connection.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", master_name)
    if not reply:
        return None
    host, port = reply
    return _addr(host, port)


def wait_sentinel_new_primary(
    connections: Sequence[redis.Redis],
    master_name: str,
    old: str,
    *,
    timeout: float = 10.0,
) -> str:
    """Wait until a majority of ``connections`` (sentinels) name a primary other than ``old``."""
    found: dict[str, str] = {}

    def moved() -> bool:
        names = []
        for c in connections:
            with contextlib.suppress(redis.RedisError, OSError):
                names.append(sentinel_primary(c, master_name))
        new = [n for n in names if n and n != old]
        if len(new) * 2 > len(connections) and len(set(new)) == 1:
            found["addr"] = new[0]
            return True
        return False

    wait_for(
        moved, timeout=timeout, interval=0.02, what=f"sentinels naming a primary other than {old}"
    )
    return found["addr"]


def wait_role(connection: redis.Redis, role: str, *, timeout: float = 10.0) -> float:
    """Wait until ``ROLE`` answers ``role`` (``master``/``slave``/``primary``/``replica``)."""
    want = {"primary": "master", "replica": "slave"}.get(role, role)

    def check() -> bool:
        return connection.execute_command("ROLE")[0] == want

    return wait_for(check, timeout=timeout, interval=0.02, what=f"ROLE {want}")


def wait_cluster_ok(connections: Sequence[redis.Redis], *, timeout: float = 10.0) -> float:
    """Wait until every node in ``connections`` reports ``cluster_state:ok``."""

    def ok() -> bool:
        for c in connections:
            info = c.execute_command("CLUSTER", "INFO")
            if "cluster_state:ok" not in str(info):
                return False
        return True

    return wait_for(ok, timeout=timeout, interval=0.02, what="cluster_state:ok on every node")


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


def _sentinel_clients(lab: Lab) -> list[redis.Redis]:
    return [
        s.client(socket_timeout=0.5, socket_connect_timeout=0.5) for s in lab.sentinels if s.alive
    ]


def _master_for(lab: Lab, *, socket_timeout: float | None, retry: Retry | None) -> redis.Redis:
    sentinel = lab.sentinel_client(socket_timeout=0.5)
    return sentinel.master_for(
        lab.master_name,
        socket_timeout=socket_timeout,
        socket_connect_timeout=0.5,
        retry=retry or no_retry(),
        decode_responses=True,
    )


def _close_all(clients: Sequence[Any]) -> None:
    for c in clients:
        with contextlib.suppress(Exception):
            c.close()


def sentinel_failover(
    lab: Lab,
    *,
    writers: Sequence[int] = (0, 1),
    rate: float = 300.0,
    before: float = 0.5,
    after: float = 0.5,
    retry: Retry | None = None,
    timeout: float = 10.0,
) -> FailoverRun:
    """SIGKILL the primary of a sentinel lab under write load; measure the failover.

    One writer per entry of ``writers`` runs concurrently through redis-py's
    ``Sentinel.master_for`` (socket timeout 0.5 s): ``0`` is a plain ``SET``, ``n``
    adds ``WAIT n 100`` and counts a write as acknowledged only if ``n`` replicas
    confirmed it. Events: ``fault`` (the kill), ``sentinel named`` (a majority of
    sentinels name another primary), ``writes ok`` (every writer succeeded again).

    The lab is left healthy on its new roles (``lab.wait_ready()``); the old primary
    stays dead. A sentinel that took part in a failover will not start another for
    the same primary within 2 x failover-timeout: use a fresh lab per run.
    """
    old = lab.primary
    old_addr = old.address
    sentinels = _sentinel_clients(lab)
    with old.client() as c:
        sync_replicas(c, timeout=timeout)
    timeline = Timeline()
    clients = [_master_for(lab, socket_timeout=0.5, retry=retry) for _ in writers]
    loads = {
        _writer_name(n): WriteLoad(
            c, name=_writer_name(n), rate=rate, wait_replicas=n, retry=retry, timeline=timeline
        )
        for n, c in zip(writers, clients, strict=True)
    }
    try:
        for ld in loads.values():
            ld.start()
        time.sleep(before)
        old.kill()
        t_kill = timeline.mark("fault")
        new_addr = wait_sentinel_new_primary(sentinels, lab.master_name, old_addr, timeout=timeout)
        timeline.mark("sentinel named")
        wait_for(
            lambda: all(ld.ok_since(t_kill) > 0 for ld in loads.values()),
            timeout=timeout,
            what="writes succeeding again",
        )
        timeline.mark("writes ok")
        time.sleep(after)
    finally:
        for ld in loads.values():
            ld.stop()
        _close_all(clients + sentinels)
    lab.wait_ready(timeout=30)
    with lab.primary.client() as c:
        lost = lost_writes(c, *loads.values())
    new = next(n.name for n in lab.data_nodes if n.address == new_addr)
    return FailoverRun("sentinel-kill", lab.server.label, timeline, loads, lost, old.name, new)


def _writer_name(wait: int) -> str:
    return "SET" if wait == 0 else f"SET+WAIT {wait}"


def _sentinel_settings(connection: redis.Redis, master_name: str) -> dict[str, int]:
    m = connection.sentinel_master(master_name)
    return {
        "down-after-milliseconds": int(m["down-after-milliseconds"]),
        "failover-timeout": int(m["failover-timeout"]),
        "quorum": int(m["quorum"]),
    }


def sentinel_split_brain(
    lab: Lab,
    *,
    min_replicas_to_write: int = 0,
    min_replicas_max_lag: int = 10,
    writers: Sequence[int] = (0, 1),
    fresh: bool = True,
    split_s: float = 1.5,
    demote: str = "manual",
    rate: float = 200.0,
    timeout: float = 10.0,
) -> FailoverRun:
    """Partition the primary with SIGSTOP until Sentinel promotes a replica, then let it back.

    The *stale* writers are clients whose connection to the old primary outlives the
    partition (``master_for`` without a socket timeout: the write in flight waits
    through the pause and the connection stays). When the old primary comes back it
    still believes it is the primary and acknowledges their writes: two primaries
    take writes at once (split brain) for ``split_s`` seconds. Then the old primary
    becomes a replica of the new one and throws those writes away.
    ``min-replicas-to-write`` makes it refuse them instead; ``WAIT`` lets the client
    see that no replica has them. With ``fresh`` a third writer (socket timeout
    0.5 s) follows Sentinel to the new primary.

    Args:
        demote: ``manual`` sends the old primary the ``REPLICAOF <new primary>`` that
            Sentinel would send; ``sentinel`` waits for Sentinel to do it (it does so
            only after the returning node has reported the wrong role for longer than
            ``failover-timeout`` and it next polls it with INFO, which took ~10 s here:
            too long for a notebook cell).

    Events: ``fault`` (pause), ``sentinel named``, ``resumed`` (SIGCONT),
    ``demoted`` (the old primary reports ``ROLE slave``). The old primary is always
    resumed, even if a wait times out.
    """
    if demote not in ("manual", "sentinel"):
        raise ValueError("demote must be 'manual' or 'sentinel'")
    old = lab.primary
    old_addr = old.address
    sentinels = _sentinel_clients(lab)
    details: dict[str, Any] = {"sentinel": _sentinel_settings(sentinels[0], lab.master_name)}
    if min_replicas_to_write:
        for n in lab.data_nodes:
            with n.client() as c:
                c.config_set("min-replicas-to-write", min_replicas_to_write)
                c.config_set("min-replicas-max-lag", min_replicas_max_lag)
    old_conn = old.client(socket_timeout=0.5, socket_connect_timeout=0.5)
    cfg = old_conn.config_get("min-replicas-*")
    details.update({k: int(v) for k, v in cfg.items()})
    details["replicas in sync"] = sync_replicas(old_conn, timeout=timeout)
    stale = [_master_for(lab, socket_timeout=None, retry=None) for _ in writers]
    for c in stale:
        c.ping()  # the pooled connection now points at the old primary
    timeline = Timeline()
    loads = {
        f"stale {_writer_name(n)}": WriteLoad(
            c, name=f"stale {_writer_name(n)}", rate=rate, wait_replicas=n, timeline=timeline
        )
        for n, c in zip(writers, stale, strict=True)
    }
    clients: list[Any] = [*stale]
    if fresh:
        c = _master_for(lab, socket_timeout=0.5, retry=None)
        clients.append(c)
        loads["fresh SET"] = WriteLoad(c, name="fresh SET", rate=rate, timeline=timeline)
    try:
        for ld in loads.values():
            ld.start()
        time.sleep(0.3)
        with paused(old):
            timeline.mark("fault")
            new_addr = wait_sentinel_new_primary(
                sentinels, lab.master_name, old_addr, timeout=timeout
            )
            timeline.mark("sentinel named")
        timeline.mark("resumed")
        if demote == "manual":
            time.sleep(split_s)
            host, port = new_addr.rsplit(":", 1)
            old_conn.replicaof(host, int(port))
        wait_role(old_conn, "slave", timeout=timeout + (15 if demote == "sentinel" else 0))
        timeline.mark("demoted")
        time.sleep(0.3)
    finally:
        old.resume()
        for ld in loads.values():
            ld.stop()
        _close_all([*clients, *sentinels, old_conn])
    lab.wait_ready(timeout=30)
    with lab.primary.client() as c:
        sync_replicas(c, timeout=timeout)
        lost = lost_writes(c, *loads.values())
    new = next(n.name for n in lab.data_nodes if n.address == new_addr)
    return FailoverRun(
        "sentinel-split-brain", lab.server.label, timeline, loads, lost, old.name, new, details
    )


def cluster_failover(
    lab: Lab,
    *,
    victim: Node | None = None,
    rate: float = 300.0,
    retry: Retry | None = None,
    name: str | None = None,
    before: float = 0.5,
    after: float = 0.5,
    timeout: float = 10.0,
) -> FailoverRun:
    """SIGKILL a cluster primary under write load; measure promotion and failed requests.

    The writer uses ``lab.client()`` (``RedisCluster``) with its own retries turned
    off and ``retry`` (a redis-py ``Retry``, e.g. :func:`backoff_retry`) wrapped
    around each write; ``None`` means one attempt per write. Keys are unique, so
    they spread over all slots: only the victim's slots fail.

    Events: ``fault`` (kill), ``FAIL`` (a survivor flags the victim ``fail``: from now
    on, with ``cluster-require-full-coverage yes``, the whole cluster answers
    ``CLUSTERDOWN`` until the promotion), ``promoted`` (its replica answers ``ROLE master``),
    ``cluster ok`` (every survivor says ``cluster_state:ok``), ``writes ok`` (a write
    to one of the victim's slots succeeded). The outage figures of :meth:`FailoverRun.summary`
    count only writes to the victim's slots.
    """
    from .cluster import cluster_nodes

    timeline = Timeline()
    victim = victim or lab.primaries[0]
    with victim.client() as c:
        table = cluster_nodes(c)
    me = table[table["address"] == victim.address].iloc[0]
    slots = set()
    for lo, hi in me["slot_ranges"]:
        slots.update(range(lo, hi + 1))
    replica_addrs = table[(table["master_id"] == me["id"]) & ~table["failed"]]["address"].tolist()
    replica = next(n for n in lab.data_nodes if n.address in replica_addrs and n.alive)
    slot_array = np.zeros(16384, dtype=bool)
    slot_array[list(slots)] = True

    def affected(keys: pd.Series) -> pd.Series:
        return pd.Series(slot_array[key_slots(keys.tolist())], index=keys.index)

    client = lab.client(socket_timeout=0.5, socket_connect_timeout=0.5, retry=no_retry())
    label = name or ("with retry" if retry else "no retry")
    load = WriteLoad(client, name=label, rate=rate, retry=retry, timeline=timeline)
    survivors = [
        n.client(socket_timeout=0.5) for n in lab.data_nodes if n.alive and n is not victim
    ]
    rep_conn = replica.client(socket_timeout=0.5)
    try:
        load.start()
        time.sleep(before)
        victim.kill()
        t_kill = timeline.mark("fault")

        def flagged_fail() -> bool:
            table = cluster_nodes(survivors[0])
            return bool(table.loc[table["id"] == me["id"], "failed"].any())

        wait_for(flagged_fail, timeout=timeout, what=f"{victim.name} flagged FAIL")
        timeline.mark("FAIL")
        wait_role(rep_conn, "master", timeout=timeout)
        timeline.mark("promoted")
        wait_cluster_ok(survivors, timeout=timeout)
        timeline.mark("cluster ok")

        def resumed() -> bool:
            df = load.records
            df = df[df["ok"] & (df["end"] > t_kill)]
            return bool(len(df)) and bool(affected(df["key"]).any())

        wait_for(resumed, timeout=timeout, what="a write to the failed slots succeeding")
        timeline.mark("writes ok")
        time.sleep(after)
    finally:
        load.stop()
        _close_all([client, rep_conn, *survivors])
    lab.wait_ready(timeout=30)
    with lab.client() as c:
        lost = lost_writes(c, load)
    details = {"victim_slots": len(slots), "replica": replica.name}
    return FailoverRun(
        "cluster-kill", lab.server.label, timeline, {label: load}, lost, victim.name, replica.name,
        details, keys_filter=affected,
    )  # fmt: skip


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


# -------------------------------------------------------------- replication
def replication_offsets(primary: redis.Redis, replicas: Sequence[redis.Redis]) -> dict[str, int]:
    """Replication offsets: ``primary`` and ``replica-<i>`` (replicas read first, so lag >= 0)."""
    out: dict[str, int] = {}
    for i, r in enumerate(replicas, start=1):
        out[f"replica-{i}"] = int(r.info("replication")["slave_repl_offset"])
    out["primary"] = int(primary.info("replication")["master_repl_offset"])
    return out


def sample_replication_lag(
    primary: redis.Redis,
    replicas: Sequence[redis.Redis],
    *,
    duration: float,
    interval: float = 0.02,
) -> pd.DataFrame:
    """Sample ``primary offset - replica offset`` (bytes) for ``duration`` seconds.

    Columns: ``t``, ``replica``, ``lag_bytes``. Run a :class:`WriteLoad` meanwhile.
    """
    rows = []
    t0 = time.perf_counter()
    while (t := time.perf_counter() - t0) < duration:
        offs = replication_offsets(primary, replicas)
        for name, off in offs.items():
            if name != "primary":
                rows.append({"t": t, "replica": name, "lag_bytes": offs["primary"] - off})
        time.sleep(interval)
    return pd.DataFrame(rows, columns=["t", "replica", "lag_bytes"])


def read_after_write(
    primary: redis.Redis,
    replica: redis.Redis,
    *,
    n: int = 50,
    value_size: int = 16,
    wait_replicas: int = 0,
    wait_timeout_ms: int = 1000,
    seed: int = 42,
    poll_timeout: float = 1.0,
) -> pd.DataFrame:
    """Write on the primary, then at once read the key on a replica; repeat ``n`` times.

    Each value starts with an 8-digit tag and is padded to ``value_size`` bytes; the
    replica is read with ``GETRANGE key 0 7`` (so a big value is not sent back).

    Returns:
        One row per trial: ``trial``, ``size``, ``stale`` (the replica still had the
        previous value), ``visible_ms`` (time until the replica showed the new value;
        0 if at once), ``replicas`` (``WAIT``'s answer when ``wait_replicas`` > 0).
    """
    rng = random.Random(seed)
    k = key(PATTERN, "read-after-write", rng.randrange(10**9))
    pad = "x" * max(0, value_size - 8)
    rows = []
    for trial in range(n):
        tag = f"{rng.randrange(10**8):08d}"
        acks = None
        if wait_replicas:
            pipe = primary.pipeline(transaction=False)
            pipe.set(k, tag + pad)
            pipe.execute_command("WAIT", wait_replicas, wait_timeout_ms)
            _, acks = pipe.execute()
        else:
            primary.set(k, tag + pad)
        t0 = time.perf_counter()
        seen = _decode(replica.getrange(k, 0, 7))
        stale = seen != tag
        while seen != tag and time.perf_counter() - t0 < poll_timeout:
            seen = _decode(replica.getrange(k, 0, 7))
        rows.append(
            {
                "trial": trial,
                "size": value_size,
                "stale": stale,
                "visible_ms": (time.perf_counter() - t0) * 1000 if stale else 0.0,
                "replicas": acks,
            }
        )
    primary.delete(k)
    return pd.DataFrame(rows)


def staleness_by_size(
    primary: redis.Redis,
    replica: redis.Redis,
    *,
    sizes: Sequence[int] = (100, 100_000, 1_000_000, 4_000_000),
    n: int = 50,
    wait_replicas: Sequence[int] = (0,),
    seed: int = 42,
) -> pd.DataFrame:
    """:func:`read_after_write` for each write size and ``WAIT`` setting, summarised.

    Columns: ``size``, ``wait`` (0: no WAIT), ``trials``, ``stale_fraction``,
    ``mean_visible_ms`` (over the stale reads), ``max_visible_ms``.
    """
    rows = []
    for w in wait_replicas:
        for size in sizes:
            df = read_after_write(
                primary, replica, n=n, value_size=size, wait_replicas=w, seed=seed
            )
            stale = df[df["stale"]]
            rows.append(
                {
                    "size": size,
                    "wait": w,
                    "trials": len(df),
                    "stale_fraction": float(df["stale"].mean()),
                    "mean_visible_ms": float(stale["visible_ms"].mean()) if len(stale) else 0.0,
                    "max_visible_ms": float(df["visible_ms"].max()),
                }
            )
    return pd.DataFrame(rows)


def _decode(v: Any) -> Any:
    return v.decode() if isinstance(v, bytes) else v


def time_until_write_fails(
    connection: redis.Redis,
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    name: str = "probe",
) -> tuple[float, str]:
    """Write every ``interval`` s until a write is refused; return (seconds, error message).

    Used with ``min-replicas-to-write``: how long an isolated primary keeps
    accepting writes. Raises :class:`FaultTimeout` if every write succeeds.
    """
    k = key(PATTERN, name)
    t0 = time.perf_counter()
    seq = 0
    while time.perf_counter() - t0 < timeout:
        seq += 1
        try:
            connection.set(k, seq)
        except redis.ResponseError as exc:
            return time.perf_counter() - t0, str(exc)
        time.sleep(interval)
    raise FaultTimeout(f"writes were still accepted after {timeout:.1f} s")
