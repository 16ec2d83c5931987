"""Network settings: TCP_NODELAY and keepalive on the client, ``tcp-keepalive`` on the server.

- redis-py sets ``TCP_NODELAY`` on every socket (no Nagle delay of small writes) and
  ``SO_KEEPALIVE`` when ``socket_keepalive=True`` (its default);
  :func:`socket_options` reads both from a live connection.
- :class:`NagleConnection` turns ``TCP_NODELAY`` off again, and
  :func:`nodelay_comparison` measures both on loopback. Nagle's algorithm holds a small
  segment while earlier data is unacknowledged; it bites a client that writes twice
  before reading (redis-py's Python packer sends a value over 6000 bytes as a second
  write). The second write waits for the ACK of the first, and the receiving kernel
  delays that ACK (TCP delayed ACK, RFC 1122 4.2.3.2; tcp(7) ``TCP_QUICKACK``) because
  the server has nothing to send until the whole command arrived: on Linux loopback too,
  such a command stalls for tens of milliseconds. A command sent in one write does not.
  This is the client's and the kernels' behaviour; no Redis setting controls it.
- The server's ``tcp-keepalive`` (redis.conf: default 300 s since 3.2.1) makes it send
  TCP keepalive probes to idle clients, to find peers that vanished without closing.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

import pandas as pd
from redis.connection import Connection

from ..keys import PERFORMANCE, key
from ..kit.bench import compare
from ..lab.node import Node
from ..types import PlainConnection
from .connections import PythonPackerConnection, client

__all__ = [
    "NagleConnection",
    "NaglePythonConnection",
    "nodelay_comparison",
    "server_keepalive",
    "socket_options",
]


class NagleConnection(Connection):
    """A redis-py ``Connection`` with ``TCP_NODELAY`` off (Nagle's algorithm on)."""

    def _connect(self) -> socket.socket:
        sock = super()._connect()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        return sock


class NaglePythonConnection(PythonPackerConnection):
    """:class:`NagleConnection` that packs commands in Python (big values: two writes)."""

    def _connect(self) -> socket.socket:
        sock = super()._connect()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        return sock


def socket_options(connection: PlainConnection) -> dict[str, Any]:
    """``TCP_NODELAY``, ``SO_KEEPALIVE`` and the keepalive timers of a pooled connection."""
    conn = connection.connection_pool.get_connection()
    try:
        conn.connect()
        sock = conn._sock
        assert sock is not None  # connect() opened it
        out: dict[str, Any] = {
            "TCP_NODELAY": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY),
            "SO_KEEPALIVE": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        }
        for name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT"):
            opt = getattr(socket, name, None)
            if opt is not None:
                out[name] = sock.getsockopt(socket.IPPROTO_TCP, opt)
        return out
    finally:
        connection.connection_pool.release(conn)


def server_keepalive(connection: PlainConnection) -> int:
    """The server's ``tcp-keepalive`` (seconds between keepalive probes; 0 = off)."""
    return int(connection.config_get("tcp-keepalive")["tcp-keepalive"])


def nodelay_comparison(
    node: Node,
    *,
    sizes: Sequence[int] = (100, 20_000),
    calls: int = 300,
    slow_calls: int = 15,
    rounds: int = 3,
    show_progress: bool = True,
) -> pd.DataFrame:
    """SET throughput with ``TCP_NODELAY`` on and off, for each value size and packer.

    A path that Nagle stalls takes ~40 ms a call (a delayed ACK), so the Python packer
    with a value over 6000 bytes does only ``slow_calls`` calls per round. Returns a table:
    ``size, packer, nodelay_ops_per_s, nagle_ops_per_s, nagle/nodelay``
    (median of per-round ratios).
    """
    from ..kit.bench import median_ratio

    rows = []
    for size in sizes:
        value = b"x" * size
        k = key(PERFORMANCE, "nagle", size)
        for packer, on_cls, off_cls in (
            ("hiredis (one write)", Connection, NagleConnection),
            ("python (>6000 B: two writes)", PythonPackerConnection, NaglePythonConnection),
        ):
            parser = "hiredis" if packer.startswith("hiredis") else "python"
            on = client(node, parser=parser, connection_class=on_cls)
            off = client(node, parser=parser, connection_class=off_cls)
            res = compare(
                {
                    "nodelay": lambda c=on, k=k, v=value: c.set(k, v),
                    "nagle": lambda c=off, k=k, v=value: c.set(k, v),
                },
                calls=slow_calls if (parser == "python" and size > 6000) else calls,
                rounds=rounds,
                desc=f"TCP_NODELAY {size} B",
                show_progress=show_progress,
            )
            med = res.groupby("path").ops_per_s.median()
            rows.append(
                {
                    "size": size,
                    "packer": packer,
                    "nodelay_ops_per_s": med["nodelay"],
                    "nagle_ops_per_s": med["nagle"],
                    "nagle/nodelay": median_ratio(res, "nagle", "nodelay"),
                }
            )
            on.close()
            off.close()
    return pd.DataFrame(rows)
