"""Worker *processes* for crash experiments: started with :func:`spawn`, killed with SIGKILL.

A thread cannot be killed in the middle of its work; a process can, which is what a
crash, an OOM kill or a deploy does to a worker. Each worker records every job it
finished in a hash (``HINCRBY <done> <n> 1``) *before* acknowledging it, so after a
kill the experiment counts, per job, how many times it was processed: 0 is a lost job,
2 or more a duplicate.

``python -m redislab.messaging.processes '<json>'`` runs one worker; the JSON says
which kind (``stream``, ``reliable``, ``naive``, ``rq``) and its parameters.

:func:`spawn_together` starts the workers of one experiment behind a gate: each marks
itself ready once connected and imported, and none takes a job before all are. (A Python
process takes a few hundred milliseconds to start, more on a loaded machine; without the
gate the first worker up could drain a short stream before the one to be killed had done
the jobs the kill waits for.)

A worker that should have exited but has not is a bug, never a wait to lengthen:
:meth:`WorkerProcess.finish` waits for it with a bound, then has it print every thread's
stack to its stderr (``faulthandler`` on ``SIGUSR1``), kills it, and raises
:class:`~redislab.errors.MessagingError` with that stderr.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import redis

from ..errors import MessagingError
from ..keys import MESSAGING, key
from ..lab.waits import wait_until
from ._common import done_key as done_key
from ._common import progress_key as progress_key

__all__ = [
    "WorkerProcess",
    "claimed_key",
    "current_key",
    "done_key",
    "progress_key",
    "spawn",
    "spawn_together",
]


class WorkerProcess:
    """A worker process: :meth:`kill` (SIGKILL), :meth:`interrupt` (SIGINT = Ctrl-C),
    :meth:`stop` (kill if alive, then reap). Use as a context manager."""

    def __init__(self, popen: subprocess.Popen[bytes], name: str) -> None:
        self.popen = popen
        self.name = name

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no acknowledgement, nothing flushed."""
        if self.alive():
            self.popen.kill()
        self.popen.wait(timeout=10)

    def interrupt(self) -> None:
        """SIGINT, as Ctrl-C in its terminal: Python raises ``KeyboardInterrupt``."""
        if self.alive():
            self.popen.send_signal(signal.SIGINT)

    def wait(self, timeout: float = 10.0) -> int:
        return self.popen.wait(timeout=timeout)

    def finish(self, timeout: float, *, why: str = "its work is done") -> int:
        """Wait up to ``timeout`` s for the worker to exit on its own; return its exit code.

        If it is still running then, it is stuck: ask it for every thread's stack
        (``SIGUSR1``, which the worker hands to ``faulthandler``), SIGKILL it and raise
        :class:`~redislab.errors.MessagingError` naming it, with its stderr (the stacks).
        """
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        if self.alive():
            try:
                self.popen.send_signal(signal.SIGUSR1)
                self.popen.wait(timeout=1)  # time to write the stacks (it then runs on)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        self.stop()
        raise MessagingError(
            f"worker {self.name} (pid {self.pid}) had not exited {timeout:.0f} s after "
            f"{why}: killed it. Its stderr (every thread's stack when it was killed):\n"
            f"{self.stderr()}"
        )

    def stop(self) -> None:
        if self.alive():
            self.popen.kill()
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def stderr(self) -> str:
        if self.popen.stderr is None or self.alive():
            return ""
        return self.popen.stderr.read().decode(errors="replace")

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn(connection: redis.Redis, kind: str, name: str, **params: Any) -> WorkerProcess:
    """Start a worker process of ``kind`` named ``name`` against ``connection``'s server."""
    kw = connection.connection_pool.connection_kwargs
    spec = {"kind": kind, "name": name, "host": kw.get("host", "127.0.0.1"),
            "port": int(kw.get("port", 6379)), "db": int(kw.get("db", 0)), **params}  # fmt: skip
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), *sys.path) if p)
    popen = subprocess.Popen(
        [sys.executable, "-m", "redislab.messaging.processes", json.dumps(spec)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    return WorkerProcess(popen, name)


def spawn_together(
    connection: redis.Redis,
    kind: str,
    names: tuple[str, ...],
    *,
    experiment: str,
    timeout: float = 60.0,
    **params: Any,
) -> list[WorkerProcess]:
    """:func:`spawn` one worker per name, and open the gate once every one is ready.

    Raises :class:`~redislab.errors.MessagingError` (with the worker's stderr) if one exits
    before it is ready, and stops them all on any failure.
    """
    connection.delete(gate_key(experiment), *(ready_key(experiment, n) for n in names))
    workers = [
        spawn(connection, kind, n, experiment=experiment, gated=True, **params) for n in names
    ]
    try:
        for w in workers:
            wait_until(
                lambda w=w: not w.alive() or connection.exists(ready_key(experiment, w.name)),
                timeout=timeout,
                what=f"worker {w.name} ready",
            )
            if not w.alive():
                raise MessagingError(f"worker {w.name} exited before it was ready: {w.stderr()}")
        connection.set(gate_key(experiment), 1)
    except BaseException:
        for w in workers:
            w.stop()
        raise
    return workers


# ------------------------------------------------------------------ in the child
def ready_key(experiment: str, worker: str) -> str:
    """Set by ``worker`` once it is connected and about to take jobs."""
    return key(MESSAGING, "done", experiment, "ready", worker)


def gate_key(experiment: str) -> str:
    """Set by :func:`spawn_together` once every worker of ``experiment`` is ready."""
    return key(MESSAGING, "done", experiment, "gate")


def claimed_key(experiment: str, worker: str) -> str:
    """How many entries ``worker`` took over with ``XAUTOCLAIM`` in ``experiment``."""
    return key(MESSAGING, "done", experiment, "claimed", worker)


def current_key(experiment: str, worker: str) -> str:
    """The job ``worker`` is working on (set before the work, deleted with its record)."""
    return key(MESSAGING, "done", experiment, "current", worker)


def _record(r: redis.Redis, experiment: str, worker: str, n: int) -> None:
    pipe = r.pipeline(transaction=True)
    pipe.hincrby(done_key(experiment), str(n), 1)
    pipe.incr(progress_key(experiment, worker))
    pipe.delete(current_key(experiment, worker))
    pipe.execute()


def _main(spec: dict[str, Any]) -> None:
    r = redis.Redis(host=spec["host"], port=spec["port"], db=spec["db"], decode_responses=True)
    name, exp = spec["name"], spec["experiment"]
    work_s = spec.get("work_ms", 0) / 1000
    kind = spec["kind"]

    def start() -> None:
        """Mark this worker ready; with a gate, wait until every worker is."""
        if not spec.get("gated"):
            return
        r.set(ready_key(exp, name), 1)
        deadline = time.monotonic() + 120
        while not r.exists(gate_key(exp)):
            if time.monotonic() > deadline:
                raise SystemExit(f"{name}: the gate of {exp} never opened")
            time.sleep(0.005)

    def handle(job: dict[str, Any]) -> None:
        r.set(current_key(exp, name), int(job["n"]))
        if work_s:
            time.sleep(work_s)
        _record(r, exp, name, int(job["n"]))

    if kind == "stream":
        from .streams import StreamWorker

        w = StreamWorker(
            r, spec["stream"], spec["group"], name, handle,
            batch=spec.get("batch", 10), claim_idle_ms=spec.get("claim_idle_ms", 500),
            on_claimed=lambda n: r.incrby(claimed_key(exp, name), n),
        )  # fmt: skip
        start()
        w.run(idle_stop_s=spec.get("idle_stop_s", 1.0))
    elif kind == "reliable":
        from .queues import ReliableQueue

        q = ReliableQueue(r, spec["queue"])
        start()
        q.work(name, handle, idle_stop_s=spec.get("idle_stop_s", 1))
    elif kind == "naive":  # BRPOP: the job is only in this process once popped
        queue = spec["queue"]
        start()
        while True:
            item = r.brpop([queue], timeout=spec.get("idle_stop_s", 1))
            if item is None:
                break
            handle(json.loads(item[1]))
    elif kind == "rq":  # jobs.burst_worker: why not a plain SimpleWorker
        from .jobs import burst_worker, queue_for

        worker = burst_worker(queue_for(r, spec["queue"]), name=f"{name}-{os.getpid()}")
        start()
        worker.work(burst=True, logging_level="WARNING")
    else:
        raise SystemExit(f"unknown worker kind {kind!r}")


if __name__ == "__main__":
    # WorkerProcess.finish sends SIGUSR1 to a worker that does not exit: print where
    # every thread is (to stderr, which the parent reads once the worker is gone)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    _main(json.loads(sys.argv[1]))
