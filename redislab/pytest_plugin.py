"""pytest fixtures built on :class:`redislab.Lab` (auto-loaded via the ``pytest11`` entry point).

- ``lab_factory(topology, **kwargs)``: start any lab; all are stopped at teardown.
- ``standalone_lab``, ``replicated_lab``, ``sentinel_lab``, ``cluster_lab``,
  ``secure_lab``: one ready lab per test module. Do not break these; use
  ``lab_factory`` for fault injection.
- ``redislab_server``: the :class:`ServerInfo` the tests run against
  (``--redislab-server`` or ``$REDISLAB_SERVER``).

Marker: ``redislab_tls``: the test is skipped when the server has no TLS support.

The plugin is loaded into every pytest run of an environment where redislab is
installed, so it acts only on tests that ask for it: a test that uses one of the
fixtures above or carries a ``redislab_``-prefixed marker. Any other project's tests
(its own ``tls``, ``slow`` or ``cluster`` markers included) run untouched, and no server
is looked for unless a test needs one.

Migration (earlier versions registered the bare markers ``slow``, ``cluster`` and ``tls`` and
acted on ``tls`` in every test):
mark TLS tests ``@pytest.mark.redislab_tls`` instead of ``@pytest.mark.tls``. A test that
still carries ``tls`` *and* uses a redislab fixture is skipped as before, with a
:class:`DeprecationWarning` naming the new marker; register ``slow`` and ``cluster`` in
your own project's ``markers`` if you use them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .lab.lab import Lab
from .lab.servers import ServerInfo, find_server

__all__ = ["FIXTURES", "MARKERS", "lab_factory", "redislab_server"]

#: The fixtures this plugin provides: a test that uses one of them is a redislab test.
FIXTURES = frozenset(
    {"lab_factory", "redislab_server", "standalone_lab", "replicated_lab", "sentinel_lab",
     "cluster_lab", "secure_lab"}
)  # fmt: skip
#: The markers this plugin registers and acts on (every one ``redislab_``-prefixed).
MARKERS = {"redislab_tls": "needs a server built with TLS (skipped on one without: redislab)"}
_OLD_TLS = "tls"  # the earlier marker: honoured only on tests that use FIXTURES, with a warning


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("redislab")
    group.addoption(
        "--redislab-server",
        default=None,
        help="server binary or name (system, redis8, valkey) for redislab fixtures",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, doc in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    server = config.getoption("--redislab-server", default=None)
    if server:
        os.environ["REDISLAB_SERVER"] = server


def _needs_tls(item: pytest.Item) -> bool:
    """Whether ``item`` asks redislab for a TLS server (the old ``tls`` marker: with a warning)."""
    if item.get_closest_marker("redislab_tls") is not None:
        return True
    if item.get_closest_marker(_OLD_TLS) is None:
        return False
    if not FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return False  # another project's own ``tls`` marker: not ours
    item.warn(
        DeprecationWarning(
            "redislab: the bare 'tls' marker is deprecated; mark the test "
            "@pytest.mark.redislab_tls (redislab acts only on its own prefixed markers)"
        )
    )
    return True


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if not _needs_tls(item):
        return
    server = find_server()  # no server at all: the redislab test errors with ServerNotFound
    if not server.tls:
        pytest.skip(f"{server.label} at {server.path} has no TLS support")


@pytest.fixture(scope="session")
def redislab_server() -> ServerInfo:
    """The server binary the fixtures use."""
    return find_server()


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
