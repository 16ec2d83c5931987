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


@pytest.fixture(scope="session", autouse=True)
def lfu_decay_lab():
    """A server of its own, with LFU decay keys stored when the memory tests start.

    LFU decay is counted in turns of the server's minute clock, so its test must wait for
    one; storing the keys here, before every other memory test, lets that wait overlap
    with them (a whole ``tests/memory`` run mostly waits for nothing). Nothing else
    touches this server: the other tests flush theirs.
    """
    from redislab import Lab
    from redislab.memory import lfu_decay_start

    lab = Lab.start("standalone", config={"maxmemory-policy": "allkeys-lfu"})
    try:
        client = lab.client()
        yield client, lfu_decay_start(client)
        client.close()
    finally:
        lab.stop()
