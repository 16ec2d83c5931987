"""Typed errors. Every failure the lab can explain gets its own class."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "LabNotFound",
    "NodeDied",
    "RedislabError",
    "ServerNotFound",
    "StartupTimeout",
    "TopologyError",
]


class RedislabError(Exception):
    """Base class of every error redislab raises on purpose."""


class ServerNotFound(RedislabError):
    """No usable redis-server / valkey-server binary was found."""


class StartupTimeout(RedislabError):
    """A node or a topology did not become ready in time."""


class TopologyError(RedislabError):
    """An unknown topology or persistence name, or a topology that cannot be formed."""


class NodeDied(RedislabError):
    """A server process exited while it was starting; the message quotes its log."""


class ConfigError(NodeDied):
    """The server rejected a configuration directive; the message names it."""


class LabNotFound(RedislabError):
    """``Lab.attach(name)`` or a CLI command named a lab that is not running."""
