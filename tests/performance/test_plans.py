"""The scaling workload and its plans: which nodes take which keys."""

from __future__ import annotations

import pytest

from redislab.errors import PerformanceError
from redislab.performance import (
    Endpoint,
    Plan,
    Workload,
    cluster_plan,
    replicas_plan,
    standalone_plan,
)

WORKLOAD = Workload(n_keys=2_000, value_size=24, seed=7)


def test_workload_writes_seeded_values(standalone_lab):
    r = standalone_lab.primary.client(decode_responses=False)
    assert WORKLOAD.load(r) == 2_000
    assert r.get(WORKLOAD.key(123)) == WORKLOAD.value(123)
    assert len(WORKLOAD.value(5)) == 24 and WORKLOAD.value(5) != Workload(2_000, 24, 8).value(5)
    assert WORKLOAD.key(0).startswith("redislab:perf:scale:")
    with pytest.raises(PerformanceError):
        Workload(n_keys=0)


def test_plan_checks_its_shards(standalone_lab):
    ep = Endpoint.of(standalone_lab.primary, "primary")
    with pytest.raises(PerformanceError):
        Plan("two shards, no owners", ((ep,), (ep,)))
    with pytest.raises(PerformanceError):
        Plan("owner out of range", ((ep,),), owner=(0, 1))
    with pytest.raises(PerformanceError):
        replicas_plan(standalone_lab)
    assert standalone_plan(standalone_lab).endpoints == [ep]


def test_cluster_plan_needs_a_cluster(standalone_lab):
    with pytest.raises(PerformanceError):
        cluster_plan(standalone_lab, WORKLOAD)
