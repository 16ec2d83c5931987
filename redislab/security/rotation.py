"""Incident drill: rotate a leaked password under load and count the failed requests.

A user may hold several passwords at once (``>new`` adds one, ``<old`` removes
one). The safe rotation is therefore: add the new password, move the clients to it,
remove the old one. The naive rotation (``resetpass >new``, then redeploy the
clients) fails every connection opened in between. Both are run here against the
same load: worker threads that open a fresh connection every few requests (pools
recycle connections, new instances start), reading the password their
"deployment" currently has.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import redis

from ..errors import SecurityError
from ..keys import SECURITY_APP, key
from ..kit import wait_until
from ..kit.timeline import no_retry
from ..types import PlainConnection
from .auth import generate_password

__all__ = ["RotationRun", "rotate_password", "rotation_table"]


@dataclass
class _Deployment:
    """The password the application's instances are configured with right now."""

    password: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    moved: set[int] = field(default_factory=set)
    """Workers whose live connection logged in with the current password."""

    def get(self) -> str:
        with self.lock:
            return self.password

    def set(self, password: str) -> None:
        with self.lock:
            self.password = password
            self.moved.clear()

    def confirm(self, index: int, used: str) -> None:
        with self.lock:
            if used == self.password:
                self.moved.add(index)

    def all_moved(self, workers: int) -> bool:
        with self.lock:
            return len(self.moved) == workers


@dataclass
class RotationRun:
    """What one rotation cost: requests, failures, and when each step happened."""

    strategy: str
    requests: int
    failed: int
    errors: dict[str, int]
    steps: list[tuple[float, str]]
    new_password: str = field(repr=False)
    failures: list[tuple[float, str, str]] = field(default_factory=list)
    """``(seconds since start, error type, "old"/"new" password the client used)``."""

    def row(self) -> dict[str, Any]:
        """A table row (no password in it)."""
        return {
            "strategy": self.strategy,
            "requests": self.requests,
            "failed": self.failed,
            "errors": ", ".join(f"{k} x{v}" for k, v in self.errors.items()) or "-",
        }


def _worker(
    connect: Callable[[str], redis.Redis],
    deployment: _Deployment,
    stop: threading.Event,
    index: int,
    reconnect_every: int,
    tally: dict[str, Any],
    lock: threading.Lock,
    t0: float,
    old: str,
) -> None:
    n = ok = 0
    errors: dict[str, int] = {}
    failures: list[tuple[float, str, str]] = []
    client: redis.Redis | None = None
    used = ""
    name = key(SECURITY_APP, "rotation", index)
    while not stop.is_set():
        try:
            if client is None or n % reconnect_every == 0:
                if client is not None:
                    client.close()
                used = deployment.get()
                client = connect(used)
            client.set(name, n)
            ok += 1
            deployment.confirm(index, used)
        except redis.RedisError as exc:
            kind = type(exc).__name__
            errors[kind] = errors.get(kind, 0) + 1
            failures.append(
                (round(time.perf_counter() - t0, 3), kind, "old" if used == old else "new")
            )
            if client is not None:
                client.close()
            client = None
            time.sleep(0.002)
        n += 1
    if client is not None:
        client.close()
    with lock:
        tally["requests"] += n
        tally["ok"] += ok
        for k, v in errors.items():
            tally["errors"][k] = tally["errors"].get(k, 0) + v
        tally["failures"].extend(failures)


def rotate_password(
    admin: PlainConnection,
    client_kwargs: Mapping[str, Any],
    *,
    user: str,
    old_password: str,
    strategy: str = "two-passwords",
    workers: int = 3,
    reconnect_every: int = 20,
    deploy_lag: float = 0.4,
    settle: float = 0.4,
) -> RotationRun:
    """Rotate ``user``'s password while ``workers`` threads write; count failed requests.

    ``strategy``: ``two-passwords`` (``>new``; deploy; ``<old``) or ``naive``
    (``resetpass >new``; deploy). ``deploy_lag`` is how long moving the clients takes.
    ``client_kwargs`` are the connection settings (host, port, TLS) without user and
    password. Returns the run; its ``new_password`` is the password now in force.
    """
    new = generate_password()
    deployment = _Deployment(old_password)
    kw = {k: v for k, v in client_kwargs.items() if k not in ("username", "password")}
    kw.update(socket_timeout=5, retry=no_retry())

    def connect(password: str) -> redis.Redis:
        return redis.Redis(username=user, password=password, **kw)

    stop = threading.Event()
    tally: dict[str, Any] = {"requests": 0, "ok": 0, "errors": {}, "failures": []}
    lock = threading.Lock()
    t0 = time.perf_counter()
    threads = [
        threading.Thread(
            target=_worker,
            args=(connect, deployment, stop, i, reconnect_every, tally, lock, t0, old_password),
            daemon=True,
        )
        for i in range(workers)
    ]
    steps: list[tuple[float, str]] = []

    def step(what: str) -> None:
        steps.append((round(time.perf_counter() - t0, 3), what))

    for t in threads:
        t.start()
    try:
        time.sleep(settle)
        if strategy == "two-passwords":
            admin.execute_command("ACL", "SETUSER", user, f">{new}")
            step("ACL SETUSER >new: the user has two passwords")
            time.sleep(deploy_lag)
            deployment.set(new)
            step("clients redeployed with the new password")
            wait_until(
                lambda: deployment.all_moved(workers),
                timeout=30,
                what="every client to log in with the new password",
            )
            step("every client confirmed on the new password")
            admin.execute_command("ACL", "SETUSER", user, f"<{old_password}")
            step("ACL SETUSER <old: the leaked password is gone")
        elif strategy == "naive":
            admin.execute_command("ACL", "SETUSER", user, "resetpass", f">{new}")
            step("ACL SETUSER resetpass >new")
            time.sleep(deploy_lag)
            deployment.set(new)
            step("clients redeployed with the new password")
        else:
            raise SecurityError(f"unknown strategy {strategy!r}: two-passwords or naive")
        time.sleep(settle)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    step("load stopped")
    return RotationRun(
        strategy=strategy,
        requests=tally["requests"],
        failed=tally["requests"] - tally["ok"],
        errors=dict(tally["errors"]),
        steps=steps,
        new_password=new,
        failures=sorted(tally["failures"]),
    )


def rotation_table(runs: list[RotationRun]) -> pd.DataFrame:
    """Runs side by side (requests, failed, error kinds)."""
    return pd.DataFrame([r.row() for r in runs]).set_index("strategy")
