"""Backups: dataset digests, checksummed snapshot copies, restore and verify, retention.

:func:`backup_rdb` copies a fresh snapshot with a checksum and a record of the
dataset (:func:`dataset_digest`); :func:`restore_rdb` loads it into a node and
compares; :func:`retention_plan` decides which backups a schedule keeps.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

from ..errors import UsageError
from ._common import (
    PersistenceError,
    _persistence_info,
    persistence_config,
)
from .rto import (
    timed_restart,
)
from .snapshots import (
    bgsave,
    snapshot_path,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..lab.node import Node

__all__ = [
    "Backup",
    "Digest",
    "RestoreResult",
    "RetentionPlan",
    "backup_rdb",
    "backup_time",
    "computed_digest",
    "dataset_digest",
    "debug_digest",
    "restore_rdb",
    "retention_plan",
    "sha256_file",
    "verify_backup",
]


_BACKUP_RE = re.compile(r"(\d{8}T\d{6}(?:\d{6})?Z)")


# ==================================================================== digests
@dataclass(frozen=True)
class Digest:
    """A digest of a whole dataset: ``kind`` is ``"debug"`` (DEBUG DIGEST) or ``"computed"``."""

    kind: str
    value: str


def _b(x: Any) -> bytes:
    if isinstance(x, bytes):
        return x
    if isinstance(x, float):
        return repr(x).encode()
    return str(x).encode()


def debug_digest(connection: redis.Redis) -> str | None:
    """``DEBUG DIGEST`` (40 hex digits; all zeros for an empty dataset), None if not allowed."""
    try:
        value = connection.execute_command("DEBUG", "DIGEST")
    except redis.ResponseError:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def computed_digest(connection: redis.Redis, *, match: str | None = None, batch: int = 500) -> str:
    """SHA-256 over every key (sorted) with its type, value and whether it has a TTL.

    Works where DEBUG is disabled (managed services). Values are read by type
    (GET, HGETALL, LRANGE, SMEMBERS, ZRANGE WITHSCORES, XRANGE; DUMP for others)
    and put in a canonical order, so two servers holding equal data agree even if
    they encode it differently. Use a client with ``decode_responses=False`` for
    binary data.
    """
    keys = sorted(connection.scan_iter(match=match, count=1000), key=_b)
    h = hashlib.sha256()
    for start in range(0, len(keys), batch):
        chunk = keys[start : start + batch]
        pipe = connection.pipeline(transaction=False)
        for k in chunk:
            pipe.type(k)
            pipe.pttl(k)
        meta = pipe.execute()
        pipe = connection.pipeline(transaction=False)
        types = []
        for i, k in enumerate(chunk):
            t = meta[2 * i]
            t = t.decode() if isinstance(t, bytes) else str(t)
            types.append(t)
            if t == "string":
                pipe.get(k)
            elif t == "hash":
                pipe.hgetall(k)
            elif t == "list":
                pipe.lrange(k, 0, -1)
            elif t == "set":
                pipe.smembers(k)
            elif t == "zset":
                pipe.zrange(k, 0, -1, withscores=True)
            elif t == "stream":
                pipe.xrange(k)
            else:
                pipe.dump(k)
        values = pipe.execute()
        for i, k in enumerate(chunk):
            t, v = types[i], values[i]
            if t == "hash":
                parts = [_b(a) + b"=" + _b(b) for a, b in sorted(v.items(), key=lambda x: _b(x[0]))]
            elif t == "set":
                parts = sorted(_b(m) for m in v)
            elif t == "zset":
                parts = [_b(m) + b"@" + _b(float(s)) for m, s in v]
            elif t == "list":
                parts = [_b(m) for m in v]
            elif t == "stream":
                parts = [
                    _b(eid) + b"{" + b",".join(_b(a) + b"=" + _b(b) for a, b in f.items()) + b"}"
                    for eid, f in v
                ]
            else:
                parts = [_b(v) if v is not None else b"(nil)"]
            has_ttl = b"1" if int(meta[2 * i + 1]) > 0 else b"0"
            record = [_b(k), t.encode(), has_ttl, *parts]
            h.update(len(record).to_bytes(4, "big"))
            for part in record:
                h.update(len(part).to_bytes(4, "big"))
                h.update(part)
    return h.hexdigest()


def dataset_digest(connection: redis.Redis, *, prefer_debug: bool = True) -> Digest:
    """DEBUG DIGEST where the server allows it, else :func:`computed_digest`."""
    if prefer_debug:
        value = debug_digest(connection)
        if value is not None:
            return Digest("debug", value)
    return Digest("computed", computed_digest(connection))


# =================================================================== backups
def sha256_file(path: Path | str, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _utc(now: _dt.datetime | None) -> _dt.datetime:
    now = now or _dt.datetime.now(_dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=_dt.UTC)
    return now.astimezone(_dt.UTC)


def backup_time(name: str) -> _dt.datetime:
    """The UTC time encoded in a backup file name (``dump-20250101T120000Z.rdb``)."""
    m = _BACKUP_RE.search(name)
    if not m:
        raise UsageError(f"no timestamp in {name!r}")
    text = m.group(1)
    fmt = "%Y%m%dT%H%M%S%fZ" if len(text) > 16 else "%Y%m%dT%H%M%SZ"
    return _dt.datetime.strptime(text, fmt).replace(tzinfo=_dt.UTC)


@dataclass
class Backup:
    """A copied snapshot with its checksum and what the dataset looked like."""

    path: Path
    sha256: str
    bytes: int
    created: _dt.datetime
    dbsize: int | None
    digest: Digest | None
    source: str

    @property
    def checksum_path(self) -> Path:
        """``<file>.sha256`` in ``sha256sum`` format."""
        return self.path.with_name(self.path.name + ".sha256")

    @property
    def meta_path(self) -> Path:
        """``<file>.json``: size, dbsize, digest, source."""
        return self.path.with_name(self.path.name + ".json")


def backup_rdb(
    connection: redis.Redis,
    dest: Path | str,
    *,
    now: _dt.datetime | None = None,
    timeout: float = 60.0,
) -> Backup:
    """Back up a running server: BGSAVE, wait, copy the snapshot with a timestamp and checksum.

    The copy is written under a temporary name and renamed, so a half-copied file
    never carries a backup name. ``<name>.sha256`` (``sha256sum -c`` format) and
    ``<name>.json`` go beside it. ``dbsize`` and ``digest`` are recorded only when
    nothing changed since the snapshot started (``rdb_changes_since_last_save == 0``):
    only then do they describe the file.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    source = snapshot_path(connection)
    bgsave(connection, timeout=timeout)
    dbsize: int | None = None
    digest: Digest | None = None
    if int(_persistence_info(connection).get("rdb_changes_since_last_save", 1)) == 0:
        dbsize = int(connection.dbsize())
        digest = dataset_digest(connection)
        if int(_persistence_info(connection).get("rdb_changes_since_last_save", 1)) != 0:
            dbsize, digest = None, None
    created = _utc(now)
    stamp = created.strftime("%Y%m%dT%H%M%S%fZ")
    path = dest / f"dump-{stamp}.rdb"
    tmp = dest / f".{path.name}.partial"
    shutil.copyfile(source, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    digest_hex = sha256_file(path)
    info = connection.info("server")
    version = info.get("valkey_version") or info["redis_version"]
    label = f"{info.get('server_name', 'redis')} {version}"
    backup = Backup(
        path=path,
        sha256=digest_hex,
        bytes=path.stat().st_size,
        created=created,
        dbsize=dbsize,
        digest=digest,
        source=f"{label} at {connection.connection_pool.connection_kwargs.get('port')}",
    )
    backup.checksum_path.write_text(f"{digest_hex}  {path.name}\n")
    meta = {
        "file": path.name,
        "sha256": digest_hex,
        "bytes": backup.bytes,
        "created": created.isoformat(),
        "dbsize": dbsize,
        "digest": asdict(digest) if digest else None,
        "source": backup.source,
    }
    backup.meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return backup


def verify_backup(path: Path | str) -> bool:
    """True if the file's SHA-256 matches its ``.sha256`` file (False if either is missing)."""
    path = Path(path)
    side = path.with_name(path.name + ".sha256")
    if not path.exists() or not side.exists():
        return False
    expected = side.read_text().split()[0]
    return sha256_file(path) == expected


@dataclass
class RestoreResult:
    """A backup loaded into a node, and how it compares with what the backup recorded."""

    dbsize: int
    digest: Digest
    dbsize_match: bool | None
    digest_match: bool | None
    load_s: float | None
    restart_s: float

    @property
    def verified(self) -> bool:
        """True if both key count and digest match the backup's record."""
        return bool(self.dbsize_match) and bool(self.digest_match)


def restore_rdb(backup: Backup | Path | str, node: Node, *, check: bool = True) -> RestoreResult:
    """Load a backup into ``node`` (a scratch node: its data is replaced).

    Checks the checksum (``check``), SIGKILLs the node (no shutdown save may
    overwrite the copy), puts the file in place as its ``dbfilename``, and restarts
    it with ``appendonly no`` if the AOF was on (the AOF would be loaded instead).
    Then compares the key count and digest with the backup's record.
    """
    path = backup.path if isinstance(backup, Backup) else Path(backup)
    if check and not verify_backup(path):
        raise PersistenceError(f"{path} does not match its checksum file: not restoring it")
    record: dict[str, Any] = {}
    meta = path.with_name(path.name + ".json")
    if meta.exists():
        record = json.loads(meta.read_text())
    client = node.client(socket_timeout=10)
    cfg = persistence_config(client)
    client.close()
    node.kill()
    target = Path(cfg["dir"]) / cfg["dbfilename"]
    tmp = target.with_name(f".{target.name}.restore")
    shutil.copyfile(path, tmp)
    os.replace(tmp, target)
    overrides: dict[str, object] | None = (
        {"appendonly": "no"} if cfg["appendonly"] == "yes" else None
    )
    timing = timed_restart(node, config=overrides)
    client = node.client(socket_timeout=10)
    try:
        dbsize = int(client.dbsize())
        want = record.get("digest")
        digest = dataset_digest(client, prefer_debug=(want or {}).get("kind", "debug") == "debug")
    finally:
        client.close()
    return RestoreResult(
        dbsize=dbsize,
        digest=digest,
        dbsize_match=None if record.get("dbsize") is None else dbsize == record["dbsize"],
        digest_match=(digest.value == record["digest"]["value"]) if record.get("digest") else None,
        load_s=timing.load_s,
        restart_s=timing.wall_s,
    )


# ================================================================= retention
@dataclass
class RetentionPlan:
    """Which backups a schedule keeps, and why."""

    keep: list[_dt.datetime]
    delete: list[_dt.datetime]
    reasons: dict[_dt.datetime, list[str]]


_BUCKETS: dict[str, Callable[[_dt.datetime], tuple[int, ...]]] = {
    "hourly": lambda t: (t.year, t.month, t.day, t.hour),
    "daily": lambda t: (t.year, t.month, t.day),
    "weekly": lambda t: tuple(t.isocalendar()[:2]),
    "monthly": lambda t: (t.year, t.month),
}


def retention_plan(
    times: Iterable[_dt.datetime],
    *,
    last: int = 1,
    hourly: int = 24,
    daily: int = 7,
    weekly: int = 4,
    monthly: int = 0,
) -> RetentionPlan:
    """Grandfather-father-son retention, a pure function of the backup times.

    Keeps the ``last`` newest backups, and for each of the newest ``hourly`` hours,
    ``daily`` days, ``weekly`` ISO weeks and ``monthly`` months *that have a backup*,
    the newest backup in that period (restic's ``--keep-hourly`` etc. semantics).
    A backup kept for several reasons lists them all. Times are compared as given
    (use UTC).
    """
    ordered = sorted(set(times), reverse=True)
    reasons: dict[_dt.datetime, list[str]] = {}
    for t in ordered[:last]:
        reasons.setdefault(t, []).append("last")
    tiers = {"hourly": hourly, "daily": daily, "weekly": weekly, "monthly": monthly}
    for tier, count in tiers.items():
        if count <= 0:
            continue
        bucket_of = _BUCKETS[tier]
        seen: set[tuple[int, ...]] = set()
        for t in ordered:
            b = bucket_of(t)
            if b in seen:
                continue
            seen.add(b)
            reasons.setdefault(t, []).append(tier)
            if len(seen) == count:
                break
    keep = sorted(reasons)
    delete = sorted(t for t in ordered if t not in reasons)
    return RetentionPlan(keep=keep, delete=delete, reasons=reasons)
