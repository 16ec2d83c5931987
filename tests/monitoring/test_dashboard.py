"""The dashboard: stable structure, start/stop, a static frame, a node killed under it."""

from __future__ import annotations

import time

from redislab.monitoring import dashboard


def _classes(widget):
    return set(widget._dom_classes)


def test_dashboard_structure_start_stop_and_a_kill(lab_factory):
    lab = lab_factory("replicated")
    d = dashboard(lab, interval=0.1, refresh=0.2)
    assert "redislab-dashboard" in _classes(d.widget)
    top, plot, alerts = d.widget.children
    toggle, metrics, _status = top.children
    assert "redislab-dashboard-toggle" in _classes(toggle) and toggle.description == "Start"
    assert "redislab-dashboard-metrics" in _classes(metrics)
    assert "redislab-dashboard-plot" in _classes(plot)
    assert "redislab-dashboard-alerts" in _classes(alerts)
    toggle.value = True  # what a click does
    assert d.sampler.running and toggle.description == "Stop"
    lab.node("replica-1").kill()
    time.sleep(1.6)
    toggle.value = False
    assert not d.sampler.running and toggle.description == "Start"
    assert d.frames_rendered >= 2
    assert plot.value[:4] == b"\x89PNG"
    assert "NodeDown" in alerts.value and "replica-1" in alerts.value
