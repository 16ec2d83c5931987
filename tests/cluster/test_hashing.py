"""Hash slots, consistent hashing and modulo hashing (redislab.cluster.hashing).

Pure computation, except one test that checks the slot function against a live
server's ``CLUSTER KEYSLOT``.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from redislab.cluster import hashing as H
from redislab.cluster import server_key_slots


def test_crc16_matches_the_spec_test_vector() -> None:
    # cluster spec, "Keys distribution model": CRC16("123456789") = 0x31C3 (XMODEM)
    assert H.crc16(b"123456789") == 0x31C3
    assert H.crc16(b"") == 0


def test_crc16_many_equals_the_scalar_version() -> None:
    rng = random.Random(1)
    items = [bytes(rng.randrange(256) for _ in range(rng.randint(0, 30))) for _ in range(500)]
    assert H.crc16_many(items).tolist() == [H.crc16(x) for x in items]


@pytest.mark.parametrize(
    ("key", "hashed"),
    [
        ("foo{}{bar}", b"foo{}{bar}"),  # empty first tag: whole key
        ("foo{{bar}}zap", b"{bar"),  # from the first { to the first } after it
        ("foo{bar}{zap}", b"bar"),  # only the first tag counts
        ("{user1000}.following", b"user1000"),
        ("no-tag", b"no-tag"),
        ("a{b", b"a{b"),  # no closing brace
        ("}a{b}", b"b"),  # a } before the { does not count
        (b"\xff{\x00}", b"\x00"),  # bytes keys work too
    ],
)
def test_hash_tag_edge_cases_from_the_spec(key: str | bytes, hashed: bytes) -> None:
    assert H.hash_tag(key) == hashed
    assert H.key_slot(key) == H.crc16(hashed) % 16384


def test_same_tag_same_slot() -> None:
    assert H.key_slot("{user:42}:name") == H.key_slot("{user:42}:email") == H.key_slot("user:42")


def test_key_slots_is_the_vectorised_key_slot() -> None:
    keys = [f"k{i}" for i in range(300)] + ["{a}x", "{a}y", "x{}", ""]
    assert H.key_slots(keys).tolist() == [H.key_slot(k) for k in keys]


def test_tag_for_slot_reaches_every_slot() -> None:
    tags = [H.tag_for_slot(s) for s in range(H.SLOTS)]
    assert np.array_equal(H.key_slots([f"{{{t}}}:k" for t in tags]), np.arange(H.SLOTS))
    with pytest.raises(ValueError):
        H.tag_for_slot(H.SLOTS)


@pytest.mark.cluster
def test_python_slots_agree_with_cluster_keyslot(cluster_lab) -> None:
    rng = random.Random(42)
    alphabet = b"ab{}x"
    keys = [
        bytes(rng.choice(alphabet) if rng.random() < 0.7 else rng.randrange(256) for _ in range(n))
        for n in (rng.randint(1, 20) for _ in range(1000))
    ]
    keys += [b"123456789", b"foo{}{bar}", b"foo{{bar}}zap", b"foo{bar}{zap}"]
    with cluster_lab.primary.client() as c:
        assert server_key_slots(c, keys) == H.key_slots(keys).tolist()


# ------------------------------------------------------------------ partitioners
KEYS = [f"user:{i}" for i in range(20_000)]
NODES = ["a", "b", "c", "d"]


def test_modulo_moves_most_keys() -> None:
    before = H.ModuloHashing(NODES)
    moved = H.keys_moved(before, before.with_node("e"), KEYS)
    # a key stays only if hash % 4 == hash % 5: 1 in 5 of them
    assert moved == pytest.approx(0.8, abs=0.02)


def test_ring_moves_about_one_in_n_plus_one_all_to_the_new_node() -> None:
    before = H.ConsistentHashRing(NODES, vnodes=160)
    after = before.with_node("e")
    a, b = before.assign(KEYS), after.assign(KEYS)
    moved = a != b
    assert moved.mean() == pytest.approx(0.2, abs=0.05)
    assert set(b[moved]) == {"e"}
    # node_for agrees with the vectorised assign
    assert [after.node_for(k) for k in KEYS[:200]] == list(b[:200])


def test_vnodes_even_out_the_ring() -> None:
    one = H.balance_stats(H.balance(H.ConsistentHashRing(NODES, vnodes=1), KEYS))
    many = H.balance_stats(H.balance(H.ConsistentHashRing(NODES, vnodes=256), KEYS))
    assert many["max_over_mean"] < one["max_over_mean"]
    assert many["max_over_mean"] < 1.15
    shares = H.ConsistentHashRing(NODES, vnodes=64).arc_shares()
    assert shares.sum() == pytest.approx(1.0) and list(shares.index) == NODES


def test_slot_partitioner_rebalances_minimally() -> None:
    before = H.SlotPartitioner(NODES)
    assert before.slot_counts().sum() == H.SLOTS
    after = before.with_node("e")
    counts = after.slot_counts()
    assert counts["e"] == H.SLOTS // 5 and counts.max() - counts.min() <= 1
    # only slots given to the new node change owner
    changed = before.owners != after.owners[: len(before.owners)]
    assert (after.owners[changed] == 4).all()
    moved = H.keys_moved(before, after, KEYS)
    assert moved == pytest.approx(counts["e"] / H.SLOTS, abs=0.01)
    assert after.node_for(KEYS[0]) == after.assign(KEYS[:1])[0]


def test_balance_lists_every_node_and_counts_every_key() -> None:
    counts = H.balance(H.ModuloHashing(["x", "y", "z"]), KEYS)
    assert list(counts.index) == ["x", "y", "z"] and counts.sum() == len(KEYS)
    assert H.balance_stats(pd.Series([5, 5, 5])) == {"max_over_mean": 1.0, "cv": 0.0}


def test_compare_add_node_table() -> None:
    table = H.compare_add_node(KEYS[:5000], nodes=4, vnodes=(1, 100))
    assert list(table.index) == ["modulo", "ring, 1 vnodes", "ring, 100 vnodes", "cluster slots"]
    assert table.loc["modulo", "moved"] > 0.7
    assert (table.loc[table.index != "modulo", "moved_to_new"] == 1.0).all()
    assert (table["ideal"] == 0.2).all()


def test_partitioners_need_nodes() -> None:
    for cls in (H.ModuloHashing, H.ConsistentHashRing, H.SlotPartitioner):
        with pytest.raises(ValueError):
            cls([])
    with pytest.raises(ValueError):
        H.ConsistentHashRing(["a"], vnodes=0)
    with pytest.raises(ValueError):
        H.keys_moved(H.ModuloHashing(["a"]), H.ModuloHashing(["a", "b"]), [])
