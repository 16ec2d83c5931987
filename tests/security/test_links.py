"""redislab.security.links: replication and the cluster bus of ``tls=True`` labs, from outside."""

from __future__ import annotations

import pytest

from redislab import security as S
from redislab.security.links import TLS_HANDSHAKE_RECORD, TLS_SERVER_HELLO

pytestmark = pytest.mark.redislab_tls


def test_replication_needs_tls_replication_to_reach_a_tls_only_primary(lab_factory):
    lab = lab_factory("replicated", tls=True)
    primary, replica = lab.primary, lab.replicas[0]
    case = S.plaintext_ping(primary.port)
    assert not case.connected and "not TLS" in case.reason
    lab.client().set("redislab:tls:before", "1")
    table = S.replication_without_tls(
        replica.client(), primary_host=primary.host, primary_port=primary.port, watch=1.5
    )
    status = dict(zip(table["tls-replication"], table["master_link_status"], strict=True))
    assert status == {"no": "down", "yes": "up"}
    assert replica.client().get("redislab:tls:before") == "1"
    assert replica.client().config_get("tls-replication")["tls-replication"] == "yes"


@pytest.mark.cluster
def test_cluster_bus_answers_tls_and_drops_plaintext(lab_factory):
    lab = lab_factory("cluster", tls=True)
    node = lab.primary
    port = S.bus_port(node.control)
    assert port == node.port + 10000  # cluster-port 0: the bus is the client port + 10000
    probe = S.bus_probe(port, lab.tls).set_index("sent")
    plain, tls = probe.iloc[0], probe.iloc[1]
    assert plain["closed"] and not plain["handshake_ok"]
    assert tls["handshake_ok"] and not tls["closed"]
    assert tls["record_type"] == TLS_HANDSHAKE_RECORD and tls["handshake_type"] == TLS_SERVER_HELLO
    assert "redislab lab CA" in tls["peer_issuer"]
    c = lab.client()
    for i in range(30):
        c.set(f"redislab:tls:{i}", i)
    landed = S.keys_by_node(lab.primaries)
    assert sum(landed.values()) == 30 and len([n for n in landed.values() if n]) == 3
