"""Lab.connect(url): a server reached only through its URL, as a foreign one would be."""

from __future__ import annotations

import pytest

from redislab import Lab
from redislab.errors import NotSupported


def test_a_replicated_server_behind_a_url(lab_factory) -> None:
    local = lab_factory("replicated")
    ext = Lab.connect(f"redis://127.0.0.1:{local.primary.port}/0")
    assert ext.external and ext.topology.name == "replicated"
    assert [n.role for n in ext.nodes] == ["primary", "replica", "replica"]
    assert {n.port for n in ext.replicas} == {n.port for n in local.replicas}
    assert ext.server.engine == local.server.engine and ext.server.version == local.server.version
    r = ext.client()
    r.set("redislab:external:k", "v")
    assert local.primary.client().get("redislab:external:k") == "v"
    assert ext.primary.info("server")["tcp_port"] == local.primary.port
    for fault in (ext.primary.kill, ext.primary.pause, ext.primary.restart, ext.add_node):
        with pytest.raises(NotSupported):
            fault()
    for refused in (("FLUSHALL",), ("CONFIG", "SET", "maxmemory", "1mb"), ("DEBUG", "SLEEP", 0)):
        with pytest.raises(NotSupported):
            r.execute_command(*refused)
    with pytest.raises(NotSupported):
        r.pipeline().set("redislab:external:x", 1).flushdb().execute()
    assert local.primary.client().dbsize() == 1  # nothing was flushed
    r.delete("redislab:external:k")
    ext.stop()
    assert local.primary.alive  # stopping an external lab never touches its servers


def test_a_cluster_and_a_sentinel_are_discovered(lab_factory) -> None:
    cluster = lab_factory("cluster")
    ext = Lab.connect(f"redis://127.0.0.1:{cluster.primaries[0].port}")
    assert ext.topology.cluster and len(ext.primaries) == 3 and len(ext.replicas) == 3
    rc = ext.client()
    rc.set("redislab:external:{a}", 1)
    assert rc.get("redislab:external:{a}") == "1"
    rc.delete("redislab:external:{a}")
    sentinel = lab_factory("sentinel")
    ports = ",".join(f"127.0.0.1:{s.port}" for s in sentinel.sentinels)
    ext2 = Lab.connect(f"redis+sentinel://{ports}/{sentinel.master_name}")
    assert ext2.primary.port == sentinel.primary.port and len(ext2.sentinels) == 3
    assert ext2.sentinel_client().discover_master(sentinel.master_name)[1] == sentinel.primary.port


def test_lab_open_starts_a_lab_without_a_url(monkeypatch) -> None:
    monkeypatch.delenv("REDISLAB_URL", raising=False)
    lab = Lab.open("standalone")
    try:
        assert not lab.external and lab.primary.alive
    finally:
        lab.stop()
    assert not lab.primary.alive


def test_lab_open_connects_to_redislab_url_and_cleans_up_after_itself(
    lab_factory, monkeypatch
) -> None:
    local = lab_factory("standalone")
    owner = local.primary.client()
    owner.set("app:theirs", "keep me")  # a key someone else owns on "their" server
    monkeypatch.setenv("REDISLAB_URL", f"redis://127.0.0.1:{local.primary.port}/0")
    ext = Lab.open("standalone")
    assert ext.external and ext.primary.port == local.primary.port
    c = ext.client()
    c.mset({f"redislab:test:{i}": i for i in range(1200)})  # more than one SCAN batch
    ext.stop()
    assert owner.keys("redislab:*") == [] and owner.get("app:theirs") == "keep me"
    assert local.primary.alive
    with pytest.raises(NotSupported, match="config="):
        Lab.open("standalone", config={"maxmemory": "1mb"})
    with pytest.raises(NotSupported, match="needs a cluster lab"):
        Lab.open("cluster")


def test_resets_and_forks_are_never_sent_to_a_foreign_server(lab_factory) -> None:
    local = lab_factory("standalone")
    r = Lab.connect(f"redis://127.0.0.1:{local.primary.port}").client()
    for refused in (("SLOWLOG", "RESET"), ("BGSAVE",), ("CLIENT", "KILL", "ID", "1")):
        with pytest.raises(NotSupported):
            r.execute_command(*refused)
    assert isinstance(r.execute_command("SLOWLOG", "GET"), list)  # reading is fine
    assert isinstance(r.execute_command("ACL", "LOG"), list)
