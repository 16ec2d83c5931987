"""Authentication: generated passwords, masking, hashes, and what a server answers at login.

A raw RESP connection (:class:`RawConnection`) shows the server's exact reply
(``-NOAUTH ...``, ``-WRONGPASS ...``) without a client library in between: redis-py
retries, sends ``HELLO`` first and turns replies into exceptions, which hides what
went over the wire and multiplies the attempts seen in ``ACL LOG``.
"""

from __future__ import annotations

import hashlib
import secrets
import socket
import ssl
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import SecurityError
from ..keys import SECURITY_APP, key
from ..lab.tls import TLSFiles

__all__ = [
    "AuthOutcome",
    "RawConnection",
    "auth_outcomes",
    "generate_password",
    "mask",
    "password_hash",
]


_ISSUED: set[str] = set()  # in memory only: lets a test scan outputs for leaked secrets


def issued_secrets() -> frozenset[str]:
    """Every password :func:`generate_password` returned in this process (memory only)."""
    return frozenset(_ISSUED)


def generate_password(nbytes: int = 32) -> str:
    """A random password from :mod:`secrets`: ``nbytes`` bytes as hex (256 bits by default).

    The same size as ``ACL GENPASS``'s default. Keep it in memory or a secret store;
    print it only through :func:`mask`.
    """
    if nbytes < 16:
        raise SecurityError(f"{nbytes} random bytes is too short for a password (use >= 16)")
    password = secrets.token_hex(nbytes)
    _ISSUED.add(password)
    return password


def mask(secret: str | None, *, keep: int = 4) -> str:
    """``a1b2…(64 chars)``: enough to tell two secrets apart, never enough to use one."""
    if not secret:
        return "<none>"
    shown = secret[:keep] if len(secret) > 3 * keep else ""
    return f"{shown}…({len(secret)} chars)"


def password_hash(password: str) -> str:
    """The SHA-256 hex digest an ACL rule ``#<hash>`` stores instead of the password."""
    return hashlib.sha256(password.encode()).hexdigest()


class RawConnection:
    """One RESP2 connection over a plain or TLS socket; replies come back unparsed-ish.

    ``command()`` returns the reply (``str`` for simple strings and errors, ``int``,
    ``bytes``/``None`` for bulk, ``list``); errors are returned as ``"-CODE message"``
    instead of raised, so a caller can tabulate them.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: TLSFiles | None = None,
        source: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        raw = socket.create_connection(
            (host, port), timeout=timeout, source_address=(source, 0) if source else None
        )
        if tls is not None:
            ctx = ssl.create_default_context(cafile=str(tls.ca_cert))
            ctx.load_cert_chain(str(tls.client_cert), str(tls.client_key))
            raw = ctx.wrap_socket(raw, server_hostname="localhost")
        self._sock = raw
        self._buf = b""

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the socket."""
        try:
            self._sock.close()
        except OSError:
            pass

    def command(self, *args: object) -> Any:
        """Send one command and read its reply (``"-ERR ..."`` for an error)."""
        parts = [str(a).encode() if not isinstance(a, bytes) else a for a in args]
        payload = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        self._sock.sendall(payload)
        return self._read()

    def _line(self) -> bytes:
        while b"\r\n" not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by the server")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line

    def _read(self) -> Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return (kind + rest).decode() if kind == b"-" else rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self._buf) < n + 2:
                chunk = self._sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed by the server")
                self._buf += chunk
            data, self._buf = self._buf[:n], self._buf[n + 2 :]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise SecurityError(f"unexpected RESP reply {line[:60]!r}")


@dataclass(frozen=True)
class AuthOutcome:
    """What the server answered to one login attempt and the command after it."""

    case: str
    auth_reply: str
    command_reply: str

    @property
    def code(self) -> str:
        """The error code of the command's reply (``NOAUTH``...) or ``OK``."""
        r = self.command_reply
        return r[1:].split(" ", 1)[0] if r.startswith("-") else "OK"


def _first_word(reply: Any) -> str:
    text = reply.decode() if isinstance(reply, bytes) else str(reply)
    return text if len(text) < 90 else text[:87] + "..."


def auth_outcomes(
    host: str,
    port: int,
    *,
    username: str,
    password: str,
    tls: TLSFiles | None = None,
    key_name: str = "",
) -> pd.DataFrame:
    """Try ``GET key_name`` with no login, a wrong password, a password alone, user + password.

    The password is never part of the result: the table shows the server's replies.
    ``key_name`` defaults to a key in the ``app`` role's prefix.
    """
    key_name = key_name or key(SECURITY_APP, "probe")
    cases: list[tuple[str, tuple[object, ...] | None]] = [
        ("no AUTH", None),
        ("AUTH <user> <wrong password>", ("AUTH", username, generate_password(16))),
        ("AUTH <password> (legacy, user default)", ("AUTH", password)),
        ("AUTH <user> <password>", ("AUTH", username, password)),
    ]
    rows: list[AuthOutcome] = []
    for label, auth in cases:
        with RawConnection(host, port, tls=tls) as conn:
            auth_reply = "-" if auth is None else _first_word(conn.command(*auth))
            rows.append(AuthOutcome(label, auth_reply, _first_word(conn.command("GET", key_name))))
    frame = pd.DataFrame([r.__dict__ for r in rows])
    frame["code"] = [r.code for r in rows]
    return frame
