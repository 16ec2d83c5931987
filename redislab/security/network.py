"""Network exposure: what protected mode refuses, shown with addresses on this machine.

Protected mode (on by default) refuses clients that do not come from loopback while
the default user has no password: they get ``-DENIED ...`` and the connection is
closed. Which addresses count as loopback differs: Redis 7.0 accepts exactly
``127.0.0.1`` and ``::1``; later servers accept all of ``127.0.0.0/8``. So
:func:`probe_sources` tries ``127.0.0.2`` and the machine's own non-loopback
addresses (a connection to them never leaves the machine).
"""

from __future__ import annotations

import socket

import pandas as pd
import psutil

__all__ = ["local_addresses", "ping_from", "probe_sources"]


def local_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses (``eth0``'s...), possibly none."""
    out = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                out.append(a.address)
    return sorted(set(out))


def ping_from(address: str, port: int, *, timeout: float = 3.0) -> tuple[str, bool]:
    """Connect to ``address:port`` *from* ``address``, send ``PING``.

    Returns the first reply line and whether the server then closed the connection
    (a second ``PING`` answered by end-of-file or a reset).
    """
    with socket.create_connection(
        (address, port), timeout=timeout, source_address=(address, 0)
    ) as s:
        s.sendall(b"PING\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        line, _, rest = data.partition(b"\r\n")
        try:
            s.sendall(b"PING\r\n")
            closed = not rest and s.recv(4096) == b""
        except OSError:
            closed = True
    return line.decode(errors="replace") or "<closed>", closed


def probe_sources(port: int, sources: list[str]) -> pd.DataFrame:
    """``PING`` from each source address: first word (``PONG``, ``DENIED``), reply, closed after."""
    rows = []
    for src in sources:
        try:
            reply, closed = ping_from(src, port)
        except OSError as exc:
            reply, closed = f"{type(exc).__name__}: {exc}", True
        word = reply.lstrip("+-").split(" ", 1)[0]
        rows.append({"source": src, "code": word, "closed": closed, "reply": reply[:100]})
    return pd.DataFrame(rows)
