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


# --------------------------------------------------------------------- monitoring
MONITORING = "monitoring"
"""Keys the monitoring notebooks and tests write (``redislab:monitoring:...``)."""
