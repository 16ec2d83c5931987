"""Sentinel experiments: kill the primary under load (:func:`sentinel_failover`) and
partition it until a replica is promoted (:func:`sentinel_split_brain`).

Both record how many failovers the fault caused (``details["failovers"]``, the rise of
the Sentinels' config epoch). It should be one. With the lab's short
``down-after-milliseconds`` (1000, equal to Sentinel's PING and reconnect period) a
second one can follow: on ``+switch-master`` a Sentinel resets its link to the new
primary and counts a PING as outstanding from that instant, but reconnects only when
its 1 s reconnect period allows; the first PONG came 0.87-0.9 s after the switch here,
so a hiccup of ~0.1 s makes that Sentinel see the new primary down (``+sdown`` and
``+odown`` logged in the same millisecond) and elect another replica.
:func:`single_failover` repeats an experiment on a fresh lab until it caused exactly
one failover; ``Lab.wait_ready()`` waits until every Sentinel has heard from the
primary, which closes that window.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import redis
from redis.retry import Retry

from ..errors import FaultTimeout, UsageError
from ..kit.loads import FailoverRun, WriteLoad, lost_writes, paused
from ..kit.timeline import Timeline, _close_all, no_retry, wait_for, wait_role
from .probes import sync_replicas

if TYPE_CHECKING:
    from ..lab.lab import Lab


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


def sentinel_epoch(lab: Lab) -> int:
    """The highest config epoch the lab's live Sentinels report: +1 per failover."""
    epochs = [0]
    for s in lab.sentinels:
        if s.alive:
            with s.client(socket_timeout=1) as c, contextlib.suppress(redis.RedisError, OSError):
                epochs.append(int(c.sentinel_master(lab.master_name)["config-epoch"]))
    return max(epochs)


def single_failover(
    experiment: Callable[..., FailoverRun],
    lab: Lab,
    *,
    attempts: int = 3,
    **kwargs: Any,
) -> FailoverRun:
    """Run ``experiment(lab, **kwargs)``; if it caused more than one failover, run it again
    on a fresh lab like ``lab`` (same server, persistence, config and Sentinel settings),
    up to ``attempts``.

    A measurement of "a failover" is only valid if exactly one happened (see the module
    notes for what causes a second one). ``details["attempts"]`` and
    ``details["discarded"]`` (the failover counts of the runs thrown away) say what was
    repeated; each repetition is also reported as a :class:`RuntimeWarning`. Labs this
    function starts, it stops; ``lab`` stays the caller's.
    """
    from ..lab.lab import Lab

    discarded: list[int] = []
    target = lab
    for attempt in range(1, attempts + 1):
        try:
            run = experiment(target, **kwargs)
        finally:
            if target is not lab:
                target.stop()
        if run.details["failovers"] == 1:
            run.details.update(attempts=attempt, discarded=discarded)
            return run
        discarded.append(run.details["failovers"])
        warnings.warn(
            f"{experiment.__name__}: {run.details['failovers']} failovers instead of 1 "
            f"(attempt {attempt} of {attempts}); repeating on a fresh lab",
            RuntimeWarning,
            stacklevel=2,
        )
        target = Lab.start(
            lab.topology.name,
            server=str(lab.server.path),
            persistence=lab.persistence,
            config=dict(lab.config) or None,
            sentinel=lab.sentinel_settings,
        )
    raise FaultTimeout(
        f"{experiment.__name__}: no run with exactly one failover in {attempts} attempts "
        f"(failovers per run: {discarded})"
    )


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
    epoch = sentinel_epoch(lab)
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
    details = {"failovers": sentinel_epoch(lab) - epoch}
    return FailoverRun(
        "sentinel-kill", lab.server.label, timeline, loads, lost, old.name, new, details
    )


def _writer_name(wait: int) -> str:
    return "SET" if wait == 0 else f"SET+WAIT {wait}"


def _sentinel_settings(connection: redis.Redis, master_name: str) -> dict[str, int]:
    m: dict[str, Any] = connection.sentinel_master(master_name)  # type: ignore[assignment]
    return {
        "down-after-milliseconds": int(m["down-after-milliseconds"]),
        "failover-timeout": int(m["failover-timeout"]),
        "quorum": int(m["quorum"]),
    }


def _connected_replicas_after_resume(connection: redis.Redis, *, within: float = 1.0) -> int:
    """``connected_slaves`` of a just-resumed node, once it reads 0 or after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        n = int(connection.info("replication")["connected_slaves"])
        if n == 0 or time.monotonic() > deadline:
            return n
        time.sleep(0.01)


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
    """Freeze the primary with SIGSTOP until Sentinel promotes a replica, then resume it.

    The *stale* writers are clients whose connection to the old primary outlives the
    freeze (``master_for`` without a socket timeout: the write in flight waits
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
            only once the returning node has reported the wrong role, and has not been
            down, for ``sentinel_publish_period * 4`` = 8 s: ``sentinelRefreshInstanceInfo``
            in ``src/sentinel.c``; too long for a notebook cell).

    SIGSTOP freezes the whole process: while it is stopped the old primary answers no
    client and no replica, so it accepts no write. This is not a network partition
    (where clients on the primary's side keep writing to it throughout): the split
    brain here begins only when the frozen primary resumes. Its replica links were
    closed meanwhile (one replica was promoted, the other repointed), so on resuming it
    counts no connected replica: ``details["replicas_after_resume"]`` is its
    ``connected_slaves`` once it has read those closes (polled up to 1 s).

    Events: ``fault`` (pause), ``sentinel named``, ``resumed`` (SIGCONT),
    ``demoted`` (the old primary reports ``ROLE slave``). The old primary is always
    resumed, even if a wait times out.
    """
    if demote not in ("manual", "sentinel"):
        raise UsageError("demote must be 'manual' or 'sentinel'")
    old = lab.primary
    old_addr = old.address
    epoch = sentinel_epoch(lab)
    sentinels = _sentinel_clients(lab)
    details: dict[str, Any] = {"sentinel": _sentinel_settings(sentinels[0], lab.master_name)}
    if min_replicas_to_write:
        for n in lab.data_nodes:
            with n.client() as c:
                c.config_set("min-replicas-to-write", min_replicas_to_write)
                c.config_set("min-replicas-max-lag", min_replicas_max_lag)
    old_conn = old.client(socket_timeout=0.5, socket_connect_timeout=0.5)
    cfg = old_conn.config_get("min-replicas-*")
    details.update({str(k): int(str(v)) for k, v in cfg.items()})
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
        details["replicas_after_resume"] = _connected_replicas_after_resume(old_conn)
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
    details["failovers"] = sentinel_epoch(lab) - epoch
    return FailoverRun(
        "sentinel-split-brain", lab.server.label, timeline, loads, lost, old.name, new, details
    )
