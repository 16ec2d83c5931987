"""Starting a lab's processes together and wiring replication fast."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import redis

from .node import Node, PortInUse

__all__ = ["fast_cron", "replicate", "spawn_all"]


def spawn_all(nodes: Sequence[Node]) -> None:
    """Start processes together, then wait for each: startup costs max(), not sum().

    A node that lost its port to another process ("Address already in use") is started
    again on a new port, unless its port was fixed (then the error names it).
    """
    for n in nodes:
        n.spawn()
    for n in nodes:
        try:
            n.wait_ready()
        except PortInUse:
            if n._fixed_port:
                raise
            n._forget_port()
            n.config_path.unlink(missing_ok=True)
            n.start()


def replicate(replica: Node, primary: Node) -> None:
    """``REPLICAOF`` once it answers (18 ms to sync instead of ~1 s with the config line).

    The line is also appended to the replica's config so that a restart keeps it.
    """
    replica.control.replicaof(primary.host, primary.port)  # cached: no new (TLS) connection
    with replica.config_path.open("a") as fh:
        fh.write(
            "\n# --- replication (sent as REPLICAOF at start, kept here for restarts)\n"
            f"replicaof {primary.host} {primary.port}\n"
        )


@contextlib.contextmanager
def fast_cron(primaries: Sequence[Node], hz: int = 100) -> Iterator[None]:
    """Run the primaries' cron at ``hz`` during the replicas' first sync, then restore it.

    A primary reaps the child that streamed a snapshot, and only then streams writes
    to the replica, in its cron: every 100 ms at the default ``hz 10``. Measured on
    Redis 7.0.15 and Valkey 9.1: replicated lab ready in 0.24 s without, ~0.14 s with.
    Every node ends with its configured ``hz``.
    """
    saved: dict[str, str] = {}
    for n in primaries:
        saved[n.name] = str(n.control.config_get("hz")["hz"])
        n.control.config_set("hz", hz)
    try:
        yield
    finally:
        for n in primaries:
            if n.alive:
                with contextlib.suppress(redis.RedisError, OSError):
                    n.control.config_set("hz", saved[n.name])
