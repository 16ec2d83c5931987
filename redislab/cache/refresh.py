"""Refresh-ahead: a hit on an entry close to expiry reloads it in the background.

Each read fetches the value and its remaining TTL in one round trip (``GET`` +
``PTTL`` pipelined). When less than ``refresh_when`` of the TTL is left, the entry is
reloaded by a background thread while the caller gets the current value at once, so
popular keys are replaced before they expire and their readers never miss. Keys
read rarely still expire and miss, as with plain TTLs. A short ``SET NX`` lock per
key keeps several processes from refreshing the same entry together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import UsageError
from ..keys import CACHE_REFRESH, key
from ..types import Connection
from ._common import REDIS_ERRORS, split_entry
from .aside import CacheAside

__all__ = ["RefreshAhead"]


class RefreshAhead(CacheAside):
    """Cache-aside whose hot entries are reloaded before they expire.

    Args:
        connection, loader, name, ttl, ...: as for :class:`CacheAside`.
        refresh_when: refresh once the remaining TTL is below this fraction of ``ttl``.
        workers: background refresh threads.
    """

    def __init__(
        self,
        connection: Connection,
        loader: Callable[..., Any] | None = None,
        *,
        name: str,
        ttl: float = 60.0,
        refresh_when: float = 0.3,
        workers: int = 2,
        **kwargs: Any,
    ) -> None:
        super().__init__(connection, loader, name=name, ttl=ttl, **kwargs)
        if not 0 < refresh_when < 1:
            raise UsageError("refresh_when must be within (0, 1)")
        self.refresh_when = refresh_when
        self.threshold_ms = refresh_when * ttl * 1000
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=f"refresh-{name}"
        )
        self._inflight: set[str] = set()
        self._inflight_lock = threading.Lock()
        self._lock_ms = max(1, round(self.threshold_ms))

    def fetch(self, rkey: str, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        """Like :meth:`CacheAside.fetch`, plus a background reload near expiry."""
        if self._breaker.open_until and not self._recovered():
            return self._fallback(fn, args, kwargs)
        try:
            pipe = self.connection.pipeline(transaction=False)
            pipe.get(rkey)
            pipe.pttl(rkey)
            raw, pttl = pipe.execute()
        except REDIS_ERRORS as exc:
            self._redis_down(exc, "GET", rkey)
            return self._fallback(fn, args, kwargs)
        if raw is not None and self.version is not None:
            raw = split_entry(raw)[1] or None
        if raw is not None:
            self.stats.incr("hits")
            if 0 <= pttl < self.threshold_ms:
                self._schedule(rkey, fn, args, kwargs)
            return self._loads(raw)
        self.stats.incr("misses")
        value = fn(*args, **kwargs)
        self.stats.incr("loads")
        self._store(rkey, value)
        return value

    def _schedule(self, rkey: str, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        with self._inflight_lock:
            if rkey in self._inflight:
                return
            self._inflight.add(rkey)
        try:  # one refresher across processes too
            won = self.connection.set(
                key(CACHE_REFRESH, self.name, rkey), 1, nx=True, px=self._lock_ms
            )
        except REDIS_ERRORS:
            won = False
        if not won:
            with self._inflight_lock:
                self._inflight.discard(rkey)
            return
        self._executor.submit(self._refresh, rkey, fn, args, kwargs)

    def _refresh(self, rkey: str, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        try:
            value = fn(*args, **kwargs)
            self.stats.incr("loads")
            self.stats.incr("refreshes")
            self._store(rkey, value)
        finally:
            with self._inflight_lock:
                self._inflight.discard(rkey)

    def close(self) -> None:
        """Wait for running refreshes and stop the threads."""
        self._executor.shutdown(wait=True)

    def __enter__(self) -> RefreshAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
