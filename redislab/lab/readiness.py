"""What "ready" means for replication, and the roles a lab's nodes have right now."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, MutableMapping, Sequence

import redis

from ..errors import StartupTimeout
from .node import Node
from .waits import Deadline, wait_until

__all__ = ["refresh_roles", "sentinels_primary_port", "wait_replicas"]


def wait_replicas(nodes: Sequence[Node], roles: Mapping[str, str], deadline: Deadline) -> None:
    """Every live replica in sync, *and* its primary streaming to it.

    ``master_link_status:up`` on the replica is not enough: after a diskless full
    sync the primary keeps the replica in ``wait_bgsave`` until it has reaped the
    child that streamed the snapshot (its cron, every 100 ms at ``hz 10``), and only
    then sends it new writes. So readiness also waits for ``state=online`` in the
    primary's ``INFO replication``.
    """
    by_port = {n.port: n for n in nodes if n.role != "sentinel"}
    for node in nodes:
        if roles.get(node.name) == "replica" and node.alive:
            _wait_link_up(node, deadline)
            primary = by_port.get(int(node.info("replication").get("master_port", 0)))
            if primary is not None and primary.alive:
                _wait_online(primary, node, deadline)


def _wait_online(primary: Node, replica: Node, deadline: Deadline) -> None:
    def online() -> bool:
        info = primary.info("replication")
        for i in range(int(info.get("connected_slaves", 0))):
            entry = info.get(f"slave{i}", {})
            if int(entry.get("port", -1)) == replica.port:
                return bool(entry.get("state") == "online")
        return False

    wait_until(
        online,
        timeout=deadline.remaining(),
        interval=0.002,
        what=f"{primary.name} streaming to {replica.name}",
        error=StartupTimeout,
    )


def _wait_link_up(node: Node, deadline: Deadline) -> None:
    def up() -> bool:
        node._raise_if_dead()
        return bool(node.info("replication").get("master_link_status") == "up")

    try:
        wait_until(up, timeout=deadline.remaining(), what=f"{node.name} in sync")
    except TimeoutError as exc:
        raise StartupTimeout(
            f"{exc}\nLast log lines of {node.name}:\n{node.log_tail(10)}"
        ) from None


def refresh_roles(data_nodes: Sequence[Node], roles: MutableMapping[str, str]) -> None:
    """Re-read every data node's role into ``roles``; a dead node's role becomes ``down``."""
    for n in data_nodes:
        if n.alive:
            with contextlib.suppress(redis.RedisError, OSError):
                roles[n.name] = n.current_role()
        else:
            roles[n.name] = "down"


def sentinels_primary_port(sentinels: Sequence[Node], master_name: str) -> int | None:
    """The primary's port if every live sentinel names the same one, else None."""
    ports = set()
    for s in sentinels:
        if s.alive:
            with s.client(socket_timeout=1) as c:
                addr = c.sentinel_get_master_addr_by_name(master_name)
            ports.add(int(addr[1]) if addr else None)
    return ports.pop() if len(ports) == 1 else None
