"""Scaling out: one read workload against a standalone server, replicas and the cluster.

The same seeded, read-only workload (pipelined ``GET`` of preloaded keys, every reply
checked against the value that was written) is driven by N client **processes**
(one interpreter lock each, so Python's GIL does not cap the client at one core)
against one of several *plans*:

- ``standalone``: one server takes every read;
- ``replicas``: a primary and its replicas take turns (replicas answer reads by default:
  ``replica-read-only yes``);
- ``cluster``: every key is read from the primary that owns its hash slot (from
  ``CLUSTER SLOTS`` and ``CLUSTER KEYSLOT``, asked of the servers), through a plain
  client per node;
- ``cluster + replicas``: the same, with each shard's replica taking turns with its
  primary after ``READONLY``.

What each server did is read from the server itself: its ``INFO commandstats`` GET
calls and its ``INFO cpu`` time (``used_cpu_user + used_cpu_sys``) before and after the
run, beside what the clients say they sent and how much CPU the client processes used.
On a machine with 2 cores the client processes and every server share those cores, so
scaling out cannot multiply throughput here; the CPU columns show where it went.

- :class:`Workload`: the keys and values (seeded), :meth:`Workload.load` writes them;
- :class:`Endpoint`, :class:`Plan` and :func:`standalone_plan`, :func:`replicas_plan`,
  :func:`cluster_plan`: which nodes take which keys;
- :class:`ClientProcesses`: N worker processes, started once and reused, stopped on exit;
- :func:`scale_out`: every plan for a few interleaved rounds -> :class:`ScalingRuns`;
- :func:`wrong_node_replies`: what a node answers for keys it does not own;
  :func:`replica_reads`: what a cluster replica answers before and after ``READONLY``.

From a script, start :class:`ClientProcesses` under ``if __name__ == "__main__":``
(the ``spawn`` start method imports the main module in every child); notebooks and
pytest need nothing.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import random
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
import redis
from redis.exceptions import MovedError

from ..errors import ClientProcessError, PerformanceError
from ..keys import PERFORMANCE, key
from ..kit.measure import progress
from ..types import Connection, PlainConnection

if TYPE_CHECKING:
    from ..lab.lab import Lab
    from ..lab.node import Node

__all__ = [
    "ClientProcesses",
    "Endpoint",
    "Plan",
    "ScalingRuns",
    "Workload",
    "cluster_plan",
    "placement",
    "replica_reads",
    "replica_refuses_write",
    "replicas_plan",
    "scale_out",
    "server_counters",
    "standalone_plan",
    "wait_replicas",
    "wrong_node_replies",
]

#: Hash slots in a Redis Cluster (cluster specification: ``HASH_SLOT = CRC16(key) mod 16384``).
SLOTS = 16384


# ------------------------------------------------------------------ the workload
@dataclass(frozen=True)
class Workload:
    """``n_keys`` keys ``redislab:perf:scale:<i>``, seeded values of ``value_size`` bytes.

    Every client process reads keys drawn uniformly (seeded per process) and checks
    each reply against :meth:`value`, so a server answering a wrong or missing value
    is counted as a mismatch.
    """

    n_keys: int = 10_000
    value_size: int = 32
    seed: int = 0
    name: str = "scale"

    def __post_init__(self) -> None:
        if self.n_keys <= 0 or self.value_size < 8:
            raise PerformanceError("a workload needs n_keys > 0 and value_size >= 8")

    def key(self, i: int) -> str:
        """The name of key ``i``."""
        return key(PERFORMANCE, self.name, i)

    def names(self) -> list[str]:
        """Every key name, in index order."""
        return [self.key(i) for i in range(self.n_keys)]

    def value(self, i: int) -> bytes:
        """The value written to key ``i``: its index and the seed, padded to ``value_size``."""
        head = f"{self.seed}:{i}:".encode()
        return (head + b"x" * self.value_size)[: self.value_size]

    def load(self, connection: Connection, *, batch: int = 1000) -> int:
        """Write every key (pipelined ``SET``; a ``RedisCluster`` pipeline routes by slot).

        Returns the number of keys written.
        """
        for start in range(0, self.n_keys, batch):
            pipe = connection.pipeline(transaction=False)
            for i in range(start, min(start + batch, self.n_keys)):
                pipe.set(self.key(i), self.value(i))
            pipe.execute()
        return self.n_keys


# ------------------------------------------------------------------ plans
@dataclass(frozen=True)
class Endpoint:
    """One server a client process reads from; ``readonly`` sends ``READONLY`` first."""

    name: str
    host: str
    port: int
    role: str = "primary"
    readonly: bool = False

    @classmethod
    def of(cls, node: Node, role: str, *, readonly: bool = False) -> Endpoint:
        """The endpoint of a lab node."""
        return cls(node.name, node.host, int(node.port), role, readonly)

    def client(self) -> PlainConnection:
        """A plain client to this server (bytes replies, no retries)."""
        return redis.Redis(
            host=self.host, port=self.port, socket_timeout=10, socket_connect_timeout=5
        )


@dataclass(frozen=True)
class Plan:
    """Which endpoints take which keys.

    ``shards[s]`` are the endpoints that can answer for shard ``s`` (they take turns,
    batch by batch); ``owner[i]`` is the shard of key ``i`` (``None``: one shard owns
    every key).
    """

    name: str
    shards: tuple[tuple[Endpoint, ...], ...]
    owner: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not self.shards or not all(self.shards):
            raise PerformanceError(f"plan {self.name!r} needs at least one endpoint per shard")
        if self.owner is None and len(self.shards) != 1:
            raise PerformanceError(f"plan {self.name!r} has several shards but no key owners")
        if self.owner is not None and set(self.owner) - set(range(len(self.shards))):
            raise PerformanceError(f"plan {self.name!r} maps keys to shards it does not have")

    @property
    def endpoints(self) -> list[Endpoint]:
        """Every endpoint of the plan, shard by shard."""
        return [ep for shard in self.shards for ep in shard]


def standalone_plan(lab: Lab, *, name: str = "standalone") -> Plan:
    """Every read to the lab's primary."""
    return Plan(name, ((Endpoint.of(lab.primary, "primary"),),))


def replicas_plan(lab: Lab, *, name: str = "primary + replicas") -> Plan:
    """Reads spread over the primary and every replica (batch by batch, in turn)."""
    if not lab.replicas:
        raise PerformanceError(f"lab {lab.name!r} has no replicas to read from")
    nodes = [Endpoint.of(lab.primary, "primary")]
    nodes += [Endpoint.of(n, "replica") for n in lab.replicas]
    return Plan(name, (tuple(nodes),))


def cluster_slots(connection: PlainConnection) -> list[tuple[int, int, tuple[str, int], list]]:
    """``CLUSTER SLOTS`` as ``(first, last, (host, port), [(host, port), ...replicas])``."""
    rows = connection.execute_command("CLUSTER", "SLOTS")
    out = []
    for row in rows:
        first, last, primary, *replicas = row
        addr = (_text(primary[0]), int(primary[1]))
        out.append((int(first), int(last), addr, [(_text(r[0]), int(r[1])) for r in replicas]))
    return out


def key_slots(connection: PlainConnection, keys: Sequence[str], *, batch: int = 1000) -> list[int]:
    """The hash slot of every key, as the server computes it (``CLUSTER KEYSLOT``, pipelined)."""
    slots: list[int] = []
    for start in range(0, len(keys), batch):
        pipe = connection.pipeline(transaction=False)
        for k in keys[start : start + batch]:
            pipe.execute_command("CLUSTER", "KEYSLOT", k)
        slots.extend(int(s) for s in pipe.execute())
    return slots


def cluster_plan(
    lab: Lab,
    workload: Workload,
    *,
    replica_reads: bool = False,
    name: str | None = None,
) -> Plan:
    """Each key read from the primary owning its slot (and its replicas, with ``READONLY``).

    The slot ranges come from ``CLUSTER SLOTS`` and each key's slot from
    ``CLUSTER KEYSLOT``, both asked of a live node: the routing is the servers' own.
    Each replica is asked whose replica it is (``INFO replication``): ``CLUSTER SLOTS``
    leaves out a replica it does not yet know to have data (Redis 7 lists only replicas
    with a non-zero replication offset in the cluster's gossip, so right after the
    cluster forms one may be missing).
    """
    if not lab.topology.cluster:
        raise PerformanceError(f"lab {lab.name!r} is not a cluster")
    by_port = {int(n.port): n for n in lab.data_nodes}
    control = lab.primaries[0].client(decode_responses=False)
    try:
        ranges = cluster_slots(control)
        slots = key_slots(control, workload.names())
    finally:
        control.close()
    shard_of_primary: dict[int, int] = {}
    shards: list[tuple[Endpoint, ...]] = []
    slot_shard = [-1] * SLOTS
    replicas_of = _replicas_of(lab) if replica_reads else {}
    for first, last, (_, port), _listed in sorted(ranges, key=lambda r: by_port[r[2][1]].name):
        if port not in shard_of_primary:
            eps = [Endpoint.of(by_port[port], "primary")]
            eps += [Endpoint.of(n, "replica", readonly=True) for n in replicas_of.get(port, [])]
            shard_of_primary[port] = len(shards)
            shards.append(tuple(eps))
        for s in range(first, last + 1):
            slot_shard[s] = shard_of_primary[port]
    if -1 in slot_shard:
        raise PerformanceError("CLUSTER SLOTS does not cover every slot: the cluster is not ok")
    default = "cluster + replicas (READONLY)" if replica_reads else "cluster (3 primaries)"
    return Plan(name or default, tuple(shards), tuple(slot_shard[s] for s in slots))


def _replicas_of(lab: Lab) -> dict[int, list[Node]]:
    """``{primary port: [its replica nodes]}``, as each replica reports (``master_port``)."""
    out: dict[int, list[Node]] = {}
    for node in lab.data_nodes:
        conn = node.client()
        try:
            info = conn.info("replication")
        finally:
            conn.close()
        if info.get("role") == "slave":
            out.setdefault(int(info["master_port"]), []).append(node)
    for nodes in out.values():
        nodes.sort(key=lambda n: n.name)
    return out


def wrong_node_replies(lab: Lab, workload: Workload, *, n: int = 20) -> dict[str, Any]:
    """Send ``GET`` of ``n`` keys to a primary that does not own their slot.

    Returns ``sent``, ``moved`` (replies that were a ``MOVED`` redirection), ``values``
    (replies that were data) and ``first`` (the first reply, as text).
    """
    plan = cluster_plan(lab, workload)
    assert plan.owner is not None
    wrong = plan.shards[0][0]
    picks = [i for i, s in enumerate(plan.owner) if s != 0][:n]
    conn = wrong.client()
    try:
        pipe = conn.pipeline(transaction=False)
        for i in picks:
            pipe.get(workload.key(i))
        replies = pipe.execute(raise_on_error=False)
    finally:
        conn.close()
    moved = sum(
        isinstance(r, MovedError) or (isinstance(r, redis.ResponseError) and "MOVED" in str(r))
        for r in replies
    )
    return {
        "node": wrong.name,
        "sent": len(picks),
        "moved": moved,
        "values": sum(isinstance(r, bytes) for r in replies),
        "first": f"{type(replies[0]).__name__}: {replies[0]}" if replies else None,
    }


def replica_reads(lab: Lab, workload: Workload) -> dict[str, Any]:
    """``GET`` of a key from a cluster replica of its slot's primary, before and after ``READONLY``.

    Returns ``node``, ``key``, ``before`` and ``after`` (each reply as text, an error
    as ``<ErrorClass>: <message>``) and ``expected`` (the value written).
    """
    plan = cluster_plan(lab, workload, replica_reads=True)
    assert plan.owner is not None
    shard = next(i for i, eps in enumerate(plan.shards) if len(eps) > 1)
    replica = plan.shards[shard][1]
    i = plan.owner.index(shard)
    conn = replica.client()
    try:
        replies = []
        for readonly in (False, True):
            if readonly:
                conn.execute_command("READONLY")
            try:
                replies.append(_text(conn.get(workload.key(i))))
            except redis.ResponseError as exc:
                replies.append(f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()
    return {
        "node": replica.name,
        "key": workload.key(i),
        "before": replies[0],
        "after": replies[1],
        "expected": workload.value(i).decode(),
    }


def replica_refuses_write(lab: Lab, workload: Workload) -> str:
    """What a replica of a replicated lab answers to a ``SET`` of a workload key (as text)."""
    if not lab.replicas or lab.topology.cluster:
        raise PerformanceError(f"lab {lab.name!r} has no (non-cluster) replica to write to")
    conn = Endpoint.of(lab.replicas[0], "replica").client()
    try:
        return f"accepted: {conn.set(workload.key(0), b'written on a replica')!r}"
    except redis.ResponseError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()


def wait_replicas(lab: Lab, workload: Workload, *, timeout: float = 10.0) -> dict[str, int]:
    """Every replica has what its primary was given: a write on each primary, then ``WAIT``.

    ``WAIT`` counts the replicas that acknowledged the connection's writes so far, so
    each primary gets one write (a workload key set again to its own value) on the
    connection that waits. Returns ``{primary: replicas that acknowledged}``.
    """
    if lab.topology.cluster:
        plan = cluster_plan(lab, workload)
        assert plan.owner is not None
        pairs = [(shard[0], plan.owner.index(s)) for s, shard in enumerate(plan.shards)]
    else:
        pairs = [(Endpoint.of(lab.primary, "primary"), 0)]
    acked: dict[str, int] = {}
    for ep, i in pairs:
        conn = ep.client()
        try:
            want = int(conn.info("replication").get("connected_slaves", 0))
            conn.set(workload.key(i), workload.value(i))
            acked[ep.name] = int(conn.execute_command("WAIT", want, int(timeout * 1000)))
        finally:
            conn.close()
        if acked[ep.name] < want:
            raise PerformanceError(f"{ep.name}: {acked[ep.name]} of {want} replicas acknowledged")
    return acked


def placement(lab: Lab, workload: Workload) -> pd.DataFrame:
    """Where the workload's keys live: per data node its role and ``DBSIZE``.

    For a cluster also ``shard`` (the primary whose slots it serves), ``slots`` (how
    many hash slots that is, from ``CLUSTER SLOTS``) and ``keys_of_its_slots`` (how
    many workload keys hash to them, from ``CLUSTER KEYSLOT``).
    """
    rows = []
    owned: dict[str, tuple[str, int, int]] = {}
    if lab.topology.cluster:
        control = lab.primaries[0].client(decode_responses=False)
        try:
            ranges = cluster_slots(control)
        finally:
            control.close()
        plan = cluster_plan(lab, workload, replica_reads=True)
        assert plan.owner is not None
        by_port = {int(n.port): n.name for n in lab.data_nodes}
        for s, shard in enumerate(plan.shards):
            n_slots = sum(b - a + 1 for a, b, (_, port), _r in ranges if port == shard[0].port)
            for ep in shard:
                owned[by_port[ep.port]] = (shard[0].name, n_slots, plan.owner.count(s))
    for node in lab.data_nodes:
        conn = node.client()
        try:
            row: dict[str, Any] = {"node": node.name, "role": lab.role_of(node)}
            row["dbsize"] = int(conn.dbsize())
        finally:
            conn.close()
        if node.name in owned:
            row["shard"], row["slots"], row["keys_of_its_slots"] = owned[node.name]
        rows.append(row)
    return pd.DataFrame(rows).set_index("node")


# ------------------------------------------------------------------ server counters
def server_counters(connection: PlainConnection) -> dict[str, float]:
    """The server's own count of ``GET`` calls, commands processed, and CPU seconds."""
    info = connection.info()
    stats = connection.info("commandstats")
    get = stats.get("cmdstat_get", {})
    return {
        "gets": float(get.get("calls", 0) if isinstance(get, dict) else 0),
        "commands": float(info.get("total_commands_processed", 0)),
        "cpu_s": float(info.get("used_cpu_user", 0.0)) + float(info.get("used_cpu_sys", 0.0)),
    }


# ------------------------------------------------------------------ the worker processes
def _worker_main(
    index: int, tasks: Any, results: Any, go: Any, parent: int
) -> None:  # pragma: no cover - runs in a child process
    """One client process: wait for a task, connect, wait for ``go``, read, report."""
    while True:
        try:
            task = tasks.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:  # the parent died: leave
                return
            continue
        if task is None:
            return
        try:
            results.put(("result", index, _run_task(index, task, results, go)))
        except BaseException:  # reported to the parent, which raises
            results.put(("error", index, traceback.format_exc()))


def _run_task(index: int, task: dict[str, Any], results: Any, go: Any) -> dict[str, Any]:
    plan: Plan = task["plan"]
    workload: Workload = task["workload"]
    batch: int = task["batch"]
    keys = [k.encode() for k in workload.names()]
    values = [workload.value(i) for i in range(workload.n_keys)]
    clients = {}
    for ep in plan.endpoints:
        c = ep.client()
        if ep.readonly:
            c.execute_command("READONLY")
        c.ping()
        clients[ep.name] = c
    sent = dict.fromkeys(clients, 0)
    errors = dict.fromkeys(clients, 0)
    mismatches = dict.fromkeys(clients, 0)
    first_error = ""
    rng = random.Random(task["seed"] * 1_000_003 + index)
    n, n_shards = workload.n_keys, len(plan.shards)
    draw = batch * n_shards  # so each shard's pipeline averages ``batch`` GETs
    results.put(("ready", index, None))
    if not go.wait(task["timeout"]):
        raise PerformanceError("the start signal never came")
    cpu0, t0 = time.process_time(), time.perf_counter()
    end = t0 + task["duration"]
    turn = index
    try:
        while time.perf_counter() < end:
            picks = [int(rng.random() * n) for _ in range(draw)]
            if plan.owner is None:
                groups = {0: picks}
            else:
                groups = {}
                for i in picks:
                    groups.setdefault(plan.owner[i], []).append(i)
            for shard, idx in groups.items():
                eps = plan.shards[shard]
                ep = eps[turn % len(eps)]
                pipe = clients[ep.name].pipeline(transaction=False)
                for i in idx:
                    pipe.get(keys[i])
                replies = pipe.execute(raise_on_error=False)
                sent[ep.name] += len(idx)
                for i, reply in zip(idx, replies, strict=True):
                    if isinstance(reply, Exception):
                        errors[ep.name] += 1
                        first_error = first_error or f"{type(reply).__name__}: {reply}"
                    elif reply != values[i]:
                        mismatches[ep.name] += 1
            turn += 1
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    finally:
        for c in clients.values():
            c.close()
    return {
        "sent": sent,
        "errors": errors,
        "mismatches": mismatches,
        "seconds": seconds,
        "cpu_s": cpu,
        "first_error": first_error,
    }


class ClientProcesses:
    """``processes`` client processes, started once and reused for every run.

    A context manager: ``with ClientProcesses(3) as clients: scale_out(clients, ...)``.
    Leaving it (or :meth:`close`) stops every process, whatever happened; the processes
    also leave on their own if this process dies. ``spawn`` (the default start method)
    starts clean interpreters: nothing of this process (its threads, its labs) is copied.
    """

    def __init__(self, processes: int = 3, *, start_method: str = "spawn") -> None:
        if processes <= 0:
            raise PerformanceError("ClientProcesses needs at least one process")
        self.processes = processes
        self._ctx: Any = cast(Any, mp.get_context(start_method))
        self._results = self._ctx.Queue()
        self._go = self._ctx.Event()
        self._tasks = [self._ctx.Queue() for _ in range(processes)]
        self._procs: list[Any] = []
        self._broken = ""
        try:
            for i in range(processes):
                p = self._ctx.Process(
                    target=_worker_main,
                    args=(i, self._tasks[i], self._results, self._go, os.getpid()),
                    name=f"redislab-client-{i}",
                    daemon=True,
                )
                p.start()
                self._procs.append(p)
        except BaseException:
            self.close()
            raise

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids (for a check that they are gone)."""
        return [p.pid for p in self._procs if p.pid is not None]

    def __enter__(self) -> ClientProcesses:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _collect(self, kind: str, timeout: float) -> dict[int, Any]:
        got: dict[int, Any] = {}
        deadline = time.monotonic() + timeout
        while len(got) < self.processes:
            left = deadline - time.monotonic()
            dead = [p.name for p in self._procs if not p.is_alive()]
            if dead:
                raise ClientProcessError(f"client process(es) {dead} died")
            try:
                what, index, payload = self._results.get(timeout=max(0.05, min(left, 1.0)))
            except queue.Empty:
                if left <= 0:
                    raise ClientProcessError(
                        f"{self.processes - len(got)} client process(es) sent no {kind!r} "
                        f"within {timeout:.0f} s"
                    ) from None
                continue
            if what == "error":
                raise ClientProcessError(f"client process {index} failed:\n{payload}")
            if what == kind:
                got[index] = payload
        return got

    def run(
        self,
        plan: Plan,
        workload: Workload,
        *,
        duration: float = 1.0,
        batch: int = 50,
        seed: int = 0,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """Every process reads ``plan`` for ``duration`` seconds, starting together.

        Returns ``seconds`` (wall time, start signal to last report), ``clients`` (one
        dict per process: ``sent``/``errors``/``mismatches`` per endpoint, ``cpu_s``)
        and ``servers`` (per endpoint: ``gets``, ``commands``, ``cpu_s`` deltas, read
        from the servers before the start signal and after the last report).
        """
        if duration <= 0 or batch <= 0:
            raise PerformanceError("duration and batch must be positive")
        if self._broken or not self._procs:
            why = self._broken or "closed"
            raise ClientProcessError(f"these client processes cannot run: {why}")
        try:
            return self._run(plan, workload, duration, batch, seed, timeout)
        except ClientProcessError as exc:
            self._broken = str(exc).splitlines()[0]  # replies of that run may still arrive
            raise

    def _run(
        self, plan: Plan, workload: Workload, duration: float, batch: int, seed: int, timeout: float
    ) -> dict[str, Any]:
        self._go.clear()
        task = {
            "plan": plan,
            "workload": workload,
            "duration": duration,
            "batch": batch,
            "seed": seed,
            "timeout": timeout,
        }
        for q in self._tasks:
            q.put(task)
        self._collect("ready", timeout)
        counters = {ep.name: ep.client() for ep in plan.endpoints}
        try:
            before = {n: server_counters(c) for n, c in counters.items()}
            t0 = time.perf_counter()
            self._go.set()
            reports = self._collect("result", duration + timeout)
            seconds = time.perf_counter() - t0
            after = {n: server_counters(c) for n, c in counters.items()}
        finally:
            self._go.clear()
            for c in counters.values():
                c.close()
        servers = {n: {k: after[n][k] - before[n][k] for k in before[n]} for n in counters}
        clients = [reports[i] for i in sorted(reports)]
        return {"seconds": seconds, "clients": clients, "servers": servers}

    def close(self, timeout: float = 5.0) -> None:
        """Stop every worker: ask, then terminate, then kill what is left; idempotent."""
        for q in self._tasks:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        for p in self._procs:
            p.join(timeout)
            if p.is_alive():
                p.terminate()
                p.join(1.0)
            if p.is_alive():
                p.kill()
                p.join(1.0)
        self._procs = []
        for q in (*self._tasks, self._results):
            q.close()
            q.join_thread()
        self._tasks = []


# ------------------------------------------------------------------ the experiment
@dataclass
class ScalingRuns:
    """What :func:`scale_out` measured.

    ``runs``: one row per (round, plan): ``gets_per_s`` (the servers' GET count over
    the wall time), ``client_gets``, ``server_cpu_s``, ``client_cpu_s``, ``cores_busy``
    ((server + client CPU) / wall), ``errors``, ``mismatches``.
    ``nodes``: one row per (round, plan, node): ``role``, ``sent`` (what the clients
    say they sent it), ``gets`` (what the server counted), ``cpu_s``, ``errors``,
    ``mismatches``.
    """

    runs: pd.DataFrame
    nodes: pd.DataFrame
    processes: int
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)

    def summary(self) -> pd.DataFrame:
        """Per plan: medians over rounds of the rates, sums of the counts."""
        g = self.runs.groupby("plan", sort=False)
        out = g[["gets_per_s", "cores_busy", "server_cpu_share"]].median()
        out["server_us_per_get"] = g["server_cpu_s"].sum() / g["server_gets"].sum() * 1e6
        out["client_us_per_get"] = g["client_cpu_s"].sum() / g["server_gets"].sum() * 1e6
        out[["errors", "mismatches"]] = g[["errors", "mismatches"]].sum()
        out.insert(0, "nodes", g["nodes"].first())
        return out

    def per_node(self) -> pd.DataFrame:
        """Per (plan, node): counts summed over rounds, each node's share of the GETs,
        and its CPU as a fraction of the wall time (1.0 = one core the whole run)."""
        g = self.nodes.groupby(["plan", "node"], sort=False)
        out = g[["sent", "gets", "cpu_s", "seconds", "errors", "mismatches"]].sum()
        out.insert(0, "role", g["role"].first())
        out["share"] = out["gets"] / out.groupby(level="plan")["gets"].transform("sum")
        out["cpu_per_wall"] = out["cpu_s"] / out["seconds"]
        return out.drop(columns="seconds")

    def limits(self) -> pd.DataFrame:
        """Per plan: what the CPU says limited the run, and the figures behind it.

        ``busiest_server`` is the busiest server's CPU over wall time (1.0: its main
        thread never rested), ``clients_per_process`` the same for an average client
        process, ``cores_busy`` all of them together against ``cores``. The label is
        read from those, in this order: a server thread near one core; the machine's
        cores near full; client processes near one core each; else CPU the run did not
        get (other load on a shared machine).
        """
        nodes = self.per_node()
        runs = self.runs.groupby("plan", sort=False)
        seconds = runs["seconds"].sum()
        out = pd.DataFrame(
            {
                "busiest_server": nodes.groupby(level="plan", sort=False)["cpu_per_wall"].max(),
                "clients_per_process": runs["client_cpu_s"].sum() / seconds / self.processes,
                "cores_busy": (runs["client_cpu_s"].sum() + runs["server_cpu_s"].sum()) / seconds,
            }
        )
        out["cores"] = self.cores

        def label(row: pd.Series) -> str:
            if row["busiest_server"] >= 0.9:
                return "one server's main thread (a core)"
            if row["cores_busy"] >= 0.85 * row["cores"]:
                return f"the machine's {row['cores']} cores, shared by clients and servers"
            if row["clients_per_process"] >= 0.8:
                return "the Python client processes (a core each)"
            return "CPU the run did not get (other processes on the machine)"

        out["limited_by"] = out.apply(label, axis=1)
        return out


def scale_out(
    clients: ClientProcesses,
    plans: Sequence[Plan],
    workload: Workload,
    *,
    duration: float = 1.5,
    rounds: int = 2,
    batch: int = 50,
    seed: int = 0,
    show_progress: bool = True,
) -> ScalingRuns:
    """Run every plan ``rounds`` times (order reversed every other round) -> :class:`ScalingRuns`.

    Interleaving puts the plans' runs moments apart in every round, so a slow phase of
    a shared machine hits them alike.
    """
    if not plans or rounds <= 0:
        raise PerformanceError("scale_out needs at least one plan and one round")
    names = [p.name for p in plans]
    if len(set(names)) != len(names):
        raise PerformanceError(f"plan names must differ: {names}")
    run_rows: list[dict[str, Any]] = []
    node_rows: list[dict[str, Any]] = []
    bar = progress(total=rounds * len(plans), desc="scaling runs", enabled=show_progress)
    for rnd in range(rounds):
        for plan in plans if rnd % 2 == 0 else plans[::-1]:
            res = clients.run(plan, workload, duration=duration, batch=batch, seed=seed + rnd)
            run_rows.append(_run_row(rnd, plan, res))
            node_rows.extend(_node_rows(rnd, plan, res))
            bar.update(1)
    bar.close()
    return ScalingRuns(pd.DataFrame(run_rows), pd.DataFrame(node_rows), clients.processes)


def _sum(reports: Sequence[Mapping[str, Any]], field_name: str, node: str | None = None) -> int:
    if node is None:
        return sum(sum(r[field_name].values()) for r in reports)
    return sum(r[field_name].get(node, 0) for r in reports)


def _run_row(rnd: int, plan: Plan, res: Mapping[str, Any]) -> dict[str, Any]:
    reports, servers, seconds = res["clients"], res["servers"], res["seconds"]
    server_cpu = sum(s["cpu_s"] for s in servers.values())
    client_cpu = sum(r["cpu_s"] for r in reports)
    server_gets = sum(s["gets"] for s in servers.values())
    busy = server_cpu + client_cpu
    return {
        "round": rnd,
        "plan": plan.name,
        "nodes": len(plan.endpoints),
        "seconds": seconds,
        "server_gets": server_gets,
        "client_gets": _sum(reports, "sent"),
        "gets_per_s": server_gets / seconds,
        "server_cpu_s": server_cpu,
        "client_cpu_s": client_cpu,
        "cores_busy": busy / seconds,
        "server_cpu_share": server_cpu / busy if busy else float("nan"),
        "errors": _sum(reports, "errors"),
        "mismatches": _sum(reports, "mismatches"),
        "first_error": next((r["first_error"] for r in reports if r["first_error"]), ""),
    }


def _node_rows(rnd: int, plan: Plan, res: Mapping[str, Any]) -> list[dict[str, Any]]:
    reports, servers = res["clients"], res["servers"]
    return [
        {
            "round": rnd,
            "plan": plan.name,
            "node": ep.name,
            "role": ep.role,
            "sent": _sum(reports, "sent", ep.name),
            "gets": int(servers[ep.name]["gets"]),
            "cpu_s": servers[ep.name]["cpu_s"],
            "seconds": res["seconds"],
            "errors": _sum(reports, "errors", ep.name),
            "mismatches": _sum(reports, "mismatches", ep.name),
        }
        for ep in plan.endpoints
    ]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
