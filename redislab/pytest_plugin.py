"""pytest fixtures built on :class:`redislab.Lab` (auto-loaded via the ``pytest11`` entry point).

- ``lab_factory(topology, **kwargs)``: start any lab; all are stopped at teardown.
- ``standalone_lab``, ``replicated_lab``, ``sentinel_lab``, ``cluster_lab``,
  ``secure_lab``: one ready lab per test module. Do not break these; use
  ``lab_factory`` for fault injection.
- ``redislab_server``: the :class:`ServerInfo` the tests run against
  (``--redislab-server`` or ``$REDISLAB_SERVER``).
Markers: ``slow``, ``cluster``, ``tls`` (a ``tls`` test is skipped when the server
has no TLS support).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .lab.lab import Lab
from .lab.servers import ServerInfo, find_server

__all__ = ["lab_factory", "redislab_server"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("redislab")
    group.addoption(
        "--redislab-server",
        default=None,
        help="server binary or name (system, redis8, valkey) for redislab fixtures",
    )


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "slow: takes more than a few seconds (fault injection, many cycles)",
        "cluster: starts a Redis Cluster",
        "tls: needs a server built with TLS (skipped otherwise)",
    ):
        config.addinivalue_line("markers", line)
    server = config.getoption("--redislab-server", default=None)
    if server:
        os.environ["REDISLAB_SERVER"] = server


@pytest.fixture(scope="session")
def redislab_server() -> ServerInfo:
    """The server binary the fixtures use."""
    return find_server()


@pytest.fixture(autouse=True)
def _redislab_skip_tls(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("tls") is not None and not find_server().tls:
        pytest.skip(f"{find_server().label} at {find_server().path} has no TLS support")


@pytest.fixture
def lab_factory() -> Iterator[Callable[..., Lab]]:
    """``lab_factory("cluster", persistence="aof-always")`` -> a ready :class:`Lab`."""
    labs: list[Lab] = []

    def make(topology: str = "standalone", **kwargs: Any) -> Lab:
        lab = Lab.start(topology, **kwargs)
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        lab.stop()


def _module_lab(topology: str) -> Callable[..., Any]:
    @pytest.fixture(scope="module", name=f"{topology}_lab")
    def fixture() -> Iterator[Lab]:
        lab = Lab.start(topology)
        try:
            yield lab
        finally:
            lab.stop()

    fixture.__doc__ = f"A ready ``{topology}`` lab shared by one test module."
    return fixture


standalone_lab = _module_lab("standalone")
replicated_lab = _module_lab("replicated")
sentinel_lab = _module_lab("sentinel")
cluster_lab = _module_lab("cluster")
secure_lab = _module_lab("secure")
