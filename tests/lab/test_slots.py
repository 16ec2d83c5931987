"""lab.slots: CLUSTER SLOTS and CLUSTER KEYSLOT read from a live cluster."""

from __future__ import annotations

import itertools

import pytest
from redis.crc import key_slot

from redislab.errors import WaitTimeout
from redislab.lab.slots import (
    CLUSTER_SLOTS,
    SlotRange,
    server_key_slots,
    slot_ranges,
    split_slots,
    wait_replicas_listed,
)


def test_slot_ranges_cover_every_slot_once_on_the_labs_primaries(cluster_lab) -> None:
    conn = cluster_lab.data_nodes[0].client(decode_responses=False)  # bytes replies too
    try:
        ranges = slot_ranges(conn)
        keys = [f"redislab:test:slot:{i}" for i in range(300)]
        slots = server_key_slots(conn, keys, batch=64)
    finally:
        conn.close()
    assert [r.first for r in ranges] == sorted(r.first for r in ranges)
    assert sum(r.slots for r in ranges) == CLUSTER_SLOTS
    assert all(a.last + 1 == b.first for a, b in itertools.pairwise(ranges))
    ports = {n.port for n in cluster_lab.data_nodes}
    assert {r.primary[1] for r in ranges} <= ports
    assert all(isinstance(r.primary[0], str) for r in ranges)
    assert slots == [key_slot(k.encode()) for k in keys]  # the server's CRC16, not ours


def test_slot_range_holds_its_slots() -> None:
    r = SlotRange(10, 19, ("127.0.0.1", 7000))
    assert r.slots == 10 and 10 in r and 19 in r and 20 not in r and "10" not in r
    assert split_slots(3) == [(0, 5460), (5461, 10922), (10923, 16383)]  # as redis-cli splits


def test_wait_replicas_listed_passes_on_a_written_cluster_and_names_a_shortfall(
    cluster_lab,
) -> None:
    rc = cluster_lab.client()
    for i in range(30):  # a write per shard makes every replica's offset non-zero
        rc.set(f"redislab:test:slot:w{i}", "v")
    conns = [n.client() for n in cluster_lab.data_nodes]
    try:
        assert wait_replicas_listed(conns, timeout=15) >= 0
        with pytest.raises(WaitTimeout, match="2 replica"):
            wait_replicas_listed(conns, replicas=2, timeout=0.3)
    finally:
        for c in conns:
            c.close()
        rc.delete(*[f"redislab:test:slot:w{i}" for i in range(30)])
