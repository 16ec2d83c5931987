"""redislab.lab.formation: slot split, cluster readiness, node ids, sentinel configs."""

from __future__ import annotations

import itertools

from redislab.lab import formation
from redislab.lab.formation import CLUSTER_SLOTS, cluster_ok, split_slots


def test_split_slots_covers_every_slot_once() -> None:
    for n in (1, 3, 5, 7):
        ranges = split_slots(n)
        assert ranges[0][0] == 0 and ranges[-1][1] == CLUSTER_SLOTS - 1
        assert sum(hi - lo + 1 for lo, hi in ranges) == CLUSTER_SLOTS
        assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(ranges))


def test_cluster_ok_needs_every_slot_served_by_one_of_the_given_nodes(cluster_lab) -> None:
    conns = [n.client() for n in cluster_lab.data_nodes]
    try:
        assert cluster_ok(conns)
        # leave one primary out: its slots are served by a node not in the set, so not ok,
        # although every node still says cluster_state:ok (what a kill looks like at first)
        without = [c for c, n in zip(conns, cluster_lab.data_nodes, strict=True)
                   if n is not cluster_lab.primaries[0]]  # fmt: skip
        assert not cluster_ok(without)
    finally:
        for c in conns:
            c.close()


def test_node_ids_are_distinct(cluster_lab) -> None:
    ids = set()
    for n in cluster_lab.data_nodes:
        with n.client() as c:
            ids.add(formation.node_id(c))
    assert len(ids) == 6 and all(len(i) == 40 for i in ids)


def test_fast_sentinel_config_knows_the_others(replicated_lab, tmp_path) -> None:
    from redislab.lab.topology import get_topology

    nodes = formation.sentinel_nodes(
        get_topology("sentinel"), primary=replicated_lab.primary, replicas=replicated_lab.replicas,
        server=replicated_lab.server, workdir=tmp_path, settings={"down-after-milliseconds": 1000},
        lab_name="t", detached=False, naive=False,
    )  # fmt: skip
    from redislab.lab.ports import release_port

    naive: list = []
    try:
        lines = [d for title, conf in nodes[0].sections for d, _ in conf]
        assert any(d.startswith("sentinel myid") for d in lines)
        assert sum(d.startswith("sentinel known-sentinel") for d in lines) == 2
        assert sum(d.startswith("sentinel known-replica") for d in lines) == 2
        naive = formation.sentinel_nodes(
            get_topology("sentinel"), primary=replicated_lab.primary, replicas=[],
            server=replicated_lab.server, workdir=tmp_path / "n", settings={}, lab_name="t",
            detached=False, naive=True,
        )  # fmt: skip
        naive_lines = [d for title, conf in naive[0].sections for d, _ in conf]
        assert not any("known" in d or "myid" in d for d in naive_lines)
    finally:
        for n in [*nodes, *naive]:
            release_port(n.port)
