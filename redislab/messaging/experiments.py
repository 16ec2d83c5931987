"""The crash experiments and comparisons notebook 03 and the benchmark run.

Every experiment kills a worker *process* (SIGKILL) in the middle of its work and then
counts, job by job, how many times each was processed (:mod:`.processes`).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pandas as pd

from ..errors import MessagingError
from ..kit.connections import clone
from ..kit.measure import summarize
from ..lab.waits import wait_until
from ..types import PlainConnection
from .processes import (
    WorkerProcess,
    claimed_key,
    current_key,
    done_key,
    progress_key,
    spawn_together,
)
from .pubsub import Subscriber, late_subscriber
from .queues import ReliableQueue
from .streams import StreamWorker, produce

__all__ = [
    "compare_transports",
    "guarantees_table",
    "queue_crash",
    "rq_crash",
    "rq_vs_reliable",
    "storage_probe",
    "stream_crash",
]


def _reset(connection: PlainConnection, experiment: str, *extra: str) -> None:
    keys = list(connection.scan_iter(match=done_key(experiment) + "*")) + list(extra)
    if keys:
        connection.delete(*keys)


def _tally(connection: PlainConnection, experiment: str, jobs: int) -> dict[str, int]:
    counts = {int(k): int(v) for k, v in connection.hgetall(done_key(experiment)).items()}
    times = [counts.get(n, 0) for n in range(jobs)]
    return {
        "jobs": jobs,
        "processed_at_least_once": sum(t >= 1 for t in times),
        "lost": sum(t == 0 for t in times),
        "duplicates": sum(t - 1 for t in times if t > 1),
    }


def _progress(connection: PlainConnection, experiment: str, worker: str) -> int:
    return int(connection.get(progress_key(experiment, worker)) or 0)


def _kill_after(
    connection: PlainConnection, victim: WorkerProcess, experiment: str, n: int, timeout: float
) -> None:
    wait_until(lambda: _progress(connection, experiment, victim.name) >= n, timeout=timeout)
    victim.kill()


def stream_crash(
    connection: PlainConnection,
    *,
    messages: int = 600,
    work_ms: float = 2.0,
    batch: int = 10,
    kill_after: int = 100,
    claim_idle_ms: int = 1000,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Two :class:`StreamWorker` processes on one group; SIGKILL one after ``kill_after``.

    The survivor takes the dead one's pending entries over with ``XAUTOCLAIM`` once they
    are ``claim_idle_ms`` idle. Returns the tally (lost, duplicates), what the dead
    consumer held at the kill (``XPENDING``), how many of those it had already finished
    (``finished_unacked``: duplicates the crash causes) and how many entries the workers
    took over in all (``claimed_total``: every re-delivery in a group is a claim, so it
    bounds the duplicates; entries of a live but slow consumer idle longer than
    ``claim_idle_ms`` are claimed too).
    """
    exp, stream, group = "stream-crash", "redislab:messaging:stream:crash", "workers"
    _reset(connection, exp, stream)
    produce(connection, stream, ({"n": n} for n in range(messages)))
    connection.xgroup_create(stream, group, id="0")
    params = {"stream": stream, "group": group, "work_ms": work_ms,
              "batch": batch, "claim_idle_ms": claim_idle_ms,
              "idle_stop_s": claim_idle_ms / 1000 + 1.0}  # fmt: skip
    a, b = spawn_together(connection, "stream", ("consumer-a", "consumer-b"), experiment=exp,
                          timeout=timeout, **params)  # fmt: skip
    try:
        _kill_after(connection, a, exp, kill_after, timeout)
        pending = connection.xpending_range(stream, group, "-", "+", messages, "consumer-a")
        done_now = connection.hgetall(done_key(exp))
        held = []
        for row in pending:
            fields = connection.xrange(stream, min=row["message_id"], max=row["message_id"])
            held.append(json.loads(fields[0][1]["data"])["n"])
        finished_unacked = sum(1 for n in held if int(done_now.get(str(n), 0)) >= 1)
        in_flight = connection.get(current_key(exp, "consumer-a"))
        b.wait(timeout=timeout)
    finally:
        a.stop()
        b.stop()
    tally = _tally(connection, exp, messages)
    return {
        **tally,
        "killed_after": _progress(connection, exp, "consumer-a"),
        "pending_of_dead_at_kill": len(held),
        "finished_unacked": finished_unacked,
        "in_flight_at_kill": 0 if in_flight is None else 1,
        "by_survivor": _progress(connection, exp, "consumer-b"),
        "pending_after": int(connection.xpending(stream, group)["pending"]),
        "claimed_total": sum(
            int(connection.get(claimed_key(exp, w)) or 0) for w in ("consumer-a", "consumer-b")
        ),
    }


def queue_crash(
    connection: PlainConnection,
    *,
    kind: str = "reliable",
    jobs: int = 200,
    work_ms: float = 10.0,
    kill_after: int = 30,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Two queue worker processes (``reliable``: ``BLMOVE``; ``naive``: ``BRPOP``); SIGKILL
    one after ``kill_after`` jobs. For the reliable queue the dead worker's processing
    list is then recovered onto the queue. Returns the tally and what the victim held."""
    exp = f"queue-crash-{kind}"
    q = ReliableQueue(connection, exp)
    _reset(connection, exp, q.queue, q.processing("worker-a"), q.processing("worker-b"))
    if kind == "reliable":
        q.push(*({"n": n, "id": n} for n in range(jobs)))
        name = exp
    elif kind == "naive":
        connection.lpush(q.queue, *(json.dumps({"n": n}) for n in range(jobs)))
        name = q.queue
    else:
        raise ValueError(f"kind must be 'reliable' or 'naive', not {kind!r}")
    params = {"queue": name, "work_ms": work_ms, "idle_stop_s": 0.5}
    a, b = spawn_together(connection, kind, ("worker-a", "worker-b"), experiment=exp,
                          timeout=timeout, **params)  # fmt: skip
    try:
        _kill_after(connection, a, exp, kill_after, timeout)
        held = connection.get(current_key(exp, "worker-a")) is not None
        left_in_processing = q.in_processing("worker-a") if kind == "reliable" else 0
        recovered = q.recover("worker-a") if kind == "reliable" else 0
        b.wait(timeout=timeout)
    finally:
        a.stop()
        b.stop()
    return {
        "queue": kind,
        **_tally(connection, exp, jobs),
        "victim_was_working": int(held),
        "left_in_processing": left_in_processing,
        "recovered": recovered,
    }


def rq_vs_reliable(
    connection: PlainConnection, *, jobs: int = 300, repeats: int = 3
) -> pd.DataFrame:
    """Jobs/s of one in-process worker: rq's ``SimpleWorker`` (burst, :func:`.jobs.burst_worker`)
    against :meth:`ReliableQueue.work`, the same no-op job, interleaved ``repeats`` times."""
    from .jobs import queue_for, record, run_burst

    rows = []
    for rep in range(repeats):
        q = ReliableQueue(connection, "bench")
        connection.delete(q.queue, q.processing("w"))
        c0 = _commands(connection)
        t0 = time.perf_counter()
        q.push(*({"n": n, "id": n} for n in range(jobs)))
        t1 = time.perf_counter()
        q.work("w", lambda job: None, idle_stop_s=0.01)
        t2 = time.perf_counter()
        rows.append({"library": "hand-built ReliableQueue", "repeat": rep,
                     "enqueue_jobs_per_s": jobs / (t1 - t0), "work_jobs_per_s": jobs / (t2 - t1),
                     "commands_per_job": (_commands(connection) - c0) / jobs})  # fmt: skip
        rq_queue = queue_for(connection, "bench")
        rq_queue.empty()
        c0 = _commands(connection)
        t0 = time.perf_counter()
        for n in range(jobs):
            rq_queue.enqueue(record, "rq-bench", n)
        t1 = time.perf_counter()
        run_burst(rq_queue)
        t2 = time.perf_counter()
        rows.append({"library": f"rq {_rq_version()} SimpleWorker", "repeat": rep,
                     "enqueue_jobs_per_s": jobs / (t1 - t0), "work_jobs_per_s": jobs / (t2 - t1),
                     "commands_per_job": (_commands(connection) - c0) / jobs})  # fmt: skip
    return pd.DataFrame(rows)


def _commands(connection: PlainConnection) -> int:
    """Commands the server processed so far (``INFO stats``), this call's own INFO included."""
    return int(connection.info("stats")["total_commands_processed"])


def _rq_version() -> str:
    import rq

    return str(getattr(rq, "__version__", "?"))


def rq_crash(
    connection: PlainConnection,
    *,
    jobs: int = 100,
    work_ms: float = 10.0,
    kill_after: int = 20,
    retry: bool = True,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Two rq worker processes; SIGKILL one mid-job. Where does its job end up?

    After the survivor drained the queue, the killed job is still "started"; rq finds it
    abandoned once its heartbeat expires (``StartedJobRegistry.cleanup``), then retries it
    (with ``Retry``) or fails it. We run that cleanup at the heartbeat's expiry time
    instead of waiting for it, and report how long rq would have waited.

    The survivor works in burst mode and must exit once the queue is empty: if it has not
    ``timeout`` s after the kill, it is killed and :class:`~redislab.errors.MessagingError`
    raised with its threads' stacks (:meth:`.WorkerProcess.finish`).
    """
    from rq import Retry

    from .jobs import queue_for, record, run_burst

    exp = f"rq-crash-{'retry' if retry else 'plain'}"
    _reset(connection, exp)
    q = queue_for(connection, exp)
    q.empty()
    for reg in (q.started_job_registry, q.failed_job_registry):
        for jid in reg.get_job_ids():
            reg.remove(jid)
    for n in range(jobs):
        q.enqueue(record, exp, n, work_ms, retry=Retry(max=2) if retry else None)
    a, b = spawn_together(connection, "rq", ("rq-a", "rq-b"), experiment=exp, timeout=timeout,
                          queue=exp)  # fmt: skip
    try:
        _kill_after(connection, a, exp, kill_after, timeout)
        killed_at = time.time()
        b.finish(timeout, why="rq-a was killed (in burst mode it exits once the queue is empty)")
    finally:
        a.stop()
        b.stop()
    started = q.started_job_registry
    raw = q.connection.zrange(started.key, 0, -1, withscores=True)
    stuck = len(raw)
    expires_in = max((score for _, score in raw), default=killed_at) - killed_at
    before_cleanup = _tally(connection, exp, jobs)
    started.cleanup(timestamp=killed_at + expires_in + 1)  # what rq's maintenance would do then
    retried = len(q)
    failed = q.failed_job_registry.count
    if retried:
        run_burst(q)
    after = _tally(connection, exp, jobs)
    return {
        "rq": _rq_version(),
        "retry": retry,
        "jobs": jobs,
        "stuck_in_started_registry": stuck,
        "found_abandoned_after_s": round(expires_in, 1),
        "lost_before_cleanup": before_cleanup["lost"],
        "requeued_by_cleanup": retried,
        "failed_registry": failed,
        "lost": after["lost"],
        "duplicates": after["duplicates"],
    }


def compare_transports(
    connection: PlainConnection,
    *,
    messages: int = 2000,
    payload_bytes: int = 100,
    rate_per_s: float = 1000.0,
    seed: int = 0,
) -> pd.DataFrame:
    """The same paced load over pub/sub, a stream (consumer group) and a list queue.

    A producer sends ``messages`` messages at ``rate_per_s`` (each carrying its send
    time), a consumer on its own connection reads them; per transport: delivered,
    throughput and the publish → read latency percentiles.
    """
    import random

    rng = random.Random(seed)
    pad = "".join(rng.choice("abcdef") for _ in range(payload_bytes))
    rows = [
        _run_transport(connection, t, messages=messages, rate_per_s=rate_per_s, pad=pad)
        for t in ("pub/sub", "stream + group", "list (BLMOVE)")
    ]
    return pd.DataFrame(rows).set_index("transport")


def _run_transport(
    connection: PlainConnection, transport: str, *, messages: int, rate_per_s: float, pad: str
) -> dict[str, Any]:
    received: list[float] = []
    stop = threading.Event()
    consumer = clone(connection, decode_responses=True)
    name = f"redislab:messaging:transport:{transport.split()[0].strip('/')}"
    processing = name + ":processing"
    connection.delete(name, processing)
    sub: Subscriber | None = None
    thread: threading.Thread | None = None
    if transport == "pub/sub":
        sub = Subscriber(connection, channels=[name], name="transport").start()
    elif transport.startswith("stream"):
        connection.xgroup_create(name, "g", id="$", mkstream=True)
        worker = StreamWorker(
            consumer, name, "g", "c", lambda p: received.append(time.perf_counter() - p["t"]),
            batch=50, block_ms=20,
        )  # fmt: skip
        thread = threading.Thread(target=lambda: worker.run(stop=stop), daemon=True)
    else:

        def pop() -> None:
            while not stop.is_set():
                raw = consumer.blmove(name, processing, 0.05, "RIGHT", "LEFT")
                if raw is not None:
                    received.append(time.perf_counter() - json.loads(raw)["t"])
                    consumer.lrem(processing, 1, raw)

        thread = threading.Thread(target=pop, daemon=True)
    if thread is not None:
        thread.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    for i in range(messages):
        target = t0 + i / rate_per_s
        while time.perf_counter() < target:
            time.sleep(0.0002)
        body = json.dumps({"i": i, "t": time.perf_counter(), "pad": pad})
        if sub is not None:
            connection.publish(name, body)
        elif transport.startswith("stream"):
            connection.xadd(name, {"data": body})
        else:
            connection.lpush(name, body)
    try:
        wait_until(
            lambda: (len(sub.messages) if sub is not None else len(received)) >= messages,
            timeout=20,
        )
    except Exception:
        pass  # what arrived is counted below
    seconds = time.perf_counter() - t0
    stop.set()
    if thread is not None:
        thread.join(timeout=2)
    if sub is not None:
        sub.stop()
        received = [msg.at - json.loads(msg.data)["t"] for msg in sub.messages]
    consumer.close()
    connection.delete(name, processing)
    s = summarize(received)
    return {"transport": transport, "delivered": len(received), "sent": messages,
            "msgs_per_s": len(received) / seconds,
            "p50_ms": s["p50_ms"], "p99_ms": s["p99_ms"]}  # fmt: skip


def storage_probe(connection: PlainConnection, *, n: int = 10) -> dict[str, dict[str, Any]]:
    """Send ``n`` messages with no consumer, then consume them all; per transport: how many
    were kept for a consumer that comes later, and how many can be read again after.

    Pub/Sub is measured like the others: a subscriber that arrives after the ``n``
    ``PUBLISH``es counts what it receives of them (:func:`late_subscriber`), and a second
    one arriving after the first counts again."""
    base = "redislab:messaging:probe"
    stream, queue, channel = f"{base}:stream", f"{base}:list", f"{base}:channel"
    connection.delete(stream, queue)
    replies = [int(connection.publish(channel, str(i))) for i in range(n)]
    produce(connection, stream, ({"n": i} for i in range(n)))
    connection.lpush(queue, *(json.dumps({"n": i}) for i in range(n)))
    late = late_subscriber(connection, channel)
    if not late["marker_received"]:
        raise MessagingError(f"storage_probe: the late subscriber never got its marker ({late})")
    kept = {"pub/sub": late["earlier"], "stream + group": int(connection.xlen(stream)),
            "list queue": int(connection.llen(queue))}  # fmt: skip
    connection.xgroup_create(stream, "probe", id="0")
    StreamWorker(connection, stream, "probe", "c", lambda p: None).run(max_messages=n)
    while connection.rpop(queue) is not None:
        pass
    again = {"pub/sub": late_subscriber(connection, channel)["earlier"],
             "stream + group": len(connection.xrange(stream)),
             "list queue": int(connection.llen(queue))}  # fmt: skip
    connection.delete(stream, queue)
    return {
        t: {
            "sent": n,
            "kept_without_consumer": kept[t],
            "readable_again_after_consume": again[t],
            "publish_replies": sum(replies) if t == "pub/sub" else None,
        }
        for t in kept
    }


def guarantees_table(
    *,
    pubsub_away: dict[str, Any],
    stream: dict[str, Any],
    reliable: dict[str, Any],
    naive: dict[str, Any],
    storage: dict[str, dict[str, Any]],
    pubsub_in_order: bool,
) -> pd.DataFrame:
    """The guarantees table, every cell derived from an experiment's result."""

    def delivery(lost: int, dups: int) -> str:
        if lost:
            return f"at-most-once ({lost} lost)"
        return f"at-least-once (0 lost, {dups} duplicates)"

    rows = {
        "pub/sub": {
            "consumer away or crashed": delivery(pubsub_away["missed"], 0),
            "ordering": "publish order" if pubsub_in_order else "not kept",
            "kept with no consumer": storage["pub/sub"]["kept_without_consumer"],
            "replay after consume": storage["pub/sub"]["readable_again_after_consume"],
        },
        "stream + consumer group": {
            "consumer away or crashed": delivery(stream["lost"], stream["duplicates"]),
            "ordering": "ID order (per stream)",
            "kept with no consumer": storage["stream + group"]["kept_without_consumer"],
            "replay after consume": storage["stream + group"]["readable_again_after_consume"],
        },
        "list, reliable (BLMOVE + recover)": {
            "consumer away or crashed": delivery(reliable["lost"], reliable["duplicates"]),
            "ordering": "FIFO (until a recovered job is re-queued)",
            "kept with no consumer": storage["list queue"]["kept_without_consumer"],
            "replay after consume": storage["list queue"]["readable_again_after_consume"],
        },
        "list, naive (BRPOP)": {
            "consumer away or crashed": delivery(naive["lost"], naive["duplicates"]),
            "ordering": "FIFO",
            "kept with no consumer": storage["list queue"]["kept_without_consumer"],
            "replay after consume": storage["list queue"]["readable_again_after_consume"],
        },
    }
    table = pd.DataFrame(rows).T
    table["persistence"] = ["none (never stored)"] + ["with RDB/AOF, like any key"] * 3
    return table
