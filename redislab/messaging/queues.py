"""Queues on lists and sorted sets: reliable, blocking, priority, delayed, request-response.

- :class:`ReliableQueue`: ``BLMOVE`` from the queue to a per-worker processing list
  (https://redis.io/docs/latest/commands/blmove/, "Pattern: Reliable queue"); ``ack``
  removes the job from it; :meth:`ReliableQueue.recover` puts back what a crashed
  worker left there.
- :func:`spread`: N blocking workers on one queue; how evenly the jobs fall.
- :func:`blocked_order`: which of several blocked clients a pushed item goes to.
- :class:`PriorityQueue` (``ZADD`` + ``BZPOPMIN``) and :class:`DelayedQueue` (jobs scored
  by due time, moved to a ready list by a Lua script when due).
- :class:`RpcServer` / :func:`request`: request-response with correlation ids and
  per-request reply keys that expire.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from ..errors import MessagingError, RequestTimeout
from ..keys import MESSAGING, key
from ..kit.connections import clone
from ..kit.lua import script
from ..replies import text
from ..types import PlainConnection

__all__ = [
    "DelayedQueue",
    "PriorityQueue",
    "ReliableQueue",
    "RpcServer",
    "blocked_order",
    "request",
    "run_schedule",
    "spread",
]


# ------------------------------------------------------------------ reliable queue
class ReliableQueue:
    """A job queue on a list where a job a worker took is never only in the worker's memory.

    ``push`` appends JSON jobs (each with an ``id``) at the head; ``reserve`` atomically
    moves the oldest one to ``<name>:processing:<worker>`` (``BLMOVE ... RIGHT LEFT``);
    ``ack`` removes it there (``LREM``); ``recover(worker)`` moves a dead worker's jobs
    back to the queue's tail, the end that is served first.
    """

    def __init__(self, connection: PlainConnection, name: str) -> None:
        self.connection = connection
        self.name = name
        self.queue = key(MESSAGING, "queue", name)

    def processing(self, worker: str) -> str:
        """The processing list of ``worker``."""
        return key(MESSAGING, "queue", self.name, "processing", worker)

    def push(self, *jobs: Any) -> int:
        """Enqueue ``jobs`` (dicts get an ``id`` if they have none); returns the queue length."""
        if not jobs:
            raise MessagingError("push() needs at least one job")
        payloads = []
        for job in jobs:
            if isinstance(job, dict) and "id" not in job:
                job = {**job, "id": uuid.uuid4().hex}
            payloads.append(json.dumps(job))
        return int(self.connection.lpush(self.queue, *payloads))

    def reserve(self, worker: str, timeout: float = 1.0) -> tuple[str, Any] | None:
        """Block up to ``timeout`` s for a job; returns ``(raw, job)`` or ``None``."""
        raw = self.connection.blmove(self.queue, self.processing(worker), timeout, "RIGHT", "LEFT")
        return None if raw is None else (text(raw), json.loads(raw))

    def ack(self, worker: str, raw: str) -> bool:
        """Remove a finished job from the worker's processing list."""
        return bool(self.connection.lrem(self.processing(worker), 1, raw))

    def recover(self, worker: str) -> int:
        """Move everything ``worker`` left in processing back to the queue; returns how many."""
        moved = 0
        while self.connection.lmove(self.processing(worker), self.queue, "RIGHT", "RIGHT"):
            moved += 1
        return moved

    def in_processing(self, worker: str) -> int:
        """How many jobs ``worker`` holds (taken, not acknowledged)."""
        return int(self.connection.llen(self.processing(worker)))

    def __len__(self) -> int:
        return int(self.connection.llen(self.queue))

    def work(
        self,
        worker: str,
        handler: Callable[[Any], object],
        *,
        max_jobs: int | None = None,
        idle_stop_s: float = 0.5,
    ) -> int:
        """Reserve, handle and acknowledge jobs until ``max_jobs`` or nothing came for
        ``idle_stop_s``. A job whose handler raised stays in processing. Returns jobs done."""
        done = 0
        while max_jobs is None or done < max_jobs:
            item = self.reserve(worker, timeout=idle_stop_s)
            if item is None:
                break
            raw, job = item
            handler(job)
            self.ack(worker, raw)
            done += 1
        return done


# --------------------------------------------------------------------- spreading
def spread(
    connection: PlainConnection,
    *,
    workers: int = 4,
    jobs: int = 2000,
    work_s: float = 0.0005,
    name: str = "spread",
) -> dict[str, Any]:
    """``workers`` threads, each its own connection, ``BLMOVE``-ing from one queue.

    ``jobs`` jobs are pushed after every worker is blocked; each job costs ``work_s``
    (a sleep). Returns the per-worker counts and the elapsed time.
    """
    q = ReliableQueue(connection, name)
    connection.delete(q.queue, *(q.processing(f"w{i}") for i in range(workers)))
    counts = {f"w{i}": 0 for i in range(workers)}
    clients = [clone(connection) for _ in range(workers)]

    def run(i: int) -> None:
        wq = ReliableQueue(clients[i], name)

        def handle(job: Any) -> None:
            counts[f"w{i}"] += 1
            if work_s:
                time.sleep(work_s)

        wq.work(f"w{i}", handle, idle_stop_s=0.5)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    _wait_blocked(connection, workers)
    t0 = time.perf_counter()
    for start in range(0, jobs, 500):
        q.push(*({"n": n} for n in range(start, min(jobs, start + 500))))
    for t in threads:
        t.join(timeout=60)
    seconds = time.perf_counter() - t0 - 0.5  # minus the idle wait that ends each worker
    for c in clients:
        c.close()
    return {"per_worker": counts, "seconds": seconds, "jobs": jobs}


def _wait_blocked(connection: PlainConnection, n: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while int(connection.info("clients").get("blocked_clients", 0)) < n:
        if time.monotonic() > deadline:
            raise MessagingError(f"fewer than {n} clients blocked after {timeout}s")
        time.sleep(0.005)


def blocked_order(connection: PlainConnection, *, clients: int = 5) -> dict[str, Any]:
    """Block ``clients`` clients on ``BLPOP`` one after the other, then push one item per
    client. Returns who got which item: ``block_order`` and ``served_order``."""
    name = key(MESSAGING, "queue", "blocked-order")
    connection.delete(name)
    got: dict[int, str] = {}
    conns = [clone(connection) for _ in range(clients)]
    threads = []
    for i in range(clients):

        def pop(i: int = i) -> None:
            reply = conns[i].blpop([name], timeout=5)
            if reply is not None:
                got[i] = text(reply[1])

        t = threading.Thread(target=pop, daemon=True)
        t.start()
        threads.append(t)
        _wait_blocked(connection, i + 1)  # client i is blocked before client i + 1 starts
    for n in range(clients):
        connection.rpush(name, f"item-{n}")
    for t in threads:
        t.join(timeout=6)
    for c in conns:
        c.close()
    served = [got.get(i) for i in range(clients)]
    return {"block_order": list(range(clients)), "served": served}


# ---------------------------------------------------------------------- priority
class PriorityQueue:
    """Jobs in a sorted set scored by priority (lower first); ``BZPOPMIN`` to take one."""

    def __init__(self, connection: PlainConnection, name: str) -> None:
        self.connection = connection
        self.key = key(MESSAGING, "priority", name)

    def push(self, job: str, priority: float) -> None:
        """Add ``job`` (a unique string) with ``priority``."""
        self.connection.zadd(self.key, {job: priority})

    def pop(self, timeout: float = 1.0) -> tuple[str, float] | None:
        """Block up to ``timeout`` s for the lowest-scored job."""
        reply = self.connection.bzpopmin(self.key, timeout=timeout)
        return None if reply is None else (text(reply[1]), float(reply[2]))


# ----------------------------------------------------------------------- delayed
PROMOTE_DUE_LUA = """
-- Move jobs that are due from the delayed sorted set to the ready list, atomically.
-- KEYS[1]: the delayed zset (score = due time in ms since the epoch)
-- KEYS[2]: the ready list (RPUSH: oldest due first)
-- ARGV[1]: how many jobs to move at most
-- Returns the number moved. "Now" is the server's clock (TIME), not the caller's.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
if #due == 0 then return 0 end
redis.call('ZREM', KEYS[1], unpack(due))
redis.call('RPUSH', KEYS[2], unpack(due))
return #due
"""


class DelayedQueue:
    """Jobs scheduled for a due time (ms since the epoch, server clock), run when due.

    ``schedule(job, due_ms)`` adds to a sorted set; :meth:`promote` (call it often, or
    run :meth:`start_promoter`) moves every job that is due to the ready list with one
    Lua script, so a job is never both scheduled and ready, nor promoted twice;
    :meth:`take` pops the ready list (``BLPOP``).
    """

    def __init__(self, connection: PlainConnection, name: str) -> None:
        self.connection = connection
        self.delayed = key(MESSAGING, "delayed", name)
        self.ready = key(MESSAGING, "delayed", name, "ready")
        self._promote = script(connection, PROMOTE_DUE_LUA)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.promotions = 0

    def now_ms(self) -> int:
        """The server's clock in ms (``TIME``)."""
        sec, usec = self.connection.time()
        return int(sec) * 1000 + int(usec) // 1000

    def schedule(self, job: str, due_ms: int) -> None:
        """Schedule ``job`` (a unique string) to be ready at ``due_ms``."""
        self.connection.zadd(self.delayed, {job: due_ms})

    def promote(self, limit: int = 100) -> int:
        """Move up to ``limit`` due jobs to the ready list; returns how many."""
        moved = int(self._promote(keys=[self.delayed, self.ready], args=[limit]))
        self.promotions += moved
        return moved

    def start_promoter(self, interval_s: float = 0.005) -> None:
        """Promote in a background thread every ``interval_s`` until :meth:`stop_promoter`."""

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.promote()
                except redis.ConnectionError:
                    continue

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name="redislab-promoter", daemon=True)
        self._thread.start()

    def stop_promoter(self) -> None:
        """Stop the background promoter."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def take(self, timeout: float = 1.0) -> str | None:
        """Block up to ``timeout`` s for a ready job."""
        reply = self.connection.blpop([self.ready], timeout=timeout)
        return None if reply is None else text(reply[1])


def run_schedule(
    connection: PlainConnection,
    schedule: Sequence[tuple[str, int]],
    *,
    name: str = "schedule",
    timeout: float = 10.0,
) -> list[dict[str, Any]]:
    """Schedule ``(job, delay_ms)`` pairs, promote in the background, take them all.

    Returns one row per job: its due time, when it was taken (server clock) and how late.
    """
    q = DelayedQueue(connection, name)
    connection.delete(q.delayed, q.ready)
    start = q.now_ms()
    due = {}
    for name_, delay in schedule:
        due[name_] = start + delay
        q.schedule(name_, start + delay)
    taker = clone(connection)
    tq = DelayedQueue(taker, name)
    q.start_promoter()
    rows: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + timeout
        while len(rows) < len(schedule) and time.monotonic() < deadline:
            job = tq.take(timeout=0.5)
            if job is None:
                continue
            taken = tq.now_ms()
            rows.append({"job": job, "due_ms": due[job] - start, "taken_ms": taken - start,
                         "late_ms": taken - due[job]})  # fmt: skip
    finally:
        q.stop_promoter()
        taker.close()
    return rows


# ---------------------------------------------------------------- request-response
@dataclass
class RpcServer:
    """Serves requests from a list: ``BLPOP`` a request, ``LPUSH`` the reply to its reply
    key with an expiry, so that a reply nobody waits for any more disappears."""

    connection: PlainConnection
    name: str
    handler: Callable[[Any], Any]
    reply_ttl_ms: int = 5000
    served: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def requests(self) -> str:
        return key(MESSAGING, "rpc", self.name)

    def start(self) -> RpcServer:
        client = clone(self.connection)

        def loop() -> None:
            try:
                while not self._stop.is_set():
                    item = client.blpop([self.requests], timeout=0.2)
                    if item is None:
                        continue
                    msg = json.loads(item[1])
                    reply = json.dumps({"id": msg["id"], "result": self.handler(msg["body"])})
                    pipe = client.pipeline(transaction=True)
                    pipe.lpush(msg["reply_to"], reply)
                    pipe.pexpire(msg["reply_to"], self.reply_ttl_ms)
                    pipe.execute()
                    self.served += 1
            finally:
                client.close()

        self._thread = threading.Thread(target=loop, name=f"redislab-rpc-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


def request(connection: PlainConnection, name: str, body: Any, *, timeout: float = 1.0) -> Any:
    """Send ``body`` to the :class:`RpcServer` ``name`` and wait for its reply.

    The request carries a correlation id and its own reply key; the caller waits on that
    key with ``BLPOP`` and raises :class:`~redislab.errors.RequestTimeout` after ``timeout``.
    """
    corr = uuid.uuid4().hex
    reply_to = key(MESSAGING, "rpc", name, "reply", corr)
    msg = json.dumps({"id": corr, "reply_to": reply_to, "body": body})
    connection.rpush(key(MESSAGING, "rpc", name), msg)
    item = connection.blpop([reply_to], timeout=timeout)
    if item is None:
        raise RequestTimeout(f"no reply to request {corr} on {name!r} within {timeout}s")
    reply = json.loads(item[1])
    if reply["id"] != corr:
        raise MessagingError(f"reply {reply['id']} on the reply key of request {corr}")
    return reply["result"]
