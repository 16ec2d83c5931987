"""TLS checks: which connections a TLS listener accepts, each refusal's own error, the cost.

The lab's ``secure`` topology already serves TLS with certificates from
:mod:`redislab.lab.tls`. To show *bad* certificates this module makes its own small
PKI (:func:`make_pki`): a CA, a good server and client certificate, an expired
server certificate, a server certificate for another host name, an expired client
certificate and a second, untrusted CA. :func:`enable_tls` turns a TLS port on at
run time (``CONFIG SET tls-port``) next to a plain one, so both can be measured on
the same server; :func:`use_server_certificate` swaps the certificate it presents.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..errors import SecurityError
from ..types import PlainConnection

__all__ = [
    "PKI",
    "TLSCase",
    "enable_tls",
    "make_pki",
    "replica_links",
    "replicate_over_tls",
    "require_tls",
    "tls_cases",
    "tls_client",
    "tls_connect_pairs",
    "tls_cost",
    "use_server_certificate",
]


@dataclass(frozen=True)
class PKI:
    """PEM files of a small PKI; each certificate ``name`` has ``name.crt`` and ``name.key``."""

    directory: Path

    def cert(self, name: str) -> Path:
        """The certificate ``name`` (``ca``, ``server``, ``client``, ``expired-server``...)."""
        return self.directory / f"{name}.crt"

    def key(self, name: str) -> Path:
        """The private key of ``name``."""
        return self.directory / f"{name}.key"


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "redislab security"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _save(
    directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    (directory / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path = directory / f"{name}.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _ca(cn: str, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(cn)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    cn: str,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    *,
    server: bool,
    hosts: tuple[str, ...],
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca[0].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if hosts:
        names: list[x509.GeneralName] = []
        for h in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(h)))
            except ValueError:
                names.append(x509.DNSName(h))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca[1], hashes.SHA256()), key


def make_pki(directory: Path) -> PKI:
    """CA, server, client, ``expired-server``, ``wrong-host-server``, ``expired-client``,
    and an unrelated ``other-ca`` (with a ``other-client`` it signed)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca = _ca("redislab security CA", now)
    other = _ca("some other CA", now)
    local = ("localhost", "127.0.0.1")
    valid = {"not_before": now - dt.timedelta(minutes=5), "not_after": now + dt.timedelta(days=7)}
    expired = {"not_before": now - dt.timedelta(days=30), "not_after": now - dt.timedelta(days=1)}
    _save(directory, "ca", *ca)
    _save(directory, "other-ca", *other)
    _save(directory, "server", *_leaf("localhost", ca, server=True, hosts=local, **valid))
    _save(directory, "client", *_leaf("app client", ca, server=False, hosts=(), **valid))
    _save(directory, "expired-server", *_leaf("localhost", ca, server=True, hosts=local, **expired))
    _save(
        directory,
        "wrong-host-server",
        *_leaf("db.example.internal", ca, server=True, hosts=("db.example.internal",), **valid),
    )
    _save(directory, "expired-client", *_leaf("old client", ca, server=False, hosts=(), **expired))
    _save(directory, "other-client", *_leaf("stranger", other, server=False, hosts=(), **valid))
    return PKI(directory)


def require_tls(server_has_tls: bool, engine: str) -> None:
    """Raise :class:`SecurityError` with the reason when the server binary has no TLS."""
    if not server_has_tls:
        raise SecurityError(
            f"this {engine} binary was built without TLS (BUILD_TLS=no): "
            "use Debian's redis-server (apt-get install redis-server) for the TLS part"
        )


def enable_tls(
    connection: PlainConnection, pki: PKI, port: int, *, auth_clients: str = "yes"
) -> None:
    """Open ``tls-port port`` at run time with ``pki``'s server certificate and CA."""
    connection.execute_command(
        "CONFIG", "SET",
        "tls-cert-file", str(pki.cert("server")),
        "tls-key-file", str(pki.key("server")),
        "tls-ca-cert-file", str(pki.cert("ca")),
        "tls-auth-clients", auth_clients,
        "tls-port", str(port),
    )  # fmt: skip


def use_server_certificate(connection: PlainConnection, pki: PKI, name: str) -> None:
    """Make the server present certificate ``name`` to new TLS connections."""
    connection.execute_command(
        "CONFIG", "SET", "tls-cert-file", str(pki.cert(name)), "tls-key-file", str(pki.key(name))
    )


def tls_client(
    port: int,
    *,
    ca: Path | None,
    cert: Path | None = None,
    key: Path | None = None,
    host: str = "127.0.0.1",
    check_hostname: bool = True,
    **kwargs: Any,
) -> redis.Redis:
    """A redis-py client over TLS that verifies the server against ``ca`` (and its name)."""
    return redis.Redis(
        host=host,
        port=port,
        ssl=True,
        ssl_ca_certs=str(ca) if ca else None,
        ssl_certfile=str(cert) if cert else None,
        ssl_keyfile=str(key) if key else None,
        ssl_check_hostname=check_hostname,
        ssl_cert_reqs="required",
        socket_timeout=5,
        **kwargs,
    )


@dataclass(frozen=True)
class TLSCase:
    """One connection attempt: its outcome and the error that came back."""

    case: str
    connected: bool
    error: str
    reason: str


_REASONS = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "client certificate required",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "client certificate required",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "client certificate expired",
    "TLSV1_ALERT_UNKNOWN_CA": "client certificate from unknown CA",
    "SSLV3_ALERT_BAD_CERTIFICATE": "client certificate refused",
    "WRONG_VERSION_NUMBER": "not TLS",
}


def _reason(exc: BaseException) -> str:
    """A short, stable name for why a TLS connection failed."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        text = (exc.verify_message or str(exc)).lower()
        if "expired" in text:
            return "certificate expired"
        if "mismatch" in text:
            return "hostname mismatch"
        if "issuer" in text or "self-signed" in text or "self signed" in text:
            return "unknown CA"
        return text
    if isinstance(exc, ssl.SSLError):
        return _REASONS.get(str(exc.reason), str(exc.reason))
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "connection reset (not TLS)"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout"
    return type(exc).__name__


def _attempt(
    label: str,
    port: int,
    *,
    ca: Path | None,
    cert: Path | None = None,
    key: Path | None = None,
    check_hostname: bool = True,
    plaintext: bool = False,
    tls12: bool = False,
) -> TLSCase:
    """Connect, handshake, ``PING``: connected only on ``+PONG``; else the error.

    ``tls12`` caps the client at TLS 1.2, where a refused client certificate fails the
    handshake itself; under TLS 1.3 the server's alert comes after the handshake and
    can lose the race against the TCP reset, which would hide its reason.
    """
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        sock: socket.socket = raw
        if not plaintext:
            ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
            ctx.check_hostname = check_hostname
            if tls12:
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            if cert is not None:
                ctx.load_cert_chain(str(cert), str(key))
            sock = ctx.wrap_socket(raw, server_hostname="localhost" if check_hostname else None)
        sock.sendall(b"PING\r\n")
        reply = sock.recv(64)
        if reply.startswith(b"+PONG"):
            return TLSCase(label, True, "", "connected")
        if not reply:
            return TLSCase(label, False, "connection closed", "connection closed (not TLS)")
        return TLSCase(label, False, reply[:60].decode(errors="replace"), "unexpected reply")
    except (OSError, ssl.SSLError) as exc:
        return TLSCase(label, False, f"{type(exc).__name__}: {str(exc)[:110]}", _reason(exc))
    finally:
        raw.close()


def tls_cases(connection: PlainConnection, pki: PKI, port: int) -> pd.DataFrame:
    """Try the good and the bad ways to connect to the TLS ``port`` (mutual TLS on).

    Swaps the server certificate for the expired and wrong-host cases and puts the
    good one back; turns ``tls-auth-clients`` to ``optional`` for one case and back.
    """
    ca = pki.cert("ca")
    good = {"cert": pki.cert("client"), "key": pki.key("client")}
    expired = {"cert": pki.cert("expired-client"), "key": pki.key("expired-client")}
    stranger = {"cert": pki.cert("other-client"), "key": pki.key("other-client")}
    cases = [
        _attempt("mutual TLS, verified", port, ca=ca, **good),
        _attempt("plaintext client on the TLS port", port, ca=None, plaintext=True),
        _attempt("client trusts another CA", port, ca=pki.cert("other-ca"), **good),
        _attempt("no client certificate", port, ca=ca, tls12=True),
        _attempt("expired client certificate", port, ca=ca, tls12=True, **expired),
        _attempt("client certificate from another CA", port, ca=ca, tls12=True, **stranger),
    ]
    try:
        use_server_certificate(connection, pki, "expired-server")
        cases.append(_attempt("server certificate expired", port, ca=ca, **good))
        use_server_certificate(connection, pki, "wrong-host-server")
        cases.append(_attempt("server certificate for another host", port, ca=ca, **good))
        cases.append(
            _attempt(
                "... with hostname checks off (do not)", port, ca=ca, check_hostname=False, **good
            )
        )
    finally:
        use_server_certificate(connection, pki, "server")
    try:
        connection.execute_command("CONFIG", "SET", "tls-auth-clients", "optional")
        cases.append(_attempt("no client certificate, tls-auth-clients optional", port, ca=ca))
    finally:
        connection.execute_command("CONFIG", "SET", "tls-auth-clients", "yes")
    return pd.DataFrame([c.__dict__ for c in cases])


def _ops_per_s(client: redis.Redis, n: int, *, pipeline: int) -> float:
    t0 = time.perf_counter()
    if pipeline > 1:
        for _ in range(n // pipeline):
            p = client.pipeline(transaction=False)
            for _ in range(pipeline):
                p.ping()
            p.execute()
    else:
        for _ in range(n):
            client.ping()
    return n / (time.perf_counter() - t0)


def _connect_s(make: Any, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        c = make()
        c.ping()
        c.close()
    return (time.perf_counter() - t0) / n


def _raw_connect_s(port: int, ctx: ssl.SSLContext | None, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ctx is not None:
            sock = ctx.wrap_socket(sock, server_hostname="localhost")
        sock.sendall(b"PING\r\n")
        sock.recv(16)
        sock.close()
    return (time.perf_counter() - t0) / n


def tls_connect_pairs(
    plain_port: int, tls_port: int, pki: PKI, *, n: int = 15
) -> tuple[list[float], list[float]]:
    """``n`` pairs of (TLS, plaintext) connect + ``PING`` times over raw sockets, in seconds.

    Each pair is measured back to back (the order alternates), so the machine's noise
    hits both members alike: paired samples for
    :func:`redislab.kit.evidence.compare`. One ``SSLContext`` (the lab CA, the client
    certificate) serves every TLS connect: the protocol's cost, not the client
    library's per-connection set-up.
    """
    ctx = ssl.create_default_context(cafile=str(pki.cert("ca")))
    ctx.load_cert_chain(str(pki.cert("client")), str(pki.key("client")))
    tls_s: list[float] = []
    plain_s: list[float] = []
    _raw_connect_s(plain_port, None, 1)  # warm-up: both paths, once
    _raw_connect_s(tls_port, ctx, 1)
    for i in range(n):
        if i % 2:
            plain_s.append(_raw_connect_s(plain_port, None, 1))
            tls_s.append(_raw_connect_s(tls_port, ctx, 1))
        else:
            tls_s.append(_raw_connect_s(tls_port, ctx, 1))
            plain_s.append(_raw_connect_s(plain_port, None, 1))
    return tls_s, plain_s


def tls_cost(
    plain: Any,
    tls: Any,
    *,
    requests: int = 3000,
    connects: int = 10,
    rounds: int = 3,
    handshake: tuple[int, int, PKI] | None = None,
) -> pd.DataFrame:
    """Plaintext against TLS on the same server: round trips, pipelined throughput, connects.

    ``plain`` and ``tls`` are zero-argument factories of clients. Rounds alternate the
    two so a noisy machine slows both alike; the best round of each is kept.
    ``handshake=(plain_port, tls_port, pki)`` adds connect + ``PING`` over raw sockets
    with one reused ``SSLContext``: the protocol's cost without the client library's
    per-connection set-up (redis-py builds a new SSL context for every connection).
    """
    rows: dict[str, dict[str, float]] = {"plain": {}, "tls": {}}
    clients = {"plain": plain(), "tls": tls()}
    try:
        for c in clients.values():
            c.ping()
        for _ in range(rounds):
            for name, c in clients.items():
                r = rows[name]
                r["ping round trip (us)"] = min(
                    r.get("ping round trip (us)", 1e18),
                    1e6 / _ops_per_s(c, requests // 3, pipeline=1),
                )
                r["pipelined PINGs/s"] = max(
                    r.get("pipelined PINGs/s", 0.0), _ops_per_s(c, requests * 3, pipeline=100)
                )
            for name, make in (("plain", plain), ("tls", tls)):
                r = rows[name]
                r["connect + PING, redis-py (ms)"] = min(
                    r.get("connect + PING, redis-py (ms)", 1e18), 1e3 * _connect_s(make, connects)
                )
            if handshake is not None:
                plain_port, tls_port, pki = handshake
                ctx = ssl.create_default_context(cafile=str(pki.cert("ca")))
                ctx.load_cert_chain(str(pki.cert("client")), str(pki.key("client")))
                for name, port, context in (("plain", plain_port, None), ("tls", tls_port, ctx)):
                    r = rows[name]
                    r["connect + PING, raw socket (ms)"] = min(
                        r.get("connect + PING, raw socket (ms)", 1e18),
                        1e3 * _raw_connect_s(port, context, connects * 3),
                    )
    finally:
        for c in clients.values():
            c.close()
    frame = pd.DataFrame(rows).T
    return frame


def replicate_over_tls(
    replica: PlainConnection, pki: PKI, *, primary_port: int, replica_tls_port: int
) -> None:
    """Make ``replica`` (a plain connection to it) replicate over TLS from ``primary_port``.

    The replica gets its own TLS setup (it must, to open TLS links), the client
    certificate for outgoing links (``tls-client-cert-file``: the primary checks it
    under ``tls-auth-clients yes``), then ``tls-replication yes`` and ``REPLICAOF``.
    """
    enable_tls(replica, pki, replica_tls_port)
    replica.execute_command(
        "CONFIG", "SET",
        "tls-client-cert-file", str(pki.cert("client")),
        "tls-client-key-file", str(pki.key("client")),
        "tls-replication", "yes",
    )  # fmt: skip
    replica.execute_command("REPLICAOF", "127.0.0.1", str(primary_port))


def replica_links(primary: PlainConnection) -> pd.DataFrame:
    """The primary's replica connections (``CLIENT LIST TYPE replica``): address, local port."""
    rows = []
    for c in primary.client_list(_type="replica"):
        laddr = c.get("laddr", "")
        rows.append(
            {"addr": c.get("addr"), "laddr": laddr, "local_port": int(laddr.rsplit(":", 1)[1])}
        )
    return pd.DataFrame(rows, columns=["addr", "laddr", "local_port"])
