"""Free loopback ports, reserved across processes.

Ports are drawn from ``PORT_RANGE`` so that a data port and its cluster bus port
(data + 10000) both stay below 32768, outside Linux's ephemeral range: a
connect-poll loop inside that range can self-connect to the very port a node is
about to bind. A reservation is a file ``<cache>/ports/<port>`` created with
``O_EXCL`` and holding the owner's pid, so two processes starting labs at the
same moment never pick the same port; a reservation whose owner died is stale.
"""

from __future__ import annotations

import errno
import os
import random
import socket
from pathlib import Path

from .servers import _cache_dir

__all__ = ["PORT_RANGE", "port_is_free", "release_port", "reserve_port"]

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
