"""Every error redislab raises on purpose, in one place, under :class:`RedislabError`.

Timeouts share one base, :class:`Timeout` (also a builtin :class:`TimeoutError`), so
``except redislab.Timeout`` catches a node that never answered, a topology that never
formed, a fault experiment that waited too long and a claim's bounded wait alike.
"""

from __future__ import annotations

__all__ = [
    "CacheError",
    "ClaimError",
    "ClusterError",
    "ConfigError",
    "FaultTimeout",
    "LabError",
    "LabNotFound",
    "NodeDied",
    "PersistenceError",
    "RedislabError",
    "SerializationError",
    "ServerNotFound",
    "StartupTimeout",
    "StructureError",
    "Timeout",
    "ToolError",
    "TopologyError",
    "UsageError",
    "WaitTimeout",
]


class RedislabError(Exception):
    """Base class of every error redislab raises on purpose."""


class UsageError(RedislabError, ValueError):
    """An argument the caller passed cannot work (names the argument and what is allowed)."""


# ------------------------------------------------------------------- timeouts
class Timeout(RedislabError, TimeoutError):
    """Base of every bounded wait that ran out: ``except redislab.Timeout`` catches them all."""


class WaitTimeout(Timeout):
    """A polled condition (:func:`redislab.lab.waits.wait_until`) was not reached in time."""


class StartupTimeout(WaitTimeout):
    """A node or a topology did not become ready in time."""


class FaultTimeout(WaitTimeout):
    """A fault experiment waited longer than its bound for the system to react."""


# ------------------------------------------------------------------------ lab
class LabError(RedislabError):
    """The lab could not do what was asked (a node missing, a role not found...)."""


class ServerNotFound(LabError):
    """No usable redis-server / valkey-server binary was found."""


class TopologyError(LabError, ValueError):
    """An unknown topology or persistence name, or a topology that cannot be formed."""


class NodeDied(LabError):
    """A server process exited while it was starting; the message quotes its log."""


class ConfigError(NodeDied):
    """The server rejected a configuration directive; the message names it."""


class LabNotFound(LabError, KeyError):
    """``Lab.attach(name)`` or a CLI command named a lab that is not running."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ToolError(LabError):
    """A Redis tool (``redis-check-aof``, ``redis-check-rdb``, ``redis-cli``) failed."""


# --------------------------------------------------------------------- themes
class ClusterError(RedislabError):
    """A cluster operation could not be done (slot migration, resharding, routing)."""


class CacheError(RedislabError):
    """A cache pattern was misused or its backing store failed."""


class SerializationError(CacheError, TypeError):
    """A value cannot be serialised for the cache."""


class PersistenceError(RedislabError):
    """A save, rewrite, restore or backup did not complete as expected."""


class StructureError(RedislabError):
    """A data-structure experiment was given inputs it cannot use."""


class ClaimError(RedislabError):
    """A claim was declared wrongly (no source, an unknown comparison): a notebook bug."""


class MonitoringError(RedislabError):
    """A monitoring tool was given something it cannot sample or evaluate."""
