"""redislab: real Redis topologies in one call, for notebooks, scripts and tests.

>>> from redislab import Lab
>>> with Lab.start("replicated") as lab:   # doctest: +SKIP
...     lab.client().set("hello", "world")

The pattern modules (``redislab.cache``, ``structures``, ``workload``, ``faults``,
``cluster``, ``hashing``, ``persistence``) load on first use, so ``import redislab``
stays light; ``cached``, ``Database`` and ``ZipfWorkload`` are shortcuts into them.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__
from .config import PERSISTENCE
from .errors import (
    ConfigError,
    LabNotFound,
    NodeDied,
    RedislabError,
    ServerNotFound,
    StartupTimeout,
    TopologyError,
)
from .lab import Lab
from .node import Node
from .servers import ServerInfo, available_servers, find_server
from .topology import TOPOLOGIES

_MODULES = ("cache", "cluster", "faults", "hashing", "persistence", "structures", "workload")
_SHORTCUTS = {"cached": "cache", "Database": "workload", "ZipfWorkload": "workload"}

__all__ = [
    "PERSISTENCE",
    "TOPOLOGIES",
    "ConfigError",
    "Lab",
    "LabNotFound",
    "Node",
    "NodeDied",
    "RedislabError",
    "ServerInfo",
    "ServerNotFound",
    "StartupTimeout",
    "TopologyError",
    "__version__",
    "available_servers",
    "find_server",
    "cached",
    "Database",
    "ZipfWorkload",
    *_MODULES,
]


def __getattr__(name: str) -> Any:
    """Load pattern modules and their shortcuts lazily (PEP 562)."""
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _SHORTCUTS:
        return getattr(importlib.import_module(f".{_SHORTCUTS[name]}", __name__), name)
    raise AttributeError(f"module 'redislab' has no attribute {name!r}")
