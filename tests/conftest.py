"""Shared test helpers. The lab fixtures come from redislab.pytest_plugin (auto-loaded)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def isolated_home(tmp_path, monkeypatch):
    """A private REDISLAB_HOME, so registry tests see only their own labs."""
    home = tmp_path / "redislab-home"
    monkeypatch.setenv("REDISLAB_HOME", str(home))
    return home


def pytest_report_header(config):
    from redislab.lab.servers import find_server

    try:
        s = find_server()
        return f"redislab server: {s.label} ({s.source}, tls={'yes' if s.tls else 'no'}) {s.path}"
    except Exception as exc:
        return f"redislab server: none ({exc})"


os.environ.setdefault("PYTHONHASHSEED", "0")
