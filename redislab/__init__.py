"""redislab: real Redis topologies in one call, for notebooks, scripts and tests.

>>> from redislab import Lab
>>> with Lab.start("replicated") as lab:   # doctest: +SKIP
...     lab.client().set("hello", "world")

Three layers, imports only downward (``docs/DESIGN.md``):

1. the lab (:mod:`redislab.lab`): servers, processes, ports, configs, topologies, ``Lab``;
2. the kit (:mod:`redislab.kit`): measuring, features, workloads, loads, claims, Lua;
3. one package per notebook theme: :mod:`~redislab.structures` (01),
   :mod:`~redislab.cache` (02), :mod:`~redislab.replication` and
   :mod:`~redislab.cluster` (05), :mod:`~redislab.persistence` (08), ... and
   :mod:`~redislab.design` (10) above them.

The kit and the themes load on first use (``redislab.cache``), so ``import redislab``
stays light (no numpy, no pandas); ``cached``, ``Database`` and ``ZipfWorkload`` are
shortcuts into them.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__
from .errors import (
    ConfigError,
    LabNotFound,
    NodeDied,
    RedislabError,
    ServerNotFound,
    StartupTimeout,
    Timeout,
    TopologyError,
)
from .lab import PERSISTENCE, TOPOLOGIES, Lab, Node, ServerInfo, available_servers, find_server

THEMES = (
    "structures",
    "cache",
    "messaging",
    "memory",
    "replication",
    "cluster",
    "performance",
    "security",
    "persistence",
    "monitoring",
    "design",
)
"""The theme packages, in notebook order (those not written yet are absent)."""

_LAZY = ("kit", *THEMES)
_SHORTCUTS = {"cached": "cache", "Database": "kit.workload", "ZipfWorkload": "kit.workload"}

__all__ = [
    "PERSISTENCE",
    "THEMES",
    "TOPOLOGIES",
    "ConfigError",
    "Database",
    "Lab",
    "LabNotFound",
    "Node",
    "NodeDied",
    "RedislabError",
    "ServerInfo",
    "ServerNotFound",
    "StartupTimeout",
    "Timeout",
    "TopologyError",
    "ZipfWorkload",
    "__version__",
    "available_servers",
    "cached",
    "find_server",
]


def __getattr__(name: str) -> Any:
    """Load the kit, the themes and their shortcuts lazily (PEP 562)."""
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    if name in _SHORTCUTS:
        return getattr(importlib.import_module(f".{_SHORTCUTS[name]}", __name__), name)
    raise AttributeError(f"module 'redislab' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext redislab``: the ``%%local_lab`` cell magic (:mod:`redislab.kit.notebook`)."""
    from .kit.notebook import load_ipython_extension as load

    load(ipython)
