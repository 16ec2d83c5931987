"""What a lab's nodes are: validated arguments, generated config sections, security files."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from pathlib import Path

from ..errors import TopologyError
from .config import Section, persistence_directives
from .node import Node
from .servers import ServerInfo
from .tls import TLSFiles, make_tls_files
from .topology import SENTINEL_SETTINGS, Topology, get_topology

__all__ = ["BOOTSTRAPS", "data_sections", "new_data_node", "security_files", "validate_start"]

BOOTSTRAPS = ("fast", "naive")
"""How a topology is formed: ``fast`` (the lab's way) or ``naive`` (the textbook way)."""

Sections = list[Section]


def validate_start(
    topology: str,
    persistence: str | None,
    bootstrap: str,
    sentinel: Mapping[str, int] | None,
) -> tuple[Topology, str]:
    """Check ``Lab.start``'s names before anything starts; the error lists the valid ones."""
    topo = get_topology(topology)
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
        sec: dict[str, object] = {"aclfile": f'"{workdir / "users.acl"}"'}
        if tls is not None:
            sec.update(
                {
                    "tls-cert-file": f'"{tls.server_cert}"',
                    "tls-key-file": f'"{tls.server_key}"',
                    "tls-ca-cert-file": f'"{tls.ca_cert}"',
                    "tls-auth-clients": "yes",
                }
            )
        sections.append(("security", sec))
    if config:
        overrides = dict(config)
        keys = {k.lower() for k in overrides}
        sections = [
            (title, {k: v for k, v in dict(d).items() if k.lower() not in keys})
            for title, d in sections
        ]
        sections.append(("your overrides (config=...)", overrides))
    return sections


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
) -> Node:
    """A data node of a lab (not started); in a secure lab its own clients log in as admin."""
    user = "admin" if topology.secure else None
    return Node(
        name=name,
        role=role,
        server=server,
        directory=workdir / name,
        sections=sections,
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
