"""redislab.structures against a real standalone lab (every engine CI runs)."""

from __future__ import annotations

import itertools
import json
import math
import random

import numpy as np
import pandas as pd
import pytest

from redislab import structures as S
from redislab.keys import key
from redislab.kit.features import has_command
from redislab.kit.measure import wait_until


@pytest.fixture
def r(standalone_lab):
    client = standalone_lab.client()
    client.flushall()
    yield client
    client.flushall()
    client.close()


# --------------------------------------------------------------------------- strings


@pytest.mark.parametrize("mode", ["incr", "decr"])
def test_atomic_counters_lose_nothing(r, mode):
    run = S.concurrent_counter(r, key("counter", mode), mode=mode, threads=4, per_thread=200)
    assert run.expected == (-800 if mode == "decr" else 800)
    assert run.final == run.expected
    assert run.lost == 0


def test_incrbyfloat_is_exact_for_binary_fractions(r):
    run = S.concurrent_counter(
        r, key("counter", "f"), mode="incrbyfloat", threads=3, per_thread=100, step=0.25
    )
    assert run.final == 75.0


def test_lockstep_read_modify_write_loses_all_but_one_update_per_round(r):
    run = S.concurrent_counter(
        r, key("counter", "rmw"), mode="get_set_lockstep", threads=3, per_thread=50
    )
    assert run.final == 50
    assert run.lost == 100


def test_unknown_counter_mode_is_a_typed_error(r):
    with pytest.raises(S.StructureError):
        S.concurrent_counter(r, key("counter", "x"), mode="nope")


def test_decr_never_oversells(r):
    out = S.sell_concurrently(r, key("counter", "stock"), stock=37, buyers=150, threads=4)
    assert out["sold"] == 37
    assert out["sold_out"] == 150 - 37
    assert out["final"] == 0


def test_dau_bitmaps_agree_with_python_sets(r):
    rng = np.random.default_rng(7)
    days = {f"d{i}": key("dau", "t", i) for i in range(3)}
    truth = {}
    for d, k in days.items():
        ids = np.flatnonzero(rng.random(2000) < 0.4)
        truth[d] = set(ids.tolist())
        S.mark_active(r, k, ids)
    counts = S.dau_counts(r, days)
    assert counts["active"].to_dict() == {d: len(s) for d, s in truth.items()}
    for d, k in days.items():
        assert set(S.active_users(r, k).tolist()) == truth[d]
        assert counts.loc[d, "bitmap_bytes"] == max(truth[d]) // 8 + 1
    keys = list(days.values())
    assert S.combine_days(r, "AND", key("dau", "t", "and"), keys) == len(
        set.intersection(*truth.values())
    )
    assert S.combine_days(r, "OR", key("dau", "t", "or"), keys) == len(set.union(*truth.values()))
    assert 0 < r.ttl(key("dau", "t", "or")) <= 60
    with pytest.raises(S.StructureError):
        S.combine_days(r, "NOT", key("dau", "t", "x"), keys)


def test_dense_bitmap_is_smaller_than_a_set(r):
    ids = list(range(0, 4000, 2))
    table = S.bitmap_vs_set_memory(r, ids, name="t")
    assert table.loc["bitmap", "members"] == table.loc["set", "members"] == 2000
    assert table.loc["bitmap", "memory_bytes"] < table.loc["set", "memory_bytes"]


def test_bitfield_counters_match_bincount(r):
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 500, size=3000)
    k = key("bitfield", "t")
    S.bitfield_incr_many(r, k, idx.tolist(), batch=64)
    assert r.strlen(k) == 2 * (int(idx.max()) + 1)
    got = S.bitfield_counters(r, k, 600)
    assert got.tolist() == np.bincount(idx, minlength=600).tolist()
    with pytest.raises(S.StructureError):
        S.bitfield_counters(r, k, 10, bits=12)


def test_bitfield_overflow_modes(r):
    t = S.bitfield_overflow(r, increments=260, bits=8)
    assert t.loc["WRAP", "final"] == 260 % 256
    assert t.loc["SAT", "final"] == 255
    assert t.loc["FAIL", "final"] == 255
    assert t.loc["FAIL", "refused (nil replies)"] == 260 - 255


# --------------------------------------------------------------------------- objects


@pytest.mark.parametrize("layout", ["json", "hash", "keys"])
def test_profile_layouts_round_trip_and_update_one_field(r, layout):
    user = S.make_users(3, seed=1)[2]
    fields = list(user)
    S.save_profile(r, layout, 2, user)
    loaded = S.load_profile(r, layout, 2, fields)
    expected = user if layout == "json" else S.flatten_profile(user)
    assert loaded == expected
    S.write_field(r, layout, 2, "score", 12345)
    assert str(S.read_field(r, layout, 2, "score")) == "12345"
    after = S.load_profile(r, layout, 2, fields)
    assert {f: v for f, v in after.items() if f != "score"} == {
        f: v for f, v in expected.items() if f != "score"
    }


def test_json_field_update_in_lua_keeps_the_rest_and_the_ttl(r):
    user = S.make_users(1, seed=5)[0]
    S.save_profile(r, "json", 0, user)
    r.expire(S.profile_key("json", 0), 100)
    S.write_field(r, "json", 0, "tags", ["x", "y"], json_update="lua")
    doc = json.loads(r.get(S.profile_key("json", 0)))
    assert doc == {**user, "tags": ["x", "y"]}
    assert 0 < r.ttl(S.profile_key("json", 0)) <= 100
    with pytest.raises(S.StructureError):
        S.write_field(r, "json", 0, "tags", [], json_update="nope")


def test_unknown_layout_is_a_typed_error(r):
    with pytest.raises(S.StructureError):
        S.save_profile(r, "xml", 1, {"a": 1})
    with pytest.raises(S.StructureError):
        S.profile_key("keys", 1)


def test_native_json_layout_when_the_server_has_it(r):
    if not has_command(r, "JSON.SET"):
        assert "native_json" not in S.layouts_available(r)
        pytest.skip("server has no JSON.SET (no JSON module)")
    user = S.make_users(1, seed=2)[0]
    S.save_profile(r, "native_json", 0, user)
    assert S.load_profile(r, "native_json", 0, list(user)) == user
    S.write_field(r, "native_json", 0, "score", 9)
    assert S.read_field(r, "native_json", 0, "score") == 9


def test_wire_cost_counts_commands_and_reply_bytes(r):
    k = key("wire", "t")
    r.set(k, "x" * 1000)
    cost = S.wire_cost(r, lambda: r.get(k), n=20)
    assert cost["commands"] == pytest.approx(1.0)
    # RESP bulk reply: "$1000\r\n" + payload + "\r\n" = 1009 bytes
    assert cost["bytes_out"] == 1009
    # the request "*2\r\n$3\r\nGET\r\n$N\r\n<key>\r\n"
    assert cost["bytes_in"] == 4 + 9 + len(f"${len(k)}\r\n{k}\r\n")


# --------------------------------------------------------------------------- encodings


def test_encoding_switches_at_the_configured_limits(r):
    summary, curves = S.encoding_thresholds(r)
    governed = summary[summary["limit"].notna()]
    assert len(governed) >= 5  # every server has the hash, intset and zset limits
    for row in governed.itertuples():
        assert row.switch_at == row.expected_switch, row
        df = curves[f"{row.type}: {row.grows}"]
        before = df.loc[df["n"] == row.switch_at - 1, "memory_bytes"].item()
        after = df.loc[df["n"] == row.switch_at, "memory_bytes"].item()
        assert after > before
    hash_row = summary[summary["config"] == "hash-max-listpack-entries"].iloc[0]
    assert hash_row["limit"] == S.config_int(r, "hash-max-listpack-entries")


def test_encoding_switch_follows_a_changed_config(r):
    old = r.config_get("hash-max-listpack-entries")["hash-max-listpack-entries"]
    r.config_set("hash-max-listpack-entries", 16)
    try:
        k = key("encoding", "t")
        df = S.grow_and_observe(
            r, k, lambda p, i: p.hset(k, f"f{i}", "v"), n_max=40, stop_after_switch=3
        )
    finally:
        r.config_set("hash-max-listpack-entries", old)
    assert S.encoding_switches(df) == [{"at": 17, "from": "listpack", "to": "hashtable"}]
    assert df["n"].max() == 20


def test_hash_field_expiry_when_supported(r):
    if not has_command(r, "HEXPIRE"):
        pytest.skip("server has no hash-field expiry (HEXPIRE: Redis >= 7.4, Valkey >= 9)")
    k = key("session", "t")
    r.hset(k, mapping={"user": "1", "csrf": "tok"})
    assert S.expire_fields(r, k, ["csrf", "missing"], ttl_ms=100) == [1, -2]
    ttl = S.field_ttls_ms(r, k, ["csrf", "user"])
    assert 0 < ttl[0] <= 100 and ttl[1] == -1
    wait_until(lambda: not r.hexists(k, "csrf"), timeout=3, what="field expiry")
    assert r.hgetall(k) == {"user": "1"}


# --------------------------------------------------------------------------- lists


def test_feed_keeps_the_newest_items(r):
    k = key("feed", "t")
    for i in range(30):
        S.feed_push(r, k, f"post-{i}", cap=10)
    assert r.lrange(k, 0, -1) == [f"post-{i}" for i in range(29, 19, -1)]


def test_reliable_queue_recovers_unacknowledged_items(r):
    q, p = key("queue", "t"), key("queue", "t", "processing")
    r.lpush(q, *[f"job-{i}" for i in range(5)])
    taken = [S.claim(r, q, p) for _ in range(3)]
    assert taken == ["job-0", "job-1", "job-2"]  # FIFO
    r.lrem(p, 1, "job-0")  # acknowledged
    assert S.recover_processing(r, p, q) == 2
    rest = [S.claim(r, q, p) for _ in range(4)]
    assert rest == ["job-1", "job-2", "job-3", "job-4"]  # recovered first, in order
    assert S.claim(r, q, p) is None


def test_blmove_is_woken_by_another_client(r):
    q, p = key("queue", "w"), key("queue", "w", "processing")
    out = S.measure_wakeup(
        lambda: r.blmove(q, p, 5, "RIGHT", "LEFT"), lambda: r.lpush(q, "job"), delay_s=0.1
    )
    assert out["result"] == "job"
    assert out["blocked_s"] >= 0.1  # it waited for the other client
    assert r.lrange(p, 0, -1) == ["job"]


def test_brpop_times_out_with_none(r):
    out = S.blocking_pop_timeout(r, key("queue", "empty"), timeout_s=0.1)
    assert out["result"] is None
    assert out["blocked_s"] >= 0.09


# --------------------------------------------------------------------------- sets


def test_tag_queries_match_python(r):
    rng = random.Random(11)
    tags = ["a", "b", "c", "d"]
    items = {f"item-{i}": set(rng.sample(tags, rng.randint(1, 3))) for i in range(200)}
    pipe = r.pipeline(transaction=False)
    for item, ts in items.items():
        S.tag_item(r, item, sorted(ts), pipeline=pipe)
    pipe.execute()

    def py(all_of=(), any_of=(), none_of=()):
        return {
            i
            for i, ts in items.items()
            if set(all_of) <= ts and (not any_of or ts & set(any_of)) and not ts & set(none_of)
        }

    for q in (
        {"all_of": ["a", "b"]},
        {"any_of": ["c", "d"]},
        {"all_of": ["a"], "any_of": ["c", "d"], "none_of": ["b"]},
        {"any_of": ["a"], "none_of": ["b", "c"]},
    ):
        assert S.tag_query(r, **q) == py(**q), q
    assert r.smembers(key("tags", "item", "item-0")) == items["item-0"]
    assert not r.keys(key("tags", "tmp", "*"))
    with pytest.raises(S.StructureError):
        S.tag_query(r, none_of=["a"])


# --------------------------------------------------------------------------- sorted sets


def test_leaderboard_top_and_neighbours_match_pandas(r):
    rng = random.Random(4)
    board = key("leaderboard", "t")
    pipe = r.pipeline(transaction=False)
    totals: dict[str, float] = {}
    for _ in range(2000):
        p, pts = f"p{rng.randrange(100)}", rng.randint(1, 50)
        totals[p] = totals.get(p, 0) + pts
        S.leaderboard_add(r, board, p, pts, pipeline=pipe)
    pipe.execute()
    df = pd.DataFrame({"player": list(totals), "score": list(totals.values())})
    df = df.sort_values(["score", "player"], ascending=False).reset_index(drop=True)
    assert S.top_n(r, board, 10) == list(
        zip(df.player[:10], df.score[:10].astype(float), strict=True)
    )
    who = df.player[50]
    assert S.neighbours(r, board, who, k=2) == [
        (i, df.player[i], float(df.score[i])) for i in range(48, 53)
    ]
    assert S.neighbours(r, board, df.player[0], k=2)[0][0] == 0
    assert S.neighbours(r, board, "nobody") == []


def test_pagination_by_score_returns_the_window_in_order(r):
    rng = random.Random(8)
    idx = key("timeline", "t")
    events = {f"e{i}": rng.randrange(10_000) for i in range(500)}
    r.zadd(idx, events)
    pages = list(S.page_by_score(r, idx, 2000, 6000, page_size=37))
    flat = [m for page in pages for m, _ in page]
    want = sorted((s, m) for m, s in events.items() if 2000 <= s <= 6000)
    assert flat == [m for _, m in want]
    assert all(len(p) == 37 for p in pages[:-1])


def test_autocomplete_by_lex(r):
    idx = key("autocomplete", "t")
    words = ["alpha", "alps", "alto", "beta", "al", "alpine", "zulu"]
    r.zadd(idx, dict.fromkeys(words, 0))
    assert S.autocomplete(r, idx, "alp") == ["alpha", "alpine", "alps"]
    assert S.autocomplete(r, idx, "al", limit=2) == ["al", "alpha"]
    assert S.autocomplete(r, idx, "q") == []


def test_priority_pop_takes_the_most_urgent(r):
    q = key("priority", "t")
    S.priority_push(r, q, {"low": 9, "high": 1, "mid": 5})
    assert S.priority_pop(r, q, 2) == [("high", 1.0), ("mid", 5.0)]


# --------------------------------------------------------------------------- streams


def test_stream_ids_increase_within_one_millisecond(r):
    ids = [S.parse_stream_id(i) for i in S.stream_burst(r, key("stream", "t"), 500)]
    assert all(a < b for a, b in itertools.pairwise(ids))
    assert max(seq for _, seq in ids) > 0  # several entries shared a millisecond
    assert S.parse_stream_id("5-3") == (5, 3)


def test_xread_block_is_woken_by_xadd(r):
    k = key("stream", "w")
    r.xadd(k, {"old": 1})
    out = S.measure_wakeup(
        lambda: r.xread({k: "$"}, block=5000), lambda: r.xadd(k, {"new": 1}), delay_s=0.1
    )
    [[stream, entries]] = out["result"]
    assert stream == k and entries[0][1] == {"new": "1"}
    assert out["blocked_s"] >= 0.1  # it waited for the other client


def test_approximate_trim_keeps_at_least_maxlen(r):
    node = S.config_int(r, "stream-node-max-entries")
    t = S.trim_experiment(r, key("stream", "trim"), n=1250, maxlen=500)
    assert t.loc["MAXLEN =", "length"] == 500
    assert t.loc["MAXLEN =", "oldest_kept"] == 750
    assert 500 <= t.loc["MAXLEN ~", "length"] < 500 + node


# --------------------------------------------------------------------------- HLL


def test_hll_error_and_size(r):
    df = S.hll_accuracy(r, checkpoints=[500, 5000, 50_000], seed=1)
    assert (df["rel_error"].abs() <= 3 * S.HLL_STANDARD_ERROR).all()
    assert (df["hll_bytes"] <= S.HLL_DENSE_BYTES).all()
    assert S.HLL_DENSE_BYTES - S.HLL_HEADER_BYTES == 12 * 1024
    sparse_max = S.config_int(r, "hll-sparse-max-bytes")
    assert (df.loc[df["sparse"], "hll_bytes"] <= sparse_max).all()
    assert df["hll_bytes"].iloc[-1] == S.HLL_DENSE_BYTES and not df["sparse"].iloc[-1]
    assert df["set_memory"].iloc[-1] > 20 * df["hll_memory"].iloc[-1]


# --------------------------------------------------------------------------- geo


def test_haversine_reference_values():
    # a quarter of a great circle on the sphere Redis uses
    assert S.haversine_m(0, 0, 90, 0)[()] == pytest.approx(math.pi / 2 * S.EARTH_RADIUS_M)
    assert S.haversine_m(2.35, 48.86, 2.35, 48.86)[()] == 0


def test_geo_matches_haversine(r):
    pts = S.random_points(800, center=(-0.12, 51.5), spread_km=10, seed=3)
    k = key("geo", "t")
    S.geo_load(r, k, pts)
    assert r.zcard(k) == 800
    d = S.geo_distance_check(r, k, pts, "place:0")
    assert d["abs_diff_m"].max() < 1.0  # 52-bit geohash cells: well under a metre
    rad = S.geo_radius_check(r, k, pts, (-0.12, 51.5), 3000)
    assert rad["redis"] > 0 and rad["max_margin_m"] < 1.0
    box = S.geo_box_check(r, k, pts, (-0.12, 51.5), 6000, 3000)
    assert box["redis"] > 0 and box["max_margin_m"] < 1.0


# --------------------------------------------------------------------------- which structure?


def test_make_users_is_seeded():
    assert S.make_users(5, seed=9) == S.make_users(5, seed=9)
    assert S.make_users(5, seed=9) != S.make_users(5, seed=10)


def test_storage_comparison_ranks_layouts(r):
    users = S.make_users(600, seed=2)
    df = S.storage_comparison(r, users, layouts=["json", "hash", "keys"], sample=40, seed=2)
    mem = df.groupby("layout")["memory_per_user_B"].first()
    assert mem["keys"] > 2 * mem["hash"]
    rf = df[df["operation"] == "read field"].set_index("layout")
    assert rf.loc["json", "bytes_out_per_op"] > 5 * rf.loc["hash", "bytes_out_per_op"]
    wf = df[df["operation"] == "write field"].set_index("layout")
    assert wf.loc["json", "commands_per_op"] == pytest.approx(5)  # WATCH GET MULTI SET EXEC
    assert wf.loc["hash", "commands_per_op"] == pytest.approx(1)
    table = S.decision_table(df)
    assert table.loc["memory per user (B)", "best"] == mem.idxmin()
    assert set(table["best"]) <= {"json", "hash", "keys"}
    assert r.dbsize() == 600 * (1 + 1 + len(users[0]))
