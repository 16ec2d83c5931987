"""Disaster recovery across two sites: shipped backups, a warm standby, a timed drill.

Two labs stand for two data centres (each in its own directory, on its own ports; all
on loopback, so there is no WAN latency or bandwidth limit to show here):

- :func:`start_site` / :func:`lose_site`: a site is a standalone lab in its own
  directory; losing it SIGKILLs every process and removes the directory;
- :func:`consistent_backup`: a backup whose digest describes the file (writes are
  held with ``CLIENT PAUSE WRITE`` for the instant of the fork), with the cut time;
- :func:`ship_backups` / :func:`apply_retention`: copy backups to the other site with
  their checksums, verify them there, keep the newest ``last`` on each side;
- :func:`make_standby` / :func:`standby_lag`: a replica at site B of site A's
  primary, and its lag under load;
- :func:`recovery_drill`: the whole drill as one call (a script or a scheduled CI job
  can run it): load, backups shipped, site A lost, service back at site B from the
  promoted standby or from the latest shipped backup; RTO and RPO measured against
  what the design predicts; raises :class:`~redislab.errors.RecoveryError` if a backup
  does not verify or restore to its recorded digest.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import secrets
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import redis

from ..errors import RecoveryError
from ..keys import DR, key
from ..kit.loads import FailoverRun, WriteLoad, lost_writes
from ..kit.timeline import Timeline, no_retry
from ..lab.lab import Lab
from ..lab.waits import wait_until
from .backup import (
    Backup,
    backup_time,
    dataset_digest,
    restore_rdb,
    retention_plan,
    sha256_file,
    verify_backup,
)
from .snapshots import bgsave, snapshot_path

if TYPE_CHECKING:
    import matplotlib.axes

    from ..lab.node import Node

__all__ = [
    "DrillResult",
    "Site",
    "apply_retention",
    "consistent_backup",
    "drill_table",
    "lose_site",
    "make_standby",
    "plot_drill",
    "recovery_drill",
    "ship_backups",
    "standby_lag",
    "start_site",
]

SIDE_FILES = (".sha256", ".json")
"""What travels with a backup file: its checksum and its record (dbsize, digest)."""


# ====================================================================== sites
@dataclass
class Site:
    """One data centre: a lab in its own directory, with a ``backups`` folder."""

    name: str
    lab: Lab
    root: Path

    @property
    def node(self) -> Node:
        """The site's first data node."""
        return self.lab.data_nodes[0]

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    def client(self, **kwargs: Any) -> redis.Redis:
        """A client to the site's node (``socket_timeout`` 1 s, no retries, unless given)."""
        kw: dict[str, Any] = {
            "socket_timeout": 1.0,
            "socket_connect_timeout": 1.0,
            "retry": no_retry(),
        }
        kw.update(kwargs)
        return self.node.client(**kw)


def start_site(name: str, root: Path | str, *, persistence: str = "none") -> Site:
    """Start a standalone lab for site ``name`` under ``root/<name>`` (kept until removed).

    ``persistence="none"`` by default: no automatic save points, so every snapshot is
    one a backup asked for (``BGSAVE`` works whatever the save points).
    """
    site_root = Path(root) / name
    (site_root / "backups").mkdir(parents=True, exist_ok=True)
    lab = Lab.start(
        "standalone",
        persistence=persistence,
        workdir=site_root / "nodes",
        name=f"dr-{name}-{secrets.token_hex(3)}",
    )
    return Site(name=name, lab=lab, root=site_root)


def lose_site(site: Site) -> float:
    """The site is gone: SIGKILL every process, remove its directory; return the time taken."""
    t0 = time.perf_counter()
    for n in site.lab.nodes:
        with contextlib.suppress(Exception):
            n.kill()
    shutil.rmtree(site.root, ignore_errors=True)
    return time.perf_counter() - t0


# ==================================================================== backups
def consistent_backup(
    connection: redis.Redis, dest: Path | str, *, pause_ms: int = 5000
) -> tuple[Backup, float]:
    """:func:`paused_backup`, returning ``(backup, cut)``: the cut is the end of the pause."""
    backup, _paused, unpaused = paused_backup(connection, dest, pause_ms=pause_ms)
    return backup, unpaused


def paused_backup(
    connection: redis.Redis, dest: Path | str, *, pause_ms: int = 5000
) -> tuple[Backup, float, float]:
    """A backup whose recorded dbsize and digest describe the file, taken under load.

    Holds writes with ``CLIENT PAUSE <pause_ms> WRITE`` (Redis 6.2+, Valkey) only while
    ``BGSAVE`` forks and writes, the key count and digest are read, and the snapshot is
    hard-linked aside (a copy if ``dest`` is on another file system); then
    ``CLIENT UNPAUSE``, and the copy, ``fsync``, checksum and record (the same files as
    :func:`backup_rdb`, so :func:`restore_rdb` checks the digest) happen while writes
    flow. Writers wait during the pause (they are not refused). Returns the backup and
    the pause window on the ``time.perf_counter()`` clock: ``paused``, when the
    ``CLIENT PAUSE`` reply arrived (a write sent after it cannot run before the
    unpause), and ``unpaused``, just before ``CLIENT UNPAUSE`` was sent, the cut: no
    write runs during the pause, so a write acknowledged before ``unpaused`` ran before
    the pause and is in the file; one acknowledged after it is not (unless its reply
    took longer than the whole pause).
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    source = snapshot_path(connection)
    created = _dt.datetime.now(_dt.UTC)
    name = f"dump-{created.strftime('%Y%m%dT%H%M%S%fZ')}.rdb"
    path, held = dest / name, dest / f".{name}.held"
    connection.execute_command("CLIENT", "PAUSE", pause_ms, "WRITE")
    paused = time.perf_counter()
    try:
        bgsave(connection)
        dbsize = int(connection.dbsize())
        digest = dataset_digest(connection)
        try:
            os.link(source, held)
        except OSError:  # another file system: copy while still paused
            shutil.copyfile(source, held)
    finally:
        unpaused = time.perf_counter()
        connection.execute_command("CLIENT", "UNPAUSE")
    tmp = dest / f".{name}.partial"
    shutil.copyfile(held, tmp)
    held.unlink()
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    checksum = sha256_file(path)
    port = connection.connection_pool.connection_kwargs.get("port")
    backup = Backup(
        path=path,
        sha256=checksum,
        bytes=path.stat().st_size,
        created=created,
        dbsize=dbsize,
        digest=digest,
        source=f"{_engine_label(connection)} at {port}",
    )
    backup.checksum_path.write_text(f"{checksum}  {name}\n")
    meta = {
        "file": name,
        "sha256": checksum,
        "bytes": backup.bytes,
        "created": created.isoformat(),
        "dbsize": dbsize,
        "digest": {"kind": digest.kind, "value": digest.value},
        "source": backup.source,
    }
    backup.meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return backup, paused, unpaused


def _backup_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("dump-*.rdb") if p.is_file())


def ship_backups(src: Path | str, dst: Path | str) -> pd.DataFrame:
    """Copy the backups of ``src`` missing from ``dst`` (with side files), verified at ``dst``.

    Each file is copied under a temporary name and renamed, then its SHA-256 checked
    against the shipped ``.sha256``; a mismatch raises :class:`RecoveryError`.
    One row per shipped file: ``file``, ``bytes``, ``seconds``, ``verified``.
    """
    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in _backup_files(src):
        target = dst / path.name
        if target.exists() and verify_backup(target):
            continue
        t0 = time.perf_counter()
        for suffix in (*SIDE_FILES, ""):
            part = path.with_name(path.name + suffix)
            if not part.exists():
                continue
            tmp = dst / f".{part.name}.partial"
            shutil.copyfile(part, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, dst / part.name)
        ok = verify_backup(target)
        if not ok:
            raise RecoveryError(f"{target} does not match its checksum after shipping")
        rows.append(
            {
                "file": path.name,
                "bytes": target.stat().st_size,
                "seconds": time.perf_counter() - t0,
                "verified": ok,
            }
        )
    return pd.DataFrame(rows, columns=["file", "bytes", "seconds", "verified"])


def apply_retention(folder: Path | str, *, last: int) -> list[str]:
    """Keep the newest ``last`` backups in ``folder`` (with their side files); delete the rest.

    Uses :func:`retention_plan` (its ``last`` tier only). Returns the deleted names.
    """
    folder = Path(folder)
    by_time = {backup_time(p.name): p for p in _backup_files(folder)}
    plan = retention_plan(by_time, last=last, hourly=0, daily=0, weekly=0, monthly=0)
    deleted = []
    for t in plan.delete:
        p = by_time[t]
        for suffix in ("", *SIDE_FILES):
            with contextlib.suppress(FileNotFoundError):
                p.with_name(p.name + suffix).unlink()
        deleted.append(p.name)
    return deleted


# ==================================================================== standby
def make_standby(standby: Site, primary: Site, *, timeout: float = 10.0) -> float:
    """Make ``standby``'s node a replica of ``primary``'s; return seconds until in sync."""
    t0 = time.perf_counter()
    c = standby.client(socket_timeout=5)
    try:
        c.replicaof(primary.node.host, primary.node.port)
        wait_until(
            lambda: c.info("replication").get("master_link_status") == "up",
            timeout=timeout,
            what=f"standby at {standby.name} in sync",
        )
    finally:
        c.close()
    return time.perf_counter() - t0


def standby_lag(primary: redis.Redis, standby: redis.Redis) -> int:
    """Bytes the standby is behind: primary offset minus standby offset (standby read first)."""
    theirs = int(standby.info("replication").get("slave_repl_offset", 0))
    ours = int(primary.info("replication")["master_repl_offset"])
    return max(0, ours - theirs)


# ====================================================================== drill
@dataclass
class DrillResult:
    """One recovery drill: what was measured and what the design predicted."""

    mode: str
    engine: str
    rto_s: float
    rpo_writes: int
    predicted_rpo_writes: int
    detect_s: float
    detection_budget_s: float
    restore_s: float
    acked_before_loss: int
    backups: pd.DataFrame
    lag: pd.DataFrame
    run: FailoverRun
    digest_ok: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """The drill as one table row."""
        return {
            "mode": self.mode,
            "RTO s": self.rto_s,
            "detect s": self.detect_s,
            "recover s": self.restore_s,
            "RPO writes": self.rpo_writes,
            "predicted RPO": self.predicted_rpo_writes,
            "acked before loss": self.acked_before_loss,
            "digest ok": self.digest_ok,
        }


def _engine_label(c: redis.Redis) -> str:
    info = c.info("server")
    version = info.get("valkey_version") or info["redis_version"]
    return f"{info.get('server_name') or 'redis'} {version}"


def _first_write(c: redis.Redis, timeline: Timeline, *, timeout: float = 10.0) -> float:
    probe = key(DR, "probe")
    wait_until(
        lambda: c.set(probe, timeline.now()),
        timeout=timeout,
        interval=0.005,
        what="first write after recovery",
        error=RecoveryError,
    )
    return timeline.now()


def _detect_loss(
    c: redis.Redis, timeline: Timeline, *, interval: float, failures: int, timeout: float = 10.0
) -> float:
    """PING every ``interval`` s; the site is declared lost after ``failures`` in a row."""
    bad = 0
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        try:
            c.ping()
            bad = 0
        except (redis.RedisError, OSError):
            bad += 1
            if bad >= failures:
                return timeline.now()
        time.sleep(interval)
    raise RecoveryError(f"site loss not detected within {timeout:.0f} s")


def recovery_drill(
    root: Path | str,
    *,
    mode: str = "standby",
    keys: int = 20_000,
    rate: float = 400.0,
    load_s: float = 2.0,
    backup_every_s: float = 0.6,
    retention: Mapping[str, int] | None = None,
    detect_interval: float = 0.05,
    detect_failures: int = 3,
    seed: int = 0,
) -> DrillResult:
    """Run one disaster-recovery drill and return what it measured.

    Site A (the primary) and site B (a standby replica of A) are
    started under ``root``; ``keys`` keys are written, then a steady write load of
    ``rate`` writes/s runs for ``load_s`` s while a consistent backup is taken every
    ``backup_every_s`` s at A, shipped to B, and both sides pruned to ``retention``
    (``{"A": 2, "B": 3}`` by default). Then site A is lost and detected (``detect_failures``
    failed PINGs ``detect_interval`` apart). Recovery at B:

    - ``mode="standby"``: ``REPLICAOF NO ONE`` on the standby;
    - ``mode="backup"``: the newest shipped backup, checksum verified, restored into a
      fresh node at B, its key count and digest compared with the backup's record.

    RTO: from the loss to the first successful write at B. RPO: acknowledged writes
    missing at B (:func:`~redislab.kit.lost_writes`). Predicted RPO: for a backup, the
    writes acknowledged after its cut; for the standby, the standby's lag at the loss
    in writes (lag bytes / bytes per write). ``acked_before_loss`` counts every
    acknowledged write (the load runs until the kill). Sites are stopped and ``root`` removed
    before returning. Raises :class:`RecoveryError` when no backup was shipped or the
    newest fails its checksum; a restored dataset that differs from the backup's record
    is returned, not raised (``digest_ok`` False; ``details["restored_keys"]`` and
    ``["keys_match"]``). ``details["pauses"]`` holds each backup's write pause
    ``(paused, unpaused)`` on the timeline.
    """
    if mode not in ("standby", "backup"):
        raise RecoveryError(f"unknown drill mode {mode!r}: use 'standby' or 'backup'")
    keep = {"A": 2, "B": 3, **(retention or {})}
    root = Path(root) / f"drill-{mode}-{secrets.token_hex(3)}"
    a = start_site("A", root)
    b: Site | None = None
    clients: list[redis.Redis] = []
    try:
        b = start_site("B", root)
        ca, cb = a.client(), b.client()
        clients += [ca, cb]
        _populate(ca, keys, seed=seed)
        make_standby(b, a)
        tl = Timeline()
        # the load's timeout outlasts a backup's write pause: writes wait, none time out
        load = WriteLoad(a.client(socket_timeout=2.0), name=f"drill-{mode}", rate=rate, timeline=tl)
        clients.append(load.connection)
        shipped: list[pd.DataFrame] = []
        lag_rows: list[dict[str, Any]] = []
        cuts: list[tuple[Backup, float]] = []
        pauses: list[tuple[float, float]] = []
        load.start()
        next_backup = time.perf_counter() + backup_every_s / 2
        end = time.perf_counter() + load_s
        while time.perf_counter() < end:
            lag_rows.append({"t": tl.now(), "lag_bytes": standby_lag(ca, cb)})
            if time.perf_counter() >= next_backup:
                backup, paused, cut = paused_backup(ca, a.backups)
                cuts.append((backup, cut - tl.t0))
                pauses.append((paused - tl.t0, cut - tl.t0))
                tl.mark(f"backup {len(cuts)}")
                df = ship_backups(a.backups, b.backups)
                df["deleted_A"] = len(apply_retention(a.backups, last=keep["A"]))
                df["deleted_B"] = len(apply_retention(b.backups, last=keep["B"]))
                shipped.append(df)
                next_backup += backup_every_s
            time.sleep(0.02)
        watcher = _watch(a)
        clients.append(watcher)
        lag_at_loss = standby_lag(ca, cb)
        tl.mark("loss")
        t_loss = tl.events["loss"]
        lose_site(a)
        t_detect = _detect_loss(watcher, tl, interval=detect_interval, failures=detect_failures)
        tl.mark("detected")
        load.stop()
        acked = load.records
        acked_before = int(acked["acked"].sum())
        digest_ok: bool | None = None
        details: dict[str, Any] = {"lag_at_loss_bytes": lag_at_loss, "pauses": pauses}
        t0 = time.perf_counter()
        if mode == "standby":
            cb.replicaof("NO", "ONE")
            target = cb
            bytes_per_write = _bytes_per_write(load)
            predicted = round(lag_at_loss / bytes_per_write) if bytes_per_write else 0
        else:
            files = _backup_files(b.backups)
            if not files:
                raise RecoveryError("no backup was shipped to site B")
            latest = files[-1]
            if not verify_backup(latest):
                raise RecoveryError(f"{latest} at site B does not match its checksum")
            fresh = b.lab.add_node("restore")
            result = restore_rdb(latest, fresh)
            # a mismatch is a result, not an error: the caller's claim carries it
            digest_ok = bool(result.digest_match)
            details.update({"restored_keys": result.dbsize, "keys_match": result.dbsize_match})
            target = fresh.client(socket_timeout=1.0, retry=no_retry())
            clients.append(target)
            cut = next(c for bk, c in cuts if bk.path.name == latest.name)
            # every write acknowledged after the cut, up to the kill (a write acknowledged
            # between the "loss" mark and the kill itself counts too: it is lost as well)
            predicted = int((acked["acked"] & (acked["end"] > cut)).sum())
            details.update({"backup": latest.name, "cut_t": cut, "load_s": result.load_s})
        t_write = _first_write(target, tl)
        tl.mark("first write")
        restore_s = time.perf_counter() - t0
        lost = lost_writes(target, load)
        run = FailoverRun(
            kind=f"site loss, recovery from {mode}",
            engine=_engine_label(target),
            timeline=tl,
            loads={load.name: load},
            lost=lost,
            old_primary="site A",
            new_primary="site B",
        )
        return DrillResult(
            mode=mode,
            engine=run.engine,
            rto_s=t_write - t_loss,
            rpo_writes=len(lost),
            predicted_rpo_writes=predicted,
            detect_s=t_detect - t_loss,
            detection_budget_s=detect_interval * detect_failures,
            restore_s=restore_s,
            acked_before_loss=acked_before,
            backups=pd.concat(shipped, ignore_index=True) if shipped else pd.DataFrame(),
            lag=pd.DataFrame(lag_rows, columns=["t", "lag_bytes"]),
            run=run,
            digest_ok=digest_ok,
            details=details,
        )
    finally:
        for c in clients:
            with contextlib.suppress(Exception):
                c.close()
        for s in (a, b):
            if s is not None:
                s.lab.stop()
        shutil.rmtree(root, ignore_errors=True)


def _watch(site: Site) -> redis.Redis:
    node = site.node
    return node.client(socket_timeout=0.05, socket_connect_timeout=0.05, retry=no_retry())


def _bytes_per_write(load: WriteLoad) -> float:
    """Replication-stream bytes of one ``SET <key> <seq>`` as RESP (the load's last key)."""
    df = load.records
    if df.empty:
        return 0.0
    k, v = str(df["key"].iloc[-1]), str(int(df["seq"].iloc[-1]))
    args = ["SET", k, v]
    return float(len(f"*{len(args)}\r\n") + sum(len(f"${len(x)}\r\n{x}\r\n") for x in args))


def _populate(c: redis.Redis, n: int, *, seed: int) -> None:
    import random

    rng = random.Random(seed)
    pipe = c.pipeline(transaction=False)
    for i in range(n):
        pipe.set(key(DR, "data", i), f"{rng.random():.12f}")
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()


def drill_table(results: list[DrillResult]) -> pd.DataFrame:
    """The drills side by side (one row each)."""
    return pd.DataFrame([r.row() for r in results]).set_index("mode")


def plot_drill(result: DrillResult, ax: matplotlib.axes.Axes | None = None) -> Any:
    """Writes over time with the drill's events (backups, loss, detection, first write)."""
    from ..kit.loads import plot_writes

    return plot_writes(result.run, ax, title=f"{result.run.kind} ({result.engine})")
