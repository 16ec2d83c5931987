"""Routing one producer's events: pattern channels against a stream per type, on real labs."""

from __future__ import annotations

import pytest

from redislab.errors import MessagingError
from redislab.messaging import (
    Route,
    TypeStreamConsumer,
    default_routes,
    make_events,
    publish_to_streams,
    pubsub_routing,
    routing_compare,
    stream_routing,
)


def test_route_patterns_filter_and_streams():
    fraud = Route("fraud", ("order.paid.*",), where=lambda e: e["amount"] >= 500)
    big = {"seq": 0, "type": "order.paid", "region": "eu", "amount": 900}
    small = {**big, "amount": 10}
    assert fraud.routes(small) and not fraud.accepts(small) and fraud.accepts(big)
    assert not fraud.routes({**big, "type": "order.created"})
    assert fraud.streams() == ["redislab:messaging:events:order.paid"]
    eu = Route("eu", ("*.eu",))
    assert len(eu.streams()) == 5  # a region pattern needs every type stream
    with pytest.raises(MessagingError):
        TypeStreamConsumer(None, Route("none", ("nothing.*",)))


def test_make_events_is_seeded():
    assert make_events(50, seed=3) == make_events(50, seed=3) != make_events(50, seed=4)
    assert [e["seq"] for e in make_events(20)] == list(range(20))


def test_pubsub_loses_exactly_what_was_published_while_away(standalone_lab):
    r = standalone_lab.client()
    events = make_events(300, seed=1)
    routes = default_routes()
    t = pubsub_routing(r, events, routes, restart="billing")
    billing = t.loc["billing"]
    assert billing["expected_while_away"] > 0
    assert billing["lost"] == billing["lost_while_away"] == billing["expected_while_away"]
    others = t.drop(index="billing")
    assert (others["lost"] == 0).all()
    assert (t["unexpected"] == 0).all()
    eu_payments = sum(e["type"].startswith("payment.") and e["region"] == "eu" for e in events)
    assert t.loc["eu-audit", "duplicated"] == eu_payments > 0  # two patterns match those
    assert (t.drop(index="eu-audit")["duplicated"] == 0).all()


def test_stream_per_type_loses_nothing_and_a_crash_duplicates_only_the_unacked(standalone_lab):
    r = standalone_lab.client()
    events = make_events(300, seed=1)
    routes = default_routes()
    clean = stream_routing(r, events, routes, restart="billing")
    assert (clean["lost"] == 0).all() and (clean["duplicated"] == 0).all()
    assert (clean["handled"] == clean["expected"]).all()
    crash = stream_routing(r, events, routes, restart="billing", crash=True, batch=10)
    billing = crash.loc["billing"]
    assert (crash["lost"] == 0).all()
    assert 0 < billing["duplicated"] == billing["unacked_at_crash"] <= 2 * 10
    assert billing["history_reread"] >= billing["unacked_at_crash"]
    assert (crash.drop(index="billing")["duplicated"] == 0).all()
    for name in ("billing", "eu-audit"):
        for s in TypeStreamConsumer(r, _route(name)).streams:
            assert int(r.xpending(s, name)["pending"]) == 0


def _route(name):
    return next(x for x in default_routes() if x.name == name)


def test_consumer_rereads_its_own_history_after_a_crash(standalone_lab):
    r = standalone_lab.client()
    route = Route("solo", ("user.*",))
    events = [{"seq": i, "type": "user.signup", "region": "eu", "amount": 1} for i in range(25)]
    first = TypeStreamConsumer(r, route, batch=10)
    r.delete(*first.streams)
    first.ensure_groups()
    publish_to_streams(r, events)
    out = first.drain(crash_after=13)
    assert out == {"handled": 13, "history": 0, "unacked_handled": 3}  # batch 2, 3 done
    assert int(r.xpending(first.streams[0], "solo")["pending"]) == 10
    back = TypeStreamConsumer(r, route, batch=10)
    again = back.drain()
    assert again["history"] == 10 and again["handled"] == 25 - 10
    assert sorted(first.handled + back.handled) == sorted([*range(25), 10, 11, 12])
    assert int(r.xpending(first.streams[0], "solo")["pending"]) == 0


def test_routing_compare_has_a_row_per_design_and_consumer(standalone_lab):
    t = routing_compare(standalone_lab.client(), events=150, seed=2)
    assert t.index.get_level_values("design").nunique() == 3
    assert len(t) == 3 * len(default_routes())
