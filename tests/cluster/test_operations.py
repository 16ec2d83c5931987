"""Cluster admin helpers (redislab.cluster) against real clusters.

Read-only checks share the module's ``cluster_lab``; anything that moves slots or
adds nodes starts its own lab with ``lab_factory``.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import redis

from redislab import cluster as C
from redislab.cluster.hashing import SLOTS, key_slot

pytestmark = pytest.mark.cluster


def test_cluster_nodes_table(cluster_lab) -> None:
    with cluster_lab.primary.client() as c:
        table = C.cluster_nodes(c)
    assert len(table) == 6
    primaries = table[table["role"] == "primary"]
    replicas = table[table["role"] == "replica"]
    assert len(primaries) == 3 and primaries["slots"].sum() == SLOTS
    assert set(replicas["master_id"]) == set(primaries["id"])
    assert table["myself"].sum() == 1 and not table["failed"].any()
    assert set(table["address"]) == {n.address for n in cluster_lab.data_nodes}


def test_slot_map_covers_every_slot_once(cluster_lab) -> None:
    names = C.lab_names(cluster_lab)
    with cluster_lab.client() as rc:  # RedisCluster works as well as a node client
        df = C.slot_map(rc, names)
    assert df["slots"].sum() == SLOTS
    assert df["first"].iloc[0] == 0 and df["last"].iloc[-1] == SLOTS - 1
    assert (df["first"].iloc[1:].to_numpy() == df["last"].iloc[:-1].to_numpy() + 1).all()
    assert set(df["owner"]) == {"primary-1", "primary-2", "primary-3"}
    with cluster_lab.primary.client() as c:
        owners = C.slot_owners(c)
    assert len(owners) == SLOTS and set(owners) == set(df["primary"])


def test_slot_keys_land_in_their_slots(cluster_lab) -> None:
    keys = C.slot_keys([0, 5000, 16383], 3, name="t")
    assert [key_slot(k) for k in keys] == [0] * 3 + [5000] * 3 + [16383] * 3
    with cluster_lab.primary.client() as c:
        assert C.server_key_slots(c, keys) == [key_slot(k) for k in keys]


def test_router_routes_without_redirects_when_its_table_is_right(cluster_lab) -> None:
    with cluster_lab.primary.client() as c:
        router = C.ClusterRouter(c)
    try:
        keys = [f"redislab:cluster:router:{i}" for i in range(200)]
        for k in keys:
            router.set(k, k)
        assert [router.get(k) for k in keys] == keys
        assert router.counts["moved"] == 0 and router.counts["ask"] == 0
    finally:
        router.close()
        with cluster_lab.client() as rc:
            rc.delete(*keys)


def test_plot_slot_map_draws_one_row_per_map(cluster_lab) -> None:
    with cluster_lab.primary.client() as c:
        df = C.slot_map(c, C.lab_names(cluster_lab))
    ax = C.plot_slot_map({"a": df, "b": df})
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]


def test_ask_and_moved_during_a_migration(lab_factory) -> None:
    lab = lab_factory("cluster")
    names = C.lab_names(lab)
    rc = lab.client()
    keys = ["redislab:cluster:{t-ask}:1", "redislab:cluster:{t-ask}:2"]
    rc.mset_nonatomic({k: k[-1] for k in keys})
    slot = key_slot(keys[0])
    with lab.primary.client() as c:
        owner = names[C.slot_owners(c)[slot]]
    src_node = lab.node(owner)
    dst_node = next(p for p in lab.primaries if p is not src_node)
    src, dst = src_node.client(), dst_node.client()
    router = C.ClusterRouter(src)  # its table says: the source owns the slot

    C.begin_slot_migration(src, dst, [slot])
    assert C.move_slot_keys(src, dst, slot, limit=1) == 1
    (stayed_key,) = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 10)
    moved_key = next(k for k in keys if k != stayed_key)
    with pytest.raises(redis.exceptions.AskError) as ask:
        src.get(moved_key)
    assert ask.value.slot_id == slot and f"{ask.value.host}:{ask.value.port}" == dst_node.address
    with pytest.raises(redis.exceptions.MovedError):  # the target needs ASKING first
        dst.get(moved_key)
    assert router.get(moved_key) == moved_key[-1] and router.counts["ask"] == 1
    assert router.get(stayed_key) == stayed_key[-1] and router.counts["ask"] == 1

    assert C.move_slot_keys(src, dst, slot) == 1
    C.end_slot_migration(src, dst, [slot], others=[p.client() for p in lab.primaries])
    assert C.slot_owners(src)[slot] == dst_node.address
    # the router learns the new owner from one MOVED, then goes straight there
    assert router.get(moved_key) == moved_key[-1] and router.counts["moved"] == 1
    assert router.get(stayed_key) == stayed_key[-1] and router.counts["moved"] == 1
    assert router.owner(moved_key) == dst_node.address
    router.close()
    rc.close()


@pytest.mark.slow
def test_reshard_under_load_then_scale_out(lab_factory) -> None:
    lab = lab_factory("cluster")
    source, target = lab.node("primary-1"), lab.node("primary-2")
    slots = list(range(10, 26))
    report = C.reshard_under_load(lab, source, target, slots, keys_per_slot=10)
    assert report.migration.slots == 16 and report.migration.keys == 160
    assert report.load["attempts"] > 0 and report.load["failed"] == 0
    assert len(report.lost) == 0 and report.missing_keys == 0
    assert 0 < report.redirects["moved"] <= len(slots)
    with source.client() as c:
        owners = C.slot_owners(c)
    assert all(owners[s] == target.address for s in slots)
    assert report.table()["lost acked writes"].iloc[0] == 0

    new_primary, new_replica = C.add_shard(lab)
    assert {n.name for n in lab.primaries} == {"primary-1", "primary-2", "primary-3", "primary-4"}
    with new_replica.client() as c:
        assert c.info("replication")["master_port"] == new_primary.port
    moves = C.rebalance([p.client() for p in lab.primaries])
    assert moves["target"].unique().tolist() == [new_primary.address]
    with lab.primary.client() as c:
        df = C.slot_map(c, C.lab_names(lab))
    counts = df.groupby("owner")["slots"].sum()
    assert len(counts) == 4 and (counts == SLOTS // 4).all()
    with lab.client() as rc:
        assert None not in rc.mget_nonatomic(report.keys)
    # rebalance takes primaries only
    with pytest.raises(C.ClusterError):
        C.rebalance([new_replica.client(), new_primary.client()])


def test_legacy_and_atomic_migration(lab_factory) -> None:
    lab = lab_factory("cluster")
    p1, p2 = lab.node("primary-1"), lab.node("primary-2")
    src, dst = p1.client(), p2.client()
    keys = C.slot_keys([1, 2], 5, name="mig")
    with lab.client() as rc:
        rc.mset_nonatomic({k: 1 for k in keys})
    rep = C.migrate_slots(src, dst, [1, 2], others=[lab.node("primary-3").client()])
    assert (rep.slots, rep.keys) == (2, 10)
    assert C.slot_owners(src)[1] == p2.address
    if not C.supports_atomic_migration(src):
        with pytest.raises(C.ClusterError):
            C.migrate_slots_atomic(src, dst, [3])
        pytest.skip(f"{lab.server.label} has no CLUSTER MIGRATESLOTS (atomic slot migration)")
    secs = C.migrate_slots_atomic(dst, src, [1, 2])
    assert secs < 10 and C.slot_owners(src)[1] == p1.address
    with lab.client() as rc:
        assert rc.mget_nonatomic(keys) == ["1"] * 10


def test_scale_out_moves_only_the_slots_the_new_primary_takes(lab_factory) -> None:
    lab = lab_factory("cluster")
    keys = [f"redislab:partition:scale:{i}" for i in range(2000)]
    rep = C.scale_out_moves(lab, keys)
    assert rep.primaries_before == 3 and rep.missing_after == 0
    assert rep.moved == rep.predicted_moved == rep.moved_to_new
    assert abs(rep.fraction - 0.25) < 0.05
    assert set(rep.as_dict()) >= {"moved_fraction", "ideal_fraction", "on_several_after"}
    # every key on exactly one primary, the owner of its slot
    assert rep.on_several_after == 0 and rep.off_slot_owner_after == 0
    held = C.key_holders(lab, keys[:50])
    assert all(len(h) == 1 for h in held.values())
