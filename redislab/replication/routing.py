"""Read/write routing and read scaling, measured where the server says the reads went.

- :func:`command_calls` / :func:`calls_delta`: per-node ``INFO commandstats`` counters,
  and what a piece of work added to them (the server's account, not the client's);
- :class:`ReadRouter`: writes to the primary, reads spread over replicas (round robin
  or seeded random), a node taken out on a connection error or timeout for a cooldown,
  or when a :class:`~redislab.replication.health.HealthChecker` marks it down;
- :func:`read_throughput` / :func:`read_scaling`: a pipelined, read-only workload from
  several client threads against one set of nodes, with each node's CPU time;
- :func:`replica_refuses_writes`: what a write sent to a replica gets back.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import redis

from ..errors import RoutingError
from ..keys import ROUTING, key
from ..kit.counters import command_calls
from ..kit.measure import progress
from ..kit.timeline import Timeline, no_retry

if TYPE_CHECKING:
    from ..lab.lab import Lab

__all__ = [
    "ReadRouter",
    "calls_delta",
    "command_calls",
    "cpu_seconds",
    "lab_clients",
    "populate_keys",
    "read_scaling",
    "read_throughput",
    "replica_refuses_writes",
]

FAILURES = (redis.ConnectionError, redis.TimeoutError)
"""What takes a node out of the rotation: it refused, reset or did not answer in time."""


# ------------------------------------------------------------------ counters
def calls_delta(
    clients: Mapping[str, redis.Redis],
    work: Callable[[], Any],
    *,
    commands: Sequence[str] = ("get",),
) -> pd.DataFrame:
    """Run ``work`` and return, per node, how many of ``commands`` each server executed.

    The counts are the servers' own (``INFO commandstats`` before and after), so they
    show where requests went, whatever the client meant. Rows are nodes, columns the
    commands. Replicas also count the writes they apply from their primary's stream,
    so count reads (``get``) to see where reads went.
    """
    before = {name: command_calls(c) for name, c in clients.items()}
    work()
    rows = {}
    for name, c in clients.items():
        after = command_calls(c)
        rows[name] = {cmd: after.get(cmd, 0) - before[name].get(cmd, 0) for cmd in commands}
    return pd.DataFrame.from_dict(rows, orient="index")[list(commands)]


def cpu_seconds(connection: redis.Redis) -> float:
    """The server's CPU time so far (``used_cpu_user + used_cpu_sys``, seconds)."""
    info = connection.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def lab_clients(lab: Lab, **kwargs: Any) -> dict[str, redis.Redis]:
    """One client per data node of ``lab``, by node name (``retry`` off unless given)."""
    kw: dict[str, Any] = {"socket_timeout": 5, "retry": no_retry()}
    kw.update(kwargs)
    return {n.name: n.client(**kw) for n in lab.data_nodes}


def populate_keys(
    connection: Any, *, n: int, value_size: int = 64, name: str = "read"
) -> list[str]:
    """Write ``n`` keys ``redislab:routing:<name>:<i>`` of ``value_size`` bytes; return them.

    ``connection`` may be a ``RedisCluster`` (keys spread over the slots).
    """
    keys = [key(ROUTING, name, i) for i in range(n)]
    value = "v" * value_size
    for i in range(0, n, 500):
        pipe = connection.pipeline(transaction=False)
        for k in keys[i : i + 500]:
            pipe.set(k, value)
        pipe.execute()
    return keys


def replica_refuses_writes(replica: redis.Redis) -> str:
    """Send ``SET`` to a replica; return its error as ``<class>: <text>`` (``""`` if accepted).

    redis-py turns the server's ``-READONLY`` reply into ``ReadOnlyError``.
    """
    try:
        replica.set(key(ROUTING, "write-to-replica"), 1)
    except redis.ResponseError as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


# ------------------------------------------------------------------ router
@dataclass
class _Sent:
    t: float
    node: str
    ok: bool
    latency: float
    error: str


class ReadRouter:
    """Writes to the primary, reads to the replicas: the small router of a replicated lab.

    Args:
        primary: a client to the primary.
        replicas: clients to the replicas, by name. Give them a ``socket_timeout``
            (that bounds how long a paused replica holds a read) and no retries.
        strategy: ``round_robin`` or ``random`` (seeded by ``seed``).
        include_primary: the primary takes its turn at reads too.
        fallback_to_primary: when no replica is usable, read from the primary instead
            of raising :class:`~redislab.errors.RoutingError`.
        cooldown: seconds a replica stays out after a connection error or timeout
            (passive health checking); ``0`` never takes it out.
        health: a :class:`~redislab.replication.health.HealthChecker` (anything with
            ``is_up(name)``): a replica it marks down gets no reads.
        timeline: the experiment's clock (for :attr:`log`).
    """

    def __init__(
        self,
        primary: redis.Redis,
        replicas: Mapping[str, redis.Redis],
        *,
        strategy: str = "round_robin",
        seed: int = 0,
        include_primary: bool = False,
        fallback_to_primary: bool = True,
        cooldown: float = 1.0,
        health: Any = None,
        timeline: Timeline | None = None,
        primary_name: str = "primary",
    ) -> None:
        if strategy not in ("round_robin", "random"):
            raise RoutingError(f"unknown strategy {strategy!r}; use round_robin or random")
        self.primary_name = primary_name
        self.clients: dict[str, redis.Redis] = {primary_name: primary, **replicas}
        self.readers = ([primary_name] if include_primary else []) + list(replicas)
        self.strategy = strategy
        self.fallback_to_primary = fallback_to_primary
        self.cooldown = cooldown
        self.health = health
        self.timeline = timeline or Timeline()
        self._rng = random.Random(seed)
        self._cycle = itertools.cycle(range(len(self.readers)))
        self._out_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self.log: list[_Sent] = []

    # -------------------------------------------------------------- choice
    def usable(self, name: str) -> bool:
        """Not cooling down after a failure, and up if a health checker is attached."""
        if self._out_until.get(name, 0.0) > self.timeline.now():
            return False
        return self.health is None or name == self.primary_name or self.health.is_up(name)

    def choose(self) -> str:
        """The node the next read goes to."""
        with self._lock:
            if self.strategy == "random":
                order = self._rng.sample(self.readers, len(self.readers))
            else:
                start = next(self._cycle)
                order = self.readers[start:] + self.readers[:start]
        for name in order:
            if self.usable(name):
                return name
        if self.fallback_to_primary:
            return self.primary_name
        raise RoutingError(f"no usable replica among {self.readers}")

    # ------------------------------------------------------------ commands
    def _send(self, name: str, args: tuple[Any, ...]) -> Any:
        t = self.timeline.now()
        t0 = time.perf_counter()
        try:
            out = self.clients[name].execute_command(*args)
        except FAILURES as exc:
            self.log.append(_Sent(t, name, False, time.perf_counter() - t0, type(exc).__name__))
            if self.cooldown and name != self.primary_name:
                self._out_until[name] = self.timeline.now() + self.cooldown
            raise
        self.log.append(_Sent(t, name, True, time.perf_counter() - t0, ""))
        return out

    def read(self, *args: Any) -> Any:
        """Send a read command (``router.read("GET", k)``) to the chosen node."""
        return self._send(self.choose(), args)

    def write(self, *args: Any) -> Any:
        """Send a write command to the primary."""
        return self._send(self.primary_name, args)

    def get(self, name: str) -> Any:
        return self.read("GET", name)

    def set(self, name: str, value: Any) -> Any:
        return self.write("SET", name, value)

    @property
    def records(self) -> pd.DataFrame:
        """One row per request: ``t``, ``node``, ``ok``, ``latency``, ``error``."""
        return pd.DataFrame(
            [s.__dict__ for s in list(self.log)], columns=["t", "node", "ok", "latency", "error"]
        )

    def sent_counts(self) -> Counter[str]:
        """Requests the router sent to each node (its intent; compare :func:`calls_delta`)."""
        return Counter(s.node for s in list(self.log))

    def reads_for(
        self, keys: Sequence[str], *, duration: float, interval: float = 0.002
    ) -> dict[str, int]:
        """Read ``keys`` in turn for ``duration`` seconds; count ok and failed reads."""
        ok = failed = 0
        end = time.perf_counter() + duration
        i = 0
        while time.perf_counter() < end:
            try:
                self.get(keys[i % len(keys)])
                ok += 1
            except FAILURES:
                failed += 1
            i += 1
            if interval:
                time.sleep(interval)
        return {"ok": ok, "failed": failed}


# ------------------------------------------------------------ read scaling
def read_throughput(
    targets: Sequence[redis.Redis],
    keys: Sequence[str],
    *,
    duration: float = 1.0,
    threads: int = 4,
    pipeline: int = 32,
    seed: int = 0,
) -> dict[str, float]:
    """Pipelined ``GET``s from ``threads`` client threads spread over ``targets``.

    Thread ``i`` reads from ``targets[i % len(targets)]`` through its own connection,
    ``pipeline`` random keys (seeded) per round trip, for ``duration`` seconds.
    Returns ``reads``, ``seconds`` and ``reads_per_s``.
    """
    stop = threading.Event()
    counts = [0] * threads

    def worker(i: int) -> None:
        conn = targets[i % len(targets)]
        client = redis.Redis(connection_pool=conn.connection_pool)
        rng = random.Random(seed + i)
        while not stop.is_set():
            pipe = client.pipeline(transaction=False)
            for _ in range(pipeline):
                pipe.get(keys[rng.randrange(len(keys))])
            pipe.execute()
            counts[i] += pipeline

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    time.sleep(duration)
    stop.set()
    for t in pool:
        t.join(10)
    seconds = time.perf_counter() - t0
    return {"reads": float(sum(counts)), "seconds": seconds, "reads_per_s": sum(counts) / seconds}


def read_scaling(
    clients: Mapping[str, redis.Redis],
    modes: Mapping[str, Sequence[str]],
    keys: Sequence[str],
    *,
    duration: float = 1.0,
    threads: int = 4,
    pipeline: int = 32,
    seed: int = 0,
    show_progress: bool = True,
) -> pd.DataFrame:
    """:func:`read_throughput` for each read mode, with what each node did meanwhile.

    ``modes`` maps a mode's name to the nodes that take reads
    (``{"primary": ["primary"], "2 replicas": ["replica-1", "replica-2"]}``).
    One row per mode: ``reads_per_s``, and for every node ``<node> gets`` (its
    ``INFO commandstats`` GET delta) and ``<node> cpu_s`` (its CPU time delta).
    """
    rows = []
    for mode, names in progress(
        modes.items(), total=len(modes), desc="read modes", enabled=show_progress
    ):
        cpu0 = {n: cpu_seconds(c) for n, c in clients.items()}
        result: dict[str, float] = {}

        def work(names: Sequence[str] = names, out: dict[str, float] = result) -> None:
            out.update(
                read_throughput(
                    [clients[n] for n in names],
                    keys,
                    duration=duration,
                    threads=threads,
                    pipeline=pipeline,
                    seed=seed,
                )
            )

        gets = calls_delta(clients, work)["get"]
        row: dict[str, Any] = {"mode": mode, "nodes": len(names), **result}
        for n, c in clients.items():
            row[f"{n} gets"] = int(gets[n])
            row[f"{n} cpu_s"] = cpu_seconds(c) - cpu0[n]
        rows.append(row)
    return pd.DataFrame(rows).set_index("mode")
