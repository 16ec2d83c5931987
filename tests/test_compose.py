"""docker-compose.yml is generated from the topology specs and kept in step."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from redislab.compose import BASE_PORTS, IMAGE, compose_services, render_compose
from redislab.topology import TOPOLOGIES

ROOT = Path(__file__).resolve().parents[1]


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
