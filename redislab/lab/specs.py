"""What a lab's nodes are: validated arguments, generated config sections, security files."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import PortTaken, TLSUnavailable, TopologyError, UsageError
from .config import Section, persistence_directives
from .node import Node
from .ports import port_is_free
from .servers import ServerInfo
from .tls import TLSFiles, make_tls_files, tls_directives
from .topology import SENTINEL_SETTINGS, Topology, get_topology

__all__ = [
    "BOOTSTRAPS",
    "data_sections",
    "fixed_ports",
    "new_data_node",
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
) -> Sections:
    """The commented sections of a data node's ``redis.conf``, the user's overrides last."""
    defaults: dict[str, object] = {
        "repl-diskless-sync-delay": 0,
        "repl-diskless-load": "on-empty-db",
    }
    if server.supports_debug_setting:
        defaults["enable-debug-command"] = "local"
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


def fixed_ports(
    topology: Topology, port: int | None, sentinel_port: int | None
) -> tuple[list[int | None], list[int | None]]:
    """The ports data nodes and sentinels are asked to use (None: a free one is reserved).

    Data nodes get ``port, port + 1, ...`` in topology order; sentinels get
    ``sentinel_port, sentinel_port + 1, ...`` (default ``port + 20000``: 6379 -> 26379, the
    usual Sentinel ports). Every port (and a cluster node's bus port, + 10000) must be free
    now: :class:`PortTaken` names the first that is not, before anything starts.
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
    wanted = [*data, *(p + 10000 for p in data if topology.cluster), *sent]
    bad = [p for p in wanted if not 0 < p < 65536]
    if bad:
        raise UsageError(f"port {bad[0]} is out of range (the lab needs {wanted[0]}-{wanted[-1]})")
    if len(set(wanted)) != len(wanted):
        raise UsageError(f"the data, bus and sentinel ports overlap: {sorted(wanted)}")
    for p in wanted:
        if not port_is_free(p):
            raise PortTaken(
                f"port {p} on 127.0.0.1 is taken (the lab needs {', '.join(map(str, wanted))}); "
                "stop what listens there or choose another port="
            )
    return list(data), list(sent)
