"""Generated, commented ``redis.conf`` files and the per-lab persistence presets.

Every node's directory holds the file this module renders, so a learner can open
it and read *why* each line is there. Values are redis.conf syntax strings.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import TopologyError

__all__ = [
    "PERSISTENCE",
    "apply_overrides",
    "format_value",
    "persistence_directives",
    "render_config",
]

DEFAULT_SAVE = "3600 1 300 100 60 10000"

#: Persistence presets: name -> directives. ``none`` is the default of a lab.
PERSISTENCE: dict[str, dict[str, str]] = {
    "none": {"save": '""', "appendonly": "no"},
    "rdb": {"save": DEFAULT_SAVE, "appendonly": "no"},
    "aof-always": {
        "save": '""',
        "appendonly": "yes",
        "appendfsync": "always",
        "aof-use-rdb-preamble": "no",
    },
    "aof-everysec": {
        "save": '""',
        "appendonly": "yes",
        "appendfsync": "everysec",
        "aof-use-rdb-preamble": "no",
    },
    "aof-no": {
        "save": '""',
        "appendonly": "yes",
        "appendfsync": "no",
        "aof-use-rdb-preamble": "no",
    },
    "hybrid": {
        "save": DEFAULT_SAVE,
        "appendonly": "yes",
        "appendfsync": "everysec",
        "aof-use-rdb-preamble": "yes",
    },
}

# Why each directive is there; shown above it in the generated file.
COMMENTS: dict[str, str] = {
    "bind": "Loopback only: a lab is never reachable from another machine.",
    "port": "Chosen free by redislab (below 32768, so the cluster bus port + 10000 fits too).",
    "tls-port": "TLS listener (port 0 above turns plain TCP off).",
    "daemonize": "redislab supervises the process itself.",
    "dir": "This node's own directory: data files, AOF directory and nodes.conf live here.",
    "logfile": "The log you can read with `redislab logs NODE` or node.log_tail().",
    "dbfilename": "RDB snapshot file name (inside dir).",
    "save": "RDB save points '<seconds> <changes> ...'; \"\" turns snapshots off.",
    "appendonly": "Append-only file on/off.",
    "appendfsync": "When the AOF is fsynced: always | everysec | no (OS decides, ~30 s).",
    "aof-use-rdb-preamble": "Hybrid persistence: an AOF rewrite starts with an RDB image.",
    "repl-diskless-sync-delay": (
        "Default 5 s: a primary waits that long before the first full sync; a lab wants 0."
    ),
    "repl-diskless-load": (
        "An empty replica loads the primary's snapshot straight from the socket. "
        "(Valkey 9 otherwise notices a finished download only on its next 1 s cron tick.)"
    ),
    "enable-debug-command": "Allow DEBUG (blocked by default since 7.0) from loopback clients.",
    "enable-module-command": (
        "Allow MODULE LOAD/UNLOAD (blocked by default since 7.0) from loopback clients: "
        "Lab.start(enable_module_command=True)."
    ),
    "cluster-enabled": "This node is a Redis Cluster node.",
    "cluster-config-file": "Cluster state, written by the server itself (do not edit).",
    "cluster-node-timeout": (
        "ms before a silent node is suspected (default 15000: far too slow for a notebook)."
    ),
    "replicaof": "Replicate from this primary (added once the replica was told REPLICAOF).",
    "aclfile": "Users and passwords (hashed) live in this ACL file.",
    "tls-cert-file": "Server certificate, signed by the lab's CA (SAN localhost, 127.0.0.1).",
    "tls-key-file": "Server private key.",
    "tls-ca-cert-file": "The lab's CA: clients must present a certificate it signed.",
    "tls-auth-clients": "Clients must present a certificate (mutual TLS).",
    "tls-client-cert-file": (
        "Certificate this node presents on its outgoing links (replication, cluster bus)."
    ),
    "tls-client-key-file": "Private key of that client certificate.",
    "tls-replication": "Replication links use TLS too (a sentinel: its links to every node).",
    "tls-cluster": "The cluster bus uses TLS too.",
    "protected-mode": "Off: access is already limited by bind 127.0.0.1 (and ACLs).",
    "sentinel": "Sentinel settings: see https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/",
}


def persistence_directives(name: str | None) -> dict[str, str]:
    """The directives of persistence preset ``name`` (``None`` means ``"none"``)."""
    key = name or "none"
    if key not in PERSISTENCE:
        raise TopologyError(f"unknown persistence {key!r}; valid names: {', '.join(PERSISTENCE)}")
    return dict(PERSISTENCE[key])


def format_value(value: object) -> str:
    """A Python value as redis.conf text: bools as yes/no, empty strings quoted."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    if text == "":
        return '""'
    return text


Section = tuple[str, Mapping[str, object] | Sequence[tuple[str, object]]]
"""One commented block of a generated ``redis.conf``: a title and its directives."""


def render_config(
    sections: Sequence[Section],
    *,
    title: str,
    server_label: str,
) -> str:
    """Render ``[(section title, directives), ...]`` as a commented redis.conf."""
    now = _dt.datetime.now().isoformat(timespec="seconds")
    out = [
        f"# {title}",
        f"# Generated by redislab for {server_label} on {now}.",
        "# Edit a value and node.restart() to try it; node.restart(config={...}) edits for you.",
        "",
    ]
    for heading, directives in sections:
        items = list(directives.items()) if isinstance(directives, Mapping) else list(directives)
        if not items:
            continue
        out.append(f"# --- {heading} " + "-" * max(0, 60 - len(heading)))
        for k, v in items:
            comment = COMMENTS.get(k.split(" ", 1)[0])
            if comment and k.split(" ", 1)[0] != "sentinel":
                out.append(f"# {comment}")
            out.append(f"{k} {format_value(v)}")
        out.append("")
    return "\n".join(out)


def apply_overrides(path: Path, overrides: Mapping[str, object]) -> None:
    """Edit a config file in place: drop existing lines for each key, append new values.

    Lines that the server itself rewrote (CONFIG REWRITE, a sentinel failover) are
    kept, so a restart sees the node's latest role.
    """
    if not overrides:
        return
    keys = {k.lower() for k in overrides}
    kept = []
    for line in path.read_text().splitlines():
        first = line.strip().split(" ", 1)[0].lower() if line.strip() else ""
        if first and not first.startswith("#") and first in keys:
            continue
        kept.append(line)
    kept.append("# --- applied by redislab (restart with config=...) " + "-" * 10)
    for k, v in overrides.items():
        kept.append(f"{k} {format_value(v)}")
    path.write_text("\n".join(kept) + "\n")
