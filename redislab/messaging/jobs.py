"""rq, the well-kept job queue on Redis lists, beside the hand-built :class:`ReliableQueue`.

rq (https://python-rq.org/) stores each job as a hash (function, pickled arguments,
status, result), queues job ids on a list, and tracks running jobs in a
``StartedJobRegistry`` with a heartbeat. :func:`record` is the job both queues run in
the experiments; :func:`queue_for` gives an rq ``Queue`` on a lab's server.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from ..keys import MESSAGING, key
from ..types import PlainConnection

__all__ = ["queue_for", "record"]


def queue_for(connection: PlainConnection, name: str) -> Any:
    """An rq ``Queue`` called ``name`` on ``connection``'s server (rq wants bytes replies)."""
    from rq import Queue

    kw = connection.connection_pool.connection_kwargs
    raw = redis.Redis(host=kw.get("host", "127.0.0.1"), port=int(kw.get("port", 6379)),
                      db=int(kw.get("db", 0)))  # fmt: skip
    return Queue(name, connection=raw)


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
