"""Slow commands on the server's own clock: paired rounds for the evidence helper."""

from __future__ import annotations

import pytest

from redislab.errors import PerformanceError
from redislab.performance import big_set, fill_keys, free_round, scan_all, sscan_all, walk_round


def test_walk_round_reads_usec_per_call_of_each_walk(standalone_lab):
    r = standalone_lab.client()
    r.flushall()
    fill_keys(r, 5_000)
    whole, split = walk_round(
        connection=r,
        whole=lambda: r.keys("*"),
        split=lambda: scan_all(r, count=100),
        whole_command="keys",
        split_command="scan",
        pairs=2,
    )
    assert len(whole) == len(split) == 2 and min(whole + split) >= 1.0
    # one call over 5,000 keys against calls of about 100: the whole walk holds the thread longer
    assert sorted(whole)[0] > sorted(split)[-1]
    k = big_set(r, 2_000, name="walk")
    whole, split = walk_round(
        connection=r,
        whole=lambda: r.smembers(k),
        split=lambda: sscan_all(r, k, count=100),
        whole_command="smembers",
        split_command="sscan",
        pairs=1,
    )
    assert len(whole) == 1
    with pytest.raises(PerformanceError):
        walk_round(connection=r, whole=lambda: None, split=lambda: None, whole_command="keys",
                   split_command="scan")  # fmt: skip


def test_free_round_times_del_and_unlink_on_the_server(standalone_lab):
    r = standalone_lab.client()
    r.config_set("lazyfree-lazy-user-del", "no")
    deleted, unlinked = free_round(connection=r, members=50_000, pairs=2)
    assert len(deleted) == len(unlinked) == 2 and min(deleted + unlinked) >= 1.0
    assert r.exists("redislab:perf:free-del", "redislab:perf:free-unlink") == 0
    with pytest.raises(PerformanceError):
        free_round(connection=r, members=0)
