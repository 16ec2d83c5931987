"""Client processes for a scaling run: one interpreter lock each, started once, reused.

- :func:`server_counters`: a server's own ``GET`` calls, commands and CPU seconds;
- :class:`ClientProcesses`: N worker processes that read a :class:`~.plans.Plan` together
  and report what they sent; stopped on exit, and gone on their own if the parent dies.

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
from typing import Any, cast

from ..errors import ClientProcessError, PerformanceError
from ..kit.counters import command_total
from ..types import PlainConnection
from .plans import Plan, Workload

__all__ = ["ClientProcesses", "server_counters"]


# ------------------------------------------------------------------ server counters
def server_counters(connection: PlainConnection) -> dict[str, float]:
    """The server's own count of ``GET`` calls, commands processed, and CPU seconds."""
    info = connection.info()
    return {
        "gets": command_total(connection, "get"),
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
