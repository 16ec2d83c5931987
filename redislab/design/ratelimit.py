"""Rate limiters: five algorithms as atomic Lua scripts, the ``limits`` library, one checker.

Every hand-built limiter takes the request time ``now_ms`` as an argument (the
client's clock, ``time.time()`` by default), so a load can be *simulated*: thousands
of requests over many windows replayed in a second, deterministically. Every key of
one client carries the client id as a hash tag (``redislab:ratelimit:gcra:{alice}``),
so a limiter whose script touches two keys runs on a cluster too.

The checker (:func:`check`) is exact: given the times at which requests were
admitted, it finds the largest number admitted in any window of the limit's length
(every window, not just the aligned ones), which is what "at most L per W" promises.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import DesignError
from ..keys import RATELIMIT, key
from ..kit.lua import script
from ..kit.measure import summarize, time_calls
from ..types import Connection

__all__ = [
    "ALGORITHMS",
    "GCRA",
    "Accuracy",
    "FixedWindow",
    "LimitsLibrary",
    "NaiveFixedWindow",
    "RateLimiter",
    "SlidingLog",
    "SlidingWindowCounter",
    "TokenBucket",
    "boundary_bursts",
    "check",
    "concurrent_admissions",
    "crossslot_error",
    "latency",
    "memory_per_client",
    "realtime_run",
    "simulate",
    "steady_load",
]

FIXED_WINDOW_LUA = """
-- Fixed window: one counter per client per aligned window.
-- KEYS[1] the counter of the current window
-- ARGV[1] limit, ARGV[2] window length (ms)
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if count > tonumber(ARGV[1]) then
  return 0
end
return 1
"""

SLIDING_LOG_LUA = """
-- Sliding log: a sorted set of the admitted requests' times.
-- KEYS[1] the log (score = request time in ms)
-- ARGV[1] limit, ARGV[2] window length (ms), ARGV[3] now (ms), ARGV[4] a unique member
local limit, window, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

SLIDING_COUNTER_LUA = """
-- Sliding-window counter: the previous window's count, weighted by how much of it
-- still overlaps the sliding window, plus the current window's count.
-- KEYS[1] the current window's counter, KEYS[2] the previous window's counter
-- ARGV[1] limit, ARGV[2] window length (ms), ARGV[3] now (ms)
local limit, window, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local elapsed = now % window
local estimate = previous * (window - elapsed) / window + current
if estimate + 1 > limit then
  return 0
end
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], 2 * window)
return 1
"""

TOKEN_BUCKET_LUA = """
-- Token bucket: a hash {tokens, ts}; refilled lazily at each request.
-- KEYS[1] the bucket
-- ARGV[1] capacity (tokens), ARGV[2] refill rate (tokens per ms), ARGV[3] now (ms)
local capacity, rate, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate)
  ts = now
end
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
           'ts', string.format('%.3f', ts))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate))
return allowed
"""

GCRA_LUA = """
-- GCRA (generic cell rate algorithm): one key, the theoretical arrival time (TAT).
-- KEYS[1] the TAT (ms)
-- ARGV[1] emission interval T = window / limit (ms), ARGV[2] burst tolerance
--         tau = (burst - 1) * T (ms), ARGV[3] now (ms)
local interval, tau, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then
  tat = now
end
if tat - now > tau then
  return 0
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.3f', new_tat),
           'PX', math.max(1, math.ceil(new_tat - now)))
return 1
"""


def _now_ms() -> float:
    return time.time() * 1e3


class RateLimiter:
    """At most ``limit`` requests per ``window_ms`` per client (the base of the designs).

    ``allow(client, now_ms=None)`` answers one request. ``simulated`` says whether the
    limiter honours ``now_ms`` (the hand-built ones do; a library reads its own clock).
    """

    algorithm = "base"
    simulated = True

    def __init__(
        self, connection: Connection, *, limit: int, window_ms: float, name: str = "api"
    ) -> None:
        if limit < 1 or window_ms <= 0:
            raise DesignError(
                f"a rate limit needs limit >= 1 and window_ms > 0, got {limit}, {window_ms}"
            )
        self.connection = connection
        self.limit = int(limit)
        self.window_ms = float(window_ms)
        self.name = name

    def key(self, client: str, *parts: object) -> str:
        """This limiter's key for ``client`` (the client id is the hash tag)."""
        return key(RATELIMIT, self.algorithm, self.name, f"{{{client}}}", *parts)

    def allow(self, client: str, now_ms: float | None = None) -> bool:
        """Whether one request of ``client`` at ``now_ms`` is admitted (and count it)."""
        raise NotImplementedError

    def keys(self, client: str) -> list[str]:
        """The keys this limiter holds for ``client`` now (to measure its memory)."""
        pattern = self.key(client).replace("{", "\\{").replace("}", "\\}") + "*"
        return sorted(_scan(self.connection, pattern))

    def bound(self) -> int:
        """The most this algorithm can admit in any window of ``window_ms`` (by design)."""
        return self.limit

    def __repr__(self) -> str:
        return f"{type(self).__name__}(limit={self.limit}, window_ms={self.window_ms:g})"


def _scan(connection: Connection, pattern: str) -> list[str]:
    found = connection.scan_iter(match=pattern, count=1000)
    return [k.decode() if isinstance(k, bytes) else k for k in found]


class FixedWindow(RateLimiter):
    """One ``INCR`` counter per aligned window; up to 2x the limit across a boundary."""

    algorithm = "fixed"

    def __init__(self, connection: Connection, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self._script = script(connection, FIXED_WINDOW_LUA)

    def allow(self, client: str, now_ms: float | None = None) -> bool:
        now = _now_ms() if now_ms is None else now_ms
        window = int(now // self.window_ms)
        counter = self.key(client, window)
        return bool(self._script(keys=[counter], args=[self.limit, int(self.window_ms)]))

    def bound(self) -> int:
        return 2 * self.limit


class SlidingLog(RateLimiter):
    """A sorted set of admitted times: exact, memory grows with the limit."""

    algorithm = "log"

    def __init__(self, connection: Connection, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self._script = script(connection, SLIDING_LOG_LUA)
        self._seq = itertools.count()

    def allow(self, client: str, now_ms: float | None = None) -> bool:
        now = _now_ms() if now_ms is None else now_ms
        member = f"{now:.3f}-{next(self._seq)}-{threading.get_ident()}"
        args = [self.limit, int(self.window_ms), f"{now:.3f}", member]
        return bool(self._script(keys=[self.key(client)], args=args))


class SlidingWindowCounter(RateLimiter):
    """Two fixed-window counters, the previous one weighted: approximate, tiny memory."""

    algorithm = "counter"

    def __init__(self, connection: Connection, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self._script = script(connection, SLIDING_COUNTER_LUA)

    def allow(self, client: str, now_ms: float | None = None) -> bool:
        now = _now_ms() if now_ms is None else now_ms
        window = int(now // self.window_ms)
        keys = [self.key(client, window), self.key(client, window - 1)]
        return bool(self._script(keys=keys, args=[self.limit, int(self.window_ms), f"{now:.3f}"]))

    def bound(self) -> int:
        # the previous window's requests are assumed spread evenly; when they all came
        # at its end, the estimate undercounts them: at worst nearly 2x
        return 2 * self.limit


class TokenBucket(RateLimiter):
    """Tokens refill at ``limit / window_ms``; ``burst`` (default ``limit``) is the capacity."""

    algorithm = "bucket"

    def __init__(self, connection: Connection, *, burst: int | None = None, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self.burst = int(burst or self.limit)
        self._script = script(connection, TOKEN_BUCKET_LUA)

    def allow(self, client: str, now_ms: float | None = None) -> bool:
        now = _now_ms() if now_ms is None else now_ms
        rate = self.limit / self.window_ms
        return bool(
            self._script(keys=[self.key(client)], args=[self.burst, repr(rate), f"{now:.3f}"])
        )

    def bound(self) -> int:
        # a full bucket, then the refill of one window
        return self.burst + self.limit


class GCRA(RateLimiter):
    """The generic cell rate algorithm: a token bucket in one number (the TAT)."""

    algorithm = "gcra"

    def __init__(self, connection: Connection, *, burst: int | None = None, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self.burst = int(burst or self.limit)
        self._script = script(connection, GCRA_LUA)

    def allow(self, client: str, now_ms: float | None = None) -> bool:
        now = _now_ms() if now_ms is None else now_ms
        interval = self.window_ms / self.limit
        tau = (self.burst - 1) * interval
        args = [repr(interval), repr(tau), f"{now:.3f}"]
        return bool(self._script(keys=[self.key(client)], args=args))

    def bound(self) -> int:
        return self.burst + self.limit


class LimitsLibrary(RateLimiter):
    """The ``limits`` library's Redis strategies on the same server (its own clock).

    ``strategy`` is ``"fixed"`` (FixedWindowRateLimiter), ``"moving"``
    (MovingWindowRateLimiter, a log in a list) or ``"sliding"``
    (SlidingWindowCounterRateLimiter). ``limits`` counts windows in whole seconds, so
    ``window_ms`` must be a multiple of 1000.
    """

    simulated = False
    STRATEGIES = ("fixed", "moving", "sliding")

    def __init__(self, connection: Connection, *, strategy: str = "moving", **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        if strategy not in self.STRATEGIES:
            raise DesignError(
                f"unknown limits strategy {strategy!r}; pick one of {self.STRATEGIES}"
            )
        if self.window_ms % 1000:
            raise DesignError(
                "limits counts windows in whole seconds: window_ms must be a multiple of 1000"
            )
        import limits
        from limits import strategies
        from limits.storage import RedisClusterStorage, RedisStorage

        self.strategy = strategy
        self.algorithm = f"limits-{strategy}"
        prefix = key(RATELIMIT, self.algorithm, self.name)
        host, port = _address(connection)
        if _is_cluster(connection):
            storage: Any = RedisClusterStorage(f"redis+cluster://{host}:{port}", key_prefix=prefix)
        else:
            storage = RedisStorage(f"redis://{host}:{port}", key_prefix=prefix)
        cls = {
            "fixed": strategies.FixedWindowRateLimiter,
            "moving": strategies.MovingWindowRateLimiter,
            "sliding": strategies.SlidingWindowCounterRateLimiter,
        }[strategy]
        self._limiter = cls(storage)  # type: ignore[abstract]
        self._item = limits.RateLimitItemPerSecond(self.limit, int(self.window_ms // 1000))
        self._prefix = prefix

    def allow(self, client: str, now_ms: float | None = None) -> bool:
        return bool(self._limiter.hit(self._item, client))

    def keys(self, client: str) -> list[str]:
        return sorted(_scan(self.connection, f"{self._prefix}*{client}*"))

    def bound(self) -> int:
        return self.limit if self.strategy == "moving" else 2 * self.limit


def _is_cluster(connection: Connection) -> bool:
    return hasattr(connection, "get_default_node")


def _address(connection: Connection) -> tuple[str, int]:
    if _is_cluster(connection):
        node = connection.get_default_node()
        return node.host, int(node.port)
    kw = connection.connection_pool.connection_kwargs
    return kw.get("host", "127.0.0.1"), int(kw.get("port", 6379))


class NaiveFixedWindow(FixedWindow):
    """What not to do: the fixed window checked with ``GET`` and counted with ``INCR``
    from the client, two round trips apart (concurrent requests slip in between)."""

    algorithm = "naive"

    def allow(self, client: str, now_ms: float | None = None) -> bool:
        now = _now_ms() if now_ms is None else now_ms
        counter = self.key(client, int(now // self.window_ms))
        if int(self.connection.get(counter) or 0) >= self.limit:
            return False
        self.connection.incr(counter)
        self.connection.pexpire(counter, int(self.window_ms))
        return True


def crossslot_error(node: Any, *, limit: int = 10, window_ms: int = 1000) -> str | None:
    """Run the sliding-window counter on one cluster node with *untagged* keys.

    The two keys (``...:rl:7`` and ``...:rl:6``) hash to different slots; a cluster
    node refuses such a script. Returns the error the node answered (or ``None``).
    """
    import redis

    keys = [key(RATELIMIT, "untagged", "rl", 7), key(RATELIMIT, "untagged", "rl", 6)]
    try:
        script(node, SLIDING_COUNTER_LUA)(keys=keys, args=[limit, window_ms, "7000"])
    except redis.ResponseError as exc:
        return str(exc)
    return None


ALGORITHMS: dict[str, type[RateLimiter]] = {
    "fixed window": FixedWindow,
    "sliding log": SlidingLog,
    "sliding-window counter": SlidingWindowCounter,
    "token bucket": TokenBucket,
    "GCRA": GCRA,
}
"""The hand-built limiters by their usual names."""


# ------------------------------------------------------------------------- loads
def steady_load(
    *, rate_per_s: float, duration_ms: float, seed: int, start_ms: float = 0.0
) -> list[float]:
    """Request times (ms) of a Poisson stream at ``rate_per_s`` for ``duration_ms``."""
    rng = random.Random(seed)
    t: float = start_ms
    out: list[float] = []
    while True:
        t += rng.expovariate(rate_per_s / 1e3)
        if t >= start_ms + duration_ms:
            return out
        out.append(round(t, 3))


def boundary_bursts(
    *, limit: int, window_ms: float, bursts: int, spread_ms: float = 10.0, start_ms: float = 0.0
) -> list[float]:
    """``bursts`` times ``2 * limit`` requests packed around window boundaries.

    Each burst sends ``limit`` requests in the last ``spread_ms`` of a window and
    ``limit`` in the first ``spread_ms`` of the next, then waits three windows.
    """
    out: list[float] = []
    for b in range(bursts):
        edge = start_ms + (1 + 4 * b) * window_ms
        step = spread_ms / limit
        out += [round(edge - spread_ms + i * step, 3) for i in range(limit)]
        out += [round(edge + i * step, 3) for i in range(limit)]
    return out


def simulate(limiter: RateLimiter, times: Iterable[float], *, client: str = "c1") -> list[float]:
    """Replay request ``times`` (ms) against ``limiter``; the admitted times."""
    if not limiter.simulated:
        raise DesignError(f"{limiter!r} reads its own clock; use realtime_run")
    return [t for t in times if limiter.allow(client, now_ms=t)]


def realtime_run(
    limiters: Sequence[RateLimiter],
    *,
    rate_per_s: float,
    duration_s: float,
    seed: int,
    client: str = "rt",
) -> list[list[float]]:
    """One real-time Poisson load offered to every limiter at once (same request times).

    Each request time is taken from the wall clock just before the calls (ms) and
    passed as ``now_ms`` to limiters that take it; a library reads its own clock
    microseconds later. Returns, per limiter, the times of the admitted requests.
    """
    offsets = steady_load(rate_per_s=rate_per_s, duration_ms=duration_s * 1e3, seed=seed)
    admitted: list[list[float]] = [[] for _ in limiters]
    start = time.perf_counter()
    for off in offsets:
        delay = off / 1e3 - (time.perf_counter() - start)
        if delay > 0:
            time.sleep(delay)
        now = _now_ms()
        for i, lim in enumerate(limiters):
            if lim.allow(client, now_ms=now):
                admitted[i].append(now)
    return admitted


# ----------------------------------------------------------------------- checker
@dataclass(frozen=True)
class Accuracy:
    """What a load got through one limiter, judged against "at most limit per window"."""

    offered: int
    admitted: int
    limit: int
    max_in_window: int
    """The most admitted requests found in any window of the limit's length."""
    windows_over: int
    """Admitted requests that closed a window holding more than ``limit``."""

    @property
    def overshoot(self) -> float:
        """``max_in_window / limit`` (1.0 = never above the limit)."""
        return self.max_in_window / self.limit


def check(
    admitted: Sequence[float], *, limit: int, window_ms: float, offered: int | None = None
) -> Accuracy:
    """The exact check: the most admitted requests in any half-open window ``[t, t+W)``.

    The fullest window can always be slid to start at an admitted request, so
    checking the window that starts at each one is exhaustive.
    """
    ts = sorted(admitted)
    most, over = 0, 0
    for i, t in enumerate(ts):
        first = bisect_left(ts, t - window_ms + 1e-9)  # requests in (t - W, t]
        n = i - first + 1
        most = max(most, n)
        over += n > limit
    return Accuracy(
        offered=len(ts) if offered is None else offered,
        admitted=len(ts),
        limit=limit,
        max_in_window=most,
        windows_over=over,
    )


# --------------------------------------------------------- concurrency, memory, latency
def concurrent_admissions(
    allow: Callable[[str], bool], *, threads: int, requests_per_thread: int, client: str = "race"
) -> int:
    """How many of ``threads * requests_per_thread`` simultaneous requests ``allow`` admitted."""
    barrier = threading.Barrier(threads)
    counts = [0] * threads

    def worker(i: int) -> None:
        barrier.wait()
        counts[i] = sum(bool(allow(client)) for _ in range(requests_per_thread))

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts)


def memory_per_client(limiter: RateLimiter, *, client: str) -> int:
    """Bytes (``MEMORY USAGE ... SAMPLES 0``) of every key ``limiter`` holds for ``client``."""
    total = 0
    for k in limiter.keys(client):
        total += int(limiter.connection.memory_usage(k, samples=0) or 0)
    return total


def latency(limiter: RateLimiter, *, n: int, clients: int = 100, seed: int = 0) -> dict[str, float]:
    """Latency summary (ms) of ``n`` calls to ``allow`` spread over ``clients`` ids."""
    rng = random.Random(seed)
    ids = [f"lat{i}" for i in range(clients)]
    return summarize(time_calls(lambda: limiter.allow(rng.choice(ids)), n=n, warmup=min(50, n)))
