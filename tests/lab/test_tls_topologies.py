"""``Lab.start(topology, tls=True)``: every link over TLS, plaintext off, formation intact."""

from __future__ import annotations

import socket

import pytest

from redislab import Lab
from redislab.errors import TLSUnavailable
from redislab.lab.servers import available_servers, find_server
from redislab.lab.specs import require_tls, validate_start


def _plaintext_ping(port: int) -> bytes:
    """What a plaintext ``PING`` to ``port`` gets back (b"" when the server drops it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        try:
            return sock.recv(64)
        except ConnectionResetError:
            return b""


def _tls_config(node) -> dict[str, str]:
    return node.control.config_get("*")


@pytest.mark.redislab_tls
def test_replicated_tls_lab_replicates_over_tls_only(lab_factory):
    lab = lab_factory("replicated", tls=True)
    assert lab.topology.tls and lab.tls is not None
    for node in lab.data_nodes:
        cfg = _tls_config(node)
        assert cfg["port"] == "0"  # no plaintext listener at all
        assert int(cfg["tls-port"]) == node.port
        assert cfg["tls-replication"] == "yes"
        assert _plaintext_ping(node.port) == b""
    lab.client().set("redislab:tls:k", "over TLS")
    lab.client().execute_command("WAIT", 2, 5000)
    for replica in lab.replicas:
        assert replica.info("replication")["master_link_status"] == "up"
        assert replica.client().get("redislab:tls:k") == "over TLS"
    attached = Lab.attach(lab.name)
    try:
        assert attached.topology.tls
        assert attached.client().get("redislab:tls:k") == "over TLS"
    finally:
        attached.stop()  # not owned: only detaches


@pytest.mark.redislab_tls
@pytest.mark.cluster
def test_cluster_tls_lab_forms_and_serves_every_slot(lab_factory):
    lab = lab_factory("cluster", tls=True)
    for node in lab.data_nodes:
        cfg = _tls_config(node)
        assert cfg["port"] == "0" and cfg["tls-cluster"] == "yes"
        assert cfg["tls-replication"] == "yes"
    info = lab.primary.control.execute_command("CLUSTER", "INFO")
    assert "cluster_state:ok" in info and "cluster_slots_ok:16384" in info
    c = lab.client()
    keys = [f"redislab:tls:{i}" for i in range(60)]
    for i, k in enumerate(keys):
        c.set(k, i)
    assert [int(c.get(k)) for k in keys] == list(range(60))
    per_primary = [int(p.control.dbsize()) for p in lab.primaries]
    assert sum(per_primary) == 60 and all(n > 0 for n in per_primary)
    # The bus port (port + 10000) speaks TLS: plaintext bytes get the connection dropped.
    assert _plaintext_ping(lab.primary.port + 10000) == b""


@pytest.mark.redislab_tls
@pytest.mark.slow
def test_sentinel_tls_lab_sentinels_and_clients_use_tls(lab_factory):
    lab = lab_factory("sentinel", tls=True)
    for s in lab.sentinels:
        assert s.tls is not None
        assert _plaintext_ping(s.port) == b""
    sentinel = lab.sentinel_client()
    _host, port = sentinel.discover_master(lab.master_name)
    assert port == lab.primary.port
    master = sentinel.master_for(lab.master_name)
    master.set("redislab:tls:s", "1")
    assert master.get("redislab:tls:s") == "1"
    assert len(sentinel.discover_slaves(lab.master_name)) == 2
    attached = Lab.attach(lab.name)
    try:
        assert attached.sentinels_primary_port() == lab.primary.port
    finally:
        attached.stop()


def test_tls_lab_on_a_server_without_tls_names_the_server():
    no_tls = [s for s in available_servers() if not s.tls]
    if find_server().tls and not no_tls:
        pytest.skip("every server here has TLS")
    server = find_server() if not find_server().tls else no_tls[0]
    topo, _ = validate_start("cluster", None, "fast", None, None, tls=True)
    with pytest.raises(TLSUnavailable, match=str(server.version)) as err:
        require_tls(server, topo)
    assert str(server.path) in str(err.value)
    if not find_server().tls:  # the real entry point refuses before starting anything
        with pytest.raises(TLSUnavailable):
            Lab.start("replicated", tls=True)


def test_tls_flag_is_off_by_default_and_kept_per_start():
    plain, _ = validate_start("replicated", None, "fast", None, None)
    tls, _ = validate_start("replicated", None, "fast", None, None, tls=True)
    assert not plain.tls and tls.tls and tls.nodes == plain.nodes
