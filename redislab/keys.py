"""Every Redis key namespace that redislab's code writes under, in one place.

Keys look like ``redislab:<namespace>:<name>[:<part>...]`` so that a lab's keyspace
shows at a glance which pattern wrote what: ``SCAN MATCH redislab:cache:*`` finds a
cache's entries *and* its stampede locks, refresh locks and write-behind stream.
Notebooks may use namespaces of their own (``key("leaderboard", ...)``); the package
uses only the constants below.
"""

from __future__ import annotations

from .errors import UsageError

PREFIX = "redislab"

# the kit ---------------------------------------------------------------------
FAULTS = "faults"
"""Write loads (``redislab:faults:<load>:<seq>``) and their sync markers."""

# 01 structures ---------------------------------------------------------------
PROFILE = "profile"
TAGS = "tags"
ENCODING = "encoding"
DAU = "dau"
BITFIELD = "bitfield"
HLL = "hll"

# 02 cache --------------------------------------------------------------------
CACHE = "cache"
"""Cache entries: ``redislab:cache:<cache name>:<key>``; invalidation channels."""
CACHE_LOCK = "cache:lock"
"""Stampede (single-flight) locks: ``redislab:cache:lock:<cache name>:<key>``."""
CACHE_REFRESH = "cache:refresh"
"""Refresh-ahead locks: ``redislab:cache:refresh:<cache name>:<key>``."""
CACHE_WRITEBEHIND = "cache:writebehind"
"""Write-behind streams: ``redislab:cache:writebehind:<cache name>:stream``."""

# 05 cluster ------------------------------------------------------------------
CLUSTER = "cluster"

# 08 persistence --------------------------------------------------------------
PERSISTENCE = "persistence"

__all__ = [
    "BITFIELD",
    "CACHE",
    "CACHE_LOCK",
    "CACHE_REFRESH",
    "CACHE_WRITEBEHIND",
    "CLUSTER",
    "DAU",
    "ENCODING",
    "FAULTS",
    "HLL",
    "PERSISTENCE",
    "PREFIX",
    "PROFILE",
    "TAGS",
    "key",
]


def key(pattern: str, name: str, *parts: object) -> str:
    """Return ``redislab:<pattern>:<name>[:part...]``.

    >>> key("cache", "user", 42)
    'redislab:cache:user:42'
    """
    if not pattern or not name:
        raise UsageError("key() needs a pattern and a name")
    return ":".join([PREFIX, pattern, name, *(str(p) for p in parts)])

# 01.03 probabilistic modules (RedisBloom) -------------------------------------
SKETCH = "sketch"
"""RedisBloom structures and their exact baselines: ``redislab:sketch:<kind>[:exact]``."""
__all__ += ["SKETCH"]
