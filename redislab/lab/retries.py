"""One redis-py ``Retry`` that never retries: every failure reaches the caller.

redis-py 6 and later retry a failed command by default (with backoff); a probe, a sampler
or a crash experiment must see each failure as it happens. The lab's own clients and
every layer above use :func:`no_retry` (re-exported by :mod:`redislab.kit`).
"""

from __future__ import annotations

from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["no_retry"]


def no_retry() -> Retry:
    """A redis-py ``Retry`` that never retries: every failure reaches the caller."""
    return Retry(NoBackoff(), 0)
