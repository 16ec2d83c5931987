"""The keyspace analyser, MEMORY STATS, fragmentation and client memory."""

from __future__ import annotations

import pytest

from redislab.memory import (
    activedefrag_supported,
    analyse_keyspace,
    client_memory,
    fragmentation_after_delete,
    memory_overview,
)


def test_analyser_full_and_sampled(r):
    r.execute_command("DEBUG", "POPULATE", 20000, "a:x", 50)
    r.execute_command("DEBUG", "POPULATE", 10000, "b:y", 200)
    r.hset("c:z:1", mapping={"f": "v"})
    full = analyse_keyspace(r)
    assert full.keys_sampled == r.dbsize() == 30001
    assert set(full.by_prefix.index) == {"a:x", "b:y", "c:z"}
    assert full.by_type.loc["hash", "keys"] == 1
    assert full.top_keys.iloc[0].prefix == "b:y"
    part = analyse_keyspace(r, sample=0.1)
    assert part.keys_sampled < 0.3 * full.keys_sampled
    err = part.by_prefix.bytes["b:y"] / full.by_prefix.bytes["b:y"] - 1
    assert abs(err) < 0.15


def test_memory_overview(r):
    r.set("k", "v")
    stats, doctor = memory_overview(r)
    assert stats["keys.count"] == 1 and isinstance(doctor, str) and doctor


def test_fragmentation_after_delete(r):
    frag = fragmentation_after_delete(r, n_keys=30000, keep_every=10)
    assert frag.loc["after delete", "used_memory"] < frag.loc["filled", "used_memory"]
    assert isinstance(activedefrag_supported(r), bool)
    assert r.config_get("activedefrag")["activedefrag"] == "no"


def test_client_memory_grows(r):
    cm = client_memory(r, counts=(0, 20))
    assert cm.loc[20, "clients"] >= cm.loc[0, "clients"] + 20
    assert cm.loc[20, "tot_mem_sum"] > cm.loc[0, "tot_mem_sum"]
    # clients.normal may not move for idle clients on Valkey (buffers given back when idle)
    assert cm.loc[20, "clients_normal"] >= cm.loc[0, "clients_normal"]


def test_fragmentation_after_delete_defrag_stops_on_the_server_counter(r):
    if not activedefrag_supported(r):
        pytest.skip("no active defragmentation on this build")
    frag = fragmentation_after_delete(
        r, n_keys=50_000, keep_every=10, defrag_seconds=20, defrag_until=0.7
    )
    row = frag.loc["after activedefrag"]
    assert 0 < row["defrag_s"] < 20  # stopped on the counter, not at the limit
    assert row["allocator_frag_bytes"] < 0.7 * frag.loc["after delete", "allocator_frag_bytes"]
    assert r.config_get("activedefrag")["activedefrag"] == "no"
