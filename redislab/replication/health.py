"""Health checks: a checker that marks replicas down and up, and how long it takes.

- :func:`probe`: one health check of one node: ``PING`` within a deadline, then
  ``INFO replication`` (role, ``master_link_status``, offset);
- :class:`HealthChecker`: probes every node each ``interval`` from a background
  thread; a replica is *down* when it does not answer (``dead``: refused, ``timeout``:
  no answer within the deadline), when its link to the primary is down (``link``),
  or when it is more than ``max_lag_bytes`` behind the primary (``lag``); up again
  after ``rise`` good probes in a row. Every change is an event on the timeline;
- :class:`LinkProxy`: a TCP relay between a replica and its primary that can *hold*
  the stream: the replica then falls behind while its link stays up and it keeps
  answering, the lagging replica a PING cannot see;
- :func:`time_to_detect`: inject a fault, return how long the checker took to notice;
- :func:`time_to_error`: how long one request to a node takes to fail, per socket timeout.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import redis

from ..errors import HealthTimeout
from ..kit.timeline import Timeline, no_retry
from ..lab.waits import wait_until

__all__ = [
    "HealthChecker",
    "LinkProxy",
    "Probe",
    "probe",
    "time_to_detect",
    "time_to_error",
]


# --------------------------------------------------------------------- probe
@dataclass
class Probe:
    """One health check: did the node answer, how fast, and its replication state."""

    ok: bool
    latency_s: float
    error: str = ""
    role: str = ""
    link: str = ""
    offset: int | None = None


def probe(connection: redis.Redis) -> Probe:
    """``PING`` then ``INFO replication`` on ``connection`` (its ``socket_timeout`` is the
    deadline). ``error`` is ``dead`` (refused), ``timeout`` or the error class."""
    t0 = time.perf_counter()
    try:
        connection.ping()
        info = connection.info("replication")
    except redis.TimeoutError:
        return Probe(False, time.perf_counter() - t0, "timeout")
    except redis.ConnectionError as exc:
        text = str(exc).lower()
        kind = "timeout" if "timed out" in text or "timeout" in text else "dead"
        return Probe(False, time.perf_counter() - t0, kind)
    except redis.RedisError as exc:
        return Probe(False, time.perf_counter() - t0, type(exc).__name__)
    role = "primary" if info.get("role") == "master" else "replica"
    if role == "primary":
        return Probe(
            True, time.perf_counter() - t0, role=role, offset=int(info.get("master_repl_offset", 0))
        )
    return Probe(
        True,
        time.perf_counter() - t0,
        role=role,
        link=str(info.get("master_link_status", "")),
        offset=int(info.get("slave_repl_offset", 0)),
    )


# ------------------------------------------------------------------- checker
@dataclass
class _State:
    up: bool = True
    reason: str = ""
    good: int = 0
    bad: int = 0
    lag_bytes: int | None = None


class HealthChecker:
    """Probe every node each ``interval`` s and keep an up/down verdict per replica.

    Args:
        clients: a client per node, by name; each is used only by the checker. A
            client's ``socket_timeout`` is its probe deadline: build them with
            :meth:`for_nodes` (deadline, ``retry`` off).
        primary: the primary's name (its offset is the reference for lag).
        interval: seconds between rounds of probes.
        max_lag_bytes: a replica further behind than this is down (``None``: no lag check).
        fall: failed probes in a row before a node is marked down.
        rise: good probes in a row before it is marked up again.
        timeline: the experiment's clock; :attr:`events` are on it.
    """

    def __init__(
        self,
        clients: Mapping[str, redis.Redis],
        *,
        primary: str,
        interval: float = 0.1,
        max_lag_bytes: int | None = None,
        fall: int = 1,
        rise: int = 2,
        timeline: Timeline | None = None,
    ) -> None:
        self.clients = dict(clients)
        self.primary = primary
        self.interval = interval
        self.max_lag_bytes = max_lag_bytes
        self.fall = fall
        self.rise = rise
        self.timeline = timeline or Timeline()
        self.state = {name: _State() for name in self.clients}
        self.events: list[dict[str, Any]] = []
        self.rounds = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def for_nodes(nodes: Sequence[Any], *, deadline: float = 0.1) -> dict[str, redis.Redis]:
        """Checker clients for lab nodes: ``socket_timeout`` = connect timeout = ``deadline``."""
        return {
            n.name: n.client(
                socket_timeout=deadline, socket_connect_timeout=deadline, retry=no_retry()
            )
            for n in nodes
        }

    # ------------------------------------------------------------ one round
    def check_once(self) -> dict[str, Probe]:
        """Probe every node once (replicas first, then the primary) and update verdicts."""
        probes = {n: probe(c) for n, c in self.clients.items() if n != self.primary}
        probes[self.primary] = probe(self.clients[self.primary])
        ref = probes[self.primary].offset if probes[self.primary].ok else None
        for name, p in probes.items():
            reason = p.error
            lag = None
            if p.ok and name != self.primary:
                if p.link and p.link != "up":
                    reason = "link"
                elif ref is not None and p.offset is not None:
                    lag = max(0, ref - p.offset)
                    if self.max_lag_bytes is not None and lag > self.max_lag_bytes:
                        reason = "lag"
            self._update(name, reason, lag)
        self.rounds += 1
        return probes

    def _update(self, name: str, reason: str, lag: int | None) -> None:
        s = self.state[name]
        s.lag_bytes = lag
        if reason:
            s.bad, s.good = s.bad + 1, 0
            if s.up and s.bad >= self.fall:
                s.up, s.reason = False, reason
                self.events.append(
                    {
                        "t": self.timeline.now(),
                        "node": name,
                        "up": False,
                        "reason": reason,
                        "lag_bytes": lag,
                    }
                )
        else:
            s.good, s.bad = s.good + 1, 0
            if not s.up and s.good >= self.rise:
                s.up, s.reason = True, ""
                self.events.append(
                    {
                        "t": self.timeline.now(),
                        "node": name,
                        "up": True,
                        "reason": "",
                        "lag_bytes": lag,
                    }
                )

    # ------------------------------------------------------------ thread
    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            self.check_once()
            self._stop.wait(max(0.0, self.interval - (time.perf_counter() - t0)))

    def start(self) -> HealthChecker:
        """Start probing in a background thread."""
        self._thread = threading.Thread(target=self._run, name="redislab-health", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> HealthChecker:
        """Stop the thread and close the checker's clients."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for c in self.clients.values():
            with contextlib.suppress(Exception):
                c.close()
        return self

    def __enter__(self) -> HealthChecker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ verdicts
    def is_up(self, name: str) -> bool:
        """The current verdict on ``name``."""
        return self.state[name].up

    def healthy(self) -> list[str]:
        """The nodes currently up."""
        return [n for n, s in self.state.items() if s.up]

    def wait_state(self, name: str, up: bool, *, timeout: float = 10.0) -> float:
        """Wait until ``name`` is marked ``up`` (or down); return that time on the timeline."""

        def changed() -> float | None:
            for e in reversed(self.events):
                if e["node"] == name:
                    return e["t"] if e["up"] == up else None
            return None if not up else 0.0

        wait_until(
            lambda: changed() is not None,
            timeout=timeout,
            interval=0.005,
            what=f"{name} marked {'up' if up else 'down'}",
            error=HealthTimeout,
        )
        t = changed()
        assert t is not None
        return t

    @property
    def records(self) -> pd.DataFrame:
        """Every change of verdict: ``t``, ``node``, ``up``, ``reason``, ``lag_bytes``."""
        return pd.DataFrame(self.events, columns=["t", "node", "up", "reason", "lag_bytes"])


def time_to_detect(
    checker: HealthChecker,
    name: str,
    fault: Callable[[], Any],
    *,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Apply ``fault`` (a callable: ``node.kill``, ``node.pause``...) and time the checker.

    Returns ``fault_t`` (timeline), ``detect_s`` (until ``name`` was marked down) and
    ``reason``. The checker must be running and ``name`` up.
    """
    if not checker.is_up(name):
        raise HealthTimeout(f"{name} is already marked down")
    t = checker.timeline.now()
    fault()
    down_t = checker.wait_state(name, False, timeout=timeout)
    return {
        "node": name,
        "fault_t": t,
        "detect_s": down_t - t,
        "reason": checker.state[name].reason,
    }


def time_to_error(node: Any, *, socket_timeout: float | None, bound: float = 5.0) -> dict[str, Any]:
    """One ``PING`` to ``node`` on a new connection: how long until it fails, and how.

    ``socket_timeout=None`` waits for ever in redis-py; ``bound`` (enforced with a
    socket timeout of ``bound``) stands for "for ever" here and is reported as such.
    """
    c = node.client(
        socket_timeout=socket_timeout if socket_timeout is not None else bound,
        socket_connect_timeout=socket_timeout if socket_timeout is not None else bound,
        retry=no_retry(),
    )
    t0 = time.perf_counter()
    try:
        c.ping()
        error = ""
    except redis.RedisError as exc:
        error = type(exc).__name__
    finally:
        c.close()
    return {
        "socket_timeout": socket_timeout,
        "seconds": time.perf_counter() - t0,
        "error": error or "none",
        "hit_bound": socket_timeout is None,
    }


# --------------------------------------------------------------------- proxy
class LinkProxy:
    """A loopback TCP relay to ``target`` that can hold traffic (a stalled link).

    ``replica.replicaof("127.0.0.1", proxy.port)`` sends a replica's replication
    through it; :meth:`hold` stops relaying in both directions (bytes wait in the
    kernel's buffers, the connection stays open), :meth:`release` resumes. With
    ``delay`` each relayed chunk waits that long first (a slow link).
    """

    def __init__(self, target_host: str, target_port: int, *, delay: float = 0.0) -> None:
        self.target = (target_host, target_port)
        self.delay = delay
        self._held = threading.Event()
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.relayed_bytes = 0
        self._accept = threading.Thread(
            target=self._accept_loop, name="redislab-proxy", daemon=True
        )
        self._accept.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.settimeout(0.05)
                self._socks.append(s)
            for a, b in ((client, upstream), (upstream, client)):
                t = threading.Thread(target=self._pump, args=(a, b), daemon=True)
                t.start()
                self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while not self._stop.is_set():
            if self._held.is_set():
                time.sleep(0.005)
                continue
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            if self.delay:
                time.sleep(self.delay)
            try:
                dst.sendall(data)
            except OSError:
                break
            self.relayed_bytes += len(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.close()

    def hold(self) -> None:
        """Stop relaying (both directions) until :meth:`release`."""
        self._held.set()

    def release(self) -> None:
        """Relay again."""
        self._held.clear()

    def close(self) -> None:
        """Close every connection and the listener; stop the threads."""
        self._stop.set()
        self._held.clear()
        for s in [*self._socks, self._listener]:
            with contextlib.suppress(OSError):
                s.close()
        for t in [self._accept, *self._threads]:
            t.join(2)

    def __enter__(self) -> LinkProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
