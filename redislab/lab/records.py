"""A lab as written in its ``lab.json``, read back for ``Lab.attach``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .node import Node
from .registry import labs_dir, live_pids, read_record
from .servers import ServerInfo
from .tls import TLSFiles

__all__ = ["node_from_record", "running_records", "tls_from_record"]


def running_records() -> dict[str, tuple[Path, dict[str, Any]]]:
    """Every lab with a live process: name -> (its registry directory, its record)."""
    records = {}
    for d in labs_dir().iterdir():
        rec = read_record(d) if d.is_dir() else None
        if rec and live_pids(rec):
            records[rec["name"]] = (d, rec)
    return records


def tls_from_record(rec: dict[str, Any]) -> TLSFiles | None:
    """The TLS files a secure or ``tls=True`` lab made, or None."""
    if not rec.get("tls_dir"):
        return None
    d = Path(rec["tls_dir"])
    return TLSFiles(
        d / "ca.crt", d / "server.crt", d / "server.key", d / "client.crt", d / "client.key"
    )


def node_from_record(
    nr: dict[str, Any],
    *,
    server: ServerInfo,
    tls: TLSFiles | None,
    credentials: dict[str, str],
    secure: bool,
    tls_everywhere: bool = False,
) -> Node:
    """A :class:`Node` for a running process recorded in ``lab.json`` (not owned).

    Sentinels speak TLS only in a ``tls=True`` lab; data nodes whenever the lab has TLS.
    """
    data = nr["role"] != "sentinel"
    return Node(
        name=nr["name"],
        role=nr["role"],
        server=server,
        directory=Path(nr["dir"]),
        port=nr["port"],
        cluster=nr.get("cluster", False),
        tls=tls if data or tls_everywhere else None,
        username="admin" if secure and data else None,
        password=credentials.get("admin") if secure and data else None,
        die_with_parent=False,
        pid=nr["pid"],
    )
