"""Helpers shared by the monitoring modules (not exported)."""

from __future__ import annotations

from typing import Any

import redis

from ..types import PlainConnection


def clone(connection: PlainConnection, **overrides: Any) -> PlainConnection:
    """A new client (own pool) with ``connection``'s address, credentials and TLS."""
    pool = connection.connection_pool
    kwargs = dict(pool.connection_kwargs)
    kwargs.update(overrides)
    return redis.Redis(
        connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
    )
