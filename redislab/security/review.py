"""A configuration review: inspect a running server and list findings with a severity.

Reads ``CONFIG GET``, ``ACL LIST`` and ``INFO`` only (nothing is changed). Usable on
any server from a script::

    python -m redislab.security.review redis://user:password@host:6379/0
    python -m redislab.security.review rediss://... --cache   # also flag missing maxmemory
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import redis
from packaging.version import Version

from ..kit.features import server_version
from ..types import PlainConnection

__all__ = ["Finding", "findings_table", "review", "review_url"]

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}
DANGEROUS = ("flushall", "config", "debug", "keys", "shutdown", "module", "acl")
OLDEST_SUPPORTED = Version("7.2")


@dataclass(frozen=True)
class Finding:
    """One problem found: how bad, what, and what to do about it."""

    severity: str
    check: str
    detail: str
    fix: str


def _config(connection: PlainConnection, name: str) -> str | None:
    try:
        reply = connection.config_get(name)
    except redis.ResponseError:
        return None
    return reply.get(name)


def _users(connection: PlainConnection) -> dict[str, list[str]]:
    out = {}
    for line in connection.execute_command("ACL", "LIST"):
        text = line.decode() if isinstance(line, bytes) else line
        parts = text.split()
        out[parts[1]] = parts[2:]
    return out


def _dryrun_allows(connection: PlainConnection, user: str, command: str) -> bool:
    args = {
        "flushall": ["FLUSHALL"],
        "config": ["CONFIG", "SET", "dir", "/tmp"],
        "debug": ["DEBUG", "SLEEP", "0"],
        "keys": ["KEYS", "*"],
        "shutdown": ["SHUTDOWN"],
        "module": ["MODULE", "LOAD", "x.so"],
        "acl": ["ACL", "SETUSER", "x"],
    }[command]
    try:
        reply = connection.execute_command("ACL", "DRYRUN", user, *args)
    except redis.ResponseError:
        return False
    return (reply.decode() if isinstance(reply, bytes) else reply) == "OK"


def review(connection: PlainConnection, *, cache: bool = False) -> list[Finding]:
    """Findings for the server behind ``connection`` (best first: high severity first).

    ``cache``: the server is a cache, so no ``maxmemory`` is a finding. The connection
    should be an administrator's (``ACL LIST`` and ``CONFIG GET`` need it).
    """
    found: list[Finding] = []
    users = _users(connection)
    default = users.get("default", [])
    if "on" in default and "nopass" in default:
        found.append(
            Finding(
                "high",
                "default user enabled without password",
                "anyone who reaches the port is `default` with " + " ".join(default[2:5]) + " ...",
                "ACL SETUSER default off (or give it a password), use named users",
            )
        )
    if _config(connection, "protected-mode") == "no":
        found.append(
            Finding("medium", "protected mode off", "protected-mode no", "protected-mode yes")
        )
    bind = _config(connection, "bind") or ""
    if not bind.strip() or any(a in ("*", "0.0.0.0", "::", "-::*") for a in bind.split()):
        found.append(
            Finding(
                "high",
                "bound to all interfaces",
                f"bind {bind!r}",
                "bind to the addresses clients use",
            )
        )
    tls_port = _config(connection, "tls-port")
    if tls_port in (None, "0"):
        found.append(
            Finding(
                "medium",
                "TLS off",
                "no tls-port: passwords and data cross the network in clear",
                "tls-port with certificates; port 0 for TLS only",
            )
        )
    elif _config(connection, "port") not in ("0", None):
        found.append(
            Finding(
                "low",
                "plaintext port open beside TLS",
                f"port {_config(connection, 'port')}",
                "port 0",
            )
        )
    debug = _config(connection, "enable-debug-command")
    if debug and debug != "no":
        found.append(
            Finding(
                "medium",
                "DEBUG enabled",
                f"enable-debug-command {debug}",
                "enable-debug-command no",
            )
        )
    module = _config(connection, "enable-module-command")
    if module and module != "no":
        found.append(
            Finding(
                "medium",
                "MODULE LOAD enabled",
                f"enable-module-command {module}",
                "enable-module-command no",
            )
        )
    for user, rules in users.items():
        if "on" not in rules or user in ("admin", "default"):
            continue
        open_ = [c for c in DANGEROUS if _dryrun_allows(connection, user, c)]
        if open_:
            found.append(
                Finding(
                    "high",
                    f"dangerous commands open to {user!r}",
                    ", ".join(open_),
                    f"ACL SETUSER {user} -@dangerous (or a narrower command list)",
                )
            )
    if cache and _config(connection, "maxmemory") in ("0", None):
        found.append(
            Finding(
                "medium",
                "no maxmemory for a cache",
                "maxmemory 0: grows until the OS kills it",
                "maxmemory <bytes> and an eviction policy",
            )
        )
    version = server_version(connection)
    info = connection.info("server")
    engine = "valkey" if "valkey_version" in info else "redis"
    if engine == "redis" and version < OLDEST_SUPPORTED:
        found.append(
            Finding(
                "low",
                "old server version",
                f"Redis {version}: past its end of life upstream",
                "upgrade to a supported release (https://redis.io/about/releases/)",
            )
        )
    return sorted(found, key=lambda f: SEVERITY_ORDER[f.severity])


def findings_table(findings: Sequence[Finding]) -> pd.DataFrame:
    """Findings as a DataFrame (severity, check, detail, fix)."""
    return pd.DataFrame(
        [f.__dict__ for f in findings], columns=["severity", "check", "detail", "fix"]
    )


def review_url(url: str, *, cache: bool = False, **kwargs: object) -> list[Finding]:
    """:func:`review` on the server at ``url`` (``redis://`` or ``rediss://``)."""
    client = redis.Redis.from_url(url, decode_responses=True, **kwargs)
    try:
        return review(client, cache=cache)
    finally:
        client.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the findings; exit 1 if any is ``high``.

    The password never needs to be on the command line (where ``ps`` and
    ``/proc/<pid>/cmdline`` show it to every local user): it is read from
    ``--password-file`` (first line; keep the file mode 0600) or from the environment
    variable ``REDISCLI_AUTH`` (as ``redis-cli`` does; a process's environment is
    readable by its owner only). A URL that carries a password still works, with a
    warning on stderr.
    """
    parser = argparse.ArgumentParser(description="Review a Redis/Valkey server's security settings")
    parser.add_argument("url", help="redis://[user@]host:port[/db] or rediss://...")
    parser.add_argument(
        "--cache", action="store_true", help="the server is a cache (check maxmemory)"
    )
    parser.add_argument("--user", help="the ACL user to log in as")
    parser.add_argument(
        "--password-file",
        help="a file whose first line is the password (else $REDISCLI_AUTH, if set)",
    )
    args = parser.parse_args(argv)
    kwargs: dict[str, object] = {}
    if args.user:
        kwargs["username"] = args.user
    if args.password_file:
        kwargs["password"] = Path(args.password_file).read_text().splitlines()[0]
    elif os.environ.get("REDISCLI_AUTH"):
        kwargs["password"] = os.environ["REDISCLI_AUTH"]
    if urlsplit(args.url).password:
        print(
            "warning: a password in the URL is visible to other local users (ps); "
            "use REDISCLI_AUTH or --password-file",
            file=sys.stderr,
        )
    findings = review_url(args.url, cache=args.cache, **kwargs)
    for f in findings:
        print(f"[{f.severity:>6}] {f.check}: {f.detail}\n         fix: {f.fix}")
    if not findings:
        print("no findings")
    return 1 if any(f.severity == "high" for f in findings) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
