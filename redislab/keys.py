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


# --------------------------------------------------------------- security (07)
SECURITY_APP = "app"
"""The application's own keys (``redislab:app:*``), the prefix the ``app`` role may use."""
SECURITY_BILLING = "billing"
"""Keys outside every application prefix: what a limited user must not touch."""
SECURITY_QUEUE = "queue"
"""Streams and channels of the queue worker (``redislab:queue:*``)."""
SECURITY_REPORT = "report"
"""Where the read-only analyst may write its reports."""
SECURITY_VAULT = "vault"
"""Client-side encrypted records."""


PERFORMANCE = "perf"
"""Namespace of the performance experiments (notebook 06): ``redislab:perf:<name>...``."""


# --------------------------------------------------------------------- memory (notebook 04)
MEMORY = "memory"
"""Namespace of every key :mod:`redislab.memory` writes (``redislab:memory:...``)."""


MESSAGING = "messaging"
"""Namespace of the messaging theme (streams, queues, reply keys): ``redislab:messaging:...``."""


# --------------------------------------------------------------- design (notebook 10)
RATELIMIT = "ratelimit"
"""Rate limiters (:mod:`redislab.design.ratelimit`); the client id is a hash tag."""
LOCKS = "locks"
"""Distributed locks and their fencing counters (:mod:`redislab.design.locks`)."""
SESSIONS = "sessions"
"""Session hashes and per-user session indexes (:mod:`redislab.design.sessions`)."""
LEADERBOARD = "leaderboard"
"""Leaderboard sorted sets (:mod:`redislab.design.leaderboard`)."""
ANALYTICS = "analytics"
"""Visitor counts, activity bitmaps, minute counters, top-K (:mod:`redislab.design.analytics`)."""
PLANNER = "planner"
"""Sample keys the capacity planner measures (:mod:`redislab.design.planner`)."""


# ------------------------------------------------ issue 17: namespaces
ROUTING = "routing"
"""``redislab:routing:*``: keys read and written by the routing and read-scaling experiments."""

DR = "dr"
"""``redislab:dr:*``: the dataset and probes of the disaster-recovery drills."""


# --------------------------------------------------------------------- monitoring
MONITORING = "monitoring"
"""Keys the monitoring notebooks and tests write (``redislab:monitoring:...``)."""


# 01.03 probabilistic modules (RedisBloom) -------------------------------------
SKETCH = "sketch"
"""RedisBloom structures and their exact baselines: ``redislab:sketch:<kind>[:exact]``."""
__all__ += ["SKETCH"]


# 01.02 documents, search and vectors (RedisJSON, RediSearch, vector sets) ------
DOCS = "docs"
"""Documents stored three ways: ``redislab:docs:<string|hash|json>:<id>``."""
SEARCH = "search"
"""Indexed records and hand-built indexes: ``redislab:search:<hash|json>:<id>``,
``redislab:search:idx:<field>:<value>``; RediSearch indexes are named ``redislab:search:ft:*``."""
VECTORS = "vectors"
"""Vectors as hashes (``redislab:vectors:item:<id>``) and vector sets (``redislab:vectors:set``)."""
__all__ += ["DOCS", "SEARCH", "VECTORS"]
