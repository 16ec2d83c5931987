"""rq, the well-kept job queue on Redis lists, beside the hand-built :class:`ReliableQueue`.

rq (https://python-rq.org/) stores each job as a hash (function, pickled arguments,
status, result), queues job ids on a list, and tracks running jobs in a
``StartedJobRegistry`` with a heartbeat. :func:`record` is the job both queues run in
the experiments; :func:`queue_for` gives an rq ``Queue`` on a lab's server;
:func:`burst_worker` the rq worker they run, which exits as soon as the queue is empty.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import redis

from ..keys import MESSAGING, key
from ..types import PlainConnection

__all__ = ["burst_worker", "queue_for", "record", "run_burst"]


def queue_for(connection: PlainConnection, name: str) -> Any:
    """An rq ``Queue`` called ``name`` on ``connection``'s server (rq wants bytes replies)."""
    from rq import Queue

    kw = connection.connection_pool.connection_kwargs
    raw = redis.Redis(host=kw.get("host", "127.0.0.1"), port=int(kw.get("port", 6379)),
                      db=int(kw.get("db", 0)))  # fmt: skip
    return Queue(name, connection=raw)


def burst_worker(queue: Any, name: str | None = None) -> Any:
    """An rq ``SimpleWorker`` on ``queue`` that does not listen on its command channel.

    Every rq worker subscribes to ``rq:pubsub:<name>`` (for ``rq`` CLI commands: shutdown,
    kill-horse, stop-job) and reads it on a thread. On exit, rq's ``teardown`` sends
    ``UNSUBSCRIBE`` and *then* stops that thread (``PubSubWorkerThread.stop()``, which
    in redis-py 8.2 joins the thread with no bound). If the thread reads
    the ``UNSUBSCRIBE`` reply before the stop flag is cleared, it loops once more into
    ``get_message(timeout=60)``, which, no longer subscribed, waits 60 s on
    ``subscribed_event``, and ``stop()`` waits with it: the worker lingers 60 s after its
    last job. Which thread runs first is the scheduler's choice: on an idle machine nearly
    always the main thread, under load now and then the listener (9 exits of 150 with two
    CPU hogs on 2 cores; the ``rq-b`` hang of ``rq_crash``, issue 23). The experiments send
    a worker no rq command (a crash is a SIGKILL), so the worker here never subscribes: no
    listener thread, nothing to wait for.
    """
    return _burst_worker_class()([queue], connection=queue.connection, name=name)


def run_burst(queue: Any, name: str | None = None) -> bool:
    """Work every job on ``queue`` with a :func:`burst_worker`, return once it is empty
    (``True`` if it worked any)."""
    return bool(burst_worker(queue, name).work(burst=True, logging_level="WARNING"))


@functools.cache
def _burst_worker_class() -> type:
    from rq import SimpleWorker

    class BurstWorker(SimpleWorker):
        """``SimpleWorker`` without the pub/sub command listener (see :func:`burst_worker`)."""

        def subscribe(self) -> None:
            self.pubsub = None
            self.pubsub_thread = None

    return BurstWorker


def record(experiment: str, n: int, work_ms: float = 0.0) -> int:
    """The job: sleep ``work_ms``, then count job ``n`` as processed once more."""
    from rq import get_current_job

    from ._common import done_key, progress_key

    job = get_current_job()
    conn = job.connection if job is not None else None
    worker = ((job.worker_name if job is not None else None) or "rq").rsplit("-", 1)[0]
    current = key(MESSAGING, "done", experiment, "current", worker)
    if conn is not None:
        conn.set(current, n)
    if work_ms:
        time.sleep(work_ms / 1000)
    if conn is not None:
        pipe = conn.pipeline(transaction=True)
        pipe.hincrby(done_key(experiment), str(n), 1)
        pipe.incr(progress_key(experiment, worker))
        pipe.delete(current)
        pipe.execute()
    return n
