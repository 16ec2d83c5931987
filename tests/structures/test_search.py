"""redislab.structures.search: RediSearch, a hand-built index and a scan agree."""

from __future__ import annotations

from collections import Counter

import pytest

from redislab import structures as S
from redislab.errors import StructureError

N = 400
QUERIES = [
    {"country": "FR"},
    {"country": ["DE", "US"], "age": (20, 50)},
    {"plan": "pro", "tags": ["music", "tech"]},
    {"score": (10_000, 60_000)},
]


@pytest.fixture(scope="module")
def indexed(search_lab):
    r = search_lab.client()
    users = S.make_users(N, seed=11)
    S.load_users(r, users)
    S.create_indexes(r)
    return r, users


def test_query_strings_and_the_python_filter() -> None:
    assert S.ft_query({"country": "FR", "age": (30, 40)}) == "@country:{FR} @age:[30 40]"
    assert S.ft_query({"tags": ["a", "b"], "name": "kalo"}) == "@tags:{a|b} @name:kalo"
    rec = {"country": "FR", "age": "35", "tags": "music,art", "name": "Kalo Mira"}
    assert S.matches(rec, {"country": "fr", "age": (30, 40), "tags": ["art"], "name": "mira"})
    assert not S.matches(rec, {"age": (36, 40)}) and not S.matches(rec, {"tags": "tech"})
    assert S.search_words("Kalo  Mira kalo") == ["kalo", "mira"]


def test_all_three_paths_answer_the_same_ids(indexed) -> None:
    r, users = indexed
    word = S.search_words(users[0]["name"])[0]
    for q in [*QUERIES, {"name": word}]:
        truth = S.scan_search(r, q)
        assert truth, q  # the seeded data has matches for every query
        assert S.ft_search(r, q, limit=N) == truth
        assert S.ft_search(r, q, index=S.INDEX_JSON, limit=N) == truth
        assert S.hand_search(r, q) == truth
    df = S.search_comparison(r, {"fr": QUERIES[0]}, n_records=N, repeat=3)
    assert df["equal_to_scan"].all() and set(df["method"]) >= {"scan (truth)", "hand-built index"}


def test_aggregate_counts_every_record(indexed) -> None:
    r, users = indexed
    assert S.aggregate_counts(r, "country") == Counter(u["country"] for u in users)


def test_hand_index_stays_right_only_when_its_writer_maintains_it(indexed) -> None:
    r, _ = indexed
    S.hand_update(r, 1, {"country": "JP", "age": 77})
    assert "1" in S.hand_search(r, {"country": "JP", "age": (77, 77)})
    assert S.index_consistency(r, n_records=N) == {"ft_wrong": 0, "hand_wrong": 0, "queries": 17}
    now = r.hget(S.record_key("hash", 2), "country")
    S.ft_update(r, 2, {"country": "JP" if now != "JP" else "FR"})
    stale = S.index_consistency(r, n_records=N)
    assert stale["ft_wrong"] == 0 and stale["hand_wrong"] > 0  # HSET alone: only RediSearch follows
    assert S.rebuild_hand_index(r) == N
    S.concurrent_updates(r, "watch", n_records=N, threads=3, per_thread=30, hot=5, seed=1)
    assert S.index_consistency(r, n_records=N)["hand_wrong"] == 0
    cost = S.update_cost(r, n_records=N, seed=2).set_index("update")["commands"]
    assert cost["RediSearch: HSET"] == 1 and cost["hand-built: WATCH + MULTI"] > 4
    S.rebuild_hand_index(r)
    mem = S.index_memory(r)
    assert mem["redisearch_B"] > 0 and mem["hand_built_B"] > 0


def test_hand_update_refuses_multi_valued_fields(indexed) -> None:
    r, _ = indexed
    with pytest.raises(StructureError, match="single-valued"):
        S.hand_update(r, 1, {"tags": "art"})
    with pytest.raises(StructureError, match="mode"):
        S.hand_update(r, 1, {"country": "FR"}, mode="optimistic")


@pytest.mark.cluster
def test_each_shard_indexes_only_its_own_keys(search_cluster) -> None:
    cl = search_cluster.client()
    shards = [n.client() for n in search_cluster.primaries]
    df = S.per_shard_search(cl, shards, S.make_users(300, seed=4))
    assert (df["ft_search_total"] == df["records_on_shard"]).all()
    assert df["ft_search_total"].sum() == 300 and (df["ft_search_total"] < 300).all()
    for c in shards:
        c.close()
    cl.close()


def test_without_the_module_it_says_so(standalone_lab) -> None:
    with pytest.raises(StructureError, match="RediSearch"):
        S.create_indexes(standalone_lab.client())


def test_an_hset_is_searchable_by_the_next_command(indexed) -> None:
    r, users = indexed
    before = {u: r.hget(S.record_key("hash", u), "age") for u in range(len(users))}
    out = S.read_after_write(r, n_records=len(users), checks=10, seed=3)
    assert out == {"checks": 10, "found_at_once": 10}
    assert {u: r.hget(S.record_key("hash", u), "age") for u in range(len(users))} == before
