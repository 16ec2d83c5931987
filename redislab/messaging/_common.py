"""Helpers the messaging modules share (not exported)."""

from __future__ import annotations

import inspect
from typing import Any

import redis

from ..keys import MESSAGING, key
from ..types import PlainConnection


def client_like(connection: PlainConnection, **overrides: Any) -> PlainConnection:
    """A new client to the same server as ``connection`` (own pool, own socket)."""
    accepted = inspect.signature(redis.Redis.__init__).parameters
    kw = {k: v for k, v in connection.connection_pool.connection_kwargs.items() if k in accepted}
    kw.update(overrides)
    return redis.Redis(**kw)


def text(value: Any) -> str:
    """``value`` as ``str`` (redis-py answers bytes without ``decode_responses``)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def done_key(experiment: str) -> str:
    """The hash of job number -> times processed for ``experiment``."""
    return key(MESSAGING, "done", experiment)


def progress_key(experiment: str, worker: str) -> str:
    """The counter of jobs ``worker`` finished in ``experiment``."""
    return key(MESSAGING, "done", experiment, "by", worker)
