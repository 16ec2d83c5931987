"""Read/write routing and read scaling (redislab.replication.routing) against real labs."""

from __future__ import annotations

import pytest
import redis

from redislab import replication as R
from redislab.errors import RoutingError
from redislab.kit.timeline import no_retry


@pytest.fixture
def routed(replicated_lab):
    clients = R.lab_clients(replicated_lab)
    keys = R.populate_keys(clients["primary"], n=200)
    yield replicated_lab, clients, keys
    for c in clients.values():
        c.close()


def test_command_calls_and_delta_count_on_the_server(routed) -> None:
    _lab, clients, keys = routed
    before = R.command_calls(clients["replica-1"])
    d = R.calls_delta(clients, lambda: [clients["replica-1"].get(k) for k in keys[:25]])
    assert d.loc["replica-1", "get"] == 25
    assert d.loc["primary", "get"] == 0 and d.loc["replica-2", "get"] == 0
    assert R.command_calls(clients["replica-1"])["get"] >= before.get("get", 0) + 25


def test_router_round_robin_sends_reads_to_replicas_writes_to_primary(routed) -> None:
    _lab, clients, keys = routed
    reps = {n: c for n, c in clients.items() if n != "primary"}
    router = R.ReadRouter(clients["primary"], reps)
    d = R.calls_delta(clients, lambda: [router.get(k) for k in keys[:100]], commands=("get",))
    assert d["get"].to_dict() == {"primary": 0, "replica-1": 50, "replica-2": 50}
    assert router.sent_counts() == {"replica-1": 50, "replica-2": 50}
    w = R.calls_delta(clients, lambda: router.set(keys[0], "new"), commands=("set",))
    assert w.loc["primary", "set"] == 1


def test_router_random_is_seeded_and_include_primary(routed) -> None:
    _lab, clients, _keys = routed
    reps = {n: c for n, c in clients.items() if n != "primary"}
    picks = [
        [R.ReadRouter(clients["primary"], reps, strategy="random", seed=7).choose()
         for _ in range(1)]
        for _ in range(2)
    ]  # fmt: skip
    assert picks[0] == picks[1]
    r = R.ReadRouter(clients["primary"], reps, include_primary=True)
    assert {r.choose() for _ in range(6)} == {"primary", "replica-1", "replica-2"}
    with pytest.raises(RoutingError):
        R.ReadRouter(clients["primary"], reps, strategy="fastest")


def test_router_takes_a_paused_replica_out_for_its_cooldown(routed) -> None:
    lab, clients, keys = routed
    node = lab.node("replica-2")
    reps = {n.name: n.client(socket_timeout=0.1, retry=no_retry()) for n in lab.replicas}
    router = R.ReadRouter(clients["primary"], reps, cooldown=5.0)
    node.pause()
    try:
        out = router.reads_for(keys, duration=0.4, interval=0.0)
    finally:
        node.resume()
    recs = router.records
    failed = recs[~recs["ok"]]
    assert out["failed"] == 1 and set(failed["node"]) == {"replica-2"}
    assert failed["error"].iloc[0] == "TimeoutError"
    later = recs[recs["t"] > failed["t"].iloc[0]]
    assert "replica-2" not in set(later["node"]) and out["ok"] > 10
    for c in reps.values():
        c.close()


def test_fallback_to_primary_or_error_when_no_replica_is_usable(routed) -> None:
    _lab, clients, _keys = routed
    reps = {"replica-1": clients["replica-1"]}

    class AllDown:
        def is_up(self, name: str) -> bool:
            return False

    assert R.ReadRouter(clients["primary"], reps, health=AllDown()).choose() == "primary"
    with pytest.raises(RoutingError):
        R.ReadRouter(clients["primary"], reps, health=AllDown(), fallback_to_primary=False).choose()


def test_replica_refuses_writes(routed) -> None:
    _lab, clients, _keys = routed
    assert R.replica_refuses_writes(clients["replica-1"]).startswith("ReadOnlyError: ")
    assert R.replica_refuses_writes(clients["primary"]) == ""


def test_read_scaling_counts_where_reads_went(routed) -> None:
    _lab, clients, keys = routed
    df = R.read_scaling(
        clients,
        {"primary": ["primary"], "2 replicas": ["replica-1", "replica-2"]},
        keys,
        duration=0.3,
        threads=2,
        pipeline=8,
        show_progress=False,
    )
    assert df.loc["primary", "reads_per_s"] > 0 and df.loc["2 replicas", "reads_per_s"] > 0
    assert df.loc["primary", "replica-1 gets"] == 0
    assert df.loc["primary", "primary gets"] == df.loc["primary", "reads"]
    assert df.loc["2 replicas", "primary gets"] == 0
    assert df.loc["2 replicas", "replica-1 gets"] > 0 and df.loc["2 replicas", "replica-2 gets"] > 0
    assert (
        df.loc["2 replicas", ["replica-1 gets", "replica-2 gets"]].sum()
        == df.loc["2 replicas", "reads"]
    )
    assert df.loc["primary", "primary cpu_s"] > 0


def test_cpu_seconds_grows(routed) -> None:
    _lab, clients, keys = routed
    c = clients["primary"]
    a = R.cpu_seconds(c)
    for _ in range(200):
        c.get(keys[0])
    assert R.cpu_seconds(c) >= a
    assert isinstance(c, redis.Redis)
