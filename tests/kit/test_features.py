"""Feature detection asks the live server."""

from __future__ import annotations

from packaging.version import Version

from redislab.kit.features import has_command, has_module, server_engine, server_version


def test_commands_modules_and_version(standalone_lab):
    r = standalone_lab.client()
    assert has_command(r, "SET") and has_command(r, "set")
    assert not has_command(r, "NOSUCHCOMMAND")
    # HEXPIRE arrived in Redis 7.4 and Valkey 9: detection must agree with the version
    server = standalone_lab.server
    expect_hexpire = (
        server.version >= Version("7.4")
        if server.engine == "redis"
        else (server.version >= Version("9.0"))
    )
    assert has_command(r, "HEXPIRE") == expect_hexpire
    assert not has_module(r, "no-such-module")
    assert server_version(r) == server.version
    assert server_engine(r) == server.engine
