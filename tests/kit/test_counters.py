"""kit.counters: a server's own per-command counters from INFO commandstats."""

from __future__ import annotations

from redislab.kit.counters import command_calls, command_stats, command_total


def test_counters_count_what_the_server_ran(standalone_lab) -> None:
    r = standalone_lab.primary.client()
    try:
        gets0, sets0 = command_total(r, "get"), command_total(r, "set")
        usec0 = command_total(r, "get", "usec")
        for i in range(40):
            r.get(f"redislab:test:counters:{i}")
        r.set("redislab:test:counters:x", "v")
        assert command_total(r, "get") - gets0 == 40
        assert command_total(r, "set") - sets0 == 1
        assert command_total(r, "get", "usec") > usec0
        r.config_get("maxmemory")  # a subcommand: counted as config|get on Redis 7+
        assert command_total(r, "config") >= 1
        assert any(name.startswith("config") for name in command_calls(r))
        stats = command_stats(r)
        assert stats["get"]["calls"] == command_calls(r)["get"]  # no GET in between
        assert {"calls", "usec", "usec_per_call"} <= set(stats["get"])
        assert command_total(r, "never-run-command") == 0
    finally:
        r.delete("redislab:test:counters:x")
        r.close()
