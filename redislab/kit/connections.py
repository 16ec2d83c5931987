"""One way to get a second client to the server a connection talks to."""

from __future__ import annotations

from typing import Any

import redis

from ..types import PlainConnection

__all__ = ["clone"]


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
