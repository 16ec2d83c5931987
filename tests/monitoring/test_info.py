"""redislab.monitoring.info against a real server: INFO, commandstats, latencystats, clients."""

from __future__ import annotations

import threading

from redislab.keys import MONITORING, key
from redislab.kit import has_command
from redislab.monitoring import (
    clients,
    commandstats,
    info_frame,
    keyspace,
    latencystats,
    replication_lag,
)


def test_info_frame_is_long_and_flattens_nested_fields(standalone_lab):
    r = standalone_lab.primary.client()
    r.set(key(MONITORING, "info"), 1)
    frame = info_frame(r, "server", "keyspace")
    assert list(frame.columns) == ["section", "field", "value"]
    assert set(frame["section"]) == {"server", "keyspace"}
    assert "db0.keys" in set(frame["field"])
    assert "uptime_in_seconds" in set(frame["field"])


def test_commandstats_counts_each_call(standalone_lab):
    r = standalone_lab.primary.client()
    before = commandstats(r)
    calls_before = before.loc["incr", "calls"] if "incr" in before.index else 0
    for _ in range(25):
        r.execute_command("INCR", key(MONITORING, "counter"))
    after = commandstats(r)
    assert after.loc["incr", "calls"] - calls_before == 25
    assert {"calls", "usec", "usec_per_call"} <= set(after.columns)
    assert after["calls"].is_monotonic_decreasing


def test_latencystats_has_percentiles_or_an_explained_empty_frame(standalone_lab):
    r = standalone_lab.primary.client()
    r.ping()
    frame = latencystats(r)
    if frame.empty:  # a server without the section: a note, not a crash
        assert frame.attrs["note"]
    else:
        assert "ping" in frame.index
        assert (frame["p99"] >= frame["p50"]).all()


def test_missing_section_gives_empty_frame_with_note(standalone_lab):
    r = standalone_lab.primary.client()
    r.flushall()
    ks = keyspace(r)
    assert ks.empty and ks.attrs["note"]
    assert list(ks.columns) == ["keys", "expires", "avg_ttl"]


def test_keyspace_counts_keys_and_expires(standalone_lab):
    r = standalone_lab.primary.client()
    r.flushall()
    for i in range(10):
        r.set(key(MONITORING, "ks", i), i, ex=100 if i < 4 else None)
    ks = keyspace(r)
    assert ks.loc["db0", "keys"] == 10
    assert ks.loc["db0", "expires"] == 4


def test_clients_shows_a_blocked_client(standalone_lab):
    r = standalone_lab.primary.client()
    blocker = standalone_lab.primary.client()
    blocker.client_setname("blocked-one")
    t = threading.Thread(target=lambda: blocker.blpop([key(MONITORING, "empty")], timeout=1))
    t.start()
    try:
        from redislab.kit import wait_until

        wait_until(lambda: r.info("clients")["blocked_clients"] == 1, timeout=5, what="blocked")
        frame = clients(r)
        row = frame[frame["name"] == "blocked-one"].iloc[0]
        assert "b" in row["flags"] and row["cmd"] == "blpop"
        assert frame["tot-mem"].dtype.kind in "if"
    finally:
        t.join()
    assert has_command(r, "CLIENT")


def test_replication_lag_lists_each_replica(replicated_lab):
    primary = replicated_lab.primary.client()
    lag = replication_lag(primary)
    assert len(lag) == len(replicated_lab.replicas)
    assert set(lag["state"]) == {"online"}
    replica = replicated_lab.replicas[0].client()
    assert replication_lag(replica).empty
