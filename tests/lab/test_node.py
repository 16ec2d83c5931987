"""redislab.lab.node: one process, its files, readiness and faults, without a Lab."""

from __future__ import annotations

import pytest

from redislab.errors import ConfigError
from redislab.lab.node import Node


def test_a_node_on_its_own(redislab_server, tmp_path) -> None:
    with Node(name="solo", role="primary", server=redislab_server, directory=tmp_path / "solo",
              sections=[("test", {"maxmemory": "10mb"})]) as node:  # fmt: skip
        assert node.alive and node.port < 32768 and node.address == f"127.0.0.1:{node.port}"
        text = node.config_path.read_text()
        assert "maxmemory 10mb" in text and f"port {node.port}" in text
        c = node.client()
        c.set("k", "v")
        assert node.current_role() == "primary" and node.info("server")["tcp_port"] == node.port
        node.pause()
        assert node.alive  # a stopped process still exists
        node.resume()
        assert c.get("k") == "v"
        c.close()
        pid = node.pid
        node.restart()
        assert node.pid != pid and node.client().ping()
    assert not node.alive


def test_a_rejected_option_is_a_config_error(redislab_server, tmp_path) -> None:
    node = Node(name="bad", role="primary", server=redislab_server, directory=tmp_path / "bad",
                sections=[("test", {"maxmemory-policy": "bogus-policy"})])  # fmt: skip
    with pytest.raises(ConfigError, match="maxmemory-policy"):
        node.start()
    assert not node.alive
