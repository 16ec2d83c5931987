"""The Zipf workload generator and the SQLite backing store (no Redis needed)."""

from __future__ import annotations

import threading
from collections import Counter

import numpy as np
import pytest

from redislab.kit.workload import Database, Op, ZipfWorkload, make_row


def test_zipf_is_deterministic_per_seed() -> None:
    a, b, c = ZipfWorkload(500, seed=1), ZipfWorkload(500, seed=1), ZipfWorkload(500, seed=2)
    assert a.ops(300) == b.ops(300)
    assert a.ops(300) != c.ops(300)
    assert np.array_equal(a.keys(300), b.keys(300))
    assert a.hottest(5) == b.hottest(5)


def test_zipf_probabilities_follow_the_power_law() -> None:
    wl = ZipfWorkload(1000, s=1.1, seed=42)
    p = wl.probabilities
    assert p.sum() == pytest.approx(1.0)
    ranked = np.sort(p)[::-1]
    # P(rank r) / P(rank 1) == r ** -s
    assert ranked[9] / ranked[0] == pytest.approx(10**-1.1)
    assert p[wl.hottest(1)[0]] == ranked[0]
    assert wl.top_mass(1) < wl.top_mass(10) < wl.top_mass(100) < wl.top_mass(1000)
    assert wl.top_mass(1000) == pytest.approx(1.0)


def test_uniform_when_s_is_zero() -> None:
    wl = ZipfWorkload(10, s=0.0, seed=3)
    assert np.allclose(wl.probabilities, 0.1)


def test_sampled_frequencies_match_probabilities() -> None:
    wl = ZipfWorkload(200, s=1.0, read_ratio=0.8, seed=7)
    n = 20_000
    ops = wl.ops(n)
    counts = Counter(op.key for op in ops)
    hottest = wl.hottest(1)[0]
    p = wl.probabilities[hottest]
    # binomial standard deviation sqrt(n p (1-p)); 5 sigma keeps this test from flaking
    assert abs(counts[hottest] - n * p) < 5 * np.sqrt(n * p * (1 - p))
    reads = sum(op.kind == "read" for op in ops)
    assert abs(reads - 0.8 * n) < 5 * np.sqrt(n * 0.8 * 0.2)
    assert all(isinstance(op, Op) and 0 <= op.key < 200 for op in ops)


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        ZipfWorkload(0)
    with pytest.raises(ValueError):
        ZipfWorkload(10, read_ratio=1.5)
    with pytest.raises(ValueError):
        ZipfWorkload(10, s=-1)


def test_database_rows_versions_and_counters(tmp_path) -> None:
    db = Database.create(tmp_path, n_rows=50, latency=0)
    try:
        assert db.count() == 50
        assert db.get(7) == make_row(7, 1)
        assert db.get(999) is None
        assert db.put(make_row(7, 2)) is True
        assert db.put(make_row(7, 2)) is False  # same version: no-op (idempotent)
        assert db.put(make_row(7, 1)) is False  # older version never overwrites
        assert db.get(7)["version"] == 2
        assert db.delete(7) is True
        assert db.get(7) is None
        assert db.stats.as_dict() == {
            "reads": 4,
            "writes": 4,
            "rows_written": 4,
            "round_trips": 8,
        }
        db.versions()  # out of band: not counted
        assert db.stats.round_trips == 8
        assert db.reset_stats().round_trips == 8
        assert db.stats.round_trips == 0
    finally:
        db.close()


def test_put_many_is_one_round_trip_with_meta(tmp_path) -> None:
    db = Database.create(tmp_path, n_rows=10, latency=0)
    try:
        rows = [make_row(i, 3) for i in range(10)] + [make_row(100, 1)]
        assert db.put_many(rows, meta={"checkpoint": "5-0"}) == 11
        assert db.stats.writes == 1
        assert db.stats.rows_written == 11
        assert db.meta("checkpoint") == "5-0"
        assert db.meta("missing") is None
        assert db.put_many(rows) == 0  # all already there at that version
        assert db.versions()[100] == 1
    finally:
        db.close()


def test_create_replaces_an_existing_file(tmp_path) -> None:
    db = Database.create(tmp_path, n_rows=5, latency=0)
    db.put(make_row(1, 9))
    db.close()
    db = Database.create(tmp_path, n_rows=3, latency=0)
    try:
        assert db.count() == 3
        assert db.get(1)["version"] == 1
    finally:
        db.close()


def test_latency_is_slept_per_round_trip(tmp_path) -> None:
    db = Database.create(tmp_path, n_rows=5, latency=0.02)
    try:
        from redislab.kit.measure import time_calls

        samples = time_calls(lambda: db.get(1), n=5)
        assert samples.min() >= 0.02  # a lower bound: sleep never returns early
    finally:
        db.close()


def test_threads_each_get_a_connection(tmp_path) -> None:
    db = Database.create(tmp_path, n_rows=100, latency=0.001)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for k in range(20):
                db.put(make_row(k, i + 2))
                assert db.get(k) is not None
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert db.stats.reads == 120 and db.stats.writes == 120
        # versioned upserts: whatever the interleaving, the highest version wins
        assert all(db.versions()[k] == 7 for k in range(20))
    finally:
        db.close()
    with pytest.raises(RuntimeError):
        db.get(1)


def test_query_setup_inspect_and_an_outage(tmp_path) -> None:
    import sqlite3

    db = Database.create(tmp_path, n_rows=5, latency=0)
    db.setup("CREATE TABLE tags (id INTEGER, tag TEXT);", [(1, "a"), (2, "b")],
             insert="INSERT INTO tags VALUES (?, ?)")  # fmt: skip
    assert db.stats.round_trips == 0  # setup is out of band
    assert db.query("SELECT tag FROM tags WHERE id = ?", (2,)) == [{"tag": "b"}]
    db.query("INSERT INTO tags VALUES (?, ?)", (3, "c"), write=True)
    assert (db.stats.reads, db.stats.writes) == (1, 1)
    assert db.inspect("SELECT COUNT(*) AS n FROM tags") == [{"n": 3}]
    assert db.stats.round_trips == 2  # inspect is not counted
    db.available = False
    with pytest.raises(sqlite3.OperationalError, match="unavailable"):
        db.get(1)
    with pytest.raises(sqlite3.OperationalError):
        db.query("SELECT 1")
    db.available = True
    assert db.get(1)["id"] == 1
    db.close()
