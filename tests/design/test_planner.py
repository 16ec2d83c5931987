"""The capacity planner: its memory estimate against a real load, its rules, its widget."""

from __future__ import annotations

import pytest

from redislab.design.planner import KeyShape, Workload, measure_shape, plan, planner_widget
from redislab.errors import DesignError


def _load(c, strings: int, hashes: int) -> int:
    before = int(c.info("memory")["used_memory"])
    pipe = c.pipeline(transaction=False)
    for i in range(strings):
        pipe.set(f"app:user:{i:08d}:profile", "v" * 100)
    for i in range(hashes):
        pipe.hset(f"app:cart:{i:08d}:items", mapping={f"f{j}": "v" * 20 for j in range(10)})
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    return int(c.info("memory")["used_memory"]) - before


def test_memory_estimate_within_15_percent_of_a_real_load(lab_factory):
    lab = lab_factory("standalone")
    c = lab.client()
    # the key names below: 25 and 23 characters
    strings = KeyShape(count=40_000, kind="string", value_bytes=100, key_bytes=25)
    hashes = KeyShape(count=8_000, kind="hash", fields=10, value_bytes=20, key_bytes=23)
    wl = Workload(shapes=[strings, hashes])
    p = plan(c, wl, node_ops_per_s=50_000)
    real = _load(c, 40_000, 8_000)
    assert abs(p.memory_bytes - real) / real <= 0.15, (p.memory_bytes, real)


def test_rules_pick_topology_persistence_and_eviction(standalone_lab):
    c = standalone_lab.client()
    small = [KeyShape(count=1000)]
    cache = plan(c, Workload(shapes=small, durability="none"), node_ops_per_s=50_000)
    assert cache.topology == "standalone" and cache.eviction.startswith("allkeys")
    ha = plan(c, Workload(shapes=small, availability="failover"), node_ops_per_s=50_000)
    assert "Sentinel" in ha.topology and ha.eviction.startswith("noeviction")
    busy = plan(
        c, Workload(shapes=small, reads_per_s=90_000, writes_per_s=10_000), node_ops_per_s=20_000
    )
    assert busy.shards == 10 and busy.topology.startswith("cluster")
    assert any("throughput" in line for line in busy.reasoning)
    big = plan(
        c,
        Workload(shapes=[KeyShape(count=50_000_000, value_bytes=1000)], node_memory_gb=4),
        node_ops_per_s=1e6,
    )
    assert big.shards == big.memory_bytes // (2 * 2**30) + 1
    assert (
        "always"
        in plan(c, Workload(shapes=small, durability="every-write"), node_ops_per_s=1e5).persistence
    )


def test_bad_workloads_are_typed_errors():
    with pytest.raises(DesignError):
        KeyShape(count=1, kind="stream")
    with pytest.raises(DesignError):
        Workload(shapes=[], durability="maybe")


def test_shapes_measured_on_the_server(standalone_lab):
    c = standalone_lab.client()
    small = measure_shape(c, KeyShape(count=1, value_bytes=10), sample=500)
    large = measure_shape(c, KeyShape(count=1, value_bytes=1000), sample=500)
    assert 10 < small < large and large > 1000
    assert not list(c.scan_iter(match="redislab:planner:*"))  # samples deleted


def test_widget_structure_and_one_changed_input(standalone_lab):
    w = planner_widget(standalone_lab.client(), node_ops_per_s=50_000)
    assert set(w.inputs) >= {"keys", "kind", "fields", "value_bytes", "durability", "availability"}
    assert "redislab-planner-keys" in w.inputs["keys"]._dom_classes
    w.inputs["keys"].value = 1000
    first = w.last_plan
    w.inputs["reads_per_s"].value = 200_000
    assert w.last_plan is not first and w.last_plan.shards > first.shards
