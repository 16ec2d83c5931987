"""Free loopback ports, reserved across processes.

Ports are drawn from ``PORT_RANGE`` so that a data port and its cluster bus port
(data + 10000) both stay below 32768, outside Linux's ephemeral range: a
connect-poll loop inside that range can self-connect to the very port a node is
about to bind. A reservation is a file ``<cache>/ports/<port>`` created with
``O_EXCL`` and holding the owner's pid, so two processes starting labs at the
same moment never pick the same port; a reservation whose owner died is stale.

Fixed ports (``Lab.start(port=, sentinel_port=)``) are a *plan*: every :class:`PortUse`
(a data port, a cluster bus port, a sentinel port, a TLS port) is checked by
:func:`check_port_plan` before anything starts, against the rest of the plan, against the
labs the registry knows and against what is bound on 127.0.0.1.
"""

from __future__ import annotations

import errno
import os
import random
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from ..errors import PortConflict, PortTaken, UsageError
from .servers import _cache_dir

__all__ = [
    "BUS_OFFSET",
    "PORT_RANGE",
    "PortUse",
    "check_port_plan",
    "port_holder",
    "port_is_free",
    "release_port",
    "reserve_port",
]

#: A cluster node's bus port is its data port + 10000 (unless ``cluster-port`` says otherwise).
BUS_OFFSET = 10000

PORT_RANGE = (7000, 22700)
_rng = random.Random()  # ports are chosen at random on purpose: not seeded


def _ports_dir() -> Path:
    d = _cache_dir() / "ports"
    d.mkdir(parents=True, exist_ok=True)
    return d


def port_is_free(port: int) -> bool:
    """True if 127.0.0.1:port can be bound now (with SO_REUSEADDR, as Redis binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _try_reserve(port: int, owner: int) -> bool:
    path = _ports_dir() / str(port)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = int(path.read_text().strip() or 0)
            except (OSError, ValueError):
                holder = 0
            if holder and _pid_alive(holder):
                return False
            # stale: its owner is gone; remove and try once more
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(str(owner))
        return True
    return False


def reserve_port(*, bus: bool = False, owner: int | None = None, attempts: int = 500) -> int:
    """Reserve and return a free port (and its bus port, data + 10000, when ``bus``)."""
    owner = owner or os.getpid()
    lo, hi = PORT_RANGE
    for _ in range(attempts):
        port = _rng.randrange(lo, hi)
        if not port_is_free(port) or (bus and not port_is_free(port + 10000)):
            continue
        if _try_reserve(port, owner):
            # re-check after winning the reservation: someone outside redislab may have bound it
            if port_is_free(port) and (not bus or port_is_free(port + 10000)):
                return port
            release_port(port)
    raise OSError(errno.EADDRINUSE, f"no free port in {lo}-{hi} after {attempts} tries")


def release_port(port: int) -> None:
    """Drop a reservation (no error if it is gone)."""
    try:
        (_ports_dir() / str(port)).unlink()
    except FileNotFoundError:
        pass


def transfer_ports(ports: list[int], owner: int) -> None:
    """Hand reservations to another owner pid (a detached lab's first server)."""
    for port in ports:
        (_ports_dir() / str(port)).write_text(str(owner))


# ------------------------------------------------------------------ port plans
@dataclass(frozen=True)
class PortUse:
    """One port a lab uses: what uses it (``sentinel-1``, ``primary-1's cluster bus port
    (16379 + 10000)``) and the lab it belongs to (None: the lab being planned)."""

    port: int
    owner: str
    lab: str | None = None
    bus: bool = False

    def __str__(self) -> str:
        return self.owner if self.lab is None else f"{self.owner} of lab {self.lab}"


def port_holder(port: int) -> str:
    """Who listens on ``port``: ``"pid 1234 (redis-server)"``, or ``""`` if it cannot be told."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):  # AccessDenied on macOS without privileges
        return ""
    for c in connections:
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN and c.pid:
            try:
                name = psutil.Process(c.pid).name()
            except psutil.Error:
                name = "?"
            return f"pid {c.pid} ({name})"
    return ""


def _conflict(port: int, first: PortUse, second: PortUse) -> PortConflict:
    where = " (both in this lab's plan)" if first.lab is None and second.lab is None else ""
    hint = (
        f"; a cluster node's bus port is its data port + {BUS_OFFSET}"
        if first.bus or second.bus
        else ""
    )
    return PortConflict(
        f"port {port}: {first} and {second}{where}. Choose ports that do not collide{hint}."
    )


def check_port_plan(
    plan: Sequence[PortUse],
    known: Iterable[PortUse] = (),
    *,
    is_free: Callable[[int], bool] | None = port_is_free,
) -> None:
    """Refuse a plan before anything starts.

    :class:`~redislab.errors.UsageError` for a port out of range;
    :class:`~redislab.errors.PortConflict` naming both owners when two uses in ``plan``
    want one port, or one is a port of ``known`` (other labs, from the registry);
    :class:`~redislab.errors.PortTaken` naming the use (and the process, when it can be
    told) when ``is_free`` (default :func:`port_is_free`; None: not probed) says a port
    is bound.
    """
    for use in plan:
        if not 0 < use.port < 65536:
            raise UsageError(f"port {use.port} ({use}) is out of range (1-65535)")
    seen: dict[int, PortUse] = {}
    for use in plan:
        if use.port in seen:
            raise _conflict(use.port, seen[use.port], use)
        seen[use.port] = use
    others: dict[int, PortUse] = {}
    for use in known:
        others.setdefault(use.port, use)
    for use in plan:
        if use.port in others:
            raise _conflict(use.port, others[use.port], use)
    if is_free is None:
        return
    for use in plan:
        if not is_free(use.port):
            holder = port_holder(use.port)
            raise PortTaken(
                f"port {use.port} on 127.0.0.1, wanted for {use}, is taken"
                f"{' by ' + holder if holder else ''} (the lab needs "
                f"{', '.join(str(u.port) for u in plan)}); stop what listens there or "
                "choose another port="
            )
