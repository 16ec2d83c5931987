"""Replication probes: offsets and lag, read-after-write staleness, ``WAIT`` sync, and how
long an isolated primary keeps accepting writes."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

import pandas as pd
import redis

from ..errors import FaultTimeout
from ..keys import key
from ..kit.loads import WriteLoad, paused
from ..kit.loads import sync_replicas as sync_replicas
from ..kit.timeline import PATTERN
from ..lab.waits import wait_until


def replication_offsets(primary: redis.Redis, replicas: Sequence[redis.Redis]) -> dict[str, int]:
    """Replication offsets: ``primary`` and ``replica-<i>`` (replicas read first, so lag >= 0)."""
    out: dict[str, int] = {}
    for i, r in enumerate(replicas, start=1):
        out[f"replica-{i}"] = int(r.info("replication")["slave_repl_offset"])
    out["primary"] = int(primary.info("replication")["master_repl_offset"])
    return out


def _port(connection: redis.Redis) -> int:
    return int(connection.connection_pool.connection_kwargs["port"])


def primary_view(primary: redis.Redis, replicas: Sequence[redis.Redis]) -> dict[str, int]:
    """Offsets from ONE ``INFO replication`` reply of the primary.

    ``primary`` is ``master_repl_offset``; ``replica-<i>`` (numbered as ``replicas``, matched
    by port) is the ``offset=`` of the primary's ``slaveN:`` line: what that replica last
    *acknowledged* (``REPLCONF ACK``, sent about once a second, or at once for ``WAIT``).
    Both come from the same instant of the primary, so their difference is what the primary
    knows to be unacknowledged, not what the replica lacks (it may have the bytes already).
    """
    info = primary.info("replication")
    by_port = {_port(r): f"replica-{i}" for i, r in enumerate(replicas, start=1)}
    out: dict[str, int] = {}
    for n in range(int(info.get("connected_slaves", 0))):
        line = info.get(f"slave{n}")
        if isinstance(line, dict) and int(line["port"]) in by_port:
            out[by_port[int(line["port"])]] = int(line["offset"])
    out["primary"] = int(info["master_repl_offset"])
    return out


def sample_replication_lag(
    primary: redis.Redis,
    replicas: Sequence[redis.Redis],
    *,
    duration: float,
    interval: float = 0.02,
) -> pd.DataFrame:
    """Sample ``master_repl_offset - acknowledged replica offset`` (bytes) for ``duration`` s.

    Each sample is one ``INFO replication`` reply of the primary (:func:`primary_view`), so
    read order adds nothing. Columns: ``t``, ``replica``, ``lag_bytes``. Run a
    :class:`WriteLoad` meanwhile.
    """
    rows = []
    t0 = time.perf_counter()
    while (t := time.perf_counter() - t0) < duration:
        offs = primary_view(primary, replicas)
        for name, off in offs.items():
            if name != "primary":
                rows.append({"t": t, "replica": name, "lag_bytes": offs["primary"] - off})
        time.sleep(interval)
    return pd.DataFrame(rows, columns=["t", "replica", "lag_bytes"])


def sync_counters(primary: redis.Redis) -> dict[str, int]:
    """The primary's ``sync_full``, ``sync_partial_ok`` and ``sync_partial_err`` (INFO stats)."""
    stats = primary.info("stats")
    return {k: int(stats[k]) for k in ("sync_full", "sync_partial_ok", "sync_partial_err")}


def partial_resync(
    primary: redis.Redis,
    replica_node: Any,
    *,
    repl_timeout: int = 2,
    pause_s: float = 4.5,
    rate: float = 200.0,
    timeout: float = 15.0,
    drop_timeout: float = 30.0,
) -> dict[str, Any]:
    """Drop a replica's link and count how the primary resyncs it when it comes back.

    Lowers the primary's ``repl-timeout`` to ``repl_timeout`` seconds, SIGSTOPs
    ``replica_node`` (a :class:`~redislab.lab.node.Node`) while writes continue until the
    primary no longer lists it (it closed the link; at most ``drop_timeout`` s, else
    :class:`~redislab.errors.FaultTimeout`) and at least ``pause_s``, resumes it, waits
    until the primary lists it ``online`` at its offset again, and restores
    ``repl-timeout``. Returns the link state seen during the pause, the change of
    :func:`sync_counters`, and the seconds until the replica was back.
    """
    old = primary.config_get("repl-timeout")["repl-timeout"]
    before = sync_counters(primary)
    port = replica_node.port
    primary.config_set("repl-timeout", repl_timeout)

    def listed() -> bool:
        info = primary.info("replication")
        return any(
            isinstance(info.get(f"slave{n}"), dict) and int(info[f"slave{n}"]["port"]) == port
            for n in range(int(info.get("connected_slaves", 0)))
        )

    try:
        with WriteLoad(primary, name="partial-resync", rate=rate), paused(replica_node):
            t_pause = time.perf_counter()
            # the primary's own state decides, not a fixed pause: wait until it has closed
            # the silent replica's link (bounded by drop_timeout), then pause on to pause_s
            wait_until(
                lambda: not listed(),
                timeout=drop_timeout,
                interval=0.05,
                what="the primary to drop the paused replica",
            )
            dropped_after = time.perf_counter() - t_pause
            dropped = not listed()
            time.sleep(max(0.0, pause_s - dropped_after))
        t0 = time.perf_counter()
        wait_until(
            lambda: listed() and sync_counters(primary) != before,
            timeout=timeout,
            interval=0.05,
            what="the paused replica to resync",
        )
        back_s = time.perf_counter() - t0
    finally:
        primary.config_set("repl-timeout", old)
    after = sync_counters(primary)
    return {
        "dropped_during_pause": dropped,
        "dropped_after_s": dropped_after,
        "back_after_s": back_s,
        **{f"{k}_delta": after[k] - before[k] for k in before},
    }


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
    ``mean_visible_ms`` (over the stale reads), ``max_visible_ms``, ``min_wait_reply``
    (the smallest ``WAIT`` reply of the trials; -1 without ``WAIT``).
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
                    "min_wait_reply": int(df["replicas"].min()) if w else -1,
                }
            )
    return pd.DataFrame(rows)


def _decode(v: Any) -> Any:
    return v.decode() if isinstance(v, bytes) else v


def wait_round(
    *,
    connection: redis.Redis,
    numreplicas: int,
    timeout_ms: int,
    n: int = 3,
    acked: list[int] | None = None,
    name: str = "wait-round",
) -> list[float]:
    """``n`` times: a SET, then ``WAIT numreplicas timeout_ms``; the milliseconds of each.

    Each sample is the client's wall time of the SET and the WAIT together. The reply of
    each WAIT (how many replicas acknowledged) is appended to ``acked`` when given. For
    :func:`redislab.kit.evidence.locate` ("the median WAIT returns within ...").
    """
    k = key(PATTERN, name)
    out: list[float] = []
    for i in range(n):
        t0 = time.perf_counter()
        connection.set(k, i)
        got = int(connection.wait(numreplicas, timeout_ms))
        out.append((time.perf_counter() - t0) * 1e3)
        if acked is not None:
            acked.append(got)
    return out


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
