"""A clean server per test: every memory test flushes and resets the options it moves."""

from __future__ import annotations

import pytest

RESET = {
    "maxmemory": "0",
    "maxmemory-policy": "noeviction",
    "maxmemory-samples": "5",
    "lfu-log-factor": "10",
    "lfu-decay-time": "1",
    "appendonly": "no",
}


@pytest.fixture
def r(standalone_lab):
    """A client to the module's standalone lab, flushed and reset before and after."""
    client = standalone_lab.client()
    client.execute_command("FLUSHALL", "SYNC")
    yield client
    for k, v in RESET.items():
        client.config_set(k, v)
    client.execute_command("FLUSHALL", "SYNC")
    client.close()
