"""How a lab's cluster and sentinels are formed, and how "ready" is checked for them.

The fast paths are measured in ``docs/DESIGN.md``; the naive ones (``bootstrap="naive"``)
are kept so ``benchmarks/bench_startup.py`` can show the difference in the same run.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from typing import TYPE_CHECKING

from ..errors import StartupTimeout, TopologyError
from .node import Node
from .ports import reserve_port
from .waits import wait_until

if TYPE_CHECKING:
    from .lab import Lab

__all__ = [
    "CLUSTER_SLOTS",
    "cluster_myid",
    "form_cluster",
    "form_cluster_naive",
    "split_slots",
    "start_sentinels",
    "wait_cluster_ok",
    "wait_sentinel_primary",
    "wait_sentinels",
]

CLUSTER_SLOTS = 16384


def split_slots(n: int) -> list[tuple[int, int]]:
    """Slot ranges for ``n`` primaries, as ``redis-cli --cluster create`` splits them."""
    per = CLUSTER_SLOTS / n
    return [(round(i * per), round((i + 1) * per) - 1) for i in range(n)]


# --------------------------------------------------------------- cluster
def form_cluster(lab: Lab, deadline: float) -> None:
    """ADDSLOTSRANGE + MEET + REPLICATE: no redis-cli, no waiting for its polls."""
    topo = lab.topology
    primaries = [lab.node(s.name) for s in topo.primaries]
    nodes = [lab.node(s.name) for s in topo.nodes]
    for epoch, node in enumerate(nodes, start=1):
        with node.client() as c:
            c.execute_command("CLUSTER", "SET-CONFIG-EPOCH", epoch)
    for node, (lo, hi) in zip(primaries, split_slots(len(primaries)), strict=True):
        with node.client() as c:
            c.execute_command("CLUSTER", "ADDSLOTSRANGE", lo, hi)
    first = nodes[0]
    with first.client() as c:
        for other in nodes[1:]:
            c.execute_command("CLUSTER", "MEET", other.host, other.port)
    ids = {n.name: cluster_myid(n) for n in nodes}

    def all_known() -> bool:
        for n in nodes:
            with n.client() as c:
                lines = c.execute_command("CLUSTER", "NODES")
            if isinstance(lines, dict):
                known = len(lines)
                handshake = any("handshake" in str(v.get("flags", "")) for v in lines.values())
            else:
                known = len(str(lines).strip().splitlines())
                handshake = "handshake" in str(lines)
            if known < len(nodes) or handshake:
                return False
        return True

    wait_until(all_known, timeout=lab._remaining(deadline), what="cluster nodes meeting")
    for spec in topo.replicas:
        replica = lab.node(spec.name)
        primary_id = ids[spec.replica_of or ""]

        def replicate(replica: Node = replica, primary_id: str = primary_id) -> bool:
            with replica.client() as c:
                c.execute_command("CLUSTER", "REPLICATE", primary_id)
            return True

        wait_until(replicate, timeout=lab._remaining(deadline), what=f"{spec.name} REPLICATE")


def form_cluster_naive(lab: Lab, deadline: float) -> None:
    """The textbook way: ``redis-cli --cluster create`` then ``add-node --cluster-slave``."""
    cli = shutil.which("redis-cli") or shutil.which("valkey-cli")
    if cli is None:
        raise TopologyError("bootstrap='naive' for a cluster needs redis-cli on PATH")
    topo = lab.topology
    primaries = [lab.node(s.name) for s in topo.primaries]
    subprocess.run(
        [cli, "--cluster", "create", *(p.address for p in primaries), "--cluster-replicas", "0",
         "--cluster-yes"],
        check=True, capture_output=True, timeout=lab._remaining(deadline),
    )  # fmt: skip
    for spec in topo.replicas:
        replica = lab.node(spec.name)
        primary = lab.node(spec.replica_of or "")
        subprocess.run(
            [cli, "--cluster", "add-node", replica.address, primary.address, "--cluster-slave",
             "--cluster-master-id", cluster_myid(primary)],
            check=True, capture_output=True, timeout=lab._remaining(deadline),
        )  # fmt: skip


def cluster_myid(node: Node) -> str:
    with node.client() as c:
        return str(c.execute_command("CLUSTER", "MYID"))


def wait_cluster_ok(lab: Lab, deadline: float) -> None:
    """Every live node says ``cluster_state:ok`` and sees every slot served by a live node.

    The second half matters after a kill: the survivors keep saying ``ok`` until
    they have marked the dead primary FAIL and promoted its replica.
    """
    alive = [n for n in lab.data_nodes if n.alive]
    alive_ports = {n.port for n in alive}

    def ok() -> bool:
        for n in alive:
            with n.client(socket_timeout=2) as c:
                info = c.execute_command("CLUSTER", "INFO")
                text = info if isinstance(info, str) else str(info)
                if "cluster_state:ok" not in text:
                    return False
                served = 0
                for lo, hi, owner, *_ in c.execute_command("CLUSTER", "SLOTS"):
                    if int(owner[1]) not in alive_ports:
                        return False
                    served += int(hi) - int(lo) + 1
                if served != CLUSTER_SLOTS:
                    return False
        return True

    try:
        wait_until(ok, timeout=lab._remaining(deadline), what="cluster_state:ok on every node")
    except TimeoutError as exc:
        raise StartupTimeout(str(exc)) from None


# -------------------------------------------------------------- sentinel
def start_sentinels(lab: Lab, *, naive: bool, deadline: float) -> None:
    topo = lab.topology
    primary = lab.primary
    ids = [secrets.token_hex(20) for _ in range(topo.sentinels)]
    sentinels = [
        Node(
            name=f"sentinel-{i + 1}",
            role="sentinel",
            server=lab.server,
            directory=lab.workdir / f"sentinel-{i + 1}",
            die_with_parent=not lab.detached,
            title=f'redislab sentinel "sentinel-{i + 1}" of lab "{lab.name}"',
        )
        for i in range(topo.sentinels)
    ]

    for s in sentinels:
        s.port = reserve_port()
        s._reserved = True
    m = topo.master_name
    for i, s in enumerate(sentinels):
        conf: list[tuple[str, object]] = [
            (f"sentinel monitor {m} {primary.host} {primary.port}", topo.quorum),
        ]
        conf += [(f"sentinel {k} {m}", v) for k, v in lab.sentinel_settings.items()]
        conf.append((f"sentinel parallel-syncs {m}", 1))
        if not naive:
            conf.insert(0, ("sentinel myid", ids[i]))
            conf += [(f"sentinel known-replica {m} {r.host}", r.port) for r in lab.replicas]
            conf += [
                (f"sentinel known-sentinel {m} {o.host} {o.port}", ids[j])
                for j, o in enumerate(sentinels)
                if j != i
            ]
        s.sections = [("sentinel", conf)]
    lab.nodes.extend(sentinels)
    for s in sentinels:
        lab._roles[s.name] = "sentinel"
    lab._spawn_all(sentinels)
    lab._save_record()
    wait_sentinels(lab, deadline)


def wait_sentinels(lab: Lab, deadline: float) -> None:
    topo = lab.topology
    alive_sentinels = [s for s in lab.sentinels if s.alive]
    want_replicas = sum(1 for n in lab.data_nodes if n.alive) - 1

    def ready() -> bool:
        addr = None
        for s in alive_sentinels:
            with s.client(socket_timeout=1) as c:
                master = c.sentinel_master(topo.master_name)
                if int(master["num-other-sentinels"]) < len(alive_sentinels) - 1:
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
                c.execute_command("SENTINEL", "CKQUORUM", topo.master_name)
        return True

    try:
        wait_until(ready, timeout=lab._remaining(deadline), what="sentinels ready")
    except TimeoutError as exc:
        raise StartupTimeout(str(exc)) from None


def wait_sentinel_primary(lab: Lab, deadline: float) -> None:
    m = lab.topology.master_name
    alive_data = [n for n in lab.data_nodes if n.alive]

    def settled() -> bool:
        addrs = set()
        for s in lab.sentinels:
            if not s.alive:
                continue
            with s.client(socket_timeout=1) as c:
                addrs.add(tuple(c.sentinel_get_master_addr_by_name(m)))
        if len(addrs) != 1:
            return False
        _host, port = addrs.pop()
        primary = next((n for n in alive_data if n.port == int(port)), None)
        if primary is None or primary.current_role() != "primary":
            return False
        return all(n.current_role() == "replica" for n in alive_data if n is not primary)

    try:
        wait_until(
            settled, timeout=lab._remaining(deadline), what="sentinels agreeing on a primary"
        )
    except TimeoutError as exc:
        raise StartupTimeout(str(exc)) from None
