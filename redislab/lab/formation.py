"""How a cluster and sentinels are formed, and how "ready" is checked for them.

Every function takes its inputs (nodes, a topology, a :class:`~.waits.Deadline`) and
returns what it made; :class:`~redislab.lab.Lab` keeps its own state. The fast paths are
measured in ``docs/DESIGN.md``; the naive ones (``bootstrap="naive"``) are kept so
``benchmarks/bench_startup.py`` can show the difference in the same run.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import redis

from ..errors import StartupTimeout, TopologyError, WaitTimeout
from .node import Node
from .ports import reserve_port
from .servers import ServerInfo
from .slots import CLUSTER_SLOTS, slot_ranges, split_slots
from .tls import TLSFiles, tls_directives
from .topology import Topology
from .waits import Deadline, wait_until

__all__ = [
    "CLUSTER_SLOTS",
    "cluster_ok",
    "form_cluster",
    "form_cluster_naive",
    "node_id",
    "sentinel_nodes",
    "split_slots",
    "wait_cluster_ok",
    "wait_sentinel_primary",
    "wait_sentinels",
]


def node_id(connection: redis.Redis) -> str:
    """``CLUSTER MYID`` of the node ``connection`` talks to."""
    reply = connection.execute_command("CLUSTER", "MYID")
    return reply.decode() if isinstance(reply, bytes) else str(reply)


# --------------------------------------------------------------- cluster
def form_cluster(
    primaries: Sequence[Node], replicas: Mapping[Node, Node], deadline: Deadline
) -> None:
    """ADDSLOTSRANGE + MEET + REPLICATE: no redis-cli, no waiting for its polls.

    ``replicas`` maps each replica node to its primary.
    """
    nodes = [*primaries, *replicas]
    # Each node's cached control connection, not a new client per command: a new TLS
    # connection costs redis-py a fresh SSL context (the system CA bundle loaded again,
    # 50-260 ms on a loaded 2-core machine): a TLS cluster formed several times slower.
    for epoch, node in enumerate(nodes, start=1):
        node.control.execute_command("CLUSTER", "SET-CONFIG-EPOCH", epoch)
    for node, (lo, hi) in zip(primaries, split_slots(len(primaries)), strict=True):
        node.control.execute_command("CLUSTER", "ADDSLOTSRANGE", lo, hi)
    first = nodes[0]
    for other in nodes[1:]:
        first.control.execute_command("CLUSTER", "MEET", other.host, other.port)
    ids = {n.name: node_id(n.control) for n in nodes}

    def all_known() -> bool:
        for n in nodes:
            lines = n.control.execute_command("CLUSTER", "NODES")
            if isinstance(lines, dict):
                known = len(lines)
                handshake = any("handshake" in str(v.get("flags", "")) for v in lines.values())
            else:
                known = len(str(lines).strip().splitlines())
                handshake = "handshake" in str(lines)
            if known < len(nodes) or handshake:
                return False
        return True

    wait_until(
        all_known, timeout=deadline.remaining(), what="cluster nodes meeting", error=StartupTimeout
    )
    for replica, primary in replicas.items():

        def replicate(replica: Node = replica, primary_id: str = ids[primary.name]) -> bool:
            replica.control.execute_command("CLUSTER", "REPLICATE", primary_id)
            return True

        wait_until(
            replicate,
            timeout=deadline.remaining(),
            what=f"{replica.name} REPLICATE",
            error=StartupTimeout,
        )


def form_cluster_naive(
    primaries: Sequence[Node], replicas: Mapping[Node, Node], deadline: Deadline
) -> None:
    """The textbook way: ``redis-cli --cluster create`` then ``add-node --cluster-slave``."""
    cli_path = shutil.which("redis-cli") or shutil.which("valkey-cli")
    if cli_path is None:
        raise TopologyError("bootstrap='naive' for a cluster needs redis-cli on PATH")
    cli: list[str] = [cli_path]
    tls = primaries[0].tls if primaries else None
    if tls is not None:
        cli += ["--tls", "--cacert", str(tls.ca_cert), "--cert", str(tls.client_cert),
                "--key", str(tls.client_key)]  # fmt: skip
    subprocess.run(
        [*cli, "--cluster", "create", *(p.address for p in primaries), "--cluster-replicas", "0",
         "--cluster-yes"],
        check=True, capture_output=True, timeout=deadline.remaining(),
    )  # fmt: skip
    for replica, primary in replicas.items():
        with primary.client() as c:
            primary_id = node_id(c)
        subprocess.run(
            [*cli, "--cluster", "add-node", replica.address, primary.address, "--cluster-slave",
             "--cluster-master-id", primary_id],
            check=True, capture_output=True, timeout=deadline.remaining(),
        )  # fmt: skip


def cluster_ok(connections: Sequence[redis.Redis]) -> bool:
    """Every node says ``cluster_state:ok`` *and* sees every slot served by one of them.

    The second half matters after a kill: the survivors keep saying ``ok`` until they
    have marked the dead primary FAIL and promoted its replica, so ``cluster_state``
    alone reports a cluster whose slots still point at a dead node.
    """
    ports = {int(c.connection_pool.connection_kwargs["port"]) for c in connections}
    for c in connections:
        info = c.execute_command("CLUSTER", "INFO")
        text = info.decode() if isinstance(info, bytes) else str(info)
        if "cluster_state:ok" not in text:
            return False
        ranges = slot_ranges(c)
        if any(r.primary[1] not in ports for r in ranges):
            return False
        if sum(r.slots for r in ranges) != CLUSTER_SLOTS:
            return False
    return True


def wait_cluster_ok(
    connections: Sequence[redis.Redis],
    *,
    timeout: float = 10.0,
    error: type[WaitTimeout] = WaitTimeout,
) -> float:
    """Wait until :func:`cluster_ok` holds for ``connections`` (the live nodes); seconds waited."""
    return wait_until(
        lambda: cluster_ok(connections),
        timeout=timeout,
        interval=0.02,
        what="cluster_state:ok and every slot served on every live node",
        error=error,
    )


# -------------------------------------------------------------- sentinel
def sentinel_nodes(
    topology: Topology,
    *,
    primary: Node,
    replicas: Sequence[Node],
    server: ServerInfo,
    workdir: Path,
    settings: Mapping[str, int],
    lab_name: str,
    detached: bool,
    naive: bool,
    ports: Sequence[int | None] | None = None,
    tls: TLSFiles | None = None,
) -> list[Node]:
    """The sentinels of ``topology``, configured but not started.

    With ``tls`` they listen on TLS only and reach the data nodes and each other over
    TLS (``tls-replication yes`` is what a Sentinel reads for its outgoing links).

    Fast (default): each config already holds ``sentinel myid``, the replicas and the
    other sentinels, so they are ready as soon as they answer. Naive: only
    ``sentinel monitor``, and they discover the rest by hello messages (~10 s).
    """
    ids = [secrets.token_hex(20) for _ in range(topology.sentinels)]
    sentinels = [
        Node(
            name=f"sentinel-{i + 1}",
            role="sentinel",
            server=server,
            directory=workdir / f"sentinel-{i + 1}",
            die_with_parent=not detached,
            title=f'redislab sentinel "sentinel-{i + 1}" of lab "{lab_name}"',
            tls=tls,
        )
        for i in range(topology.sentinels)
    ]
    for s, fixed in zip(sentinels, ports or [None] * len(sentinels), strict=True):
        if fixed is None:
            s.port = reserve_port()
            s._reserved = True
        else:
            s.port = fixed
            s._fixed_port = True
    m = topology.master_name
    for i, s in enumerate(sentinels):
        conf: list[tuple[str, object]] = [
            (f"sentinel monitor {m} {primary.host} {primary.port}", topology.quorum),
        ]
        conf += [(f"sentinel {k} {m}", v) for k, v in settings.items()]
        conf.append((f"sentinel parallel-syncs {m}", 1))
        if not naive:
            conf.insert(0, ("sentinel myid", ids[i]))
            conf += [(f"sentinel known-replica {m} {r.host}", r.port) for r in replicas]
            conf += [
                (f"sentinel known-sentinel {m} {o.host} {o.port}", ids[j])
                for j, o in enumerate(sentinels)
                if j != i
            ]
        s.sections = [("sentinel", conf)]
        if tls is not None:
            s.sections.insert(0, ("TLS", tls_directives(tls)))
    return sentinels


def _sentinel_ready(sentinels: Sequence[Node], master_name: str, want_replicas: int) -> bool:
    addr: Any = None
    for s in sentinels:
        with s.client(socket_timeout=1) as c:
            master = c.sentinel_master(master_name)
            if int(master["num-other-sentinels"]) < len(sentinels) - 1:
                return False
            if int(master["num-slaves"]) < want_replicas:
                return False
            flags = str(master.get("flags", ""))
            if "s_down" in flags or "o_down" in flags or "failover" in flags:
                return False
            # After +switch-master a Sentinel's link to the new primary starts with a PING
            # counted as outstanding (act_ping_time = now) while its reconnect may wait up
            # to its 1 s PING period: until the first PONG, a down-after of 1 s can still
            # see the new primary down and start a second failover. Ready only after it.
            if int(master.get("last-ping-sent", 0)) != 0:
                return False
            here = (master["ip"], int(master["port"]))
            if addr is None:
                addr = here
            elif addr != here:
                return False
            c.execute_command("SENTINEL", "CKQUORUM", master_name)
    return True


def wait_sentinels(
    sentinels: Sequence[Node], data_nodes: Sequence[Node], master_name: str, deadline: Deadline
) -> None:
    """Every live sentinel sees the others and every live replica, agrees on the primary,
    flags nothing down, has no PING outstanding, and ``SENTINEL CKQUORUM`` is OK."""
    alive = [s for s in sentinels if s.alive]
    want_replicas = sum(1 for n in data_nodes if n.alive) - 1
    wait_until(
        lambda: _sentinel_ready(alive, master_name, want_replicas),
        timeout=deadline.remaining(),
        what="sentinels ready",
        error=StartupTimeout,
    )


def wait_sentinel_primary(
    sentinels: Sequence[Node], data_nodes: Sequence[Node], master_name: str, deadline: Deadline
) -> None:
    """The live sentinels name one primary, it says so, and every other live node is its replica."""
    alive_data = [n for n in data_nodes if n.alive]

    def settled() -> bool:
        addrs = set()
        for s in sentinels:
            if not s.alive:
                continue
            with s.client(socket_timeout=1) as c:
                addrs.add(tuple(c.sentinel_get_master_addr_by_name(master_name)))
        if len(addrs) != 1:
            return False
        _host, port = addrs.pop()
        primary = next((n for n in alive_data if n.port == int(port)), None)
        if primary is None or primary.current_role() != "primary":
            return False
        return all(n.current_role() == "replica" for n in alive_data if n is not primary)

    wait_until(
        settled,
        timeout=deadline.remaining(),
        what="sentinels agreeing on a primary",
        error=StartupTimeout,
    )
