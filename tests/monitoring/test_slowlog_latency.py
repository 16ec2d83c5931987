"""SLOWLOG and LATENCY tools against a real server."""

from __future__ import annotations

import pytest

from redislab.monitoring import (
    latency_doctor,
    latency_history,
    latency_latest,
    latency_threshold,
    slowlog,
    slowlog_by_command,
    slowlog_settings,
)


@pytest.fixture
def r(standalone_lab):
    c = standalone_lab.primary.client()
    c.slowlog_reset()
    c.execute_command("LATENCY", "RESET")
    yield c
    c.config_set("slowlog-log-slower-than", 10000)
    c.config_set("latency-monitor-threshold", 0)


def test_slowlog_records_only_commands_over_the_threshold(r):
    assert slowlog_settings(r)["slowlog-log-slower-than"] == 10000
    r.execute_command("DEBUG", "SLEEP", "0.02")
    r.ping()
    log = slowlog(r)
    assert list(log["name"]) == ["debug"]
    assert log.loc[0, "duration_us"] >= 20_000
    grouped = slowlog_by_command(r)
    assert grouped.loc["debug", "entries"] == 1


def test_latency_monitor_off_by_default_then_records_a_spike(r):
    assert latency_threshold(r) == 0
    r.execute_command("DEBUG", "SLEEP", "0.03")
    assert latency_latest(r).empty
    r.config_set("latency-monitor-threshold", 10)
    r.execute_command("DEBUG", "SLEEP", "0.03")
    latest = latency_latest(r)
    assert "command" in latest.index
    assert latest.loc["command", "latest_ms"] >= 30
    history = latency_history(r, "command")
    assert len(history) == 1 and history.loc[0, "latency_ms"] >= 30
    assert "command" in latency_doctor(r)
