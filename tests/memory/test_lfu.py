"""The LFU counter."""

from __future__ import annotations

from redislab.memory import lfu_counter_table


def test_counter_grows_slower_with_bigger_factor(r):
    table = lfu_counter_table(r, factors=(0, 100), hits=(100, 1000), show_progress=False)
    assert table.loc[0, 100] >= 100  # factor 0: one step per hit from 5
    assert table.loc[0, 1000] == 255
    assert table.loc[100, 1000] < 40
    # the options it moved are set back
    assert r.config_get("maxmemory")["maxmemory"] == "0"
    assert r.config_get("lfu-decay-time")["lfu-decay-time"] == "1"
