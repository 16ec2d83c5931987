"""Type aliases shared by every layer."""

from __future__ import annotations

from typing import TypeAlias

import redis
from redis.cluster import RedisCluster

__all__ = ["Connection", "PlainConnection"]

PlainConnection: TypeAlias = redis.Redis
"""A client to one server (a node, a replica, a sentinel)."""

Connection: TypeAlias = redis.Redis | RedisCluster
"""What a pattern that works on a standalone server or a cluster takes as ``connection``."""
