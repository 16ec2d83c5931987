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
    "ModuleUnavailable",
    "NodeDied",
    "NodeNotFound",
    "NotSupported",
    "PersistenceError",
    "PortConflict",
    "PortTaken",
    "RedislabError",
    "SerializationError",
    "ServerNotFound",
    "StartupTimeout",
    "StateError",
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


class StateError(RedislabError, RuntimeError):
    """An object was used in a state that does not allow it (started twice, closed, crashed)."""


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


class NodeNotFound(LabError, KeyError):
    """``lab.node(name)`` named a node the lab does not have; the message lists those it has."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class PortTaken(LabError):
    """A port a lab was asked to use (``Lab.start(port=...)``) is taken; names the port."""


class PortConflict(PortTaken):
    """Two uses of one port in a lab's plan, or the plan and a lab the registry knows: a
    data port, a cluster bus port (+10000), a sentinel port or a TLS port. Raised before
    anything starts; names the port and both owners ("port 26379: primary-1's cluster bus
    port (16379 + 10000) of lab cluster-1a2b3c and sentinel-1")."""


class NotSupported(LabError):
    """The operation needs a lab that redislab runs (kill, pause, restart, reconfigure)."""


class ModuleUnavailable(LabError):
    """A Redis module is not installed here, or this engine cannot load it (names both)."""


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


class SecurityError(RedislabError):
    """A security experiment could not run as asked (an unknown role, a server without TLS)."""


class TamperedBackup(SecurityError):
    """An encrypted backup failed its authentication tag: it was changed or the key is wrong."""


class PerformanceError(RedislabError):
    """A performance experiment was given inputs it cannot measure, or a tool failed."""


class MemoryLabError(RedislabError):
    """A memory experiment could not run as asked (no room under ``maxmemory``, bad inputs)."""


class MessagingError(RedislabError):
    """A messaging pattern (pub/sub, stream worker, queue) was misused or failed."""


class MalformedMessage(MessagingError, ValueError):
    """A message could not be decoded; workers send it to their dead-letter stream."""


class RequestTimeout(MessagingError, WaitTimeout):
    """A request over Redis got no reply within its timeout."""


class DesignError(RedislabError):
    """A design (rate limiter, lock, session store, planner) was given unusable inputs."""


class LockLost(DesignError):
    """A lock was released or extended by a holder that no longer owns it."""


class StaleToken(DesignError):
    """A protected resource refused a write carrying an older fencing token."""


__all__ += ["DesignError", "LockLost", "StaleToken"]


# ------------------------------------------------ issue 17: routing, health, disaster recovery
class RoutingError(RedislabError):
    """A read or write could not be routed: no healthy node to send it to."""


class HealthTimeout(WaitTimeout):
    """A health checker did not mark a node down (or up) within its bound."""


class RecoveryError(PersistenceError):
    """A disaster-recovery drill failed: a backup did not restore or its digest differs."""


__all__ += ["HealthTimeout", "RecoveryError", "RoutingError"]


class MonitoringError(RedislabError):
    """A monitoring tool was given something it cannot sample or evaluate."""


# ------------------------------------------------ issue 13: scaling out (notebook 06.04)
class ClientProcessError(PerformanceError):
    """A client worker process of a scaling run failed, died or did not report in time."""


__all__ += ["ClientProcessError"]


# ------------------------------------------------ issue 15: TLS labs (Lab.start(..., tls=True))
class TLSUnavailable(LabError):
    """``Lab.start(..., tls=True)`` on a server binary built without TLS (names the server)."""


__all__ += ["TLSUnavailable"]


# ------------------------------------------------ notebook 10.06: a service with a cache
class ServiceUnavailable(DesignError):
    """The service could not answer a request: its database failed (Redis alone never does)."""


__all__ += ["ServiceUnavailable"]


# ------------------------------------------------ issue 12: memory (LFU decay)
class MinuteClockTimeout(MemoryLabError, WaitTimeout):
    """The server's minute clock (``unixtime / 60``, LFU's time base) did not turn in time."""


__all__ += ["MinuteClockTimeout"]
