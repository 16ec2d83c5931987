"""Every Redis key prefix that redislab's patterns use, in one place.

Keys look like ``redislab:<pattern>:<name>[:<part>...]`` so that a lab's keyspace
shows at a glance which pattern wrote what (``SCAN MATCH redislab:cache:*``).
"""

from __future__ import annotations

PREFIX = "redislab"

__all__ = ["PREFIX", "key"]


def key(pattern: str, name: str, *parts: object) -> str:
    """Return ``redislab:<pattern>:<name>[:part...]``.

    >>> key("cache", "user", 42)
    'redislab:cache:user:42'
    """
    if not pattern or not name:
        raise ValueError("key() needs a pattern and a name")
    return ":".join([PREFIX, pattern, name, *(str(p) for p in parts)])

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
