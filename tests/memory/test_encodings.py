"""Encodings and their thresholds, read from the server."""

from __future__ import annotations

import pytest

from redislab.errors import MemoryLabError
from redislab.memory import encoding_growth, encoding_switches, encoding_thresholds, quicklist_shape


def test_zset_switch_matches_config(r):
    t = encoding_thresholds(r)
    g = encoding_growth(r, "zset", max_elements=t["zset-max-listpack-entries"] + 5)
    assert encoding_switches(g)[0] == (t["zset-max-listpack-entries"] + 1, "listpack", "skiplist")


def test_moved_threshold(r):
    r.config_set("hash-max-listpack-entries", 20)
    try:
        g = encoding_growth(r, "hash", max_elements=30)
    finally:
        r.config_set("hash-max-listpack-entries", 512)
    assert encoding_switches(g)[0][0] == 21


def test_unknown_kind(r):
    with pytest.raises(MemoryLabError):
        encoding_growth(r, "stream", max_elements=1)


def test_quicklist_nodes_by_count(r):
    r.config_set("list-max-listpack-size", 10)
    try:
        shape = quicklist_shape(r, 100)
    finally:
        r.config_set("list-max-listpack-size", -2)
    assert shape["encoding"] == "quicklist"
    if shape["ql_nodes"] is not None:
        assert shape["ql_nodes"] == 10
