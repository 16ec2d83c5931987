"""docker-compose.yml is generated from the topology specs and kept in step."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import yaml

from redislab.kit.measure import wait_until
from redislab.lab.compose import (
    BASE_PORTS,
    IMAGE,
    SENTINEL_PORT_OFFSET,
    TLS_DIR,
    TLS_DIR_HOST,
    compose_services,
    render_compose,
)
from redislab.lab.registry import lab_server_pids
from redislab.lab.tls import TLSFiles
from redislab.lab.topology import TOPOLOGIES

ROOT = Path(__file__).resolve().parents[2]


def test_committed_file_equals_generated():
    committed = (ROOT / "docker-compose.yml").read_text()
    assert committed == render_compose(), "run `make compose` and commit docker-compose.yml"


def test_parses_with_expected_services_and_ports():
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = doc["services"]
    assert set(services) == set(TOPOLOGIES)
    for name, svc in services.items():
        assert svc["image"] == IMAGE and IMAGE.startswith("redis:8")
        assert svc["profiles"] == [name]
        topo = TOPOLOGIES[name]
        host_ports = [int(p.split(":")[1]) for p in svc["ports"]]
        container_ports = [int(p.split(":")[2]) for p in svc["ports"]]
        assert host_ports == container_ports, "published 1:1 so MOVED/sentinel addresses work"
        assert all(p.startswith("127.0.0.1:") for p in svc["ports"])
        assert len(host_ports) == len(topo.nodes) + topo.sentinels
        assert host_ports[0] == BASE_PORTS[name]
    cluster = services["cluster"]["command"][0]
    assert "--cluster create" in cluster and "--cluster-replicas 1" in cluster
    assert cluster.count("--cluster-enabled yes") == 6
    sentinel = services["sentinel"]["command"][0]
    assert sentinel.count("sentinel monitor mymaster 127.0.0.1 6390 2") == 3
    assert "down-after-milliseconds mymaster 1000" in sentinel


def test_scripts_are_valid_shell():
    for name, svc in compose_services().items():
        script = svc["command"][0].replace("$$", "$")
        res = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True)
        assert res.returncode == 0, (name, res.stderr)


def _has_compose() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _has_compose(), reason="no docker compose plugin")
def test_docker_compose_config_accepts_it():
    res = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr


def test_cli_check_mode():
    res = subprocess.run(
        [sys.executable, "-m", "redislab", "compose", "--check",
         "-o", str(ROOT / "docker-compose.yml")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert res.returncode == 0 and "up to date" in res.stdout


# ---------------------------------------------------------------------------
# No Docker engine here, but each service is a plain `sh` script around
# redis-server, redis-sentinel and redis-cli: run it natively (paths moved to a
# temporary directory, loopback instead of 0.0.0.0) and check the topology it
# builds with the service's own healthcheck and with redis-py.

NATIVE_TOOLS = ("redis-server", "redis-cli", "redis-sentinel")
PASSWORD = "compose-test-pw"


def _native(text: str, tmp: Path) -> str:
    return (
        text.replace("$$", "$")
        .replace("/data/", f"{tmp}/data/")
        .replace(f"{TLS_DIR}/", f"{tmp}/tls/")
        .replace("bind 0.0.0.0", "bind 127.0.0.1")
    )


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Redis does: TIME_WAIT is free
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _check_topology(name: str, tmp: Path) -> None:
    import redis

    base = BASE_PORTS[name]
    if name == "standalone":
        r = redis.Redis(port=base)
        assert r.set("k", "v") and r.get("k") == b"v"
    elif name == "replicated":
        r = redis.Redis(port=base)
        wait_until(lambda: r.info("replication")["connected_slaves"] == 2, timeout=10)
        r.set("k", "v")
        assert r.wait(2, 2000) == 2
        assert all(redis.Redis(port=base + i).get("k") == b"v" for i in (1, 2))
    elif name == "sentinel":
        s = redis.Redis(port=base + SENTINEL_PORT_OFFSET, decode_responses=True)

        def aware() -> bool:
            m = s.sentinel_master("mymaster")
            return m["num-other-sentinels"] == 2 and m["num-slaves"] == 2

        wait_until(aware, timeout=15, what="sentinels aware of each other and the replicas")
        assert s.sentinel_get_master_addr_by_name("mymaster") == ("127.0.0.1", base)
    elif name == "cluster":
        nodes = [redis.Redis(port=base + i) for i in range(6)]
        wait_until(
            lambda: all(n.cluster("info")["cluster_state"] == "ok" for n in nodes), timeout=15
        )
        roles = sorted(n.info("replication")["role"] for n in nodes)
        assert roles == ["master"] * 3 + ["slave"] * 3
        rc = redis.RedisCluster(host="127.0.0.1", port=base)
        try:
            for i in range(100):
                rc.set(f"key:{i}", i)
            assert [int(rc.get(f"key:{i}")) for i in range(100)] == list(range(100))
        finally:
            rc.close()
    elif name == "secure":
        tls = TLSFiles(*(tmp / "tls" / f for f in ("ca.crt", "server.crt", "server.key",
                                                    "client.crt", "client.key")))  # fmt: skip
        with pytest.raises(redis.ConnectionError):  # no plain-text port
            redis.Redis(port=base, socket_timeout=2).ping()
        anonymous = redis.Redis(port=base, **tls.client_kwargs())  # type: ignore[arg-type]
        with pytest.raises(redis.AuthenticationError):  # the default user is off
            anonymous.ping()
        admin = redis.Redis(port=base, username="admin", password=PASSWORD, **tls.client_kwargs())  # type: ignore[arg-type]
        assert admin.ping() and admin.acl_whoami() == "admin"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BASE_PORTS))
def test_service_script_builds_its_topology_natively(name: str, tmp_path: Path) -> None:
    missing = [t for t in NATIVE_TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not on PATH (apt-get install redis-server ...)")
    svc = compose_services()[name]
    ports = [int(p.split(":")[1]) for p in svc["ports"]]
    taken = [p for p in ports if not _port_free(p)]
    if taken:
        pytest.skip(f"ports {taken} are in use here")
    if svc.get("volumes"):
        assert svc["volumes"] == [f"{TLS_DIR_HOST}:{TLS_DIR}:ro"]
    script = "\n".join(
        line for line in _native(svc["command"][0], tmp_path).splitlines()
        if not line.startswith("exec tail")
    )  # fmt: skip
    env = {**os.environ, "REDISLAB_PASSWORD": PASSWORD}
    try:
        if name == "secure":  # without certificates the service refuses to start, saying why
            res = subprocess.run(["sh", "-c", script], cwd=tmp_path, env=env,
                                 capture_output=True, text=True, timeout=30)  # fmt: skip
            assert res.returncode == 1 and "redislab certs tls" in res.stderr
            cli = subprocess.run([sys.executable, "-m", "redislab", "certs", str(tmp_path / "tls")],
                                 capture_output=True, text=True)  # fmt: skip
            assert cli.returncode == 0, cli.stderr
        res = subprocess.run(["sh", "-c", script], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr
        assert f"redislab topology {name} is up" in res.stdout
        health = _native(svc["healthcheck"]["test"][1], tmp_path)

        def healthy() -> bool:
            probe = subprocess.run(["sh", "-c", health], env=env, capture_output=True, timeout=10)
            return probe.returncode == 0

        wait_until(healthy, timeout=30, what=f"the {name} service's healthcheck")
        _check_topology(name, tmp_path)
    finally:
        procs = [psutil.Process(p) for p in lab_server_pids(under=tmp_path)]
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(procs, timeout=5)
    assert not lab_server_pids(under=tmp_path)
