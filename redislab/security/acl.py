"""Roles as code: a declarative spec rendered to ``ACL SETUSER`` lines and an ACL file.

A :class:`Role` says which keys (``~`` all access, ``%R~`` read only, ``%W~`` write
only), channels (``&``) and commands (``+@read``, ``-@dangerous``, ``+get``) a user
gets, plus selectors (``(...)``: a second, independent set of permissions). The
server normalises rules (it expands ``-@dangerous`` after ``+@write`` into single
commands), so a diff against ``ACL LIST`` by string would always differ. Instead
:func:`acl_diff` applies each spec to a throw-away user, reads how the server writes
*that* down, and compares it with the live user: the server is its own normaliser.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import redis

from ..errors import SecurityError
from ..keys import (
    SECURITY_APP,
    SECURITY_QUEUE,
    SECURITY_REPORT,
    key,
)
from ..types import PlainConnection
from .auth import password_hash

__all__ = [
    "AclFeatures",
    "Role",
    "acl_diff",
    "acl_features",
    "apply_roles",
    "default_roles",
    "render_acl_file",
    "render_setuser",
    "write_acl_file",
]


@dataclass(frozen=True)
class Role:
    """One user's permissions, declared.

    Args:
        name: the ACL user name.
        keys: patterns with full access (``~pattern``).
        read_keys: read-only patterns (``%R~pattern``, 7.0+).
        write_keys: write-only patterns (``%W~pattern``, 7.0+).
        channels: Pub/Sub channel patterns (``&pattern``); none means ``resetchannels``.
        commands: command rules in order (``-@all``, ``+@read``, ``-@dangerous``, ``+info``).
        selectors: extra permission sets, each a tuple of rules (``("~cache:*", "+get")``).
        enabled: ``on`` or ``off``.
        description: what the role is for (documentation only).
    """

    name: str
    keys: tuple[str, ...] = ()
    read_keys: tuple[str, ...] = ()
    write_keys: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    commands: tuple[str, ...] = ("-@all",)
    selectors: tuple[tuple[str, ...], ...] = ()
    enabled: bool = True
    description: str = ""

    def rules(
        self,
        *,
        password_hashes: Sequence[str] = (),
        features: AclFeatures | None = None,
    ) -> list[str]:
        """The ACL rules (without ``user <name>``), in the order the server applies them."""
        feats = features or AclFeatures(True, True)
        out = ["reset", "on" if self.enabled else "off"]
        out += [f"#{h}" for h in password_hashes]
        out += [f"~{p}" for p in self.keys]
        if feats.read_write_keys:
            out += [f"%R~{p}" for p in self.read_keys]
            out += [f"%W~{p}" for p in self.write_keys]
        elif self.read_keys or self.write_keys:
            raise SecurityError(f"role {self.name}: this server has no %R~/%W~ key permissions")
        out.append("resetchannels")
        out += [f"&{p}" for p in self.channels]
        out += list(self.commands)
        if self.selectors:
            if not feats.selectors:
                raise SecurityError(f"role {self.name}: this server has no ACL selectors")
            out += ["(" + " ".join(sel) + ")" for sel in self.selectors]
        return out


@dataclass(frozen=True)
class AclFeatures:
    """What the live server's ACL understands (asked, not guessed from the version)."""

    read_write_keys: bool
    selectors: bool


def _probe(connection: PlainConnection, *rules: str) -> bool:
    probe = f"redislab-probe-{secrets.token_hex(4)}"
    try:
        connection.execute_command("ACL", "SETUSER", probe, "off", *rules)
        return True
    except redis.ResponseError:
        return False
    finally:
        with contextlib.suppress(redis.RedisError):
            connection.execute_command("ACL", "DELUSER", probe)


def acl_features(connection: PlainConnection) -> AclFeatures:
    """Try ``%R~`` and a selector on a throw-away user (Redis 7.0+, Valkey 7.2+ have both)."""
    return AclFeatures(
        read_write_keys=_probe(connection, "%R~probe:*"),
        selectors=_probe(connection, "(~probe:* +get)"),
    )


def default_roles(*, selectors: bool = True) -> list[Role]:
    """The lab's role model: app, analyst, worker, operator and admin.

    - ``app``: data commands on its own prefix, and it may run scripts and functions
      (``EVAL``, ``EVALSHA``, ``FCALL``) but not manage them: ``+@scripting`` would also
      grant ``FUNCTION FLUSH``/``LOAD``/``DELETE``/``RESTORE`` and ``SCRIPT FLUSH``/``KILL``,
      which are server-wide and not in ``@dangerous``, and the ``FUNCTION`` ones are in
      ``@write`` too, hence ``-function`` last; with a selector (where supported) it may
      also ``GET`` the report keys.
    - ``analyst``: reads the application's keys (``%R~``), writes only its reports.
    - ``worker``: streams and Pub/Sub on the queue prefix and channels only.
    - ``operator``: looks at the server (``INFO``, ``CLIENT LIST/KILL``, ``SLOWLOG``,
      ``ACL LOG``), touches no key. No ``CONFIG GET``: it returns ``requirepass`` and
      ``masterauth`` in clear, and the ACL cannot grant it for some parameters only.
    - ``admin``: everything.
    """
    app = key(SECURITY_APP, "*")
    report = key(SECURITY_REPORT, "*")
    queue = key(SECURITY_QUEUE, "*")
    return [
        Role(
            "app",
            keys=(app,),
            # scripts it may run, not the server-wide script commands: +@scripting would also
            # grant FUNCTION FLUSH/LOAD/DELETE/RESTORE and SCRIPT FLUSH/KILL (not @dangerous),
            # and +@write alone grants the FUNCTION ones (they are @write too): -function
            commands=(
                "-@all",
                "+@read",
                "+@write",
                "+eval",
                "+evalsha",
                "+fcall",
                "+fcall_ro",
                "+@connection",
                "-@dangerous",
                "-function",
            ),
            selectors=((f"~{report}", "+get"),) if selectors else (),
            description="the application: data commands and scripts on its prefix",
        ),
        Role(
            "analyst",
            keys=(report,),
            read_keys=(app,),
            # -function: FUNCTION FLUSH/DELETE/LOAD/RESTORE are in @write
            commands=("-@all", "+@read", "+@write", "+@connection", "-@dangerous", "-function"),
            description="reads the application's keys, writes reports",
        ),
        Role(
            "worker",
            keys=(queue,),
            channels=(queue,),
            commands=("-@all", "+@stream", "+@pubsub", "+@connection", "-@dangerous"),
            description="consumes and publishes on the queue prefix",
        ),
        Role(
            "operator",
            commands=(
                "-@all",
                "+@connection",
                "+info",
                "+slowlog",
                "+client|list",
                "+client|kill",
                "+acl|log",
                "+dbsize",
                "+latency",
            ),
            description="monitors and kills clients, touches no data",
        ),
        Role("admin", keys=("*",), channels=("*",), commands=("+@all",), description="everything"),
    ]


def render_setuser(
    role: Role, *, passwords: Sequence[str] = (), features: AclFeatures | None = None
) -> list[str]:
    """``["ACL", "SETUSER", name, rules...]`` with passwords as ``#<sha256>`` (never clear)."""
    hashes = [password_hash(p) for p in passwords]
    return ["ACL", "SETUSER", role.name, *role.rules(password_hashes=hashes, features=features)]


def render_acl_file(
    roles: Iterable[Role],
    passwords: Mapping[str, Sequence[str]],
    *,
    features: AclFeatures | None = None,
    default_off: bool = True,
) -> str:
    """An ACL file (``aclfile``): one ``user`` line per role, passwords hashed.

    Each line keeps ``reset`` first, so a loaded user equals one made by
    :func:`apply_roles` (``reset`` also sets ``sanitize-payload``). The file format
    allows no comments. ``default_off`` adds ``user default off`` first.
    """
    lines = ["user default off resetchannels -@all"] if default_off else []
    for role in roles:
        rules = role.rules(
            password_hashes=[password_hash(p) for p in passwords.get(role.name, ())],
            features=features,
        )
        lines.append(" ".join(["user", role.name, *rules]))
    return "\n".join(lines) + "\n"


def write_acl_file(path: str | os.PathLike[str], text: str) -> Path:
    """Write an ACL file readable by its owner only (it holds password hashes)."""
    target = Path(path)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return target


def apply_roles(
    connection: PlainConnection,
    roles: Iterable[Role],
    passwords: Mapping[str, Sequence[str]],
    *,
    features: AclFeatures | None = None,
) -> list[str]:
    """``ACL SETUSER`` every role (``reset`` first, so the spec is the whole truth)."""
    feats = features or acl_features(connection)
    done = []
    for role in roles:
        connection.execute_command(
            *render_setuser(role, passwords=passwords.get(role.name, ()), features=feats)
        )
        done.append(role.name)
    return done


def _acl_list(connection: PlainConnection) -> dict[str, str]:
    out = {}
    for line in connection.execute_command("ACL", "LIST"):
        text = line.decode() if isinstance(line, bytes) else line
        parts = text.split(" ", 2)
        out[parts[1]] = parts[2] if len(parts) > 2 else ""
    return out


def _normalised(connection: PlainConnection, role: Role, hashes: Sequence[str]) -> str:
    probe = f"redislab-spec-{secrets.token_hex(4)}"
    try:
        connection.execute_command(
            "ACL", "SETUSER", probe, *role.rules(password_hashes=hashes, features=None)
        )
        return _acl_list(connection)[probe]
    finally:
        with contextlib.suppress(redis.RedisError):
            connection.execute_command("ACL", "DELUSER", probe)


def acl_diff(
    connection: PlainConnection,
    roles: Iterable[Role],
    passwords: Mapping[str, Sequence[str]],
    *,
    ignore: Iterable[str] = ("default",),
) -> pd.DataFrame:
    """Compare the spec with ``ACL LIST``: one row per user, ``status`` and the differences.

    ``status`` is ``same``, ``changed`` (``only_spec`` / ``only_server`` list the
    differing rules; hashes shortened), ``missing`` (in the spec, not on the server)
    or ``extra`` (on the server, not in the spec).
    """
    live = _acl_list(connection)
    rows: list[dict[str, object]] = []
    seen = set(ignore)
    for role in roles:
        seen.add(role.name)
        want = _normalised(
            connection, role, [password_hash(p) for p in passwords.get(role.name, ())]
        )
        have = live.get(role.name)
        if have is None:
            rows.append((role.name, "missing", _short(want.split()), []))
            continue
        w, h = want.split(), have.split()
        if w == h:
            rows.append((role.name, "same", [], []))
        else:
            rows.append(
                (
                    role.name,
                    "changed",
                    _short([r for r in w if r not in h]),
                    _short([r for r in h if r not in w]),
                )
            )
    for name, have in live.items():
        if name not in seen:
            rows.append((name, "extra", [], _short(have.split())))
    return pd.DataFrame(rows, columns=["user", "status", "only_spec", "only_server"])


def _short(rules: list[str]) -> list[str]:
    return [r[:9] + "…" if r.startswith("#") else r for r in rules]
