"""Pieces every caching pattern shares: serializers, errors, counters, versioned entries.

A *versioned entry* is the string ``"<version>|<payload>"``; an empty payload is a
*tombstone* (``"7|"``: "version 7 was invalidated"). The Lua scripts below compare
versions on the server, so an older value can never overwrite a newer one.
"""

from __future__ import annotations

import json
import logging
import math
import pickle
import random
import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

import redis

from ..errors import CacheError, SerializationError
from ..keys import CACHE, key
from ..types import Connection

__all__ = [
    "REDIS_ERRORS",
    "Breaker",
    "CacheError",
    "CacheStats",
    "JsonSerializer",
    "PickleSerializer",
    "SerializationError",
    "Serializer",
    "cache_key",
    "decode_responses",
    "jittered_ttl_ms",
]

log = logging.getLogger("redislab.cache")

# What "Redis went away" looks like to redis-py: refused/closed sockets, timeouts,
# a server still loading its dataset (BusyLoadingError is a ConnectionError).
REDIS_ERRORS: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    ConnectionError,
    TimeoutError,
)

# KEYS[1] = cache key
# ARGV[1] = version of the value (integer), ARGV[2] = "<version>|<payload>", ARGV[3] = TTL ms
#           (0 = no TTL)
# Writes the entry unless the stored one (value or tombstone) has a *newer* version.
# Returns 1 if written, 0 if refused.
SET_IF_NEWER = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%d+)|'))
  if v and v > tonumber(ARGV[1]) then return 0 end
end
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1
"""

# KEYS[1] = cache key
# ARGV[1] = version that made the cached value obsolete, ARGV[2] = tombstone TTL ms
# Replaces the entry by the tombstone "<version>|" unless it is already newer.
# Returns 1 if the tombstone was written, 0 if a newer entry was kept.
INVALIDATE_VERSION = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%d+)|'))
  if v and v > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|', 'PX', ARGV[2])
return 1
"""


class Serializer(Protocol):
    """Turns values into what Redis stores and back. ``binary`` serializers emit bytes."""

    binary: bool

    def dumps(self, value: Any) -> str | bytes: ...

    def loads(self, data: str | bytes) -> Any: ...


def _check_json_native(value: Any, path: str = "value") -> None:
    """Raise unless ``value`` survives a JSON round trip unchanged (no tuples, no int keys)."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SerializationError(f"{path} is {value!r}: not valid JSON")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_json_native(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, str):
                raise SerializationError(
                    f"{path} has key {k!r} of type {type(k).__name__}: JSON would turn it into "
                    "a string and a cache hit would return a different dict"
                )
            _check_json_native(item, f"{path}[{k!r}]")
        return
    raise SerializationError(
        f"{path} is a {type(value).__name__}, which JSON cannot store faithfully "
        "(use lists/dicts/str/int/float/bool/None, or PickleSerializer)"
    )


class JsonSerializer:
    """JSON, checked: refuses values that would come back different (tuples, int keys, sets).

    A cache that returns ``[1, 2]`` for a function that returned ``(1, 2)`` returns a
    wrong value, so the check runs on every store (the miss path, not the hit path).
    """

    binary = False

    def __init__(self, *, strict: bool = True) -> None:
        self.strict = strict

    def dumps(self, value: Any) -> str:
        if self.strict:
            _check_json_native(value)
        try:
            return json.dumps(value, separators=(",", ":"), allow_nan=not self.strict)
        except (TypeError, ValueError) as exc:
            raise SerializationError(f"cannot JSON-encode {type(value).__name__}: {exc}") from exc

    loads = staticmethod(json.loads)


class PickleSerializer:
    """Any picklable Python value. Needs a client with ``decode_responses=False``.

    Only unpickle data your own code wrote: unpickling can run arbitrary code.
    """

    binary = True

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol

    def dumps(self, value: Any) -> bytes:
        try:
            return pickle.dumps(value, protocol=self.protocol)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise SerializationError(f"cannot pickle {type(value).__name__}: {exc}") from exc

    loads = staticmethod(pickle.loads)


def decode_responses(connection: Connection) -> bool:
    """True if ``connection`` returns ``str`` (``decode_responses=True``)."""
    return bool(connection.get_connection_kwargs().get("decode_responses", False))


def cache_key(name: str, ident: object) -> str:
    """``redislab:cache:<name>:<ident>``."""
    return key(CACHE, name, ident)


def jittered_ttl_ms(ttl: float, jitter: float, rng: random.Random) -> int:
    """``ttl`` seconds spread uniformly over ``ttl * (1 ± jitter)``, in whole ms (>= 1)."""
    if jitter:
        ttl *= 1.0 + rng.uniform(-jitter, jitter)
    return max(1, round(ttl * 1000))


@dataclass
class CacheStats:
    """Counters kept by every pattern. Increments are guarded by a lock (threads share them)."""

    hits: int = 0
    l1_hits: int = 0
    misses: int = 0
    loads: int = 0
    sets_refused: int = 0
    refreshes: int = 0
    waits: int = 0
    fallbacks: int = 0
    redis_errors: int = 0
    invalidations: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def incr(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    @property
    def hit_ratio(self) -> float:
        """(hits + l1_hits) / reads; NaN before any read."""
        reads = self.hits + self.l1_hits + self.misses
        return (self.hits + self.l1_hits) / reads if reads else math.nan

    def as_dict(self) -> dict[str, float]:
        out: dict[str, float] = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        out.pop("_lock", None)
        out["hit_ratio"] = self.hit_ratio
        return out

    def reset(self) -> None:
        with self._lock:
            for f in fields(self):
                if f.name != "_lock":
                    setattr(self, f.name, 0)


class Breaker:
    """After a Redis error, skip Redis for ``cooldown`` seconds (serve from the database).

    Without it, every call during an outage would pay redis-py's connect retries.
    """

    __slots__ = ("cooldown", "open_until")

    def __init__(self, cooldown: float = 1.0) -> None:
        self.cooldown = cooldown
        self.open_until = 0.0

    def closed(self) -> bool:
        """True if Redis may be tried now."""
        return not self.open_until or time.monotonic() >= self.open_until

    def trip(self) -> None:
        self.open_until = time.monotonic() + self.cooldown

    def reset(self) -> None:
        self.open_until = 0.0


def split_entry(raw: str | bytes) -> tuple[int, str | bytes]:
    """``"<version>|<payload>"`` -> (version, payload); a tombstone has an empty payload."""
    sep: Any = b"|" if isinstance(raw, bytes) else "|"
    version, _, payload = raw.partition(sep)
    return int(version), payload


def join_entry(version: int, payload: str | bytes) -> str | bytes:
    """(version, payload) -> ``"<version>|<payload>"`` (bytes if the payload is bytes)."""
    if isinstance(payload, bytes):
        return str(version).encode() + b"|" + payload
    return f"{version}|{payload}"
