"""The attack matrix: every user tries every operation; the server's answers, tabulated.

A cell is ``denied`` when the server answers ``NOPERM`` (the ACL refused it),
``blocked`` when a configuration switch refused the command for everyone before the
ACL was asked (``MODULE command not allowed``: ``enable-module-command no``, the
default since 7.0; the same for ``DEBUG``), and ``allowed`` otherwise, including
errors such as ``ERR No such client``: the ACL let the command through and an
argument stopped it. ``detail`` keeps the reply.

The operations are harmless when allowed (``SHUTDOWN ABORT``, ``CONFIG SET`` of a
default value, ``MIGRATE`` of a missing key, ``CLIENT KILL`` of a missing id, a
missing module) except ``FUNCTION FLUSH`` and ``SCRIPT FLUSH`` (they empty the
server's function libraries and script cache), ``CONFIG GET requirepass`` (it
returns the password in clear, masked in ``detail``) and ``FLUSHALL``, which comes
last: run the matrix on a lab whose data and scripts you do not need.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import redis

from ..keys import SECURITY_APP, SECURITY_BILLING, SECURITY_QUEUE, SECURITY_REPORT, key
from ..replies import text
from ..types import PlainConnection

__all__ = [
    "OPERATIONS",
    "Operation",
    "dryrun_matrix",
    "intended_policy",
    "run_matrix",
]

PROBE_USER = "redislab-matrix-probe"

# KEYS[1]: the key the script reads (declared, so the ACL checks it before running).
EVAL_GET_LUA = "return redis.call('GET', KEYS[1])"


@dataclass(frozen=True)
class Operation:
    """One attempt: a label for the table and the command's arguments."""

    label: str
    args: tuple[str, ...]


OPERATIONS: tuple[Operation, ...] = (
    Operation("GET own prefix", ("GET", key(SECURITY_APP, "1"))),
    Operation("SET own prefix", ("SET", key(SECURITY_APP, "1"), "v")),
    Operation("GET other prefix", ("GET", key(SECURITY_BILLING, "1"))),
    Operation("SET other prefix", ("SET", key(SECURITY_BILLING, "1"), "v")),
    Operation("GET report", ("GET", key(SECURITY_REPORT, "1"))),
    Operation("SET report", ("SET", key(SECURITY_REPORT, "1"), "v")),
    Operation("XADD queue stream", ("XADD", key(SECURITY_QUEUE, "jobs"), "*", "job", "1")),
    Operation("PUBLISH queue channel", ("PUBLISH", key(SECURITY_QUEUE, "events"), "hi")),
    Operation("PUBLISH forbidden channel", ("PUBLISH", key(SECURITY_BILLING, "events"), "hi")),
    Operation("EVAL forbidden key", ("EVAL", EVAL_GET_LUA, "1", key(SECURITY_BILLING, "1"))),
    Operation("KEYS *", ("KEYS", "*")),
    Operation("CONFIG SET", ("CONFIG", "SET", "slowlog-max-len", "128")),
    Operation("DEBUG", ("DEBUG", "SLEEP", "0")),
    Operation("SHUTDOWN", ("SHUTDOWN", "ABORT")),
    Operation("ACL SETUSER", ("ACL", "SETUSER", PROBE_USER)),
    Operation("MODULE LOAD", ("MODULE", "LOAD", "/nonexistent/redislab-module.so")),
    Operation("MIGRATE", ("MIGRATE", "127.0.0.1", "1", key(SECURITY_APP, "none"), "0", "100")),
    Operation("CLIENT KILL", ("CLIENT", "KILL", "ID", "999999999")),
    Operation("CONFIG GET requirepass", ("CONFIG", "GET", "requirepass")),
    Operation("FUNCTION FLUSH", ("FUNCTION", "FLUSH")),
    Operation("SCRIPT FLUSH", ("SCRIPT", "FLUSH")),
    Operation("FLUSHALL", ("FLUSHALL",)),
)


def intended_policy(*, selectors: bool = True) -> pd.DataFrame:
    """What each role of :func:`~redislab.security.acl.default_roles` should be allowed.

    Written out by hand from the roles' purpose, not computed from the ACL rules: the
    matrix is then a test of the rules against the intent. ``MODULE LOAD`` is
    ``blocked`` for everyone: modules are loaded from the configuration file only.
    """
    allow: dict[str, set[str]] = {
        "app": {"GET own prefix", "SET own prefix"} | ({"GET report"} if selectors else set()),
        "analyst": {"GET own prefix", "GET report", "SET report"},
        "worker": {"XADD queue stream", "PUBLISH queue channel"},
        "operator": {"CLIENT KILL"},
        "admin": {op.label for op in OPERATIONS},
    }
    labels = [op.label for op in OPERATIONS]
    blocked = {"MODULE LOAD"}  # enable-module-command no: for nobody at run time

    def cell(label: str, ok: set[str]) -> str:
        if label in blocked:
            return "blocked"
        return "allowed" if label in ok else "denied"

    return pd.DataFrame(
        {user: [cell(lab, ok) for lab in labels] for user, ok in allow.items()}, index=labels
    )


def run_matrix(
    clients: Mapping[str, PlainConnection],
    *,
    admin: PlainConnection,
    operations: Sequence[Operation] = OPERATIONS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every operation as every user: ``(outcomes, details)``, operations x users.

    ``clients`` maps user names to clients logged in as them (``admin`` last, since
    its ``FLUSHALL`` empties the server). ``admin`` removes the probe user the
    ``ACL SETUSER`` row creates.
    """
    outcome: dict[str, list[str]] = {}
    detail: dict[str, list[str]] = {}
    try:
        for user, client in clients.items():
            outcome[user], detail[user] = [], []
            for op in operations:
                try:
                    reply = text(client.execute_command(*op.args))
                    verdict = "allowed"
                except redis.exceptions.NoPermissionError as exc:
                    reply, verdict = f"NOPERM {exc}", "denied"
                except redis.ResponseError as exc:
                    message = str(exc)
                    if message.startswith("NOPERM"):
                        verdict = "denied"
                    elif "command not allowed" in message:
                        verdict = "blocked"
                    else:
                        verdict = "allowed"
                    reply = message
                if op.args[:2] == ("CONFIG", "GET") and verdict == "allowed":
                    reply = "(a value, not shown)"
                outcome[user].append(verdict)
                detail[user].append(reply[:80])
    finally:
        with contextlib.suppress(redis.RedisError):
            admin.execute_command("ACL", "DELUSER", PROBE_USER)
    labels = [op.label for op in operations]
    return pd.DataFrame(outcome, index=labels), pd.DataFrame(detail, index=labels)


def dryrun_matrix(
    connection: PlainConnection,
    users: Sequence[str],
    *,
    operations: Sequence[Operation] = OPERATIONS,
) -> pd.DataFrame:
    """``ACL DRYRUN`` (7.0+) for every cell: what the ACL alone decides, nothing executed.

    DRYRUN asks the ACL only, so a ``blocked`` cell of :func:`run_matrix` shows here
    as what the ACL would have said.
    """
    data: dict[str, list[str]] = {}
    for user in users:
        col = []
        for op in operations:
            reply = text(connection.execute_command("ACL", "DRYRUN", user, *op.args))
            col.append("allowed" if reply == "OK" else "denied")
        data[user] = col
    return pd.DataFrame(data, index=[op.label for op in operations])
