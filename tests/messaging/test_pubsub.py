"""Pub/Sub pieces against a real server (``standalone_lab``; the cluster lab for sharding)."""

from __future__ import annotations

import pytest

from redislab.kit import has_command
from redislab.messaging import (
    Subscriber,
    broadcast,
    cross_database,
    double_delivery,
    late_subscriber,
    missed_while_away,
    pattern_routing,
    sharded_placement,
    slow_subscriber,
)


def test_broadcast_reaches_every_subscriber(standalone_lab):
    r = standalone_lab.client()
    b = broadcast(r, subscribers=10, messages=300, seed=1)
    per = b["per_subscriber"]
    assert per["received"].tolist() == [300] * 10
    assert per["missing"].sum() == 0 and per["in_order"].all()
    assert b["receivers"] == 3000


def test_pattern_routing_and_double_delivery(standalone_lab):
    r = standalone_lab.client()
    table = pattern_routing(
        r, routes={"eu": ["orders.*.eu"], "all": ["*"]}, events=["orders.a.eu", "orders.a.us"]
    )
    assert table.loc["orders.a.eu"].tolist() == [1, 1]
    assert table.loc["orders.a.us"].tolist() == [0, 1]
    assert double_delivery(r)["copies_received"] == 3
    assert cross_database(r)["received"] == 1


def test_missed_while_away_counts_exactly(standalone_lab):
    r = standalone_lab.client()
    away = missed_while_away(r, before=10, during=23, after=7)
    assert away["missed"] == 23 and away["missed_are_the_away_ones"]
    assert away["received"] == 17


def test_slow_subscriber_is_dropped_and_limit_restored(standalone_lab):
    r = standalone_lab.client()
    before = r.config_get("client-output-buffer-limit")["client-output-buffer-limit"]
    out = slow_subscriber(r, log_path=standalone_lab.primary.log_path)
    assert out["dropped"], out
    assert "output buffer limits" in out["server_log"]
    assert r.config_get("client-output-buffer-limit")["client-output-buffer-limit"] == before


def test_subscriber_context_manager_closes(standalone_lab):
    r = standalone_lab.client()
    with Subscriber(r, channels=["redislab.t"]) as sub:
        assert r.pubsub_numsub("redislab.t")[0][1] == 1
        r.publish("redislab.t", "x")
    from redislab.lab.waits import wait_until

    wait_until(lambda: r.pubsub_numsub("redislab.t")[0][1] == 0, timeout=5)
    assert [m.data for m in sub.messages] in ([], ["x"])  # read or not, never duplicated


@pytest.mark.cluster
def test_sharded_channel_lives_on_its_slot_owner(cluster_lab):
    first = cluster_lab.primaries[0].client()
    if not has_command(first, "SSUBSCRIBE"):
        pytest.skip("no sharded pub/sub on this server")
    nodes = {n.name: n.client() for n in cluster_lab.primaries}
    table = sharded_placement(nodes, channels=["a", "b", "c"])
    assert (table["shardnumsub_on"] == table["owner"]).all()
    assert (table["spublish_elsewhere"] == "MOVED").all()
    assert table["received"].all()


def test_late_subscriber_gets_nothing_published_before(standalone_lab):
    r = standalone_lab.client()
    assert sum(r.publish("t-late", str(i)) for i in range(5)) == 0
    assert late_subscriber(r, "t-late") == {"earlier": 0, "marker_received": True}
