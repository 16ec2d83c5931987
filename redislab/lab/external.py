"""A lab over a server redislab does not run: ``Lab.connect(url)`` / ``REDISLAB_URL``.

Clients and read-only introspection work as on a local lab (``lab.client()``,
``lab.nodes``, ``node.info()``, ``lab.sentinel_client()``); anything that needs the
processes (kill, pause, restart, stop, add a node, reconfigure) raises
:class:`~redislab.errors.NotSupported` naming the operation. The clients it hands out
refuse the commands that would change or wipe someone else's server (``FLUSHALL``,
``FLUSHDB``, ``CONFIG SET``, ``DEBUG``, ``SHUTDOWN``...): experiments against a
foreign server write only under the ``redislab:`` prefix and delete what they wrote.

URLs: ``redis://[user:password@]host:port[/db]``, ``rediss://...`` (TLS, with redis-py's
``ssl_*`` query options), a cluster node's URL (the cluster is discovered), or
``redis+sentinel://[user:password@]host:port[,host:port...]/master_name``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import redis
from packaging.version import Version
from redis.connection import parse_url

from ..errors import LabError, NotSupported
from .node import Node
from .servers import ServerInfo
from .topology import Topology, get_topology

__all__ = ["FORBIDDEN", "ExternalNode", "GuardedRedis", "discover", "external_url"]

FORBIDDEN = {
    "FLUSHALL", "FLUSHDB", "SHUTDOWN", "DEBUG", "REPLICAOF", "SLAVEOF", "FAILOVER",
    "CONFIG SET", "CONFIG REWRITE", "CONFIG RESETSTAT", "ACL SETUSER", "ACL DELUSER",
    "ACL SAVE", "ACL LOAD", "MODULE LOAD", "MODULE UNLOAD", "CLUSTER RESET",
    "CLUSTER FAILOVER", "SCRIPT FLUSH", "FUNCTION FLUSH", "SWAPDB", "MIGRATE",
    "SLOWLOG RESET", "LATENCY RESET", "CLIENT KILL", "CLIENT PAUSE", "SAVE", "BGSAVE",
    "BGREWRITEAOF", "FUNCTION LOAD", "FUNCTION DELETE", "FUNCTION RESTORE",
}  # fmt: skip
"""Commands never sent to a server redislab does not own."""


def external_url() -> str | None:
    """``$REDISLAB_URL`` if set: the server the notebooks should use instead of a local lab."""
    return os.environ.get("REDISLAB_URL") or None


def _refuse(args: tuple[Any, ...]) -> None:
    words = [str(a.decode() if isinstance(a, bytes) else a).upper() for a in args[:2]]
    for name in (" ".join(words), words[0] if words else ""):
        if name in FORBIDDEN:
            raise NotSupported(f"{name} is never sent to a server redislab does not run")


class GuardedRedis(redis.Redis):
    """``redis.Redis`` that refuses :data:`FORBIDDEN` commands (direct calls and pipelines)."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        _refuse(args)
        return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        original = pipe.pipeline_execute_command

        def guarded(*args: Any, **options: Any) -> Any:
            _refuse(args)
            return original(*args, **options)

        pipe.pipeline_execute_command = guarded  # type: ignore[method-assign]
        return pipe


class ExternalNode(Node):
    """A server reached over the network: it can be asked things, not killed."""

    def __init__(self, *, name: str, role: str, server: ServerInfo, host: str, port: int,
                 connection: dict[str, Any]) -> None:  # fmt: skip
        super().__init__(name=name, role=role, server=server, directory=Path(os.devnull),
                         port=port, die_with_parent=False)  # fmt: skip
        self.host = host
        self._connection = {k: v for k, v in connection.items() if k not in ("host", "port")}

    def client_kwargs(self, **overrides: Any) -> dict[str, Any]:
        kw: dict[str, Any] = {**self._connection, "decode_responses": True}
        kw.update(host=self.host, port=self.port)
        kw.update(overrides)
        return kw

    def client(self, **kwargs: Any) -> redis.Redis:
        return GuardedRedis(**self.client_kwargs(**kwargs))

    @property
    def pid(self) -> int | None:
        return None

    @property
    def alive(self) -> bool:
        try:
            return bool(self.control.ping())
        except (redis.RedisError, OSError):
            return False

    def wait_ready(self, timeout: float = 15.0) -> Node:
        if not self.alive:
            raise LabError(f"{self.name} ({self.address}) does not answer PING")
        return self

    def _unsupported(self, what: str) -> NotSupported:
        return NotSupported(f"{what} needs a lab redislab runs; {self.address} is external")

    def kill(self) -> None:
        raise self._unsupported("kill()")

    def pause(self) -> None:
        raise self._unsupported("pause()")

    def resume(self) -> None:
        raise self._unsupported("resume()")

    def restart(self, config: Any = None, *, wait: bool = True) -> Node:
        raise self._unsupported("restart()")

    def spawn(self) -> Node:
        raise self._unsupported("starting a process")

    def log_tail(self, n: int = 20) -> str:
        return f"(no log: {self.address} is an external server)"

    def stop(self, timeout: float = 10.0) -> None:
        self._drop_control()


def _server_info(info: dict[str, Any], url: str, tls: bool) -> ServerInfo:
    engine = (
        "valkey" if info.get("server_name") == "valkey" or "valkey_version" in info else "redis"
    )
    version = str(info.get("valkey_version") or info.get("redis_version") or "0")
    return ServerInfo(path=Path(url), engine=engine, version=Version(version),
                      allocator=str(info.get("mem_allocator", "unknown")), tls=tls,
                      source="external")  # fmt: skip


def _hidden(url: str) -> str:
    p = urlparse(url)
    netloc = p.netloc.rsplit("@", 1)[-1]
    return f"{p.scheme}://{netloc}{p.path}"


def discover(url: str) -> tuple[Topology, ServerInfo, list[ExternalNode]]:
    """What runs behind ``url``: the kind of topology, the engine, and every node."""
    p = urlparse(url)
    tls = p.scheme == "rediss"
    if p.scheme == "redis+sentinel":
        return _discover_sentinel(url)
    kw = dict(parse_url(url))
    kw.pop("connection_class", None)
    if tls:
        kw["ssl"] = True
    kw.setdefault("port", 6379)
    kw["decode_responses"] = True
    base = GuardedRedis(**kw)
    try:
        info = base.info()
    except redis.RedisError as exc:
        raise LabError(f"cannot reach {_hidden(url)}: {exc}") from exc
    finally:
        base.close()
    server = _server_info(info, _hidden(url), tls)
    host, port = str(kw["host"]), int(kw["port"])
    if info.get("redis_mode") == "cluster" or info.get("cluster_enabled"):
        with GuardedRedis(**{**kw, "host": host, "port": port}) as c:
            text = c.execute_command("CLUSTER", "NODES")
        entries: list[tuple[str, str]] = []  # (address, flags)
        if isinstance(text, dict):  # redis-py parses CLUSTER NODES into {address: {...}}
            for a, v in text.items():
                replica = v.get("master_id") not in (None, "", "-")
                flags = str(v.get("flags", "")) + (",slave" if replica else "")
                entries.append((str(a).split("@")[0], flags))
        else:
            for line in str(text).strip().splitlines():
                parts = line.split()
                entries.append((parts[1].split("@")[0], parts[2]))
        nodes: list[ExternalNode] = []
        counts = {"primary": 0, "replica": 0}
        for addr, flags in entries:
            if "fail" in flags or "noaddr" in flags:
                continue
            h, _, prt = addr.rpartition(":")
            role = "replica" if "slave" in flags else "primary"
            counts[role] += 1
            nodes.append(ExternalNode(name=f"{role}-{counts[role]}", role=role, server=server,
                                      host=h or host, port=int(prt), connection=kw))  # fmt: skip
        topo = get_topology("cluster")
    else:
        nodes = [ExternalNode(name="primary", role="primary", server=server, host=host, port=port,
                              connection=kw)]  # fmt: skip
        with GuardedRedis(**{**kw, "host": host, "port": port}) as c:
            repl = c.info("replication")
        if repl.get("role") == "slave":
            nodes[0].role = "replica"
        for i in range(int(repl.get("connected_slaves", 0))):
            s = repl.get(f"slave{i}", {})
            nodes.append(ExternalNode(name=f"replica-{i + 1}", role="replica", server=server,
                                      host=str(s.get("ip", host)), port=int(s["port"]),
                                      connection=kw))  # fmt: skip
        topo = get_topology("replicated" if len(nodes) > 1 else "standalone")
    return _describe(topo, url), server, nodes


def _discover_sentinel(url: str) -> tuple[Topology, ServerInfo, list[ExternalNode]]:
    p = urlparse(url)
    master = unquote(p.path.strip("/")) or "mymaster"
    creds: dict[str, Any] = {}
    if p.password:
        creds = {"username": unquote(p.username or "") or None, "password": unquote(p.password)}
    addrs = []
    for part in p.netloc.rsplit("@", 1)[-1].split(","):
        h, _, prt = part.rpartition(":")
        addrs.append((h, int(prt)))
    with redis.Redis(host=addrs[0][0], port=addrs[0][1], decode_responses=True) as s:
        try:
            m = s.sentinel_master(master)
            replicas = s.sentinel_slaves(master)
        except redis.RedisError as exc:
            raise LabError(f"sentinel {addrs[0]} does not know master {master!r}: {exc}") from exc
    with redis.Redis(host=m["ip"], port=int(m["port"]), decode_responses=True, **creds) as c:
        server = _server_info(c.info("server"), _hidden(url), False)
    nodes = [ExternalNode(name="primary", role="primary", server=server, host=m["ip"],
                          port=int(m["port"]), connection=creds)]  # fmt: skip
    for i, r in enumerate(replicas, start=1):
        nodes.append(ExternalNode(name=f"replica-{i}", role="replica", server=server,
                                  host=r["ip"], port=int(r["port"]), connection=creds))  # fmt: skip
    for i, (shost, sport) in enumerate(addrs, start=1):
        nodes.append(ExternalNode(name=f"sentinel-{i}", role="sentinel", server=server, host=shost,
                                  port=sport, connection={}))  # fmt: skip
    topo = dataclasses.replace(get_topology("sentinel"), master_name=master,
                               sentinels=len(addrs))  # fmt: skip
    return _describe(topo, url), server, nodes


def _describe(topo: Topology, url: str) -> Topology:
    return dataclasses.replace(topo, description=f"external {topo.name} at {_hidden(url)}")
