"""The catalogue service on real labs: cache effect, invalidation, Redis and DB outages."""

from __future__ import annotations

from collections import Counter

import pytest

from redislab.design import service as S
from redislab.errors import DesignError, ServiceUnavailable
from redislab.kit import no_retry

N_PRODUCTS, N_USERS, N_CATEGORIES = 200, 100, 10


@pytest.fixture
def db(tmp_path):
    d = S.CatalogueDatabase.build(
        tmp_path, n_products=N_PRODUCTS, n_users=N_USERS, n_categories=N_CATEGORIES
    )
    yield d
    d.close()


def _mix(n, seed=1):
    return S.request_mix(
        n, n_products=N_PRODUCTS, n_users=N_USERS, n_categories=N_CATEGORIES, seed=seed
    )


def test_request_mix_is_seeded_and_follows_the_mix():
    a, b = _mix(5000), _mix(5000)
    assert a == b and a != _mix(5000, seed=2)
    kinds = Counter(r.kind for r in a)
    for kind, share in S.DEFAULT_MIX.items():
        assert abs(kinds[kind] / 5000 - share) < 0.03, kind
    # reads are skewed (Zipf), price updates uniform
    reads = Counter(r.ident for r in a if r.kind == "get_product")
    writes = Counter(r.ident for r in a if r.kind == "update_price")
    assert reads.most_common(1)[0][1] > 5 * writes.most_common(1)[0][1]
    with pytest.raises(DesignError):
        S.request_mix(10, n_products=1, n_users=1, n_categories=1, mix={"get_product": 0.5})


def test_database_queries_per_request(db):
    svc = S.CatalogueService(db)
    reqs = _mix(200)
    res = S.drive(svc, reqs, rate=2000, show_progress=False)
    writes = sum(r.kind == "update_price" for r in reqs)
    assert res.summary()["errors"] == 0
    assert db.stats.round_trips == len(reqs) - writes + 2 * writes  # reads 1, writes 2


def test_a_warmed_cache_cuts_database_queries_and_latency(standalone_lab, db):
    reqs = _mix(600)
    plain = S.drive(S.CatalogueService(db), reqs, rate=1500, show_progress=False).summary()
    svc = S.CatalogueService(db, standalone_lab.client(decode_responses=True))
    assert svc.warm(show_progress=False) == N_PRODUCTS + N_USERS + N_CATEGORIES
    cached = S.drive(svc, reqs, rate=1500, show_progress=False).summary()
    assert plain["errors"] == cached["errors"] == 0
    assert cached["hit_ratio"] > 0.8
    assert cached["db_per_request"] < plain["db_per_request"] / 2
    assert cached["p50_ms"] < plain["p50_ms"]


def test_paired_read_latencies_serve_the_same_reads_both_ways(standalone_lab, db):
    reqs = _mix(300)
    svc = S.CatalogueService(db, standalone_lab.client(decode_responses=True))
    svc.warm(show_progress=False)
    trips = db.stats.round_trips
    plain_ms, cached_ms = S.paired_read_latencies(S.CatalogueService(db), svc, reqs, n=20)
    assert len(plain_ms) == len(cached_ms) == 20 and min(plain_ms + cached_ms) > 0
    # the plain service went to the database once per read; the warmed cache did not
    assert 20 <= db.stats.round_trips - trips < 40
    with pytest.raises(DesignError):
        S.paired_read_latencies(svc, svc, [S.Request("update_price", 1)])


def test_update_price_writes_through_and_invalidates_the_page(standalone_lab, db):
    svc = S.CatalogueService(db, standalone_lab.client(decode_responses=True))
    pid = 3
    cat = db.category(pid)
    svc.category_page(cat)
    assert svc.get_product(pid)["version"] == 1
    new = svc.update_price(pid)
    assert new["version"] == 2
    before = db.stats.round_trips
    assert svc.get_product(pid) == new  # written through: a hit with the new row
    assert db.stats.round_trips == before
    fresh = svc.category_page(cat)  # invalidated: loaded again
    assert db.stats.round_trips == before + 1
    assert fresh == db.category_page(cat)  # the page as the database has it now


def test_redis_down_is_served_from_the_database(lab_factory, db):
    lab = lab_factory("standalone")
    client = lab.primary.client(  # redis-py's default retries would cost seconds per call
        socket_timeout=0.1, socket_connect_timeout=0.1, retry=no_retry()
    )
    svc = S.CatalogueService(db, client, cooldown=0.1)
    svc.warm(show_progress=False)
    lab.primary.kill()
    res = S.drive(svc, _mix(300), rate=1000, show_progress=False).summary()
    assert res["errors"] == 0 and res["requests"] == 300
    assert res["fallbacks"] > 250 and res["hit_ratio"] == 0
    assert res["db_per_request"] > 1.0  # every request went to the database
    assert svc.pending_invalidations() > 0  # writes while Redis was away, to replay


def test_only_a_database_failure_reaches_the_user(standalone_lab, db):
    standalone_lab.client().flushall()  # the module's lab: no entries of earlier tests
    svc = S.CatalogueService(db, standalone_lab.client(decode_responses=True))
    svc.get_user(1)
    db.available = False
    assert svc.get_user(1)["id"] == 1  # cached: the database is not needed
    with pytest.raises(ServiceUnavailable):
        svc.get_user(2)  # a miss needs the database
    with pytest.raises(ServiceUnavailable):
        svc.update_price(1)
    res = S.drive(svc, _mix(50), rate=1000, show_progress=False)
    assert set(res.records["error"].dropna()) == {"ServiceUnavailable"}


def test_a_redis_error_the_caches_do_not_absorb_is_bypassed(standalone_lab, db):
    conn = standalone_lab.client(decode_responses=True)
    svc = S.CatalogueService(db, conn)
    conn.config_set("maxmemory", "1")  # every write now answers OOM (a ResponseError)
    try:
        assert svc.get_product(5)["id"] == 5
        assert svc.update_price(6)["version"] == 2
    finally:
        conn.config_set("maxmemory", "0")
    assert svc.bypasses >= 2


def test_failover_users_see_no_errors_and_the_cache_survives(lab_factory, tmp_path):
    lab = lab_factory("sentinel")
    db = S.CatalogueDatabase.build(tmp_path, n_products=300, n_users=100, n_categories=10)
    run = S.failover(lab, db=db, rate=300, before=0.6, after=0.6, show_progress=False)
    assert run.details["failovers"] == 1
    phases = run.phases()
    assert phases["errors"].sum() == 0
    assert run.new_primary != run.old_primary
    assert run.served_port == int(run.new_primary.rsplit(":", 1)[1]) and run.served_role == "master"
    assert run.keys_promoted >= 0.95 * run.keys_before
    assert run.untouched_hits > 20 and run.untouched_misses == 0
    assert run.down_after_s < run.outage_s()  # failover-timeout is no bound on it (sentinel.conf)
    assert phases.loc["outage", "db_per_request"] > 2 * phases.loc["before", "db_per_request"]
    assert phases.loc["after", "hit_ratio"] > 0.7
    assert run.stale_products == 0
    fig = S.plot_failover(run)
    assert len(fig.axes) == 4
