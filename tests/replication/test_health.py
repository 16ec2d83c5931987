"""Health checks (redislab.replication.health) against real labs: dead, paused, lagging."""

from __future__ import annotations

import time

import pytest

from redislab import replication as R
from redislab.errors import HealthTimeout
from redislab.kit import WriteLoad


def test_probe_reports_role_link_and_offset(replicated_lab) -> None:
    clients = R.HealthChecker.for_nodes(replicated_lab.data_nodes, deadline=0.5)
    p = R.probe(clients["primary"])
    r = R.probe(clients["replica-1"])
    assert p.ok and p.role == "primary" and p.offset is not None
    assert r.ok and r.role == "replica" and r.link == "up" and r.offset is not None
    for c in clients.values():
        c.close()


def test_checker_detects_paused_then_dead_replica(lab_factory) -> None:
    lab = lab_factory("replicated")
    hc = R.HealthChecker(
        R.HealthChecker.for_nodes(lab.data_nodes, deadline=0.1), primary="primary", interval=0.05
    ).start()
    try:
        time.sleep(0.2)
        assert hc.healthy() == ["primary", "replica-1", "replica-2"]
        node = lab.node("replica-2")
        paused = R.time_to_detect(hc, "replica-2", node.pause)
        assert paused["reason"] == "timeout" and paused["detect_s"] > 0
        node.resume()
        up_t = hc.wait_state("replica-2", True, timeout=5)
        assert up_t > paused["fault_t"]
        dead = R.time_to_detect(hc, "replica-2", node.kill)
        assert dead["reason"] == "dead"
        ev = hc.records
        assert list(ev[ev["node"] == "replica-2"]["up"]) == [False, True, False]
        with pytest.raises(HealthTimeout):
            R.time_to_detect(hc, "replica-2", lambda: None)
    finally:
        hc.stop()


def test_checker_marks_a_lagging_replica_down_and_up(lab_factory) -> None:
    lab = lab_factory("replicated")
    rep = lab.node("replica-1")
    with R.LinkProxy(lab.primary.host, lab.primary.port) as proxy:
        rep.control.replicaof("127.0.0.1", proxy.port)
        hc = R.HealthChecker(
            R.HealthChecker.for_nodes(lab.data_nodes, deadline=0.2),
            primary="primary",
            interval=0.05,
            max_lag_bytes=2000,
        )
        hc.start()
        try:
            from redislab.lab.waits import wait_until

            wait_until(lambda: rep.info("replication")["master_link_status"] == "up", timeout=10)
            with WriteLoad(lab.primary.client(), rate=1000):
                time.sleep(0.2)
                got = R.time_to_detect(hc, "replica-1", proxy.hold, timeout=10)
                assert got["reason"] == "lag"
                # the link still says up: a PING-and-link check alone would miss it
                assert rep.info("replication")["master_link_status"] == "up"
                assert R.probe(hc.clients["replica-1"]).ok
                proxy.release()
                hc.wait_state("replica-1", True, timeout=10)
            assert proxy.relayed_bytes > 0
        finally:
            hc.stop()
            rep.control.replicaof(lab.primary.host, lab.primary.port)


def test_time_to_error_dead_is_refused_at_once_paused_waits_the_timeout(lab_factory) -> None:
    lab = lab_factory("replicated")
    node = lab.node("replica-1")
    node.pause()
    try:
        paused = R.time_to_error(node, socket_timeout=0.2)
    finally:
        node.resume()
    assert paused["error"] in ("TimeoutError", "ConnectionError") and paused["seconds"] >= 0.19
    ok = R.time_to_error(node, socket_timeout=0.2)
    assert ok["error"] == "none"
    node.kill()
    dead = R.time_to_error(node, socket_timeout=0.2)
    assert dead["error"] == "ConnectionError" and dead["seconds"] < paused["seconds"]
