"""Cache-aside (lazy loading): read Redis, on a miss load from the database and store.

>>> @cached(connection=r, ttl=60, key="{user_id}")      # doctest: +SKIP
... def load_user(user_id: int) -> dict: ...
>>> load_user(42)                  # miss: runs the function, stores JSON under
...                                # redislab:cache:load_user:42 with TTL 60 s ± 10 %
>>> load_user.invalidate(42)       # after writing the database: DEL (write-around)

Policies, each tested in ``tests/test_cache.py``:

- **TTL jitter**: every TTL is drawn uniformly from ``ttl * (1 ± jitter)`` (default
  ±10 %), so keys filled together do not expire together.
- **None**: by default a ``None`` result is *not* cached (a row created later is seen
  at once; a lookup of a missing id costs a database query every time).
  ``cache_none=True`` stores it (JSON ``null``, distinct from a Redis miss) for
  ``none_ttl`` seconds: negative caching, which shields the database from repeated
  lookups of ids that do not exist.
- **Unserializable results** raise :class:`SerializationError` (also while Redis is
  down, so behaviour does not depend on Redis): the default JSON serializer refuses
  values that would come back different (tuples, non-str dict keys, sets, NaN).
- **Redis goes away**: the call is served from the database, ``stats.fallbacks`` and
  ``stats.redis_errors`` count it, a warning is logged, and Redis is skipped for
  ``cooldown`` seconds. Invalidations that fail meanwhile are remembered and replayed
  before this cache reads Redis again, so it never serves a value it failed to
  invalidate.
- **Versioned entries** (``version=`` a function returning a value's version):
  entries are ``"<version>|<payload>"``, invalidation writes a tombstone carrying the
  new version, and a Lua script refuses to store anything older. This closes the
  stale-set race of cache-aside (see :mod:`redislab.cache.races`).
"""

from __future__ import annotations

import functools
import inspect
import random
import string
from collections.abc import Callable
from typing import Any

from ..errors import UsageError
from ..types import Connection
from ._common import (
    INVALIDATE_VERSION,
    REDIS_ERRORS,
    SET_IF_NEWER,
    Breaker,
    CacheError,
    CacheStats,
    JsonSerializer,
    Serializer,
    cache_key,
    decode_responses,
    jittered_ttl_ms,
    join_entry,
    log,
    split_entry,
)

__all__ = ["CacheAside", "cached"]


class CacheAside:
    """Cache-aside over one loader function ``loader(ident) -> value``.

    Args:
        connection: a ``redis.Redis``.
        loader: called with ``ident`` on a miss (usually a database query).
        name: the key namespace: entries live at ``redislab:cache:<name>:<ident>``.
        ttl: seconds an entry lives (before jitter).
        jitter: relative TTL spread, ``0.1`` = ±10 %.
        serializer: :class:`JsonSerializer` (default) or any :class:`Serializer`.
        cache_none: store ``None`` results (negative caching) for ``none_ttl`` seconds.
        none_ttl: TTL of cached ``None`` (default ``ttl``).
        version: ``value -> int``; enables versioned entries (stale-set protection).
        cooldown: seconds Redis is skipped after an error.
        seed: seeds the TTL jitter.
    """

    def __init__(
        self,
        connection: Connection,
        loader: Callable[..., Any] | None = None,
        *,
        name: str,
        ttl: float = 60.0,
        jitter: float = 0.1,
        serializer: Serializer | None = None,
        cache_none: bool = False,
        none_ttl: float | None = None,
        version: Callable[[Any], int] | None = None,
        cooldown: float = 1.0,
        seed: int | None = None,
    ) -> None:
        if ttl <= 0:
            raise UsageError("ttl must be positive")
        if not 0 <= jitter < 1:
            raise UsageError("jitter must be within [0, 1)")
        self.connection = connection
        self.loader = loader
        self.name = name
        self.ttl = ttl
        self.jitter = jitter
        self.serializer = serializer or JsonSerializer()
        if self.serializer.binary and decode_responses(connection):
            raise CacheError(
                f"{type(self.serializer).__name__} stores bytes: give it a client created with "
                "decode_responses=False"
            )
        self.cache_none = cache_none
        self.none_ttl = ttl if none_ttl is None else none_ttl
        self.version = version
        self.stats = CacheStats()
        self._loads = self.serializer.loads
        self._dumps = self.serializer.dumps
        self._rng = random.Random(seed)
        self._breaker = Breaker(cooldown)
        self._pending: dict[str, int | None] = {}  # invalidations Redis never received
        self._prefix = cache_key(name, "")
        self._set_if_newer = connection.register_script(SET_IF_NEWER)
        self._invalidate_version = connection.register_script(INVALIDATE_VERSION)

    # --------------------------------------------------------------- keys
    def key(self, ident: object) -> str:
        """The Redis key of ``ident``."""
        return self._prefix + str(ident)

    def next_ttl_ms(self, value: Any = 0) -> int:
        """The TTL (ms) the next store of ``value`` would get."""
        ttl = self.none_ttl if value is None else self.ttl
        return jittered_ttl_ms(ttl, self.jitter, self._rng)

    # -------------------------------------------------------------- reads
    def get(self, ident: object) -> Any:
        """The cached value of ``ident``, loading it with ``loader`` on a miss."""
        if self.loader is None:
            raise CacheError(f"cache {self.name!r} has no loader; use fetch()")
        return self.fetch(self._prefix + str(ident), self.loader, (ident,), {})

    def fetch(self, rkey: str, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        """Read ``rkey``; on a miss call ``fn(*args, **kwargs)`` and store the result."""
        if self._breaker.open_until and not self._recovered():
            return self._fallback(fn, args, kwargs)
        try:
            raw = self.connection.get(rkey)
        except REDIS_ERRORS as exc:
            return self._get_failed(exc, rkey, fn, args, kwargs)
        return self._after_get(rkey, raw, fn, args, kwargs)

    def _get_failed(
        self, exc: BaseException, rkey: str, fn: Callable[..., Any], args: tuple, kwargs: dict
    ) -> Any:
        self._redis_down(exc, "GET", rkey)
        return self._fallback(fn, args, kwargs)

    def _after_get(
        self, rkey: str, raw: Any, fn: Callable[..., Any], args: tuple, kwargs: dict
    ) -> Any:
        if raw is not None:
            if self.version is None:
                stats = self.stats
                with stats._lock:
                    stats.hits += 1
                return self._loads(raw)
            _, payload = split_entry(raw)
            if payload:  # an empty payload is a tombstone: a miss
                self.stats.incr("hits")
                return self._loads(payload)
        self.stats.incr("misses")
        value = fn(*args, **kwargs)
        self.stats.incr("loads")
        self._store(rkey, value)
        return value

    def _fallback(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        self.stats.incr("fallbacks")
        value = fn(*args, **kwargs)
        self.stats.incr("loads")
        if value is not None or self.cache_none:
            self._dumps(value)  # same SerializationError with or without Redis
        return value

    # ------------------------------------------------------------- writes
    def set(
        self, ident: object, value: Any, *, pipeline: Any = None, persist: bool = False
    ) -> bool:
        """Store ``value`` for ``ident`` now (write-through). False if refused or Redis is down.

        ``persist=True`` stores it without a TTL. If Redis is down the old entry may
        survive there, so an invalidation is queued and replayed before this cache
        reads Redis again. With ``pipeline=`` the command is only queued (True).
        """
        return self._store(
            self._prefix + str(ident), value, pipeline=pipeline, remember=True, persist=persist
        )

    def _store(
        self,
        rkey: str,
        value: Any,
        *,
        pipeline: Any = None,
        remember: bool = False,
        persist: bool = False,
    ) -> bool:
        if value is None and not self.cache_none:
            return False
        payload = self._dumps(value)
        ttl_ms = 0 if persist else self.next_ttl_ms(value)
        ver = 0
        target = pipeline if pipeline is not None else self.connection
        try:
            if self.version is None:
                target.set(rkey, payload, px=ttl_ms or None)
                return True
            ver = 0 if value is None else int(self.version(value))
            entry = join_entry(ver, payload)
            written = self._set_if_newer(keys=[rkey], args=[ver, entry, ttl_ms], client=target)
        except REDIS_ERRORS as exc:
            if remember:
                self._remember(rkey, None if self.version is None or value is None else ver)
            self._redis_down(exc, "SET", rkey)
            return False
        if pipeline is None and not written:
            self.stats.incr("sets_refused")
        return pipeline is not None or bool(written)

    def invalidate(
        self, ident: object, *, version: int | None = None, pipeline: Any = None
    ) -> None:
        """Drop ``ident`` after a database write (a tombstone of ``version`` if versioned)."""
        self.invalidate_key(self._prefix + str(ident), version=version, pipeline=pipeline)

    def invalidate_key(
        self, rkey: str, *, version: int | None = None, pipeline: Any = None
    ) -> None:
        """:meth:`invalidate` by Redis key. A failure is remembered and replayed later."""
        self.stats.incr("invalidations")
        try:
            self._send_invalidation(rkey, version, pipeline if pipeline is not None else None)
        except REDIS_ERRORS as exc:
            self._remember(rkey, version)
            self._redis_down(exc, "invalidate", rkey)

    def _remember(self, rkey: str, version: int | None) -> None:
        """Queue an invalidation for replay (the newest version wins)."""
        old = self._pending.get(rkey)
        if old is not None and (version is None or old > version):
            version = old
        self._pending[rkey] = version

    def _send_invalidation(self, rkey: str, version: int | None, target: Any) -> None:
        target = target if target is not None else self.connection
        if self.version is not None and version is not None:
            ttl_ms = jittered_ttl_ms(self.ttl, 0.0, self._rng)
            self._invalidate_version(keys=[rkey], args=[int(version), ttl_ms], client=target)
        else:
            target.delete(rkey)

    # ------------------------------------------------------------ outages
    def _redis_down(self, exc: BaseException, op: str, rkey: str) -> None:
        self.stats.incr("redis_errors")
        first = not self._breaker.open_until
        self._breaker.trip()
        if first:
            log.warning(
                "cache %s: Redis unavailable during %s %s (%s); serving from the database "
                "for %.1f s",
                self.name,
                op,
                rkey,
                exc,
                self._breaker.cooldown,
            )

    def _recovered(self) -> bool:
        """After the cooldown: replay failed invalidations; True if Redis may be read again."""
        if not self._breaker.closed():
            return False
        if self._pending:
            pending = dict(self._pending)
            try:
                pipe = self.connection.pipeline(transaction=False)
                for rkey, version in pending.items():
                    self._send_invalidation(rkey, version, pipe)
                pipe.execute()
            except REDIS_ERRORS as exc:
                self._redis_down(exc, "replaying invalidations", f"({len(pending)} keys)")
                return False
            for rkey, version in pending.items():
                if self._pending.get(rkey, version) == version:  # not re-queued meanwhile
                    self._pending.pop(rkey, None)
            log.info("cache %s: Redis is back, %d invalidations replayed", self.name, len(pending))
            if self._pending:  # another thread failed one meanwhile: replay it first
                return False
        self._breaker.reset()
        return True

    @property
    def pending_invalidations(self) -> list[str]:
        """Keys whose invalidation Redis has not received yet."""
        return list(self._pending)

    def __repr__(self) -> str:
        return f"CacheAside({self.name!r}, ttl={self.ttl}, jitter={self.jitter})"


def _positional_template(template: str, names: list[str]) -> tuple[str | None, int]:
    """``"{item_id}:{kind!r}"`` -> (``"{0}:{1!r}"``, 2) over ``names``; (None, 0) if impossible."""
    out = []
    needed = 0
    for literal, field, spec, conv in string.Formatter().parse(template):
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is None:
            continue
        if field not in names:  # attribute/index access, numeric or keyword-only fields
            return None, 0
        idx = names.index(field)
        needed = max(needed, idx + 1)
        out.append(
            "{" + str(idx) + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
        )
    return "".join(out), needed


def _key_builder(fn: Callable[..., Any], key: str | Callable[..., Any] | None) -> Callable:
    """``(args, kwargs) -> key suffix`` for the decorated ``fn``."""
    if key is None:

        def default(args: tuple, kwargs: dict) -> str:
            parts = [repr(a) for a in args]
            parts += [f"{k}={v!r}" for k, v in sorted(kwargs.items())]
            return ":".join(parts)

        return default
    if callable(key):
        return lambda args, kwargs: str(key(*args, **kwargs))
    template = key
    fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    params = inspect.signature(fn).parameters.values()
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    defaults = {p.name: p.default for p in params if p.default is not p.empty}
    known = set(names) | {p.name for p in params if p.kind is p.KEYWORD_ONLY}
    for f in fields:
        base = f.split(".")[0].split("[")[0]
        if base and not base.isdigit() and base not in known:
            raise UsageError(f"key template {template!r} names {base!r}, not a parameter of {fn}")

    # Fast path: the fields rewritten as positional indices ("{item_id}" -> "{0}"), used
    # when the call passes every parameter the template needs positionally.
    positional, needed = _positional_template(template, names)

    def from_template(args: tuple, kwargs: dict) -> str:
        if positional is not None and not kwargs and len(args) >= needed:
            return positional.format(*args)
        named = dict(defaults)
        named.update(zip(names, args, strict=False))
        named.update(kwargs)
        return template.format(*args, **named)

    return from_template


def cached(
    *,
    connection: Connection,
    ttl: float,
    key: str | Callable[..., Any] | None = None,
    name: str | None = None,
    jitter: float = 0.1,
    serializer: Serializer | None = None,
    cache_none: bool = False,
    none_ttl: float | None = None,
    cooldown: float = 1.0,
    seed: int | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a loader with cache-aside.

    Args:
        connection: a ``redis.Redis``.
        ttl: seconds before jitter.
        key: a format string over the parameters (``"{user_id}"``), a callable taking
            the same arguments, or None (``repr`` of the arguments joined by ``:``).
        name: key namespace (default: the function's ``__name__``).
        jitter, serializer, cache_none, none_ttl, cooldown, seed: see :class:`CacheAside`.

    The wrapper has ``.cache`` (the :class:`CacheAside`), ``.stats``,
    ``.key_for(*args, **kwargs)`` and ``.invalidate(*args, **kwargs)``.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        cache = CacheAside(
            connection,
            fn,
            name=name or fn.__name__,
            ttl=ttl,
            jitter=jitter,
            serializer=serializer,
            cache_none=cache_none,
            none_ttl=none_ttl,
            cooldown=cooldown,
            seed=seed,
        )
        suffix = _key_builder(fn, key)
        prefix = cache.key("")
        fetch = cache.fetch
        # The hit path, inlined: key, GET, count, decode. Everything else goes to fetch().
        breaker = cache._breaker
        conn_get = connection.get
        loads = cache._loads
        stats = cache.stats
        lock = stats._lock
        after_get = cache._after_get
        get_failed = cache._get_failed

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            rkey = prefix + suffix(args, kwargs)
            if breaker.open_until:
                return fetch(rkey, fn, args, kwargs)
            try:
                raw = conn_get(rkey)
            except REDIS_ERRORS as exc:
                return get_failed(exc, rkey, fn, args, kwargs)
            if raw is None:
                return after_get(rkey, None, fn, args, kwargs)
            with lock:
                stats.hits += 1
            return loads(raw)

        def key_for(*args: Any, **kwargs: Any) -> str:
            return prefix + suffix(args, kwargs)

        def invalidate(*args: Any, **kwargs: Any) -> None:
            cache.invalidate_key(prefix + suffix(args, kwargs))

        wrapper.cache = cache  # type: ignore[attr-defined]
        wrapper.stats = cache.stats  # type: ignore[attr-defined]
        wrapper.key_for = key_for  # type: ignore[attr-defined]
        wrapper.invalidate = invalidate  # type: ignore[attr-defined]
        return wrapper

    return decorate
