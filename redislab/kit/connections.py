"""Connections: a second client to the same server, and a probe of READONLY."""

from __future__ import annotations

from typing import Any

import redis

from ..replies import text
from ..types import PlainConnection

__all__ = ["clone", "readonly_probe", "reply_text"]


def clone(connection: PlainConnection, **overrides: Any) -> PlainConnection:
    """A new client (own pool, own sockets) to ``connection``'s server.

    Same address, database, credentials and TLS (the pool's connection class is kept:
    a TLS client's clone is a TLS client); ``overrides`` replace connection options
    (``decode_responses=True``, ``db=5``, ``retry=...``). For subscribers, blocking
    consumers and samplers, which must not share the caller's connection.
    """
    pool = connection.connection_pool
    kwargs = dict(pool.connection_kwargs)
    kwargs.update(overrides)
    return redis.Redis(
        connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
    )


def reply_text(reply: object) -> str:
    """A reply as text; an error reply (or exception) as ``<ErrorClass>: <message>``."""
    if isinstance(reply, BaseException):
        return f"{type(reply).__name__}: {reply}"
    return text(reply)


def readonly_probe(connection: PlainConnection, key: str | bytes) -> dict[str, Any]:
    """``GET key``, then ``READONLY``, then ``GET key`` again, on one connection.

    Sent to a cluster replica this shows the cluster specification's rule: a replica
    redirects reads of its primary's slots (``MOVED``) until the connection sends
    ``READONLY`` (https://redis.io/docs/latest/commands/readonly/). Returns ``before``
    and ``after`` (:func:`reply_text`: a value, or ``MovedError: <slot> <address>``)
    and ``before_error`` / ``after_error`` (whether each was an error reply).
    """
    out: dict[str, Any] = {}
    conn = clone(connection, decode_responses=False)
    try:
        for stage in ("before", "after"):
            if stage == "after":
                conn.execute_command("READONLY")
            try:
                reply: object = conn.execute_command("GET", key)
            except redis.ResponseError as exc:
                reply = exc
            out[stage] = reply_text(reply)
            out[f"{stage}_error"] = isinstance(reply, BaseException)
    finally:
        conn.close()
    return out
