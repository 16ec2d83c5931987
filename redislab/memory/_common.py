"""Small shared pieces of the memory theme: config scopes, INFO counters, hit ratio."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import redis

from ..keys import MEMORY, key
from ..types import PlainConnection

__all__ = [
    "config_scope", "counters", "flush_sync", "hit_ratio", "is_oom", "mkey", "used_memory",
]  # fmt: skip


def mkey(name: str, *parts: object) -> str:
    """A key in the memory namespace: ``redislab:memory:<name>:<parts>``."""
    return key(MEMORY, name, *parts)


@contextmanager
def config_scope(connection: PlainConnection, settings: Mapping[str, object]) -> Iterator[None]:
    """``CONFIG SET`` the given options, and set the previous values back on exit."""
    before: dict[str, str] = {}
    for name in settings:
        before.update(connection.config_get(name))
    try:
        for name, value in settings.items():
            connection.config_set(name, value)
        yield
    finally:
        for name, value in before.items():
            connection.config_set(name, value)


def counters(connection: PlainConnection) -> dict[str, int]:
    """The INFO counters the memory experiments read, as ints (missing ones are 0)."""
    info: dict[str, Any] = {**connection.info("stats"), **connection.info("memory")}
    names = (
        "keyspace_hits", "keyspace_misses", "evicted_keys", "expired_keys",
        "used_memory", "used_memory_peak", "used_memory_rss", "mem_not_counted_for_evict",
        "maxmemory", "total_commands_processed",
    )  # fmt: skip
    return {n: int(info.get(n, 0) or 0) for n in names}


def hit_ratio(hits: int, misses: int) -> float:
    """``keyspace_hits / (keyspace_hits + keyspace_misses)`` (0 when nothing was read)."""
    total = hits + misses
    return hits / total if total else 0.0


def used_memory(connection: PlainConnection) -> int:
    """``INFO memory`` ``used_memory`` in bytes."""
    return int(connection.info("memory")["used_memory"])


def flush_sync(connection: PlainConnection) -> None:
    """``FLUSHALL SYNC``: memory is freed before the reply.

    A plain FLUSHALL is asynchronous where ``lazyfree-lazy-user-flush`` is ``yes`` (the
    default on Valkey 8+), and ``used_memory`` read right after it would still count the
    old data.
    """
    connection.execute_command("FLUSHALL", "SYNC")


def is_oom(reply: object) -> bool:
    """Whether a pipeline reply is the server's OOM error (``-OOM ... maxmemory``)."""
    # redis-py maps the ``-OOM`` error code to OutOfMemoryError (and strips the code)
    return isinstance(reply, redis.exceptions.OutOfMemoryError) or (
        isinstance(reply, redis.ResponseError) and "maxmemory" in str(reply)
    )
