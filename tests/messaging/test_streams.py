"""The stream worker against real servers: retries, dead letters, Ctrl-C, restarts."""

from __future__ import annotations

import threading
import time

import pytest

from redislab.errors import MalformedMessage
from redislab.kit import no_retry
from redislab.messaging import (
    StreamWorker,
    bare_loop,
    decode_json,
    id_order_enforced,
    produce,
    replay,
    stream_crash,
    time_window,
    trim_costs,
)


def _fresh(r, name):
    r.delete(name, name + ":dead")
    return name


def test_decode_json_rejects_malformed():
    assert decode_json({"data": '{"a": 1}'}) == {"a": 1}
    for bad in ({"data": "{nope"}, {"other": "x"}, {"data": '{"a": 1} trailing'}):
        with pytest.raises(MalformedMessage):
            decode_json(bad)


def test_worker_processes_and_acks_everything(standalone_lab):
    r = standalone_lab.client()
    s = _fresh(r, "t:stream:all")
    produce(r, s, ({"n": i} for i in range(500)))
    got = []
    stats = StreamWorker(r, s, "g", "c", lambda p: got.append(p["n"])).run(max_messages=500)
    assert sorted(got) == list(range(500))
    assert stats.acked == 500
    assert int(r.xpending(s, "g")["pending"]) == 0


def test_bare_loop_acks_everything(standalone_lab):
    r = standalone_lab.client()
    s = _fresh(r, "t:stream:bare")
    produce(r, s, ({"n": i} for i in range(250)))
    r.xgroup_create(s, "g", id="0")
    assert bare_loop(r, s, "g", "c", batch=100) == 250


def test_malformed_and_poison_go_to_dead_letters_and_loop_goes_on(standalone_lab):
    r = standalone_lab.client()
    s = _fresh(r, "t:stream:dlq")
    produce(r, s, [{"n": 1}])
    r.xadd(s, {"data": "{broken"})
    produce(r, s, [{"n": 2, "poison": True}, {"n": 3}])
    done = []

    def handler(p):
        if p.get("poison"):
            raise ValueError("poison")
        done.append(p["n"])

    w = StreamWorker(r, s, "g", "c", handler, claim_idle_ms=50, max_deliveries=2)
    stats = w.run(max_messages=4, idle_stop_s=2)
    assert done == [1, 3]
    dead = [f for _, f in r.xrange(s + ":dead")]
    assert len(dead) == 2
    assert dead[0]["error"].startswith("MalformedMessage")
    assert dead[1]["error"] == "ValueError: poison" and dead[1]["deliveries"] == "2"
    assert stats.malformed == 1 and stats.dead_lettered == 2
    assert int(r.xpending(s, "g")["pending"]) == 0


def test_ctrl_c_leaves_nothing_finished_unacknowledged(standalone_lab):
    r = standalone_lab.client()
    s = _fresh(r, "t:stream:ctrlc")
    produce(r, s, ({"n": i} for i in range(100)))
    finished = []

    def handler(p):
        if p["n"] == 37:
            raise KeyboardInterrupt
        finished.append(p["n"])

    w = StreamWorker(r, s, "g", "c", handler, batch=50)
    with pytest.raises(KeyboardInterrupt):
        w.run()
    pending = r.xpending_range(s, "g", "-", "+", 100)
    pending_n = {
        decode_json(r.xrange(s, min=p["message_id"], max=p["message_id"])[0][1])["n"]
        for p in pending
    }
    assert finished == list(range(37))
    assert not pending_n & set(finished)  # every finished entry was acknowledged
    assert pending_n == set(range(37, 50))  # the interrupted one and the rest of its batch


def test_redis_restart_mid_run_is_survived(lab_factory):
    lab = lab_factory("standalone", persistence="aof-always")
    r = lab.client(retry=no_retry(), socket_timeout=2)
    s = _fresh(r, "t:stream:restart")
    produce(r, s, ({"n": i} for i in range(300)))
    got = []

    def handler(p):
        got.append(p["n"])
        time.sleep(0.002)

    w = StreamWorker(r, s, "g", "c", handler, batch=20, claim_idle_ms=200, backoff=(0.02, 0.2))
    w.ensure_group()
    # until idle, not max_messages: re-delivered entries count as processed again
    t = threading.Thread(target=lambda: w.run(idle_stop_s=2.0, max_seconds=40), daemon=True)
    t.start()
    while len(got) < 100:
        time.sleep(0.01)
    lab.primary.kill()  # a crash: down for half a second, then back with its AOF
    time.sleep(0.5)
    lab.primary.restart()
    produce(lab.client(), s, ({"n": i} for i in range(300, 600)))
    t.join(timeout=60)
    assert not t.is_alive()
    assert set(got) == set(range(600))  # nothing lost (duplicates allowed: at-least-once)
    assert w.stats.reconnects >= 1, (w.stats, len(got))


def test_trim_replay_window_and_id_order(standalone_lab):
    r = standalone_lab.client()
    rows = {row["mode"]: row for row in trim_costs(r, "t:trim", entries=3000, maxlen=500)}
    assert rows["no trim"]["xlen"] == 3000
    assert rows["MAXLEN ="]["xlen"] == 500
    assert 500 <= rows["MAXLEN ~"]["xlen"] < 600
    s = _fresh(r, "t:stream:replay")
    before = int(time.time() * 1000)
    produce(r, s, ({"v": i} for i in range(1200)))
    after = int(time.time() * 1000)
    total, n = replay(r, s, lambda acc, p: acc + p["v"], 0, page=500)
    assert (total, n) == (sum(range(1200)), 1200)
    assert len(time_window(r, s, before, after)) == 1200
    order = id_order_enforced(r, s)
    assert "equal or smaller" in order["equal"] and "equal or smaller" in order["older"]


@pytest.mark.slow
def test_killed_consumer_process_loses_nothing(standalone_lab):
    r = standalone_lab.client()
    out = stream_crash(r, messages=200, work_ms=2, batch=10, kill_after=40)
    assert out["lost"] == 0 and out["pending_after"] == 0
    assert out["finished_unacked"] <= out["duplicates"] <= out["claimed_total"]


def test_worker_on_a_bytes_client_and_a_handler_rejecting_a_message(standalone_lab):
    r = standalone_lab.client(decode_responses=False)
    s = "t:stream:bytes"
    r.delete(s, s + ":dead")
    produce(r, s, ({"n": i} for i in range(30)))
    got = []

    def handler(p):
        if p["n"] == 7:
            raise MalformedMessage("seven is not an order")
        got.append(p["n"])

    stats = StreamWorker(r, s, "g", "c", handler, batch=8).run(max_messages=30)
    assert got == [n for n in range(30) if n != 7]
    assert stats.dead_lettered == stats.malformed == 1 and stats.acked == 29  # + 1 in MULTI
    dead = r.xrange(s + ":dead")
    assert len(dead) == 1 and dead[0][1][b"error"].startswith(b"MalformedMessage: seven")
    assert int(r.xpending(s, "g")["pending"]) == 0
