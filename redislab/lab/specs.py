"""What a lab's nodes are: validated arguments, generated config sections, security files."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import TLSUnavailable, TopologyError, UsageError
from .config import Section, persistence_directives
from .node import Node
from .ports import BUS_OFFSET, PortUse, check_port_plan
from .registry import cleanup_stale, list_records
from .servers import ServerInfo
from .tls import TLSFiles, make_tls_files, tls_directives
from .topology import SENTINEL_SETTINGS, Topology, get_topology

__all__ = [
    "BOOTSTRAPS",
    "data_sections",
    "fixed_ports",
    "new_data_node",
    "node_port_uses",
    "port_plan",
    "record_port_uses",
    "registry_port_uses",
    "require_tls",
    "security_files",
    "validate_start",
]

BOOTSTRAPS = ("fast", "naive")
"""How a topology is formed: ``fast`` (the lab's way) or ``naive`` (the textbook way)."""

Sections = list[Section]


def validate_start(
    topology: str,
    persistence: str | None,
    bootstrap: str,
    sentinel: Mapping[str, int] | None,
    master_name: str | None = None,
    tls: bool = False,
) -> tuple[Topology, str]:
    """Check ``Lab.start``'s names before anything starts; the error lists the valid ones."""
    topo = get_topology(topology)
    if tls:
        topo = dataclasses.replace(topo, tls=True)
    if master_name is not None:
        if not topo.sentinels:
            raise TopologyError(f"master_name= needs the sentinel topology, not {topo.name!r}")
        if not master_name or any(c.isspace() for c in master_name):
            raise UsageError(f"master_name must be one word, got {master_name!r}")
        topo = dataclasses.replace(topo, master_name=master_name)
    persist = persistence or "none"
    persistence_directives(persist)
    if bootstrap not in BOOTSTRAPS:
        raise TopologyError(f"unknown bootstrap {bootstrap!r}; valid: {', '.join(BOOTSTRAPS)}")
    if sentinel and not topo.sentinels:
        raise TopologyError(f"sentinel= settings need the sentinel topology, not {topo.name!r}")
    unknown = sorted(set(sentinel or {}) - set(SENTINEL_SETTINGS))
    if unknown:
        raise TopologyError(
            f"unknown sentinel setting(s) {', '.join(unknown)}; "
            f"valid: {', '.join(SENTINEL_SETTINGS)}"
        )
    return topo, persist


def data_sections(
    *,
    topology: Topology,
    server: ServerInfo,
    persistence: str,
    config: Mapping[str, object],
    workdir: Path,
    tls: TLSFiles | None,
    modules: Sequence[Path] = (),
    enable_module_command: bool = False,
) -> Sections:
    """The commented sections of a data node's ``redis.conf``, the user's overrides last.

    ``enable_module_command``: ``MODULE LOAD``/``UNLOAD`` from loopback clients
    (``enable-module-command local``, as DEBUG is); off by default, as Redis ships it. A
    server older than 7.0 has no such setting and allows ``MODULE LOAD`` anyway.
    """
    defaults: dict[str, object] = {
        "repl-diskless-sync-delay": 0,
        "repl-diskless-load": "on-empty-db",
    }
    if server.supports_debug_setting:
        defaults["enable-debug-command"] = "local"
        if enable_module_command:
            defaults["enable-module-command"] = "local"
    persist: dict[str, object] = dict(persistence_directives(persistence))
    persist["dbfilename"] = "dump.rdb"
    sections: Sections = [("lab defaults", defaults), (f"persistence: {persistence}", persist)]
    if topology.cluster:
        sections.append(
            (
                "cluster",
                {
                    "cluster-enabled": "yes",
                    "cluster-config-file": "nodes.conf",
                    "cluster-node-timeout": topology.cluster_node_timeout,
                },
            )
        )
    if topology.secure:
        sections.append(("security", {"aclfile": f'"{workdir / "users.acl"}"'}))
    if tls is not None:
        sections.append(("TLS", tls_directives(tls, cluster=topology.cluster)))
    if modules:
        loads: list[tuple[str, object]] = [("loadmodule", f'"{m}"') for m in modules]
        sections.append(("modules (Lab.start(modules=...))", loads))
    if config:
        overrides = dict(config)
        keys = {k.lower() for k in overrides}
        sections = [
            (title, {k: v for k, v in d.items() if k.lower() not in keys})
            if isinstance(d, Mapping)
            else (title, d)
            for title, d in sections
        ]
        sections.append(("your overrides (config=...)", overrides))
    return sections


def require_tls(server: ServerInfo, topology: Topology) -> None:
    """:class:`TLSUnavailable`, naming the server, when a TLS lab is asked of a non-TLS build."""
    if topology.tls and not server.tls:
        raise TLSUnavailable(
            f"Lab.start({topology.name!r}, tls=True) needs a server built with TLS, but "
            f"{server.label} ({server.path}) was built without it (BUILD_TLS=no). "
            "Debian's redis-server has TLS (REDISLAB_SERVER=system)."
        )


def new_data_node(
    name: str,
    role: str,
    *,
    lab_name: str,
    topology: Topology,
    server: ServerInfo,
    workdir: Path,
    sections: Sections,
    tls: TLSFiles | None,
    credentials: Mapping[str, str],
    detached: bool,
    port: int | None = None,
) -> Node:
    """A data node of a lab (not started); in a secure lab its own clients log in as admin."""
    user = "admin" if topology.secure else None
    return Node(
        name=name,
        role=role,
        server=server,
        directory=workdir / name,
        sections=sections,
        port=port,
        cluster=topology.cluster,
        tls=tls,
        username=user,
        password=credentials.get("admin") if user else None,
        die_with_parent=not detached,
        title=f'redislab node "{name}" ({role}) of lab "{lab_name}", topology {topology.name}',
    )


def _sha256(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def security_files(workdir: Path, server: ServerInfo) -> tuple[dict[str, str], TLSFiles | None]:
    """Generated passwords, the ACL file and (on a TLS build) certificates for a secure lab.

    ACL files allow no comments. Passwords are stored as SHA-256 (``#...``), never in
    clear; the plain ones are returned (the lab keeps them in ``lab.credentials`` and in
    its ``lab.json``, mode 0600).
    """
    credentials = {"admin": secrets.token_hex(32), "app": secrets.token_hex(32)}
    acl = [
        "user default off resetchannels -@all",
        f"user admin on #{_sha256(credentials['admin'])} ~* &* +@all",
        f"user app on #{_sha256(credentials['app'])} resetchannels ~app:* &app:* "
        "-@all +@read +@write +@connection -@dangerous",
    ]
    (workdir / "users.acl").write_text("\n".join(acl) + "\n")
    tls = make_tls_files(workdir / "tls") if server.tls else None
    return credentials, tls


def _config_port(config: Mapping[str, object] | None, key: str) -> int | None:
    """The port ``config=`` sets for ``key`` (``tls-port``, ``cluster-port``), if any."""
    for k, v in (config or {}).items():
        if k.lower() == key:
            try:
                return int(str(v).strip().strip("'\"")) or None
            except ValueError:
                return None
    return None


def node_port_uses(
    name: str,
    port: int,
    *,
    sentinel: bool = False,
    cluster: bool = False,
    tls: bool = False,
    config: Mapping[str, object] | None = None,
    lab: str | None = None,
) -> list[PortUse]:
    """The ports one node takes: its port (its TLS port when it listens on TLS only), a
    cluster node's bus port (port + 10000, or ``cluster-port``) and a ``tls-port`` set
    by ``config=`` (data nodes only)."""
    uses = [PortUse(port, f"{name}'s TLS port" if tls else name, lab)]
    if sentinel:
        return uses
    if cluster:
        fixed_bus = _config_port(config, "cluster-port")
        if fixed_bus:
            uses.append(PortUse(fixed_bus, f"{name}'s cluster bus port (cluster-port)", lab, True))
        else:
            bus = port + BUS_OFFSET
            uses.append(
                PortUse(bus, f"{name}'s cluster bus port ({port} + {BUS_OFFSET})", lab, True)
            )
    extra_tls = _config_port(config, "tls-port")
    if extra_tls and not tls:
        uses.append(PortUse(extra_tls, f"{name}'s TLS port (tls-port in config=)", lab))
    return uses


def port_plan(
    topology: Topology,
    data_ports: Sequence[int],
    sentinel_ports: Sequence[int] = (),
    *,
    config: Mapping[str, object] | None = None,
    tls: bool = False,
) -> list[PortUse]:
    """Every port a lab at fixed ports takes, with its owner: data nodes in topology
    order (``tls``: they listen on TLS only), their bus ports, then the sentinels."""
    uses: list[PortUse] = []
    for spec, p in zip(topology.nodes, data_ports, strict=True):
        uses += node_port_uses(spec.name, p, cluster=topology.cluster, tls=tls, config=config)
    for i, p in enumerate(sentinel_ports, start=1):
        uses += node_port_uses(f"sentinel-{i}", p, sentinel=True, tls=topology.tls)
    return uses


def record_port_uses(record: Mapping[str, Any]) -> list[PortUse]:
    """The ports a lab in the registry takes (from its ``lab.json``), with their owners."""
    name = str(record.get("name", "?"))
    config = record.get("config") or {}
    data_tls = bool(record.get("tls") or record.get("tls_dir"))
    uses: list[PortUse] = []
    for n in record.get("nodes", []):
        if not n.get("port"):
            continue
        sentinel = n.get("role") == "sentinel"
        uses += node_port_uses(
            str(n.get("name", "?")), int(n["port"]), sentinel=sentinel,
            cluster=bool(n.get("cluster")), tls=bool(record.get("tls")) if sentinel else data_tls,
            config=config, lab=name,
        )  # fmt: skip
    return uses


def registry_port_uses() -> list[PortUse]:
    """The ports of every lab the registry knows (stale labs are cleaned up first): a lab
    whose node is down for an experiment still owns that node's port."""
    cleanup_stale()
    return [use for rec in list_records() for use in record_port_uses(rec)]


def fixed_ports(
    topology: Topology,
    port: int | None,
    sentinel_port: int | None,
    *,
    config: Mapping[str, object] | None = None,
    tls: bool = False,
    known: Sequence[PortUse] | None = None,
) -> tuple[list[int | None], list[int | None]]:
    """The ports data nodes and sentinels are asked to use (None: a free one is reserved).

    Data nodes get ``port, port + 1, ...`` in topology order; sentinels get
    ``sentinel_port, sentinel_port + 1, ...`` (default ``port + 20000``: 6379 -> 26379, the
    usual Sentinel ports). The whole plan (:func:`port_plan`: data, cluster bus, sentinel
    and TLS ports) is checked before anything starts (:func:`~.ports.check_port_plan`):
    two uses of one port, in the plan or against ``known`` (default: every lab the
    registry knows), are :class:`PortConflict` naming both owners; a port bound by
    anything else is :class:`PortTaken` naming it.
    """
    n_data, n_sent = len(topology.nodes), topology.sentinels
    if port is None:
        if sentinel_port is not None:
            raise UsageError("sentinel_port= needs port= (the data nodes' first port)")
        return [None] * n_data, [None] * n_sent
    if n_sent and sentinel_port is None:
        sentinel_port = port + 20000
    data = list(range(port, port + n_data))
    sent = list(range(sentinel_port, sentinel_port + n_sent)) if sentinel_port else []
    plan = port_plan(topology, data, sent, config=config, tls=tls)
    check_port_plan(plan, registry_port_uses() if known is None else known)
    return list(data), list(sent)
