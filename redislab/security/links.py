"""TLS on a server's own links: replication and the cluster bus of a ``tls=True`` lab.

``Lab.start("replicated", tls=True)`` and ``Lab.start("cluster", tls=True)`` listen on
TLS only (``port 0``) and set ``tls-replication yes`` (and ``tls-cluster yes``) on every
node. This module looks at those links from outside:

- :func:`plaintext_ping`: a plaintext ``PING`` to a TLS port (it fails);
- :func:`replication_without_tls`: a replica told ``tls-replication no`` reconnects in
  plaintext to its primary's TLS port and stays down, then comes back with ``yes``;
- :func:`bus_port` / :func:`bus_probe`: the cluster bus port read from ``CLUSTER NODES``,
  and what it answers to plaintext bytes and to a TLS ClientHello, record by record;
- :func:`keys_by_node`: where keys written through a cluster client landed.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
from cryptography import x509

from ..errors import SecurityError
from ..lab.tls import TLSFiles
from ..types import PlainConnection
from .tls import TLSCase, _attempt

__all__ = [
    "BusProbe",
    "bus_port",
    "bus_probe",
    "keys_by_node",
    "plaintext_ping",
    "replication_without_tls",
]

#: TLS record content type 22 (handshake) and handshake message type 2 (ServerHello),
#: RFC 8446 sections 5.1 and 4: the first bytes a TLS server sends back.
TLS_HANDSHAKE_RECORD = 0x16
TLS_SERVER_HELLO = 0x02


def plaintext_ping(port: int) -> TLSCase:
    """``PING`` in plaintext to ``127.0.0.1:port``: ``connected`` only if ``+PONG`` came back."""
    return _attempt("plaintext PING", port, ca=None, plaintext=True)


def _link(replica: PlainConnection) -> str:
    return str(replica.info("replication").get("master_link_status", "none"))


def replication_without_tls(
    replica: PlainConnection,
    *,
    primary_host: str,
    primary_port: int,
    watch: float = 2.0,
    timeout: float = 20.0,
) -> pd.DataFrame:
    """Re-point ``replica`` at its (TLS-only) primary with ``tls-replication no``, then ``yes``.

    ``REPLICAOF NO ONE`` first, so each ``REPLICAOF`` opens a new link. With ``no`` the
    replica's link is watched for ``watch`` seconds (it retries every second); with
    ``yes`` until it is up. One row per phase: the setting, the link status, seconds.
    """
    rows = []
    for setting in ("no", "yes"):
        replica.execute_command("REPLICAOF", "NO", "ONE")
        replica.config_set("tls-replication", setting)
        replica.execute_command("REPLICAOF", primary_host, str(primary_port))
        t0 = time.perf_counter()
        limit = watch if setting == "no" else timeout
        status = _link(replica)
        while time.perf_counter() - t0 < limit:
            status = _link(replica)
            if status == "up":
                break
            time.sleep(0.05)
        rows.append(
            {
                "tls-replication": setting,
                "master_link_status": status,
                "seconds": round(time.perf_counter() - t0, 2),
            }
        )
    if rows[-1]["master_link_status"] != "up":
        raise SecurityError(f"the replica did not resync over TLS within {timeout:.0f} s")
    return pd.DataFrame(rows)


def bus_port(connection: PlainConnection) -> int:
    """The cluster bus port of the node ``connection`` talks to (``ip:port@cport`` in
    ``CLUSTER NODES``, the ``myself`` line)."""
    nodes = connection.execute_command("CLUSTER", "NODES")
    if isinstance(nodes, dict):  # redis-py may parse CLUSTER NODES into a dict
        for addr, info in nodes.items():
            if "myself" in str(info.get("flags", "")):
                cport = info.get("cport") or info.get("bus_port")
                if cport:
                    return int(cport)
                raise SecurityError(f"no bus port in CLUSTER NODES entry {addr}: {info}")
        raise SecurityError("no 'myself' entry in CLUSTER NODES")
    text = nodes.decode() if isinstance(nodes, bytes) else str(nodes)
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 2 and "myself" in fields[2]:
            return int(fields[1].split("@", 1)[1].split(",", 1)[0])
    raise SecurityError("no 'myself' line in CLUSTER NODES")


@dataclass(frozen=True)
class BusProbe:
    """What a cluster bus port answered to one kind of first bytes."""

    sent: str
    first_reply: str  # hex of the first bytes back ("" when the connection was closed)
    closed: bool
    record_type: int | None  # first byte: 0x16 = a TLS handshake record
    handshake_type: int | None  # sixth byte: 0x02 = ServerHello
    handshake_ok: bool
    peer_issuer: str


def _recv_some(sock: socket.socket, wait: float) -> tuple[bytes, bool]:
    """Read what comes within ``wait`` seconds; ``closed`` when the peer closed or reset."""
    sock.settimeout(wait)
    try:
        data = sock.recv(4096)
    except TimeoutError:
        return b"", False
    except ConnectionResetError:
        return b"", True
    return data, data == b""


def _plain(port: int, host: str, wait: float) -> BusProbe:
    with socket.create_connection((host, port), timeout=5) as sock:
        # The start of a plaintext cluster-bus message: signature "RCmb" and a length.
        sock.sendall(b"RCmb\x00\x00\x08\x00" + b"\x00" * 64)
        data, closed = _recv_some(sock, wait)
        if not closed and not data:
            data, closed = _recv_some(sock, wait)
    return BusProbe(
        sent="plaintext bus bytes ('RCmb' header)",
        first_reply=data[:16].hex(" "),
        closed=closed or data == b"",
        record_type=data[0] if data else None,
        handshake_type=data[5] if len(data) > 5 else None,
        handshake_ok=False,
        peer_issuer="",
    )


def _tls(port: int, host: str, files: TLSFiles, wait: float) -> BusProbe:
    """A TLS handshake driven through memory BIOs, so the server's first record is kept."""
    ctx = ssl.create_default_context(cafile=str(files.ca_cert))
    ctx.load_cert_chain(str(files.client_cert), str(files.client_key))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    first = b""
    ok = False
    issuer = ""
    with socket.create_connection((host, port), timeout=5) as sock:
        deadline = time.monotonic() + max(wait, 2.0)
        while time.monotonic() < deadline:
            try:
                tls.do_handshake()
                ok = True
            except ssl.SSLWantReadError:
                pass
            pending = outgoing.read()
            if pending:
                sock.sendall(pending)  # the ClientHello first, then the client's Finished
            if ok:
                break
            data, closed = _recv_some(sock, wait)
            if not first:
                first = data
            if closed:
                break
            incoming.write(data)
        if ok:
            der = tls.getpeercert(binary_form=True)
            if der:
                issuer = x509.load_der_x509_certificate(der).issuer.rfc4514_string()
    return BusProbe(
        sent="TLS ClientHello (lab CA, client certificate)",
        first_reply=first[:16].hex(" "),
        closed=not ok,
        record_type=first[0] if first else None,
        handshake_type=first[5] if len(first) > 5 else None,
        handshake_ok=ok,
        peer_issuer=issuer,
    )


def bus_probe(
    port: int, files: TLSFiles, *, host: str = "127.0.0.1", wait: float = 1.0
) -> pd.DataFrame:
    """Plaintext bus bytes, then a TLS handshake, to the cluster bus ``port``: one row each.

    A plaintext bus would wait for the rest of the message; a TLS bus reads the bytes
    as a (broken) TLS record and drops the connection. To a ClientHello a TLS bus
    answers with a handshake record (``0x16``) holding a ServerHello (``0x02``).
    """
    rows = [_plain(port, host, wait), _tls(port, host, files, wait)]
    return pd.DataFrame([r.__dict__ for r in rows])


def keys_by_node(nodes: list[Any]) -> dict[str, int]:
    """``DBSIZE`` of each node (lab :class:`~redislab.lab.node.Node`\\ s): where keys landed."""
    return {n.name: int(n.control.dbsize()) for n in nodes}
