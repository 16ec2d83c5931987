"""Loads, timelines, retries and lost-write accounting (redislab.kit) against real labs."""

from __future__ import annotations

import time

import matplotlib

matplotlib.use("Agg")

import pytest
import redis

from redislab import kit
from redislab.errors import FaultTimeout


@pytest.fixture
def r(standalone_lab):
    c = standalone_lab.client()
    yield c
    c.flushall()
    c.close()


# ------------------------------------------------------------------- no server
def test_timeline_marks_and_intervals() -> None:
    tl = kit.Timeline()
    a = tl.mark("a")
    time.sleep(0.01)
    tl.mark("b")
    assert tl.events["a"] == a and tl.between("a", "b") >= 0.01
    assert tl.between("a", "missing") is None and tl.since("a") >= 0.01


def test_wait_for_returns_the_wait_or_raises_a_typed_timeout() -> None:
    t0 = time.perf_counter()
    assert kit.wait_for(lambda: time.perf_counter() - t0 > 0.05, timeout=2) >= 0.05
    with pytest.raises(FaultTimeout, match=r"never.*ZeroDivisionError"):
        kit.wait_for(lambda: 1 / 0, timeout=0.1, what="never")
    assert issubclass(FaultTimeout, TimeoutError)


def test_retry_policies() -> None:
    assert kit.no_retry().get_retries() == 0
    retry = kit.backoff_retry(retries=3, base=0.01, cap=0.02)
    calls = []

    def flaky() -> str:
        calls.append(time.perf_counter())
        if len(calls) < 3:
            raise redis.ConnectionError("down")
        return "up"

    assert retry.call_with_retry(flaky, lambda _e: None) == "up"
    assert len(calls) == 3 and calls[-1] - calls[0] >= 0.01 + 0.02  # it backed off


# ------------------------------------------------------------------ write load
def test_write_load_is_steady_and_recorded(r) -> None:
    with kit.WriteLoad(r, name="steady", rate=200) as load:
        time.sleep(0.5)
    df = load.records
    s = load.summary()
    # Paced at 200/s: never faster than the rate over the span it ran (a loaded machine may
    # make it slower, and it does not burst to catch up), and it did write.
    span = float(df["t"].iloc[-1] - df["t"].iloc[0])
    assert 10 <= len(df) <= 200 * span * 1.05 + 1
    assert s["failed"] == 0 and s["acked"] == len(df) and df["ok"].all()
    assert df["seq"].tolist() == list(range(1, len(df) + 1))
    assert (df["end"] >= df["t"]).all() and df["t"].is_monotonic_increasing
    assert r.get(load.key_for(1)) == "1" and load.key_for(1).startswith("redislab:faults:steady:")
    assert kit.lost_writes(r, load).empty


def test_lost_writes_finds_missing_and_rolled_back_keys(r) -> None:
    keys = ["redislab:faults:t:a", "redislab:faults:t:b", "redislab:faults:t:c"]
    load = kit.WriteLoad(r, name="rr", rate=None, keys=keys).start()
    time.sleep(0.05)
    load.stop()
    last = load.records.groupby("key")["seq"].max()
    r.delete(keys[0])  # gone
    r.set(keys[1], int(last[keys[1]]) - 3)  # an older value: a lost overwrite
    lost = kit.lost_writes(r, load).set_index("key")
    assert set(lost.index) == {keys[0], keys[1]}
    assert lost.loc[keys[0], "stored"] is None
    assert lost.loc[keys[1], "acked_seq"] == last[keys[1]]


def test_failed_writes_are_recorded_with_their_kind(r) -> None:
    r.set("redislab:faults:kind:1", "not-a-number")

    class Broken:
        def set(self, k: str, v: object) -> None:
            r.incr("redislab:faults:kind:1")  # server error: not an integer

    load = kit.WriteLoad(Broken(), name="broken", rate=None)
    load._one(1)
    df = load.records
    assert not df["ok"].iloc[0] and df["error"].iloc[0] == "ResponseError"
    assert df["kind"].iloc[0] == "ResponseError" and "integer" in df["message"].iloc[0]
    assert load.summary()["failed"] == 1 and load.summary()["acked"] == 0


def test_wait_counts_replicas_and_a_paused_one_is_not_acked(lab_factory) -> None:
    lab = lab_factory("replicated")
    p = lab.primary.client()
    assert kit.sync_replicas(p) == 2
    with kit.WriteLoad(p, name="w2", rate=100, wait_replicas=2, wait_timeout_ms=50) as load:
        time.sleep(0.2)
        with kit.paused(lab.replicas[1]):
            time.sleep(0.3)
        time.sleep(0.2)
    df = load.records
    assert (df["replicas"] == 2).any() and (df["replicas"] == 1).any()
    assert (df["acked"] == (df["replicas"] >= 2)).all()
    assert load.summary()["not_acked"] > 0 and load.summary()["failed"] == 0
    assert lab.replicas[1].client().ping()  # resumed


def test_paused_resumes_even_when_the_block_fails(lab_factory) -> None:
    lab = lab_factory("standalone")
    with pytest.raises(RuntimeError), kit.paused(lab.primary):
        raise RuntimeError("boom")
    assert lab.primary.client(socket_timeout=1).ping()


def test_write_load_with_retry_survives_a_restart(lab_factory) -> None:
    lab = lab_factory("standalone")
    c = lab.primary.client(socket_timeout=0.5, socket_connect_timeout=0.5, retry=kit.no_retry())
    load = kit.WriteLoad(c, name="restart", rate=100, retry=kit.backoff_retry()).start()
    time.sleep(0.1)
    lab.primary.kill()
    t_kill = load.timeline.mark("fault")
    lab.primary.restart()
    kit.wait_for(lambda: load.ok_since(t_kill) > 0, timeout=10)
    load.stop()
    s = load.summary(since=t_kill)
    assert s["failed"] == 0 and s["resumed_s"] is not None and s["max_latency_s"] > 0.01
