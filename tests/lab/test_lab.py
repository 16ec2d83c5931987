"""The lab: every topology comes up ready, and faults behave."""

from __future__ import annotations

import socket
import threading

import pytest
import redis

from redislab import Lab
from redislab.errors import ConfigError, NodeDied, TopologyError
from redislab.kit.measure import wait_until
from redislab.lab.registry import lab_server_pids


def test_standalone_ready_and_config_file(standalone_lab):
    lab = standalone_lab
    r = lab.client()
    assert r.ping() is True
    node = lab.primary
    text = node.config_path.read_text()
    assert f"port {node.port}" in text and "bind 127.0.0.1" in text
    assert "# Loopback only" in text  # commented for learners
    assert node.port < 22768 and node.port + 10000 < 32768
    assert node.dir.is_dir() and node.log_path.exists()
    assert r.config_get("repl-diskless-sync-delay")["repl-diskless-sync-delay"] == "0"


def test_replicated_replicas_in_sync(replicated_lab):
    lab = replicated_lab
    assert [n.name for n in lab.replicas] == ["replica-1", "replica-2"]
    for replica in lab.replicas:
        info = replica.info("replication")
        assert info["role"] == "slave" and info["master_link_status"] == "up"
        assert int(info["master_port"]) == lab.primary.port
        assert f"replicaof 127.0.0.1 {lab.primary.port}" in replica.config_path.read_text()
    r = lab.client()
    r.set("k", "v")
    r.wait(2, 1000)
    assert all(rep.client().get("k") == "v" for rep in lab.replicas)
    r.delete("k")


def test_sentinel_ready_means_ready(sentinel_lab):
    lab = sentinel_lab
    assert len(lab.sentinels) == 3
    for s in lab.sentinels:
        master = s.client().sentinel_master(lab.master_name)
        assert int(master["num-other-sentinels"]) == 2
        assert int(master["num-slaves"]) == 2
        assert int(master["quorum"]) == 2
        assert s.client().execute_command("SENTINEL", "CKQUORUM", lab.master_name).startswith("OK")
    found = lab.sentinel_client().discover_master(lab.master_name)
    assert found == ("127.0.0.1", lab.primary.port)


@pytest.mark.cluster
def test_cluster_ok_everywhere(cluster_lab):
    lab = cluster_lab
    assert len(lab.primaries) == 3 and len(lab.replicas) == 3
    for n in lab.data_nodes:
        info = n.client().execute_command("CLUSTER", "INFO")
        assert "cluster_state:ok" in info and "cluster_slots_assigned:16384" in info
    for i in (1, 2, 3):
        rep = lab.node(f"replica-{i}").info("replication")
        assert rep["master_link_status"] == "up"
        assert int(rep["master_port"]) == lab.node(f"primary-{i}").port
    rc = lab.client()
    for k in range(50):
        rc.set(f"key:{k}", k)
    assert sum(int(n.client().dbsize()) for n in lab.primaries) == 50
    rc.flushall()


def test_secure_lab_acl_and_tls(secure_lab):
    lab = secure_lab
    r = lab.client()
    assert r.acl_whoami() == "admin"
    node = lab.primary
    plain = redis.Redis(host=node.host, port=node.port, socket_timeout=2)
    with pytest.raises((redis.AuthenticationError, redis.ConnectionError, redis.ResponseError)):
        plain.ping()  # default user off (and, with TLS, no plain port at all)
    app = lab.client(username="app", password=lab.credentials["app"])
    app.set("app:x", 1)
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.set("other:x", 1)
    assert "#" in (lab.workdir / "users.acl").read_text()
    assert lab.credentials["admin"] not in (lab.workdir / "users.acl").read_text()
    if lab.server.tls:
        assert lab.tls is not None
        assert r.connection_pool.connection_kwargs.get("ssl_ca_certs")
        assert "tls-port" in node.config_path.read_text()
    r.delete("app:x")


@pytest.mark.parametrize(
    "persistence", ["none", "rdb", "aof-always", "aof-everysec", "aof-no", "hybrid"]
)
def test_persistence_presets(lab_factory, persistence):
    lab = lab_factory("standalone", persistence=persistence)
    cfg = lab.client().config_get("*")
    aof = persistence.startswith("aof") or persistence == "hybrid"
    assert cfg["appendonly"] == ("yes" if aof else "no")
    assert (cfg["save"] != "") == (persistence in ("rdb", "hybrid"))
    if aof:
        policy = {"aof-always": "always", "aof-no": "no"}.get(persistence, "everysec")
        assert cfg["appendfsync"] == policy
        assert cfg["aof-use-rdb-preamble"] == ("yes" if persistence == "hybrid" else "no")


def test_config_overrides(lab_factory):
    lab = lab_factory("standalone", config={"maxmemory": "32mb", "maxmemory-policy": "allkeys-lru"})
    cfg = lab.client().config_get("maxmemory*")
    assert cfg["maxmemory"] == str(32 * 1024 * 1024)
    assert cfg["maxmemory-policy"] == "allkeys-lru"


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(TopologyError, match="standalone, replicated, sentinel, cluster, secure"):
        Lab.start("galaxy")
    with pytest.raises(TopologyError, match="aof-everysec"):
        Lab.start("standalone", persistence="sometimes")


def test_rejected_option_names_it_and_quotes_the_line(tmp_path):
    with pytest.raises(ConfigError) as info:
        Lab.start("replicated", config={"maxmemory-policy": "bogus-policy"}, workdir=tmp_path)
    text = str(info.value)
    assert "maxmemory-policy" in text and "bogus-policy" in text
    assert ">>>" in text  # the server's own quote of the offending line
    assert not lab_server_pids(tmp_path)  # nothing left behind


def test_node_dying_during_start_explains(tmp_path):
    bad = tmp_path / "missing.conf"
    with pytest.raises(NodeDied) as info:
        Lab.start("sentinel", config={"include": str(bad)}, workdir=tmp_path / "lab")
    assert "include" in str(info.value) or "missing.conf" in str(info.value)
    assert not lab_server_pids(tmp_path)


def test_port_taken_by_something_else(lab_factory, monkeypatch):
    # Squat on the first port the lab will try: it must come up on another one.
    import redislab.lab.ports as ports

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    seq = iter([taken])
    original = ports._rng.randrange
    monkeypatch.setattr(ports._rng, "randrange", lambda lo, hi: next(seq, None) or original(lo, hi))
    try:
        lab = lab_factory("standalone")
        assert lab.primary.port != taken and lab.client().ping()
    finally:
        squatter.close()


def test_restart_keeps_port_and_data(lab_factory):
    lab = lab_factory("standalone", persistence="aof-always")
    node = lab.primary
    r = lab.client()
    r.set("survivor", "yes")
    port, pid = node.port, node.pid
    node.kill()
    assert not node.alive
    node.restart()
    assert node.port == port and node.pid != pid
    assert lab.client().get("survivor") == "yes"


def test_restart_with_config_override(lab_factory):
    lab = lab_factory("standalone")
    lab.primary.restart(config={"maxmemory": "16mb"})
    assert lab.client().config_get("maxmemory")["maxmemory"] == str(16 * 1024 * 1024)
    assert lab.primary.config_path.read_text().count("maxmemory 16mb") == 1


def test_pause_and_resume(lab_factory):
    lab = lab_factory("standalone")
    node = lab.primary
    node.pause()
    try:
        with pytest.raises(redis.TimeoutError):
            node.client(socket_timeout=0.3).ping()
        assert node.alive
    finally:
        node.resume()
    assert node.client().ping()


@pytest.mark.slow
def test_sentinel_failover_and_wait_ready(lab_factory):
    lab = lab_factory("sentinel")
    old = lab.primary
    lab.client().set("before", 1)
    old.kill()
    lab.wait_ready(timeout=30)
    new = lab.primary
    assert new is not old and new.alive
    assert lab.role_of(old) == "down"
    s = lab.sentinel_client()
    assert s.discover_master(lab.master_name) == ("127.0.0.1", new.port)
    assert s.master_for(lab.master_name).set("after", 1)


@pytest.mark.slow
@pytest.mark.cluster
def test_cluster_failover_and_wait_ready(lab_factory):
    lab = lab_factory("cluster")
    victim = lab.node("primary-1")
    victim.kill()
    lab.wait_ready(timeout=30)
    assert lab.role_of("replica-1") == "primary"
    rc = lab.client()
    for k in range(30):
        rc.set(f"k{k}", k)
    assert rc.get("k0") == "0"


@pytest.mark.cluster
def test_add_node_to_cluster(lab_factory):
    lab = lab_factory("cluster")
    extra = lab.add_node()
    info = extra.client().execute_command("CLUSTER", "INFO")
    assert "cluster_known_nodes:1" in info
    assert extra in lab.nodes and lab.role_of(extra) == "primary"


def test_lab_started_from_a_short_lived_thread_survives_it():
    """PR_SET_PDEATHSIG follows the creating thread: spawning from one long thread fixes it."""
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("lab", Lab.start("standalone")))
    t.start()
    t.join()
    lab = box["lab"]
    try:
        wait_until(lambda: True, timeout=0.1)
        import time

        time.sleep(0.3)
        assert lab.primary.alive and lab.client().ping()
    finally:
        lab.stop()


def test_sentinel_settings_per_lab(lab_factory):
    lab = lab_factory("sentinel", sentinel={"down-after-milliseconds": 1500})
    for s in lab.sentinels:
        with s.client() as c:
            master = c.sentinel_master(lab.master_name)
        assert master["down-after-milliseconds"] == 1500
        assert master["failover-timeout"] == 10000  # the topology's, not overridden
    assert lab.sentinel_settings["down-after-milliseconds"] == 1500
    with pytest.raises(TopologyError, match="valid: down-after-milliseconds, failover-timeout"):
        Lab.start("sentinel", sentinel={"quorum": 1})
    with pytest.raises(TopologyError, match="need the sentinel topology"):
        Lab.start("replicated", sentinel={"down-after-milliseconds": 1500})
