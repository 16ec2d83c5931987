"""Two-level cache: an in-process bounded LRU (L1) in front of Redis (L2).

An L1 hit is a dictionary lookup; the hard part is coherence. Three modes:

- ``"tracking"``: Redis client-side caching. The connection that reads L2 runs
  ``CLIENT TRACKING ON REDIRECT <id> NOLOOP``, where ``<id>`` is a second connection
  subscribed to ``__redis__:invalidate`` (the RESP2 two-connection mode, which also
  works for RESP3 clients). The server remembers every key the reader read and
  sends its name when *anyone* modifies it, or when it expires or is evicted.
- ``"pubsub"``: for servers without tracking: writers that go through
  :meth:`TwoLevelCache.set` / :meth:`~TwoLevelCache.delete` ``PUBLISH`` the key on
  ``redislab:cache:<name>:invalidate``. A writer that bypasses this class is not seen
  (its readers stay stale until ``l1_ttl``).
- ``"none"``: no invalidation at all; an L1 entry lives ``l1_ttl`` (the baseline).

``"auto"`` picks ``tracking`` when the server accepts ``CLIENT TRACKING``, else
``pubsub``. Following the client-side-caching reference: an L2 read first puts a
placeholder in L1 bookkeeping and only stores the value if no invalidation arrived
meanwhile; if the invalidation connection breaks (or stops answering ``PING``),
L1 is flushed and bypassed until it is re-established; every L1 entry also has a
maximum TTL.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import redis

from ..errors import UsageError
from ..keys import CACHE, key
from ..types import Connection
from ._common import (
    REDIS_ERRORS,
    CacheError,
    CacheStats,
    JsonSerializer,
    Serializer,
    cache_key,
    decode_responses,
    jittered_ttl_ms,
    log,
)

__all__ = [
    "LRU",
    "MODES",
    "TwoLevelCache",
    "pubsub_gap",
    "staleness_after_write",
    "tracking_invalidations",
]

MODES = ("auto", "tracking", "pubsub", "none")
INVALIDATE_CHANNEL = "__redis__:invalidate"
_MISSING = object()


class LRU:
    """A bounded, thread-safe least-recently-used map whose entries also expire."""

    def __init__(self, maxsize: int = 1024) -> None:
        if maxsize <= 0:
            raise UsageError("maxsize must be positive")
        self.maxsize = maxsize
        self.evictions = 0
        self._data: OrderedDict[Hashable, tuple[Any, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, k: Hashable, default: Any = None) -> Any:
        """The value of ``k`` (and mark it recently used), or ``default``."""
        with self._lock:
            entry = self._data.get(k)
            if entry is None:
                return default
            if entry[1] < time.monotonic():
                del self._data[k]
                return default
            self._data.move_to_end(k)
            return entry[0]

    def put(self, k: Hashable, value: Any, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds, evicting the least recently used entry if full."""
        with self._lock:
            self._data[k] = (value, time.monotonic() + ttl)
            self._data.move_to_end(k)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
                self.evictions += 1

    def pop(self, k: Hashable) -> bool:
        """Remove ``k``; True if it was there."""
        with self._lock:
            return self._data.pop(k, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __contains__(self, k: Hashable) -> bool:
        with self._lock:
            return k in self._data

    def __len__(self) -> int:
        return len(self._data)


def _text(x: Any) -> Any:
    return x.decode() if isinstance(x, bytes) else x


class TwoLevelCache:
    """L1 (in-process LRU) over L2 (Redis), kept coherent by tracking or pub/sub.

    Args:
        connection: a ``redis.Redis`` (standalone). Writes and loads use it; L2 reads
            use a dedicated connection built from its settings.
        loader: ``ident -> value`` called on an L2 miss (None: a miss returns None).
        name: key namespace (``redislab:cache:<name>:<ident>``).
        maxsize: L1 capacity (entries).
        ttl: L2 TTL in seconds (jittered by ``jitter``).
        l1_ttl: maximum life of an L1 entry (default ``ttl``).
        invalidation: one of :data:`MODES`.
        health_interval: seconds between PINGs on the invalidation connection; no
            answer within that time marks it broken.
        seed: seeds the TTL jitter.
    """

    def __init__(
        self,
        connection: Connection,
        loader: Callable[[Any], Any] | None = None,
        *,
        name: str = "l1l2",
        maxsize: int = 1024,
        ttl: float = 60.0,
        l1_ttl: float | None = None,
        jitter: float = 0.1,
        serializer: Serializer | None = None,
        invalidation: str = "auto",
        health_interval: float = 1.0,
        seed: int | None = None,
    ) -> None:
        if invalidation not in MODES:
            raise UsageError(f"invalidation must be one of {MODES}")
        self.connection = connection
        self.loader = loader
        self.name = name
        self.ttl = ttl
        self.l1_ttl = ttl if l1_ttl is None else l1_ttl
        self.jitter = jitter
        self.serializer = serializer or JsonSerializer()
        if self.serializer.binary and decode_responses(connection):
            raise CacheError("a binary serializer needs decode_responses=False")
        self.l1 = LRU(maxsize)
        self.stats = CacheStats()
        self.health_interval = health_interval
        self._rng = random.Random(seed)
        self._prefix = cache_key(name, "")
        self.channel = key(CACHE, name, "invalidate")
        self._lock = threading.Lock()
        self._placeholders: dict[str, object] = {}
        self._l1_on = False
        self._stop = threading.Event()
        self._listener: Any = None
        self._listener_id: int | None = None
        self._needs_repoint = False
        self._last_pong = 0.0
        self._ping_sent: float | None = None
        self._thread: threading.Thread | None = None
        self.mode = self._resolve_mode(invalidation)
        self.reader = self._make_reader() if self.mode == "tracking" else connection
        if self.mode == "none":
            self._l1_on = True
        else:
            self._connect_listener()
            self._thread = threading.Thread(
                target=self._listen, name=f"l1-invalidation-{name}", daemon=True
            )
            self._thread.start()

    # ------------------------------------------------------------- set-up
    def _resolve_mode(self, wanted: str) -> str:
        if wanted not in ("auto", "tracking"):
            return wanted
        probe = self.connection.connection_pool.connection_class(**self._conn_kwargs())
        try:
            probe.connect()
            probe.send_command("CLIENT", "TRACKING", "ON")
            probe.read_response()
            return "tracking"
        except redis.ResponseError as exc:
            if wanted == "tracking":
                raise CacheError(f"the server refused CLIENT TRACKING: {exc}") from exc
            log.info("L1 %s: CLIENT TRACKING unavailable (%s); using pub/sub", self.name, exc)
            return "pubsub"
        finally:
            probe.disconnect()

    def _conn_kwargs(self, **overrides: Any) -> dict[str, Any]:
        kw = dict(self.connection.connection_pool.connection_kwargs)
        kw.update(overrides)
        return kw

    def _make_reader(self) -> redis.Redis:
        pool = redis.ConnectionPool(
            connection_class=self.connection.connection_pool.connection_class,
            **self._conn_kwargs(),
        )
        reader = redis.Redis(connection_pool=pool, single_connection_client=True)
        # Called on every (re)connect: tracking is per connection and dies with it.
        assert reader.connection is not None  # single_connection_client
        reader.connection.register_connect_callback(self._on_reader_connect)
        return reader

    def _on_reader_connect(self, conn: Any) -> None:
        # A new reader connection tracks nothing yet, and what the old one read will
        # never be invalidated: flush L1; the listener thread re-points tracking and
        # re-enables L1 (it knows whether the invalidation connection is alive).
        self._disable_l1("the L2 reader reconnected")
        self._needs_repoint = True

    def _connect_listener(self) -> None:
        """(Re)open the invalidation connection, point tracking at it, enable L1."""
        conn = self.connection.connection_pool.connection_class(**self._conn_kwargs(protocol=2))
        conn.connect()
        if self.mode == "tracking":
            conn.send_command("CLIENT", "ID")
            self._listener_id = int(conn.read_response())
            conn.send_command("SUBSCRIBE", INVALIDATE_CHANNEL)
        else:
            conn.send_command("SUBSCRIBE", self.channel)
        conn.read_response()  # the subscribe confirmation
        self._listener = conn
        self._last_pong = time.monotonic()
        self._ping_sent = None
        self._point_tracking()

    def _point_tracking(self) -> None:
        """Send the reader's invalidations to the listener; then (re)enable an empty L1."""
        self._needs_repoint = False
        if self.mode == "tracking":
            with self._reader_lock():
                self.reader.execute_command(
                    "CLIENT", "TRACKING", "ON", "REDIRECT", self._listener_id, "NOLOOP"
                )
        with self._lock:
            self.l1.clear()
            self._placeholders.clear()
            self._l1_on = True

    def _reader_lock(self) -> Any:
        lock = getattr(self.reader, "single_connection_lock", None)
        return lock if lock is not None else contextlib.nullcontext()

    # ------------------------------------------------------------ listener
    def _listen(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            try:
                if self._listener is None:
                    self._connect_listener()
                    log.info("L1 %s: invalidation connection re-established", self.name)
                    backoff = 0.05
                if self._needs_repoint:
                    self._point_tracking()
                conn = self._listener
                if conn.can_read(timeout=0.05):
                    self._handle(conn.read_response())
                self._health_check(conn)
            except (*REDIS_ERRORS, OSError, redis.RedisError) as exc:
                if self._stop.is_set():
                    return
                self._disable_l1(f"invalidation connection lost ({exc})")
                self._drop_listener()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 1.0)

    def _health_check(self, conn: Any) -> None:
        now = time.monotonic()
        if self._ping_sent is not None:
            if now - self._ping_sent > self.health_interval:
                raise redis.TimeoutError("no PONG on the invalidation connection")
        elif now - self._last_pong >= self.health_interval:
            conn.send_command("PING")
            self._ping_sent = now

    def _handle(self, msg: Any) -> None:
        if not isinstance(msg, list) or not msg:
            return
        kind = _text(msg[0])
        if kind == "pong":
            self._ping_sent = None
            self._last_pong = time.monotonic()
            return
        if kind != "message":
            return
        data = msg[2]
        if self.mode == "pubsub":
            data = _text(data)
            keys = None if data == "*" else [data]
        else:
            keys = None if data is None else [_text(k) for k in data]
        with self._lock:
            if keys is None:  # FLUSHALL / FLUSHDB
                self.l1.clear()
                self._placeholders.clear()
                self.stats.incr("invalidations")
                return
            for k in keys:
                self.l1.pop(k)
                self._placeholders.pop(k, None)
        self.stats.incr("invalidations", len(keys))

    def _disable_l1(self, why: str) -> None:
        with self._lock:
            was_on = self._l1_on
            self._l1_on = False
            self.l1.clear()
            self._placeholders.clear()
        if was_on:
            log.warning("L1 %s: disabled and flushed: %s", self.name, why)

    def _drop_listener(self) -> None:
        conn, self._listener = self._listener, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.disconnect()

    @property
    def listener_id(self) -> int | None:
        """``CLIENT ID`` of the invalidation connection (tracking mode)."""
        return self._listener_id

    @property
    def l1_enabled(self) -> bool:
        """False while the invalidation channel is down (L1 bypassed)."""
        return self._l1_on

    # --------------------------------------------------------------- reads
    def key(self, ident: object) -> str:
        return self._prefix + str(ident)

    def get(self, ident: object) -> Any:
        """L1, then Redis, then the loader (whose result is stored in Redis, not in L1)."""
        rkey = self._prefix + str(ident)
        if self._l1_on:
            value = self.l1.get(rkey, _MISSING)
            if value is not _MISSING:
                stats = self.stats
                with stats._lock:
                    stats.l1_hits += 1
                return value
        token = object()
        with self._lock:
            self._placeholders[rkey] = token
        try:
            raw = self.reader.get(rkey)
        except REDIS_ERRORS as exc:
            self._forget(rkey, token)
            self.stats.incr("redis_errors")
            self.stats.incr("fallbacks")
            log.warning("L1 %s: Redis unavailable (%s); loading %s", self.name, exc, rkey)
            return self._load(ident)
        if raw is None:
            self._forget(rkey, token)
            self.stats.incr("misses")
            value = self._load(ident)
            if value is not None:
                # Stored by the reader itself: with NOLOOP its own write sends us no
                # invalidation (which could arrive late and wipe the next fill), and
                # the key stops being tracked, so it is not put in L1 here. The next
                # read tracks it again and fills L1.
                with contextlib.suppress(*REDIS_ERRORS):
                    self.reader.set(
                        rkey,
                        self.serializer.dumps(value),
                        px=jittered_ttl_ms(self.ttl, self.jitter, self._rng),
                    )
            return value
        value = self.serializer.loads(raw)
        self.stats.incr("hits")
        with self._lock:
            if self._placeholders.get(rkey) is token:
                del self._placeholders[rkey]
                if self._l1_on:
                    self.l1.put(rkey, value, self.l1_ttl)
        return value

    def _forget(self, rkey: str, token: object) -> None:
        with self._lock:
            if self._placeholders.get(rkey) is token:
                del self._placeholders[rkey]

    def _load(self, ident: object) -> Any:
        if self.loader is None:
            return None
        self.stats.incr("loads")
        return self.loader(ident)

    # -------------------------------------------------------------- writes
    def set(self, ident: object, value: Any, *, pipeline: Any = None) -> None:
        """Store ``value`` in Redis and drop the local copy (others learn of it by the mode)."""
        rkey = self._prefix + str(ident)
        target = pipeline if pipeline is not None else self.connection
        px = jittered_ttl_ms(self.ttl, self.jitter, self._rng)
        if self.mode == "pubsub" and pipeline is None:
            target = self.connection.pipeline(transaction=True)
            target.set(rkey, self.serializer.dumps(value), px=px)
            target.publish(self.channel, rkey)
            target.execute()
        else:
            target.set(rkey, self.serializer.dumps(value), px=px)
            if self.mode == "pubsub":
                target.publish(self.channel, rkey)
        self.l1.pop(rkey)

    def delete(self, ident: object, *, pipeline: Any = None) -> None:
        """Delete ``ident`` from Redis and L1 (and publish it in pub/sub mode)."""
        rkey = self._prefix + str(ident)
        target = pipeline if pipeline is not None else self.connection
        target.delete(rkey)
        if self.mode == "pubsub":
            target.publish(self.channel, rkey)
        self.l1.pop(rkey)

    # ------------------------------------------------------------ shutdown
    def close(self) -> None:
        """Stop the listener thread and close the connections this cache opened."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self._drop_listener()
        if self.reader is not self.connection:
            with contextlib.suppress(Exception):
                self.reader.close()
                self.reader.connection_pool.disconnect()
        self._l1_on = False

    def __enter__(self) -> TwoLevelCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TwoLevelCache({self.name!r}, mode={self.mode!r}, l1={len(self.l1)})"


def staleness_after_write(
    cache: TwoLevelCache,
    write: Callable[[int], None],
    ident: object,
    *,
    rounds: int = 20,
    timeout: float = 2.0,
    first: int = 0,
) -> np.ndarray:
    """Seconds during which ``cache`` still served the old value after ``write(i)`` returned.

    Each round primes L1 with the current value, calls ``write(i)`` (which must store
    the integer ``i`` at ``ident`` through some client; ``i`` runs from ``first``, so
    repeated calls can write new values) and polls ``cache.get`` until it returns ``i``.
    A round that never sees ``i`` records ``timeout`` (NaN-free, capped).
    """
    out = np.empty(rounds)
    rkey = cache.key(ident)
    for n in range(rounds):
        i = first + n
        deadline = time.monotonic() + timeout
        while rkey not in cache.l1 and time.monotonic() < deadline:  # prime L1
            cache.get(ident)
            time.sleep(0.001)
        write(i)
        t0 = time.perf_counter()
        while True:
            elapsed = time.perf_counter() - t0
            if cache.get(ident) == i or elapsed >= timeout:
                out[n] = min(elapsed, timeout)
                break
            time.sleep(0)  # let the listener thread run
    return out


def _single(client_factory: Callable[..., redis.Redis]) -> redis.Redis:
    """A client on its own RESP2 connection (CLIENT TRACKING and pub/sub are per connection)."""
    return client_factory(single_connection_client=True, protocol=2, decode_responses=True)


def tracking_invalidations(
    client_factory: Callable[..., redis.Redis],
    keys: list[str],
    *,
    cause: Callable[[], Any],
    timeout: float = 5.0,
) -> dict[str, Any]:
    """Which of ``keys`` the server invalidates, through ``CLIENT TRACKING``, after ``cause()``.

    ``client_factory(**kwargs)`` makes a client (e.g. ``lab.client``). A reader
    connection turns tracking on (``REDIRECT`` to a second connection
    subscribed to ``__redis__:invalidate``, the RESP2 mode), reads every key with
    ``GET``, then ``cause()`` runs (a write, waiting for an expiry, an eviction...).
    Returns ``{"present": [...], "invalidated": [...], "seconds": t}``: the keys that
    existed when read (only those are tracked), the key names the server pushed before
    all of them arrived or ``timeout`` passed, and how long that took.
    """
    reader, listener = _single(client_factory), _single(client_factory)
    listener_id = int(listener.client_id())
    pubsub = listener.pubsub()
    pubsub.connection = listener.connection  # type: ignore[assignment]  # subscribe on the connection whose id we know
    pubsub.subscribe(INVALIDATE_CHANNEL)
    seen: list[str] = []
    try:
        reader.execute_command("CLIENT", "TRACKING", "ON", "REDIRECT", listener_id)
        present = [k for k in keys if reader.get(k) is not None]
        start = time.monotonic()
        cause()
        deadline = start + timeout
        while time.monotonic() < deadline and not set(keys) <= set(seen):
            msg = pubsub.get_message(timeout=0.05)
            if msg and msg.get("type") == "message" and msg.get("data"):
                data = msg["data"]
                seen.extend(data if isinstance(data, list) else [data])
        invalidated = [k for k in seen if k in keys]
        return {"present": present, "invalidated": invalidated, "seconds": time.monotonic() - start}
    finally:
        with contextlib.suppress(*REDIS_ERRORS):
            pubsub.close()
        with contextlib.suppress(*REDIS_ERRORS):
            reader.close()
        with contextlib.suppress(*REDIS_ERRORS):
            listener.close()


def pubsub_gap(
    client_factory: Callable[..., redis.Redis], channel: str, *, timeout: float = 2.0
) -> dict[str, Any]:
    """Pub/sub is at-most-once: what a subscriber receives across a disconnect.

    A subscriber receives ``m1``, disconnects; ``m2`` is published while it is away;
    it subscribes again and ``m3`` is published. Returns the receiver counts
    ``PUBLISH`` replied for each and the messages the subscriber got, in order.
    """
    publisher = _single(client_factory)
    got: list[str] = []
    receivers: list[int] = []

    def subscribe() -> Any:
        ps = _single(client_factory).pubsub(ignore_subscribe_messages=True)
        ps.subscribe(channel)
        wait_until_subscribed = time.monotonic() + timeout
        while time.monotonic() < wait_until_subscribed:
            if publisher.pubsub_numsub(channel)[0][1] >= 1:
                break
            time.sleep(0.01)
        return ps

    def receive(ps: Any) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = ps.get_message(timeout=0.05)
            if msg and msg.get("type") == "message":
                got.append(msg["data"])
                return

    try:
        sub = subscribe()
        receivers.append(int(publisher.publish(channel, "m1")))
        receive(sub)
        sub.close()  # the subscriber goes away
        deadline = time.monotonic() + timeout
        while publisher.pubsub_numsub(channel)[0][1] and time.monotonic() < deadline:
            time.sleep(0.01)
        receivers.append(int(publisher.publish(channel, "m2")))
        sub = subscribe()
        receivers.append(int(publisher.publish(channel, "m3")))
        receive(sub)
        receive(sub)  # anything else queued for it (nothing, if at-most-once)
        sub.close()
        return {"receivers": receivers, "received": got}
    finally:
        with contextlib.suppress(*REDIS_ERRORS):
            publisher.close()
