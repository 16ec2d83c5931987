"""Queues on lists and sorted sets, rq beside them, against real servers."""

from __future__ import annotations

import random

import pytest

from redislab.messaging import (
    PriorityQueue,
    ReliableQueue,
    RequestTimeout,
    RpcServer,
    blocked_order,
    queue_crash,
    request,
    rq_crash,
    rq_vs_reliable,
    run_schedule,
    spread,
    storage_probe,
)


def test_reliable_queue_recover(standalone_lab):
    r = standalone_lab.client()
    q = ReliableQueue(r, "t-recover")
    r.delete(q.queue, q.processing("w"))
    q.push({"n": 1}, {"n": 2})
    raw, job = q.reserve("w", timeout=1)
    assert job["n"] == 1 and q.in_processing("w") == 1  # oldest first
    assert q.recover("w") == 1 and len(q) == 2
    raw, job = q.reserve("w", timeout=1)
    assert job["n"] == 1  # the recovered job is served next
    assert q.ack("w", raw) and q.in_processing("w") == 0


def test_blocked_clients_served_in_order_and_spread(standalone_lab):
    r = standalone_lab.client()
    out = blocked_order(r, clients=4)
    assert out["served"] == ["item-0", "item-1", "item-2", "item-3"]
    sp = spread(r, workers=3, jobs=300, work_s=0)
    assert sum(sp["per_worker"].values()) == 300


def test_priority_ties_are_lexicographic(standalone_lab):
    r = standalone_lab.client()
    pq = PriorityQueue(r, "t-prio")
    r.delete(pq.key)
    for job, prio in [("b", 1), ("a", 1), ("c", 0), ("z", 2)]:
        pq.push(job, prio)
    assert [pq.pop(0.1)[0] for _ in range(4)] == ["c", "a", "b", "z"]
    assert pq.pop(0.05) is None


def test_delayed_jobs_never_early_and_in_order(standalone_lab):
    r = standalone_lab.client()
    rng = random.Random(7)
    schedule = [(f"j{i:03d}", rng.randrange(0, 400)) for i in range(60)]
    rows = run_schedule(r, schedule)
    assert len(rows) == 60
    assert all(row["late_ms"] >= 0 for row in rows)
    dues = [row["due_ms"] for row in rows]
    assert dues == sorted(dues)


def test_request_response_and_timeout(standalone_lab):
    r = standalone_lab.client()
    srv = RpcServer(r, "t-echo", lambda b: {"echo": b}).start()
    try:
        assert request(r, "t-echo", [1, 2], timeout=2) == {"echo": [1, 2]}
    finally:
        srv.stop()
    with pytest.raises(RequestTimeout):
        request(r, "t-nobody", 1, timeout=0.1)


def test_storage_probe(standalone_lab):
    out = storage_probe(standalone_lab.client())
    assert out["pub/sub"]["kept_without_consumer"] == 0
    assert out["stream + group"]["readable_again_after_consume"] == 10
    assert out["list queue"]["readable_again_after_consume"] == 0


@pytest.mark.slow
def test_reliable_queue_survives_killed_worker_process(standalone_lab):
    r = standalone_lab.client()
    out = queue_crash(r, kind="reliable", jobs=80, work_ms=5, kill_after=15)
    assert out["lost"] == 0
    assert out["recovered"] == out["left_in_processing"]


@pytest.mark.slow
def test_rq_side_by_side(standalone_lab):
    r = standalone_lab.client()
    speed = rq_vs_reliable(r, jobs=30, repeats=1)
    assert set(speed["library"].str.split().str[0]) == {"hand-built", "rq"}
    assert (speed["commands_per_job"] > 0).all()
    out = rq_crash(r, jobs=30, work_ms=10, kill_after=5, retry=True)
    # with Retry the killed worker's job is requeued once its heartbeat has expired; on
    # a loaded machine the job in flight at the kill can still be counted lost (seen: 1)
    assert out["lost"] <= 1


def test_workers_start_together_behind_the_gate(standalone_lab):
    from redislab.messaging import spawn_together
    from redislab.messaging.processes import progress_key

    r = standalone_lab.client(decode_responses=True)
    q = ReliableQueue(r, "gate-test")
    r.delete(q.queue, q.processing("w-a"), q.processing("w-b"))
    # a short queue: without the gate the first worker up would take every job
    q.push(*({"n": n, "id": n} for n in range(40)))
    workers = spawn_together(r, "reliable", ("w-a", "w-b"), experiment="gate-test",
                             queue="gate-test", work_ms=5, idle_stop_s=0.5)  # fmt: skip
    try:
        for w in workers:
            w.wait(timeout=30)
    finally:
        for w in workers:
            w.stop()
    done = [int(r.get(progress_key("gate-test", n)) or 0) for n in ("w-a", "w-b")]
    assert sum(done) == 40
    assert min(done) >= 10  # both took a share


def test_a_worker_that_dies_before_the_gate_is_reported(standalone_lab):
    from redislab.errors import MessagingError
    from redislab.messaging import spawn_together

    r = standalone_lab.client(decode_responses=True)
    with pytest.raises(MessagingError, match="exited before it was ready"):
        spawn_together(r, "no-such-kind", ("w-x",), experiment="gate-bad", timeout=20)
