"""Caching patterns against real servers (``standalone_lab``; ``lab_factory`` for faults)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import redis

from redislab import cache as rc
from redislab.cache import (
    LRU,
    CacheAside,
    CacheError,
    FlushWorker,
    PickleSerializer,
    RefreshAhead,
    SerializationError,
    TwoLevelCache,
    WriteBehind,
    WriteThrough,
    cached,
    compare_patterns,
    loss_report,
    race_trials,
    rank_patterns,
    staleness_after_write,
    stampede_burst,
    stampede_sustained,
    ttl_spread,
)
from redislab.kit import no_retry
from redislab.kit.measure import wait_until
from redislab.kit.workload import Database, ZipfWorkload, make_row


@pytest.fixture
def r(standalone_lab) -> Iterator[redis.Redis]:
    client = standalone_lab.client()
    yield client
    client.flushall()
    client.close()


@pytest.fixture
def db(tmp_path) -> Iterator[Database]:
    database = Database.create(tmp_path, n_rows=200, latency=0.001)
    yield database
    database.close()


def fast_fail_client(lab: Any, **kw: Any) -> redis.Redis:
    """A client that reports a dead server at once instead of retrying for seconds."""
    return lab.client(retry=no_retry(), socket_timeout=1.0, **kw)


# ------------------------------------------------------------------ cache-aside
def test_cached_hit_miss_key_and_ttl(r, db) -> None:
    @cached(connection=r, ttl=30, key="{item_id}", jitter=0.1, seed=1)
    def load_item(item_id: int) -> dict | None:
        return db.get(item_id)

    assert load_item.key_for(5) == "redislab:cache:load_item:5"
    first = load_item(5)
    second = load_item(item_id=5)
    assert first == second == make_row(5, 1)
    assert db.stats.reads == 1
    assert load_item.stats.hits == 1 and load_item.stats.misses == 1
    pttl = r.pttl("redislab:cache:load_item:5")
    assert 27_000 - 1_000 <= pttl <= 33_000  # 30 s ± 10 %, minus the time elapsed
    load_item.invalidate(5)
    assert r.exists("redislab:cache:load_item:5") == 0


def test_default_and_callable_keys(r) -> None:
    @cached(connection=r, ttl=5)
    def f(a: int, b: str = "x") -> list:
        return [a, b]

    @cached(connection=r, ttl=5, key=lambda a, b="x": f"{a}/{b}", name="g")
    def g(a: int, b: str = "x") -> list:
        return [a, b]

    assert f(1, b="y") == [1, "y"] == f(1, b="y")
    assert f.key_for(1, b="y") == "redislab:cache:f:1:b='y'"
    assert g(2) == [2, "x"]
    assert r.exists("redislab:cache:g:2/x") == 1
    with pytest.raises(ValueError, match="nope"):
        cached(connection=r, ttl=5, key="{nope}")(lambda a: a)


def test_ttl_jitter_spreads_expiries(r) -> None:
    flat = ttl_spread(r, n=300, ttl=60, jitter=0.0)
    spread = ttl_spread(r, n=300, ttl=60, jitter=0.1, seed=3)
    assert (flat["requested_ms"] == 60_000).all()
    assert spread["requested_ms"].between(54_000, 66_000).all()
    for df in (flat, spread):  # PTTL is what SET PX asked, minus the time that passed
        lag = df["requested_ms"] - df["pttl_ms"]
        assert lag.min() >= 0 and lag.max() <= df["window_ms"].iloc[0] + 1
    ttl_s = spread["pttl_ms"] / 1000
    # Uniform on ±6 s has a standard deviation of 12/sqrt(12) ≈ 3.46 s
    assert 2.5 < ttl_s.std() < 4.5
    # no one-second window holds more than a small share of the expiries
    counts = np.histogram(ttl_s, bins=np.arange(53, 67))[0]
    assert counts.max() < 0.2 * len(spread)


def test_none_is_not_cached_by_default(r) -> None:
    calls = []

    @cached(connection=r, ttl=5, key="{k}")
    def missing(k: int) -> None:
        calls.append(k)
        return None

    assert missing(1) is None and missing(1) is None
    assert len(calls) == 2  # every lookup of a missing id reaches the database
    assert r.exists(missing.key_for(1)) == 0


def test_none_is_cached_when_asked(r) -> None:
    calls = []

    @cached(connection=r, ttl=60, key="{k}", cache_none=True, none_ttl=5, jitter=0)
    def missing(k: int) -> None:
        calls.append(k)
        return None

    assert missing(1) is None and missing(1) is None
    assert len(calls) == 1
    assert r.get(missing.key_for(1)) == "null"  # distinct from a Redis miss (nil)
    assert 0 < r.pttl(missing.key_for(1)) <= 5000


@pytest.mark.parametrize(
    "bad",
    [{1, 2}, (1, 2), {1: "int key"}, {"nested": [object()]}, float("nan")],
    ids=["set", "tuple", "int-key", "object", "nan"],
)
def test_unserializable_results_raise(r, bad) -> None:
    @cached(connection=r, ttl=5, key="{k}")
    def load(k: int) -> Any:
        return bad

    with pytest.raises(SerializationError):
        load(1)
    assert r.exists(load.key_for(1)) == 0
    assert issubclass(SerializationError, TypeError)


def test_pickle_serializer_needs_bytes_client(standalone_lab) -> None:
    text = standalone_lab.client()
    with pytest.raises(CacheError, match="decode_responses=False"):
        cached(connection=text, ttl=5, serializer=PickleSerializer())(lambda k: k)
    raw = standalone_lab.client(decode_responses=False)
    try:

        @cached(connection=raw, ttl=5, key="{k}", serializer=PickleSerializer())
        def load(k: int) -> tuple:
            return (k, {1: "a"})

        assert load(3) == (3, {1: "a"}) == load(3)  # tuples and int keys survive pickle
        assert load.stats.hits == 1
    finally:
        raw.flushall()
        raw.close()
    with pytest.raises(SerializationError):
        PickleSerializer().dumps(lambda: 0)


def test_fallback_when_redis_dies_never_returns_a_wrong_value(lab_factory, db, caplog) -> None:
    lab = lab_factory("standalone")
    r = fast_fail_client(lab)

    @cached(connection=r, ttl=60, key="{k}", cooldown=0.3)
    def load(k: int) -> dict | None:
        return db.get(k)

    for k in range(5):
        load(k)
    lab.primary.kill()
    db.put(make_row(2, 2))  # the database moves on while Redis is away
    with caplog.at_level(logging.WARNING, logger="redislab.cache"):
        results = [load(k) for k in range(5)]
    assert results == [db.get(k) for k in range(5)]
    assert results[2]["version"] == 2
    assert load.stats.fallbacks == 5
    assert load.stats.redis_errors == 1  # then the breaker skipped Redis
    assert "Redis unavailable" in caplog.text
    lab.primary.restart()  # no persistence: it comes back empty
    time.sleep(0.35)
    assert load(2) == db.get(2)
    assert load(2) == db.get(2)
    assert load.stats.hits >= 1


def test_failed_invalidation_is_replayed_before_reading_redis(lab_factory, db) -> None:
    lab = lab_factory("standalone", persistence="aof-always")
    r = fast_fail_client(lab)
    cache = CacheAside(r, db.get, name="replay", ttl=60, cooldown=0.2)
    assert cache.get(7)["version"] == 1  # cached, and fsynced to the AOF
    lab.primary.kill()
    db.put(make_row(7, 2))
    cache.invalidate(7)  # cannot reach Redis: remembered
    assert cache.pending_invalidations == [cache.key(7)]
    assert cache.get(7)["version"] == 2  # served from the database
    lab.primary.restart()  # the AOF brings the stale version 1 back
    assert r.get(cache.key(7)) is not None
    time.sleep(0.25)
    assert cache.get(7)["version"] == 2  # replayed the DEL first, then read
    assert cache.pending_invalidations == []
    assert cache.get(7)["version"] == 2


# ---------------------------------------------------------------- race
def test_stale_set_race_happens_then_is_fixed(r, db) -> None:
    broken = race_trials(r, db, item_id=3, versioned=False, trials=5)
    assert broken["stale"].all()
    assert (broken["cache_serves"] < broken["database"]).all()
    fixed = race_trials(r, db, item_id=4, versioned=True, trials=5)
    assert not fixed["stale"].any()
    assert (fixed["stale_set_refused"] == 1).all()
    assert (fixed["cache_serves"] == fixed["database"]).all()


def test_versioned_entries_refuse_older_values(r, db) -> None:
    cache = CacheAside(r, db.get, name="ver", ttl=30, version=lambda row: row["version"])
    assert cache.set(1, make_row(1, 5)) is True
    assert cache.set(1, make_row(1, 4)) is False
    assert cache.stats.sets_refused == 1
    cache.invalidate(1, version=6)
    assert r.get(cache.key(1)) == "6|"
    assert cache.set(1, make_row(1, 5)) is False  # the tombstone is newer
    assert cache.get(1) == make_row(1, 1)  # tombstone = miss; the database has version 1
    assert cache.stats.sets_refused == 3  # ... and its version 1 is refused as well


# --------------------------------------------------------- write patterns
def test_write_through_reads_see_writes_without_the_database(r, db) -> None:
    wt = WriteThrough(r, db, name="wt", ttl=30)
    assert wt.get(1)["version"] == 1
    wt.write(make_row(1, 2))
    reads = db.stats.reads
    assert wt.get(1)["version"] == 2
    assert db.stats.reads == reads
    assert db.get(1)["version"] == 2


def test_write_behind_batches_coalesces_and_drains(r, db) -> None:
    wb = WriteBehind(r, db, name="wb1", ttl=30)
    worker = FlushWorker(wb, batch=1000)
    for v in range(2, 12):
        wb.write(make_row(1, v))  # ten writes of one row
    for k in range(2, 42):
        wb.write(make_row(k, 2))
    assert db.get(1)["version"] == 1  # nothing flushed yet
    assert wb.get(1)["version"] == 11  # reads see the write
    assert wb.backlog() == 50
    writes_before = db.stats.writes
    assert worker.step() == 50
    assert db.stats.writes == writes_before + 1  # one round trip for 50 writes
    assert worker.stats.rows_written == 41  # ten writes of row 1 coalesced
    assert db.versions()[1] == 11
    assert wb.backlog() == 0
    assert 0 < r.pttl(wb.cache.key(1)) <= 30_000  # a TTL once flushed


def test_write_behind_worker_crashes_lose_nothing(r, db) -> None:
    wb = WriteBehind(r, db, name="wb2", ttl=30)
    acked = [(wb.write(make_row(k, 2)), make_row(k, 2)) for k in range(20)]
    dead = FlushWorker(wb, consumer="w1", batch=10)
    assert dead.step(crash="after_read") == 10
    with pytest.raises(RuntimeError):
        dead.step()
    also_dead = FlushWorker(wb, consumer="w2", batch=10)
    assert also_dead.step(crash="after_flush") == 10
    heir = FlushWorker(wb, consumer="w3", batch=100)
    assert heir.recover() == 20  # both crashed batches, claimed from the PEL
    assert heir.stats.rows_skipped == 10  # the flushed-but-unacked batch changed nothing
    report = loss_report(acked, wb)
    assert report.lost == [] and report.in_database == 20
    assert wb.backlog() == 0


def test_write_behind_loses_exactly_the_unflushed_writes(lab_factory, tmp_path) -> None:
    lab = lab_factory("standalone")  # persistence none
    db = Database.create(tmp_path, n_rows=0, latency=0)
    r = fast_fail_client(lab)
    wb = WriteBehind(r, db, name="orders", fallback_to_db=False)
    acked = [(wb.write(make_row(1000 + i, 1)), make_row(1000 + i, 1)) for i in range(60)]
    worker = FlushWorker(wb, batch=25)
    worker.step()
    lab.primary.kill()
    report = loss_report(acked, wb)
    assert report.lost_count == 35
    assert report.lost == report.beyond_checkpoint
    assert report.lost == [(1000 + i, 1) for i in range(25, 60)]
    lab.primary.restart()
    assert r.xlen(wb.stream) == 0  # the unflushed writes are gone for good
    db.close()


@pytest.mark.slow
def test_write_behind_with_aof_always_survives_a_kill(lab_factory, tmp_path) -> None:
    lab = lab_factory("standalone", persistence="aof-always")
    db = Database.create(tmp_path, n_rows=0, latency=0)
    r = fast_fail_client(lab)
    wb = WriteBehind(r, db, name="orders")
    acked = [(wb.write(make_row(1000 + i, 1)), make_row(1000 + i, 1)) for i in range(60)]
    FlushWorker(wb, consumer="w1", batch=25).step(crash="after_read")
    lab.primary.kill()
    lab.primary.restart()
    heir = FlushWorker(wb, consumer="w2", batch=100)
    heir.drain()
    report = loss_report(acked, wb)
    assert report.lost == []
    db.close()


# -------------------------------------------------------------- refresh-ahead
def test_refresh_ahead_reloads_before_expiry(r, db) -> None:
    # seconds-scale times, so a stalled machine cannot turn a hit into a miss
    ra = RefreshAhead(r, db.get, name="ra", ttl=2.0, refresh_when=0.5, jitter=0)
    try:
        ra.get(1)  # miss
        ra.get(1)  # hit, far from expiry: nothing to do
        assert ra.stats.refreshes == 0
        time.sleep(1.3)  # 0.7 s left < 1.0 s threshold
        ra.get(1)  # hit, schedules a background reload
        wait_until(lambda: ra.stats.refreshes == 1, timeout=5, what="background refresh")
        assert r.pttl(ra.key(1)) > 1300  # the TTL started over
        time.sleep(0.8)  # past the original expiry
        ra.get(1)
        assert ra.stats.misses == 1  # only the very first read missed
    finally:
        ra.close()


# -------------------------------------------------------------------- L1/L2
def test_lru_is_bounded_and_evicts_least_recent() -> None:
    lru = LRU(3)
    for k in "abc":
        lru.put(k, k.upper(), ttl=60)
    lru.get("a")
    lru.put("d", "D", ttl=60)
    assert "b" not in lru and "a" in lru and len(lru) == 3
    assert lru.evictions == 1
    lru.put("e", "E", ttl=-1)  # already expired
    assert lru.get("e", "missing") == "missing"


def test_two_level_tracking_invalidates_on_any_write(standalone_lab, r) -> None:
    with TwoLevelCache(r, lambda k: {"v": 0}, name="t", ttl=30) as cache:
        assert cache.mode == "tracking"
        cache.get(1)  # miss -> Redis
        cache.get(1)  # L2 hit -> fills L1
        assert cache.get(1) == {"v": 0}
        assert cache.stats.l1_hits == 1
        other = standalone_lab.client()
        other.set(cache.key(1), '{"v": 1}')  # a writer that knows nothing about L1
        wait_until(lambda: cache.key(1) not in cache.l1, timeout=5, what="invalidation")
        assert cache.get(1) == {"v": 1}
        cache.get(1)
        other.flushall()  # a flush invalidates everything
        wait_until(lambda: len(cache.l1) == 0, timeout=5, what="flush invalidation")
        other.close()


def test_two_level_staleness_window_is_short(standalone_lab, r) -> None:
    with TwoLevelCache(r, None, name="stale", ttl=30) as cache:
        writer = standalone_lab.client()
        r.set(cache.key(1), "-1")
        stale = staleness_after_write(cache, lambda i: writer.set(cache.key(1), i), 1, rounds=10)
        writer.close()
    assert (stale < 2.0).all()  # every round saw the new value (2.0 s is the give-up cap)


def test_tracking_staleness_pairs(standalone_lab, r) -> None:
    writer = standalone_lab.client()
    try:
        untracked, tracked = rc.tracking_staleness_pairs(r, writer, pairs=4, l1_ttl=0.2)
        again, _ = rc.tracking_staleness_pairs(r, writer, pairs=2, l1_ttl=0.2, first=4)
    finally:
        writer.close()
    assert len(untracked) == len(tracked) == 4 and len(again) == 2
    # without invalidation the old value stays until the L1 entry expires (0.2 s)
    assert min(untracked + again) > 0.1
    assert max(tracked) < 2.0  # every tracked round saw the new value before the give-up cap


def test_two_level_pubsub_mode(r) -> None:
    with (
        TwoLevelCache(r, None, name="ps", ttl=30, invalidation="pubsub") as a,
        TwoLevelCache(r, None, name="ps", ttl=30, invalidation="pubsub") as b,
    ):
        a.set(1, "old")
        b.get(1)
        b.get(1)
        assert b.key(1) in b.l1
        a.set(1, "new")
        wait_until(lambda: b.key(1) not in b.l1, timeout=5, what="pub/sub invalidation")
        assert b.get(1) == "new"


def test_two_level_placeholder_drops_a_value_invalidated_in_flight(standalone_lab, r) -> None:
    with TwoLevelCache(r, None, name="ph", ttl=30) as cache:
        rkey = cache.key(1)
        r.set(rkey, '"v1"')
        other = standalone_lab.client()
        real_get = cache.reader.get

        def get_then_race(k: str) -> Any:
            value = real_get(k)  # the server now tracks k for this reader
            seen = cache.stats.invalidations
            other.set(k, '"v2"')  # ... and a write lands before we store v1 in L1
            wait_until(lambda: cache.stats.invalidations > seen, timeout=5, what="invalidation")
            return value

        cache.reader.get = get_then_race  # type: ignore[method-assign]
        assert cache.get(1) == "v1"  # the value current when it was read
        assert rkey not in cache.l1  # ... but not kept: it was invalidated in flight
        cache.reader.get = real_get  # type: ignore[method-assign]
        assert cache.get(1) == "v2"
        other.close()


def test_two_level_survives_losing_its_invalidation_connection(standalone_lab, r) -> None:
    with TwoLevelCache(r, None, name="kill", ttl=30, health_interval=0.2) as cache:
        r.set(cache.key(1), '"a"')
        cache.get(1)
        cache.get(1)
        assert cache.key(1) in cache.l1
        old_id = cache.listener_id
        admin = standalone_lab.client()
        admin.client_kill_filter(_id=old_id)  # only the listener; the reader stays connected
        wait_until(lambda: cache.listener_id != old_id, timeout=10, what="new listener")
        wait_until(lambda: cache.l1_enabled, timeout=10, what="L1 re-enabled")
        assert cache.key(1) not in cache.l1  # flushed: its invalidations could have been missed
        # the reader's invalidations now go to the new listener (CLIENT GETREDIR)
        assert int(cache.reader.execute_command("CLIENT", "GETREDIR")) == cache.listener_id
        cache.get(1)
        cache.get(1)
        assert cache.key(1) in cache.l1
        admin.set(cache.key(1), '"b"')  # tracking now redirects to the new listener
        wait_until(lambda: cache.key(1) not in cache.l1, timeout=5, what="invalidation")
        assert cache.get(1) == "b"
        admin.close()


def test_two_level_disables_l1_when_redis_goes_away(lab_factory) -> None:
    lab = lab_factory("standalone")
    r = fast_fail_client(lab)
    cache = TwoLevelCache(r, lambda k: f"db-{k}", name="down", ttl=30, health_interval=0.2)
    try:
        r.set(cache.key(1), '"cached"')
        cache.get(1)
        cache.get(1)
        assert cache.key(1) in cache.l1
        lab.primary.kill()
        wait_until(lambda: not cache.l1_enabled, timeout=5, what="L1 disabled")
        assert len(cache.l1) == 0
        assert cache.get(1) == "db-1"  # Redis down, L1 off: the loader answers
        assert cache.stats.fallbacks == 1
        lab.primary.restart()
        wait_until(lambda: cache.l1_enabled, timeout=10, what="L1 re-enabled")
        r.set(cache.key(1), '"fresh"')
        wait_until(lambda: cache.get(1) == "fresh", timeout=5, what="reader reconnect")
        cache.get(1)
        assert cache.key(1) in cache.l1
        r.set(cache.key(1), '"newer"')  # tracking works again after the restart
        wait_until(lambda: cache.get(1) == "newer", timeout=5, what="invalidation after restart")
    finally:
        cache.close()


# ---------------------------------------------------------------- stampede
def test_stampede_burst_single_flight(r, db) -> None:
    slow = Database(db.path, latency=0.05)
    try:
        none = stampede_burst(r, slow, strategy="none", item_id=1, threads=8)
        lock = stampede_burst(r, slow, strategy="lock", item_id=2, threads=8)
    finally:
        slow.close()
    assert lock["db_calls"] == 1
    assert none["db_calls"] > lock["db_calls"]
    assert none["reads"] == lock["reads"] == 8


@pytest.mark.slow
def test_stampede_sustained_protection_saves_database_calls(r, db) -> None:
    slow = Database(db.path, latency=0.02)
    try:
        res = {
            s: stampede_sustained(r, slow, strategy=s, item_id=5, threads=6, duration=0.8, ttl=0.2)
            for s in ("none", "lock", "xfetch+lock")
        }
    finally:
        slow.close()
    assert res["lock"]["db_calls"] < res["none"]["db_calls"]
    assert res["xfetch+lock"]["db_calls"] < res["none"]["db_calls"]
    assert res["xfetch+lock"]["waiters"] == 0  # nobody waits on a lock


# ------------------------------------------------------------- the comparison
@pytest.mark.slow
def test_compare_patterns_measures_every_pattern(r, db) -> None:
    ops = ZipfWorkload(200, seed=1, read_ratio=0.8).ops(300)
    results = compare_patterns(r, db, ops, ttl=0.3, interval=None)
    assert results.loc["no cache", "hit_ratio"] == 0
    assert results.loc["no cache", "db_round_trips"] == 300
    assert results["db_complete_after_finish"].all()
    cached_rows = results.drop(index="no cache")
    assert (cached_rows["db_round_trips"] < 300).all()
    for name in ("cache-aside", "write-through", "write-behind", "refresh-ahead"):
        assert results.loc[name, "stale_reads"] == 0
    wb = results.loc["write-behind"]
    assert wb["db_writes"] < wb["writes"]  # batched
    ranks = rank_patterns(results)
    assert set(ranks.columns) == {"read latency", "write latency", "consistency", "database load"}
    assert ranks["database load"].idxmax() == "no cache"
    # no pattern thread survives its run
    time.sleep(0.2)
    assert not [
        t for t in threading.enumerate() if t.name.startswith(("refresh-", "l1-", "flush-"))
    ]


def test_tracking_invalidations_on_write_and_expiry(standalone_lab) -> None:
    r = standalone_lab.client()
    r.set("redislab:cache:t:written", "1")
    other = standalone_lab.client()
    written = rc.tracking_invalidations(
        standalone_lab.client,
        ["redislab:cache:t:written"],
        cause=lambda: other.set("redislab:cache:t:written", "2"),
    )
    assert written["invalidated"] == ["redislab:cache:t:written"]
    r.set("redislab:cache:t:expiring", "1", px=1000)
    expired = rc.tracking_invalidations(
        standalone_lab.client, ["redislab:cache:t:expiring"], cause=lambda: None
    )
    assert expired["present"] == expired["invalidated"] == ["redislab:cache:t:expiring"]
    untouched = rc.tracking_invalidations(
        standalone_lab.client, ["redislab:cache:t:written"], cause=lambda: None, timeout=0.3
    )
    assert untouched["invalidated"] == []  # nothing changed: nothing pushed


def test_pubsub_gap_drops_what_was_published_while_away(standalone_lab) -> None:
    gap = rc.pubsub_gap(standalone_lab.client, "redislab:cache:gap-test")
    assert gap == {"receivers": [1, 0, 1], "received": ["m1", "m3"]}
