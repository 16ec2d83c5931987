"""redislab: real Redis topologies in one call, for notebooks, scripts and tests.

>>> from redislab import Lab
>>> with Lab.start("replicated") as lab:   # doctest: +SKIP
...     lab.client().set("hello", "world")
"""

from __future__ import annotations

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
]
