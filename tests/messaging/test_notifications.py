"""When the ``expired`` keyspace event fires, against a real server."""

from __future__ import annotations

from redislab.messaging import expired_event_delays, keyspace_events, notifications_default


def test_keyspace_events_restores_setting(standalone_lab):
    r = standalone_lab.client()
    before = notifications_default(r)
    with keyspace_events(r, "Ex"):
        assert set(notifications_default(r)) >= {"E", "x"}
    assert notifications_default(r) == before


def test_expired_fires_on_access_when_active_expiry_is_off(standalone_lab):
    r = standalone_lab.client()
    lazy = expired_event_delays(r, keys=30, ttl_ms=100, active_expiry=False, touch_after_ms=300)
    assert lazy["events_before_touch"] == 0
    assert lazy["events_after_touch"] == 30
    assert lazy["early"] == 0


def test_expired_fires_after_ttl_with_active_expiry(standalone_lab):
    r = standalone_lab.client()
    active = expired_event_delays(r, keys=30, ttl_ms=100, active_expiry=True, touch_after_ms=500)
    assert active["events_before_touch"] == 30
    assert active["early"] == 0
