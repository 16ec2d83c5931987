"""The LFU counter: redis.conf's table, the initial value, decay with lfu-decay-time."""

from __future__ import annotations

import pytest

from redislab.errors import MemoryLabError
from redislab.memory import (
    LFU_INIT_VAL,
    lfu_counter_table,
    lfu_decay_readings,
    lfu_decay_start,
    lfu_new_key,
    read_stores_decay,
    server_minute,
    wait_minute_turn,
)


def test_counter_grows_slower_with_bigger_factor(r):
    table = lfu_counter_table(r, factors=(0, 100), hits=(100, 1000), keys=3, show_progress=False)
    assert table.loc[0, 100] >= 100  # factor 0: one step per hit from 5
    # every cell is the median of the keys' readings
    readings = table.attrs["readings"]
    assert len(readings[100][1000]) == 3
    assert table.loc[100, 1000] == sorted(readings[100][1000])[1]
    assert table.loc[0, 1000] == 255
    assert table.loc[100, 1000] < 40
    # the options it moved are set back
    assert r.config_get("maxmemory")["maxmemory"] == "0"
    assert r.config_get("lfu-decay-time")["lfu-decay-time"] == "1"


def test_counter_table_needs_a_key(r):
    with pytest.raises(MemoryLabError):
        lfu_counter_table(r, keys=0, show_progress=False)


def test_new_key_starts_at_init_val_and_first_hit_counts(r):
    r.config_set("maxmemory-policy", "allkeys-lfu")
    seen = lfu_new_key(r, gets=1)
    assert seen == [LFU_INIT_VAL, LFU_INIT_VAL + 1]
    assert r.config_get("lfu-decay-time")["lfu-decay-time"] == "1"
    assert r.dbsize() == 0


def test_decay_needs_an_lfu_policy(r):
    # the fixture leaves noeviction: OBJECT FREQ would fail, so the helpers refuse first
    with pytest.raises(MemoryLabError):
        lfu_decay_start(r)


def test_server_minute_is_time_divided_by_60(r):
    minute, into = server_minute(r)
    seconds, _ = r.time()
    assert minute in (seconds // 60, seconds // 60 - 1)
    assert 0 <= into < 60


def test_decay_by_elapsed_minutes(lfu_decay_lab):
    """Keys stored when the memory tests started; waits only for what is left of a minute."""
    client, probe = lfu_decay_lab
    wait_minute_turn(client, probe)
    table, elapsed = lfu_decay_readings(client, probe)
    assert elapsed >= 1
    stored = table.index.to_series()
    decayed = (stored - elapsed).clip(lower=0)
    assert (table["decay_0"] == stored).all()  # 0: never decays
    assert (table["decay_1000"] == stored).all()  # not 1000 minutes yet
    assert (table["decay_1"] == decayed).all()  # one per minute, not below 0
    assert (table["reread_decay_0"] == (decayed if read_stores_decay(client) else stored)).all()
    # an access stores the decayed counter, then increments it (certainly at <= 5)
    after = table["after_get"]
    assert ((after >= decayed) & (after <= decayed + 1)).all()
    assert after[5] == max(5 - elapsed, 0) + 1
    assert client.config_get("lfu-decay-time")["lfu-decay-time"] == "1"
