"""Distributed locks on one Redis: a token lock, redis-py's ``Lock``, fencing, and faults.

- :class:`TokenLock`: ``SET key token NX PX ttl``; release and renewal compare the
  token first (Lua), so a holder whose lease expired cannot delete or extend the next
  holder's lock; each acquisition also takes a **fencing token** (an ``INCR`` in the
  same script) that a protected resource can check.
- :class:`NaiveLock`: the same ``SET NX PX`` released with a plain ``DEL`` (the bug).
- :class:`FencedResource`: a store that refuses a write whose fencing token is older
  than one it has already seen (a Lua compare-and-set), or accepts every write.
- :func:`contention`: N threads, one lock, a detector of overlapping critical sections.
- :func:`paused_holder`: a worker *process* takes the lock, is SIGSTOPped past the
  TTL, another client takes the lock, the worker resumes and writes.
- :func:`failover_loss`: on the Sentinel lab, a lock written to a primary that dies
  before replicating it is granted again by the promoted replica.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from ..errors import DesignError, LockLost
from ..keys import LOCKS, key
from ..kit.loads import paused
from ..kit.lua import script
from ..types import Connection

__all__ = [
    "LOCK_KINDS",
    "ContentionResult",
    "FailoverLoss",
    "FencedResource",
    "Lease",
    "NaiveLock",
    "PauseOutcome",
    "RedisPyLock",
    "TokenLock",
    "contention",
    "failover_loss",
    "overlaps",
    "paused_holder",
]

ACQUIRE_LUA = """
-- Take the lock if free, and a fencing token with it.
-- KEYS[1] the lock, KEYS[2] the fencing counter (same hash tag)
-- ARGV[1] the holder's random token, ARGV[2] the lease (ms)
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return false
"""

RELEASE_LUA = """
-- Delete the lock only if it still holds our token.
-- KEYS[1] the lock; ARGV[1] the holder's token
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

EXTEND_LUA = """
-- Renew the lease only if the lock still holds our token.
-- KEYS[1] the lock; ARGV[1] the holder's token, ARGV[2] the new lease (ms)
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

FENCED_WRITE_LUA = """
-- A protected resource: accept a write only with a fencing token >= the highest seen.
-- KEYS[1] the resource's value, KEYS[2] the highest token seen
-- ARGV[1] the writer's fencing token, ARGV[2] the value, ARGV[3] 1 = check, 0 = accept all
local seen = tonumber(redis.call('GET', KEYS[2]) or '0')
local token = tonumber(ARGV[1])
if ARGV[3] == '1' and token < seen then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
if token > seen then
  redis.call('SET', KEYS[2], token)
end
return 1
"""


@dataclass(frozen=True)
class Lease:
    """One acquisition: the random token that proves ownership and the fencing token."""

    token: str
    fence: int
    acquired_at: float


class TokenLock:
    """A single-instance lock with a random token, safe release, renewal and fencing."""

    kind = "token"

    def __init__(self, connection: Connection, name: str, *, ttl_ms: int = 10_000) -> None:
        if ttl_ms <= 0:
            raise DesignError(f"a lock needs a positive lease, got ttl_ms={ttl_ms}")
        self.connection = connection
        self.name = name
        self.ttl_ms = int(ttl_ms)
        self.key = key(LOCKS, "lock", f"{{{name}}}")
        self.fence_key = key(LOCKS, "fence", f"{{{name}}}")
        self._acquire = script(connection, ACQUIRE_LUA)
        self._release = script(connection, RELEASE_LUA)
        self._extend = script(connection, EXTEND_LUA)
        self.lease: Lease | None = None

    def acquire(self, *, timeout: float = 10.0, retry_ms: float = 5.0) -> Lease | None:
        """Take the lock, retrying every ``retry_ms`` for up to ``timeout`` s (0 = once)."""
        token = uuid.uuid4().hex
        deadline = time.monotonic() + timeout
        while True:
            fence = self._acquire(keys=[self.key, self.fence_key], args=[token, self.ttl_ms])
            if fence is not None:
                self.lease = Lease(token=token, fence=int(fence), acquired_at=time.monotonic())
                return self.lease
            if time.monotonic() >= deadline:
                return None
            time.sleep(retry_ms / 1e3)

    def release(self) -> bool:
        """Release if we still own it; ``False`` (nothing deleted) if the lease was lost."""
        if self.lease is None:
            return False
        done = bool(self._release(keys=[self.key], args=[self.lease.token]))
        self.lease = None
        return done

    def extend(self, ttl_ms: int | None = None) -> None:
        """Renew the lease; raises :class:`~redislab.errors.LockLost` if it expired."""
        if self.lease is None or not self._extend(
            keys=[self.key], args=[self.lease.token, int(ttl_ms or self.ttl_ms)]
        ):
            raise LockLost(f"lock {self.name!r}: the lease expired or another holder took it")

    def owned(self) -> bool:
        """Whether the lock still holds our token (a read; it may expire right after)."""
        value = self.connection.get(self.key)
        token = value.decode() if isinstance(value, bytes) else value
        return self.lease is not None and token == self.lease.token


class NaiveLock(TokenLock):
    """``SET NX PX`` with a plain ``DEL`` release: deletes whoever holds the lock now."""

    kind = "naive"

    def release(self) -> bool:
        self.lease = None
        return bool(self.connection.delete(self.key))


class RedisPyLock:
    """redis-py's ``Lock`` behind the same interface (token release and extend in Lua).

    redis-py has no fencing token: :attr:`Lease.fence` is 0. Its ``release`` raises
    ``LockNotOwnedError`` when the lease was lost; here that becomes ``False``.
    """

    kind = "redis-py"

    def __init__(self, connection: Connection, name: str, *, ttl_ms: int = 10_000) -> None:
        self.connection = connection
        self.name = name
        self.ttl_ms = int(ttl_ms)
        self.key = key(LOCKS, "redispy", f"{{{name}}}")
        self._lock = connection.lock(
            self.key, timeout=ttl_ms / 1e3, sleep=0.005, thread_local=False
        )
        self.lease: Lease | None = None

    def acquire(self, *, timeout: float = 10.0, retry_ms: float = 5.0) -> Lease | None:
        self._lock.sleep = retry_ms / 1e3
        if not self._lock.acquire(blocking=timeout > 0, blocking_timeout=timeout or None):
            return None
        token = self._lock.local.token
        token = token.decode() if isinstance(token, bytes) else str(token)
        self.lease = Lease(token=token, fence=0, acquired_at=time.monotonic())
        return self.lease

    def release(self) -> bool:
        self.lease = None
        try:
            self._lock.release()
        except redis.exceptions.LockError:  # LockNotOwnedError or not locked
            return False
        return True

    def extend(self, ttl_ms: int | None = None) -> None:
        try:
            self._lock.extend((ttl_ms or self.ttl_ms) / 1e3, replace_ttl=True)
        except redis.exceptions.LockError as exc:
            raise LockLost(f"lock {self.name!r}: {exc}") from exc

    def owned(self) -> bool:
        return bool(self._lock.owned())


LOCK_KINDS: dict[str, type[Any]] = {
    "naive": NaiveLock,
    "token": TokenLock,
    "redis-py": RedisPyLock,
}
"""The locks by kind (``contention`` and ``paused_holder`` take these names)."""


class FencedResource:
    """A store the lock protects; with ``check=True`` it refuses stale fencing tokens."""

    def __init__(self, connection: Connection, name: str, *, check: bool = True) -> None:
        self.connection = connection
        self.check = check
        self.value_key = key(LOCKS, "resource", f"{{{name}}}")
        self.seen_key = key(LOCKS, "resource-fence", f"{{{name}}}")
        self._write = script(connection, FENCED_WRITE_LUA)

    def write(self, fence: int, value: str) -> bool:
        """Write ``value`` under fencing token ``fence``; ``False`` if refused as stale."""
        args = [int(fence), value, "1" if self.check else "0"]
        return bool(self._write(keys=[self.value_key, self.seen_key], args=args))

    def value(self) -> str | None:
        v = self.connection.get(self.value_key)
        return v.decode() if isinstance(v, bytes) else v


# ------------------------------------------------------------------ detector
def overlaps(intervals: list[tuple[float, float, Any]]) -> int:
    """How many critical sections began before an earlier one (by start) had ended.

    ``intervals`` are ``(start, end, who)`` on one clock; 0 means mutual exclusion held.
    """
    count, latest_end = 0, float("-inf")
    for start, end, _ in sorted(intervals, key=lambda i: i[0]):
        if start < latest_end:
            count += 1
        latest_end = max(latest_end, end)
    return count


@dataclass
class ContentionResult:
    """What N workers did with one lock (or none)."""

    kind: str
    workers: int
    sections: int
    overlaps: int
    counter: int
    """A shared counter each section incremented with ``GET`` + ``SET`` (not atomic)."""
    seconds: float
    waits_ms: list[float] = field(default_factory=list)

    @property
    def lost_increments(self) -> int:
        return self.sections - self.counter

    @property
    def sections_per_s(self) -> float:
        return self.sections / self.seconds if self.seconds else 0.0


def contention(
    connect: Callable[[], Connection],
    *,
    kind: str | None,
    workers: int,
    sections: int,
    hold_ms: float = 1.0,
    name: str = "contention",
    timeout: float = 30.0,
) -> ContentionResult:
    """``workers`` threads each run ``sections`` critical sections under one lock.

    ``kind`` is a :data:`LOCK_KINDS` name, or ``None`` for no lock at all (the
    baseline that shows what the detector catches). Each section reads a counter,
    holds for ``hold_ms``, writes it back plus one: lost increments mean two sections
    overlapped. Every thread has its own client from ``connect``.
    """
    if kind is not None and kind not in LOCK_KINDS:
        raise DesignError(f"unknown lock kind {kind!r}; pick one of {sorted(LOCK_KINDS)} or None")
    admin = connect()
    counter_key = key(LOCKS, "counter", f"{{{name}}}")
    admin.delete(counter_key)
    intervals: list[tuple[float, float, int]] = []
    waits: list[float] = []
    guard = threading.Lock()
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            conn = connect()
            lock = LOCK_KINDS[kind](conn, name, ttl_ms=10_000) if kind else None
            barrier.wait()
            for _ in range(sections):
                t0 = time.perf_counter()
                if lock is not None and lock.acquire(timeout=timeout, retry_ms=1.0) is None:
                    raise DesignError(f"worker {i} could not take the lock in {timeout} s")
                start = time.perf_counter()
                value = int(conn.get(counter_key) or 0)
                time.sleep(hold_ms / 1e3)
                conn.set(counter_key, value + 1)
                end = time.perf_counter()
                if lock is not None:
                    lock.release()
                with guard:
                    intervals.append((start, end, i))
                    waits.append((start - t0) * 1e3)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(workers)]
    t_start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t_start
    if errors:
        raise errors[0]
    return ContentionResult(
        kind=kind or "no lock",
        workers=workers,
        sections=len(intervals),
        overlaps=overlaps(intervals),
        counter=int(admin.get(counter_key) or 0),
        seconds=elapsed,
        waits_ms=waits,
    )


# --------------------------------------------------------------- paused holder
@dataclass
class PauseOutcome:
    """A holder paused past its lease: what its late write and its release did."""

    kind: str
    fenced: bool
    worker_fence: int
    second_fence: int
    second_acquired: bool
    stale_write_accepted: bool
    final_value: str | None
    worker_release_deleted: bool
    """The paused worker's release deleted a lock (the second holder's)."""
    second_still_locked: bool
    """After the worker's release, the second holder's lock still existed."""
    overlapped: bool


_HOLDER_SOURCE = """
# The paused worker, run as `python -c` (imports only redis, so it starts fast): take
# the lock with the same scripts (or redis-py's Lock), report, 'work', write, release.
import json, sys, time
import redis
p = json.loads(sys.argv[1])
conn = redis.Redis(host=p["host"], port=p["port"])
fence, token, rp = 0, "worker-token", None
if p["kind"] == "redis-py":
    rp = conn.lock(p["lock_key"], timeout=p["ttl_ms"] / 1e3, thread_local=False)
    ok = rp.acquire(blocking=False)
else:
    got = conn.register_script(p["acquire"])(keys=[p["lock_key"], p["fence_key"]],
                                             args=[token, p["ttl_ms"]])
    ok, fence = got is not None, int(got or 0)
if not ok:
    conn.rpush(p["report"], json.dumps({"event": "failed"}))
    sys.exit(0)
start = time.time()
conn.rpush(p["report"], json.dumps({"event": "acquired", "fence": fence, "t": start}))
time.sleep(p["work_s"])  # the pause lands here
accepted = bool(conn.register_script(p["write"])(
    keys=[p["value_key"], p["seen_key"]],
    args=[fence, "from the paused holder", "1" if p["fenced"] else "0"]))
end = time.time()
if p["kind"] == "naive":
    deleted = bool(conn.delete(p["lock_key"]))
elif p["kind"] == "token":
    deleted = bool(conn.register_script(p["release"])(keys=[p["lock_key"]], args=[token]))
else:
    try:
        rp.release()
        deleted = True
    except redis.exceptions.LockError:
        deleted = False
conn.rpush(p["report"], json.dumps({"event": "done", "accepted": accepted,
                                    "deleted": deleted, "t0": start, "t1": end}))
"""


def _next_report(connection: Any, report_key: str, proc: Any, timeout: float = 30.0) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = connection.lpop(report_key)
        if item is not None:
            return item
        if proc.poll() is not None and not connection.exists(report_key):
            raise DesignError(f"the worker process exited ({proc.returncode}) without reporting")
        time.sleep(0.002)
    raise DesignError("the worker process did not report in time")


def paused_holder(
    connection: redis.Redis,
    *,
    kind: str = "token",
    fenced: bool = True,
    ttl_ms: int = 300,
    pause_s: float = 0.6,
    name: str = "paused",
) -> PauseOutcome:
    """A worker process takes the lock; it is SIGSTOPped past its lease, then resumed.

    While it is stopped this process takes the lock (granted: the lease expired),
    writes to the protected resource with its own fencing token and keeps holding
    the lock. Then the worker resumes, writes (its fence is older) and releases.
    ``connection`` is a client to one standalone server.
    """
    if kind not in LOCK_KINDS:
        raise DesignError(f"unknown lock kind {kind!r}; pick one of {sorted(LOCK_KINDS)}")
    kw = connection.connection_pool.connection_kwargs
    host, port = kw.get("host", "127.0.0.1"), int(kw.get("port", 6379))
    report_key = key(LOCKS, "report", f"{{{name}}}")
    lock_probe = LOCK_KINDS[kind](connection, name, ttl_ms=ttl_ms)
    resource = FencedResource(connection, name, check=fenced)
    connection.delete(report_key, lock_probe.key, resource.value_key, resource.seen_key)
    work_s = pause_s / 4  # the worker would have finished well within its lease
    params = json.dumps({
        "host": host, "port": port, "kind": kind, "ttl_ms": ttl_ms, "fenced": fenced,
        "work_s": work_s, "report": report_key, "lock_key": lock_probe.key,
        "fence_key": key(LOCKS, "fence", f"{{{name}}}"), "value_key": resource.value_key,
        "seen_key": resource.seen_key, "acquire": ACQUIRE_LUA, "release": RELEASE_LUA,
        "write": FENCED_WRITE_LUA,
    })  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER_SOURCE, params])
    try:
        first = _next_report(connection, report_key, proc)
        acquired = json.loads(first)
        if acquired["event"] != "acquired":
            raise DesignError(f"the worker could not take the lock: {acquired}")
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            if connection.exists(resource.value_key):
                # the worker wrote before the SIGSTOP landed (this process was descheduled
                # for longer than work_s): not the experiment; say so rather than mislabel it
                raise DesignError(
                    f"the worker wrote before it was paused (work_s={work_s:.3f} s): "
                    "raise ttl_ms and pause_s on so busy a machine"
                )
            time.sleep(pause_s)  # past the worker's lease
            second = LOCK_KINDS[kind](connection, name, ttl_ms=30_000)
            lease = second.acquire(timeout=2.0)
            second_start = time.time()
            if lease is not None:
                resource.write(lease.fence, "from the second holder")
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        done = json.loads(_next_report(connection, report_key, proc))
        still = bool(connection.exists(second.key))
        if lease is not None and still:
            second.release()
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return PauseOutcome(
        kind=kind,
        fenced=fenced,
        worker_fence=int(acquired["fence"]),
        second_fence=lease.fence if lease else -1,
        second_acquired=lease is not None,
        stale_write_accepted=bool(done["accepted"]),
        final_value=resource.value(),
        worker_release_deleted=bool(done["deleted"]),
        second_still_locked=still,
        overlapped=lease is not None and second_start < done["t1"],
    )


# ------------------------------------------------------------------- failover
@dataclass
class FailoverLoss:
    """A lock taken on a primary that died before replicating it."""

    first_acquired: bool
    replica_had_lock: bool
    second_acquired: bool
    old_primary: str
    new_primary: str
    replica_offset_gap: int
    """Replication offset of the dead primary after the lock minus the best replica's."""
    replicas_attached: int = -1
    """``connected_slaves`` on the old primary right after it granted the lock."""
    min_replicas_to_write: int = -1
    """The old primary's ``min-replicas-to-write`` (0: it acknowledges with none attached)."""


def failover_loss(lab: Any, *, name: str = "failover", ttl_ms: int = 60_000) -> FailoverLoss:
    """On a Sentinel lab: take a lock, kill the primary before it replicates, fail over.

    The replicas are SIGSTOPped for a moment, the primary's links to them dropped
    (``CLIENT KILL TYPE replica``), the lock written and the primary SIGKILLed before
    the replicas resume: the write exists only on the dead primary, as when a primary
    crashes between acknowledging a write and sending it on. After the Sentinels promote
    a replica, a second client asks the new primary for the same lock.
    """
    old = lab.primary
    conn = old.client()
    lock = TokenLock(conn, name, ttl_ms=ttl_ms)
    conn.delete(lock.key)
    before = {r.name: r.client().get(lock.key) for r in lab.replicas}
    with paused(*lab.replicas):  # so that they cannot reconnect before the kill
        conn.execute_command("CLIENT", "KILL", "TYPE", "replica")
        lease = lock.acquire(timeout=0)
        repl = conn.info("replication")
        offset = int(repl["master_repl_offset"])
        attached = int(repl.get("connected_slaves", 0))
        min_replicas = int(conn.config_get("min-replicas-to-write")["min-replicas-to-write"])
        old.kill()
    replica_offsets = []
    replica_had = False
    for r in lab.replicas:
        with contextlib.suppress(redis.RedisError):
            rc = r.client()
            replica_had |= bool(rc.get(lock.key))
            replica_offsets.append(int(rc.info("replication").get("slave_repl_offset", 0)))
    lab.wait_ready(timeout=60)
    new = lab.primary
    second = TokenLock(new.client(), name, ttl_ms=ttl_ms)
    second_lease = second.acquire(timeout=0)
    if second_lease is not None:
        second.release()
    assert not any(before.values())
    return FailoverLoss(
        first_acquired=lease is not None,
        replica_had_lock=replica_had,
        second_acquired=second_lease is not None,
        old_primary=old.name,
        new_primary=new.name,
        replica_offset_gap=offset - max(replica_offsets, default=0),
        replicas_attached=attached,
        min_replicas_to_write=min_replicas,
    )
