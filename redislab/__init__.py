"""redislab: real Redis topologies in one call, for notebooks, scripts and tests.

>>> from redislab import Lab
>>> with Lab.start("replicated") as lab:   # doctest: +SKIP
...     lab.client().set("hello", "world")
"""

from __future__ import annotations

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
from .config import PERSISTENCE

__version__ = "0.1.0"

__all__ = [
    "Lab",
    "Node",
    "ServerInfo",
    "available_servers",
    "find_server",
    "TOPOLOGIES",
    "PERSISTENCE",
    "RedislabError",
    "ServerNotFound",
    "StartupTimeout",
    "TopologyError",
    "ConfigError",
    "NodeDied",
    "LabNotFound",
    "__version__",
]
