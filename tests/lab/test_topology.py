"""redislab.lab.topology: the named topologies are what the docs say they are."""

from __future__ import annotations

import pytest

from redislab.errors import TopologyError
from redislab.lab.topology import TOPOLOGIES, get_topology


def test_the_named_topologies() -> None:
    assert set(TOPOLOGIES) == {"standalone", "replicated", "sentinel", "cluster", "secure"}
    rep = get_topology("replicated")
    assert [n.role for n in rep.nodes] == ["primary", "replica", "replica"]
    assert all(n.replica_of == "primary" for n in rep.replicas)
    sen = get_topology("sentinel")
    assert sen.sentinels == 3 and sen.quorum == 2 and sen.master_name == "mymaster"
    cl = get_topology("cluster")
    assert cl.cluster and len(cl.primaries) == 3 and len(cl.replicas) == 3
    assert {r.replica_of for r in cl.replicas} == {p.name for p in cl.primaries}
    assert get_topology("secure").secure


def test_an_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(TopologyError, match="standalone") as info:
        get_topology("galaxy")
    assert isinstance(info.value, ValueError)
