"""The lab: real Redis/Valkey processes and the topologies they form.

The bottom layer of redislab. It finds a server binary (:mod:`.servers`), spawns
processes that die with their owner (:mod:`.process`), reserves ports (:mod:`.ports`),
renders configs (:mod:`.config`), describes topologies (:mod:`.topology`), makes TLS
material (:mod:`.tls`), records labs on disk (:mod:`.registry`), runs one node
(:mod:`.node`), forms clusters and sentinels (:mod:`.formation`), waits
(:mod:`.waits`) and renders ``docker-compose.yml`` (:mod:`.compose`). :class:`Lab`
ties them together. Nothing here imports the kit or a theme.
"""

from __future__ import annotations

from .config import PERSISTENCE
from .lab import Lab
from .node import Node
from .servers import ServerInfo, available_servers, find_server
from .topology import TOPOLOGIES, Topology, get_topology
from .waits import Deadline, wait_until

__all__ = [
    "PERSISTENCE",
    "TOPOLOGIES",
    "Deadline",
    "Lab",
    "Node",
    "ServerInfo",
    "Topology",
    "available_servers",
    "find_server",
    "get_topology",
    "wait_until",
]
