"""Persistence experiments: snapshots, the AOF, crashes, load times, corruption and backups.

Everything here works on real server processes started by :class:`redislab.Lab`:

- waiting for background work: :func:`bgsave`, :func:`wait_for_bgsave`,
  :func:`bgrewriteaof`, :func:`wait_for_aof_rewrite`;
- the files on disk: :func:`aof_layout` (multi-part base / incr / manifest since 7.0,
  inside ``appenddirname``), :func:`snapshot_path`, :func:`disk_usage`;
- costs: :func:`appendfsync_costs`, :func:`fsync_latencies`, :func:`fork_cost`,
  :func:`ping_latencies_during` (who waits while ``SAVE`` runs);
- crash tests: :func:`crash_trial` writes a steady, acknowledged load, SIGKILLs the
  server, restarts it on the same data and counts the acknowledged writes that are gone;
- recovery time: :func:`measure_load_time`, :func:`predict_load_time`, :func:`fit_line`;
- corruption: :func:`truncate_file`, :func:`corrupt_command`, :func:`check_aof`,
  :func:`check_rdb` (the checkers are the server binary under another name,
  ``lab.server.tool("check-aof")``);
- backups: :func:`backup_rdb`, :func:`verify_backup`, :func:`restore_rdb`,
  :func:`retention_plan`, with :func:`dataset_digest` to compare datasets.

What a process kill can show: a SIGKILLed server loses what it never handed to the
kernel (its own buffers); data in the kernel's page cache survives a process crash
whatever the fsync policy. ``appendfsync`` decides what survives an operating-system
crash or a power cut, which a laptop experiment does not produce.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import psutil
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .errors import RedislabError
from .keys import key
from .measure import time_calls, wait_until

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .node import Node

__all__ = [
    "EVERYSEC_POSTPONE_S",
    "POPULATE_HASHES_LUA",
    "AofFile",
    "AofLayout",
    "Backup",
    "CheckReport",
    "CrashTrial",
    "Digest",
    "LineFit",
    "LoadPrediction",
    "LoadSample",
    "PersistenceError",
    "RestartTiming",
    "RestoreResult",
    "RetentionPlan",
    "ToolError",
    "aof_layout",
    "appendfsync_costs",
    "backup_rdb",
    "backup_time",
    "bgrewriteaof",
    "bgsave",
    "check_aof",
    "check_rdb",
    "computed_digest",
    "corrupt_byte",
    "corrupt_command",
    "count_resp_commands",
    "crash_table",
    "crash_trial",
    "dataset_digest",
    "debug_digest",
    "disk_usage",
    "file_format",
    "fit_line",
    "fork_cost",
    "format_load_times",
    "fsync_latencies",
    "live_aof_layout",
    "measure_load_time",
    "parse_check_aof",
    "parse_check_rdb",
    "parse_load_seconds",
    "parse_manifest",
    "parse_save_points",
    "persistence_config",
    "persistence_label",
    "ping_latencies_during",
    "populate_hashes",
    "populate_mixed",
    "predict_load_time",
    "resp_command_offsets",
    "restore_rdb",
    "retention_plan",
    "save_point_due",
    "sha256_file",
    "snapshot_path",
    "timed_restart",
    "truncate_file",
    "verify_backup",
    "wait_for_aof_rewrite",
    "wait_for_bgsave",
    "write_latencies",
]

#: ``appendfsync everysec`` may postpone the ``write()`` of the AOF buffer while the
#: background fsync of the previous second still runs, for at most this long
#: (``flushAppendOnlyFile`` in aof.c); replies are sent meanwhile.
EVERYSEC_POSTPONE_S = 2.0

#: Creates ``ARGV[1]`` hashes of ``ARGV[2]`` fields each, named ``<ARGV[3]>:<i>``.
#: KEYS: none (it makes its own key names: standalone servers only).
#: ARGV[1]: number of hashes, ARGV[2]: fields per hash, ARGV[3]: key prefix.
#: Returns the number of hashes written.
POPULATE_HASHES_LUA = """
local n, f, prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local args = {}
for j = 1, f do
  args[2 * j - 1] = 'field:' .. j
  args[2 * j] = 'value-' .. string.format('%04d', j)
end
for i = 0, n - 1 do
  redis.call('HSET', prefix .. ':' .. i, unpack(args))
end
return n
"""

_LOAD_RE = re.compile(r"DB loaded from (disk|append only file): (\d+(?:\.\d+)?) seconds")
_BACKUP_RE = re.compile(r"(\d{8}T\d{6}(?:\d{6})?Z)")


class PersistenceError(RedislabError):
    """A save or rewrite failed, timed out, or a file is not what was expected."""


class ToolError(RedislabError):
    """``redis-check-aof`` / ``redis-check-rdb`` could not be run or said nothing usable."""


# =============================================================== configuration
def persistence_config(connection: redis.Redis) -> dict[str, str]:
    """The persistence directives the server runs with now (``CONFIG GET``).

    Keys: ``save``, ``appendonly``, ``appendfsync``, ``aof-use-rdb-preamble``,
    ``aof-load-truncated``, ``dir``, ``dbfilename``, ``appendfilename`` and
    ``appenddirname`` (empty on servers older than 7.0).
    """
    names = (
        "save",
        "appendonly",
        "appendfsync",
        "aof-use-rdb-preamble",
        "aof-load-truncated",
        "dir",
        "dbfilename",
        "appendfilename",
        "appenddirname",
    )
    out: dict[str, str] = {}
    for name in names:
        got = connection.config_get(name)
        value = got.get(name, "")
        out[name] = value.decode() if isinstance(value, bytes) else str(value)
    return out


def persistence_label(config: dict[str, str]) -> str:
    """The lab preset name a live configuration matches (``none``, ``rdb``, ``aof-<fsync>``,
    ``hybrid``), from :func:`persistence_config`."""
    aof = config.get("appendonly") == "yes"
    snapshots = bool(parse_save_points(config.get("save", "")))
    if not aof:
        return "rdb" if snapshots else "none"
    if config.get("aof-use-rdb-preamble") == "yes" and snapshots:
        return "hybrid"
    return f"aof-{config.get('appendfsync', 'everysec')}"


def parse_save_points(text: str) -> list[tuple[int, int]]:
    """``"3600 1 300 100"`` -> ``[(3600, 1), (300, 100)]`` (an empty string: no snapshots)."""
    parts = text.replace('"', "").split()
    if len(parts) % 2:
        raise ValueError(f"save points come in <seconds> <changes> pairs: {text!r}")
    return [(int(parts[i]), int(parts[i + 1])) for i in range(0, len(parts), 2)]


def save_point_due(points: Sequence[tuple[int, int]], elapsed: float, changes: int) -> bool:
    """True if a save point fires: *more* than ``seconds`` elapsed and at least ``changes``.

    The server checks this in ``serverCron`` (``hz`` times a second) with
    ``now - lastsave > seconds && dirty >= changes``, in whole seconds.
    """
    return any(elapsed > seconds and changes >= needed for seconds, needed in points)


# ======================================================== waiting for children
def _persistence_info(connection: redis.Redis) -> dict[str, Any]:
    return dict(connection.info("persistence"))


def wait_for_bgsave(
    connection: redis.Redis, *, after: int | None = None, timeout: float = 60.0
) -> dict[str, Any]:
    """Wait until no RDB child runs (and, with ``after``, until ``rdb_saves`` passed it).

    Returns ``INFO persistence``; raises :class:`PersistenceError` if the last
    background save failed or ``timeout`` passed.
    """
    info: dict[str, Any] = {}

    def done() -> bool:
        nonlocal info
        info = _persistence_info(connection)
        if info.get("rdb_bgsave_in_progress"):
            return False
        return after is None or int(info.get("rdb_saves", after + 1)) > after

    try:
        wait_until(done, timeout=timeout, interval=0.005, what="BGSAVE to finish")
    except TimeoutError as exc:
        raise PersistenceError(str(exc)) from None
    if info.get("rdb_last_bgsave_status") != "ok":
        raise PersistenceError(f"the last BGSAVE failed: rdb_last_bgsave_status={info!r}")
    return info


def bgsave(connection: redis.Redis, *, timeout: float = 60.0) -> dict[str, float]:
    """Run ``BGSAVE`` and wait for the snapshot to be on disk.

    A save already running is waited for first (its snapshot may be older than now);
    during an AOF rewrite the save is scheduled (``BGSAVE SCHEDULE``).

    Returns ``{"seconds": wall time, "fork_usec": latest_fork_usec,
    "reply_seconds": how long the BGSAVE call itself took}``.
    """
    t0 = time.perf_counter()
    before = _persistence_info(connection)
    if before.get("rdb_bgsave_in_progress"):
        before = wait_for_bgsave(connection, timeout=timeout)
    saves = int(before.get("rdb_saves", 0))
    t_call = time.perf_counter()
    try:
        connection.bgsave()
    except redis.ResponseError as exc:
        text = str(exc).lower()
        if "in progress" in text and "aof" not in text:
            wait_for_bgsave(connection, timeout=timeout)
            saves = int(_persistence_info(connection).get("rdb_saves", 0))
            connection.bgsave()
        elif "another child" in text or "aof" in text:
            connection.execute_command("BGSAVE", "SCHEDULE")
        else:
            raise
    reply = time.perf_counter() - t_call
    wait_for_bgsave(connection, after=saves, timeout=timeout)
    fork = int(connection.info("stats").get("latest_fork_usec", 0))
    return {"seconds": time.perf_counter() - t0, "fork_usec": float(fork), "reply_seconds": reply}


def wait_for_aof_rewrite(
    connection: redis.Redis, *, after: int | None = None, timeout: float = 60.0
) -> dict[str, Any]:
    """Wait until no AOF rewrite runs or is scheduled (and ``aof_rewrites`` passed ``after``).

    Also waits for the old (history) AOF files to be deleted, so that
    :func:`live_aof_layout` shows the new layout. Returns ``INFO persistence``.
    """
    info: dict[str, Any] = {}

    def done() -> bool:
        nonlocal info
        info = _persistence_info(connection)
        if info.get("aof_rewrite_in_progress") or info.get("aof_rewrite_scheduled"):
            return False
        if after is not None and int(info.get("aof_rewrites", after + 1)) <= after:
            return False
        layout = live_aof_layout(connection)
        return layout is None or not layout.history

    try:
        wait_until(done, timeout=timeout, interval=0.005, what="BGREWRITEAOF to finish")
    except TimeoutError as exc:
        raise PersistenceError(str(exc)) from None
    if info.get("aof_last_bgrewrite_status") != "ok":
        raise PersistenceError(f"the last AOF rewrite failed: {info!r}")
    return info


def bgrewriteaof(connection: redis.Redis, *, timeout: float = 60.0) -> dict[str, float]:
    """Run ``BGREWRITEAOF`` and wait until the new base file is in the manifest.

    Returns ``{"seconds": wall time, "fork_usec": latest_fork_usec}``.
    """
    t0 = time.perf_counter()
    before = _persistence_info(connection)
    if before.get("aof_rewrite_in_progress") or before.get("aof_rewrite_scheduled"):
        before = wait_for_aof_rewrite(connection, timeout=timeout)
    rewrites = int(before.get("aof_rewrites", 0))
    connection.bgrewriteaof()
    wait_for_aof_rewrite(connection, after=rewrites, timeout=timeout)
    fork = int(connection.info("stats").get("latest_fork_usec", 0))
    return {"seconds": time.perf_counter() - t0, "fork_usec": float(fork)}


# ================================================================= files on disk
def snapshot_path(connection: redis.Redis) -> Path:
    """Where the server writes its RDB snapshot (``dir`` / ``dbfilename``)."""
    cfg = persistence_config(connection)
    return Path(cfg["dir"]) / cfg["dbfilename"]


def file_format(path: Path) -> str:
    """The format of an AOF part: ``rdb``, ``resp`` (starts with ``*``), ``empty``, ``unknown``."""
    with open(path, "rb") as fh:
        head = fh.read(6)
    if not head:
        return "empty"
    if head.startswith((b"REDIS", b"VALKEY")):
        return "rdb"
    if head.startswith(b"*"):
        return "resp"
    return "unknown"


@dataclass(frozen=True)
class AofFile:
    """One file of a (multi-part) AOF."""

    name: str
    seq: int
    type: str  # "base" | "incr" | "history" | "single"
    path: Path
    size: int
    format: str  # "rdb" | "resp" | "empty" | "missing"


@dataclass
class AofLayout:
    """The AOF on disk: a manifest and its files (7.0+), or one ``appendonly.aof`` file."""

    directory: Path
    manifest: Path | None
    files: list[AofFile] = field(default_factory=list)

    @property
    def multi_part(self) -> bool:
        """True for the 7.0+ layout (a directory with a manifest)."""
        return self.manifest is not None

    @property
    def base(self) -> AofFile | None:
        """The base file (a snapshot: RDB or RESP), at most one."""
        return next((f for f in self.files if f.type == "base"), None)

    @property
    def incr(self) -> list[AofFile]:
        """Incremental files, oldest first; writes are appended to the last one."""
        return sorted((f for f in self.files if f.type == "incr"), key=lambda f: f.seq)

    @property
    def history(self) -> list[AofFile]:
        """Files a rewrite replaced, waiting to be deleted."""
        return [f for f in self.files if f.type == "history"]

    @property
    def total_bytes(self) -> int:
        """Bytes of every file, manifest included."""
        extra = self.manifest.stat().st_size if self.manifest and self.manifest.exists() else 0
        return extra + sum(f.size for f in self.files)

    def table(self) -> pd.DataFrame:
        """The files as a DataFrame (name, type, seq, format, bytes)."""
        import pandas as pd

        rows = [
            {"file": f.name, "type": f.type, "seq": f.seq, "format": f.format, "bytes": f.size}
            for f in self.files
        ]
        if self.manifest is not None:
            rows.append(
                {
                    "file": self.manifest.name,
                    "type": "manifest",
                    "seq": None,
                    "format": "text",
                    "bytes": self.manifest.stat().st_size if self.manifest.exists() else 0,
                }
            )
        return pd.DataFrame(rows)


_MANIFEST_TYPES = {"b": "base", "i": "incr", "h": "history"}


def parse_manifest(text: str) -> list[dict[str, Any]]:
    """Parse an AOF manifest: one ``file <name> seq <n> type <b|i|h> [...]`` line per file.

    Returns dicts with ``file``, ``seq`` (int), ``type`` (``base``/``incr``/``history``)
    and any further key/value pairs (Redis 8 adds ``startoffset`` / ``endoffset``).
    """
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line)
        if len(words) % 2:
            raise PersistenceError(f"malformed manifest line: {line!r}")
        entry: dict[str, Any] = dict(zip(words[::2], words[1::2], strict=True))
        if "file" not in entry or "seq" not in entry or "type" not in entry:
            raise PersistenceError(f"manifest line lacks file/seq/type: {line!r}")
        entry["seq"] = int(entry["seq"])
        entry["type"] = _MANIFEST_TYPES.get(entry["type"], entry["type"])
        out.append(entry)
    return out


def aof_layout(
    data_dir: Path | str,
    *,
    appenddirname: str = "appendonlydir",
    appendfilename: str = "appendonly.aof",
) -> AofLayout:
    """The AOF files under a node's data directory (works while the server is down).

    Multi-part (7.0+): ``<dir>/<appenddirname>/<appendfilename>.manifest`` lists the
    files. Older servers, or ``appenddirname=""``: a single ``<dir>/<appendfilename>``.
    """
    data_dir = Path(data_dir)
    if appenddirname:
        directory = data_dir / appenddirname
        manifest = directory / f"{appendfilename}.manifest"
        if manifest.exists():
            files = []
            for entry in parse_manifest(manifest.read_text()):
                path = directory / entry["file"]
                exists = path.exists()
                files.append(
                    AofFile(
                        name=entry["file"],
                        seq=entry["seq"],
                        type=entry["type"],
                        path=path,
                        size=path.stat().st_size if exists else 0,
                        format=file_format(path) if exists else "missing",
                    )
                )
            return AofLayout(directory=directory, manifest=manifest, files=files)
        return AofLayout(directory=directory, manifest=None, files=[])
    single = data_dir / appendfilename
    files = []
    if single.exists():
        files.append(
            AofFile(appendfilename, 0, "single", single, single.stat().st_size, file_format(single))
        )
    return AofLayout(directory=data_dir, manifest=None, files=files)


def live_aof_layout(connection: redis.Redis) -> AofLayout | None:
    """:func:`aof_layout` for a running server, from its ``CONFIG GET`` values.

    None when the AOF is off and no AOF files exist.
    """
    cfg = persistence_config(connection)
    layout = aof_layout(
        cfg["dir"], appenddirname=cfg["appenddirname"], appendfilename=cfg["appendfilename"]
    )
    if not layout.files and cfg["appendonly"] != "yes":
        return None
    return layout


def disk_usage(data_dir: Path | str, *, dbfilename: str = "dump.rdb") -> dict[str, int]:
    """Bytes on disk of a node's RDB snapshot and of its AOF (directory or single file)."""
    data_dir = Path(data_dir)
    rdb = data_dir / dbfilename
    aof = 0
    aof_dir = data_dir / "appendonlydir"
    if aof_dir.is_dir():
        aof = sum(p.stat().st_size for p in aof_dir.iterdir() if p.is_file())
    elif (data_dir / "appendonly.aof").exists():
        aof = (data_dir / "appendonly.aof").stat().st_size
    rdb_bytes = rdb.stat().st_size if rdb.exists() else 0
    return {"rdb_bytes": rdb_bytes, "aof_bytes": aof, "total_bytes": rdb_bytes + aof}


# ================================================================ write costs
def write_latencies(
    connection: redis.Redis,
    *,
    n: int,
    value_size: int = 64,
    name: str = "write",
    batch: int = 1,
    warmup: int = 20,
) -> np.ndarray:
    """Time ``n`` SETs of ``value_size`` bytes; return seconds per command.

    With ``batch > 1`` the SETs go in pipelines of ``batch`` commands (one AOF
    ``write()`` and, with ``appendfsync always``, one fsync per batch) and each
    pipeline's time is divided by ``batch``.
    """
    value = "v" * value_size
    prefix = key("persistence", name)
    counter = iter(range(10**12))
    if batch <= 1:

        def one() -> None:
            connection.set(f"{prefix}:{next(counter)}", value)

        return time_calls(one, n=n, warmup=warmup)
    pipe = connection.pipeline(transaction=False)

    def many() -> None:
        for _ in range(batch):
            pipe.set(f"{prefix}:{next(counter)}", value)
        pipe.execute()

    rounds = max(1, n // batch)
    return time_calls(many, n=rounds, warmup=max(1, warmup // batch)) / batch


def appendfsync_costs(
    connection: redis.Redis,
    *,
    n: int = 2000,
    rounds: int = 4,
    batch: int = 50,
    value_size: int = 64,
    policies: Sequence[str] = ("always", "everysec", "no"),
) -> pd.DataFrame:
    """The write cost of each ``appendfsync`` policy under the same load (AOF must be on).

    ``n`` SETs per policy, one at a time and in pipelines of ``batch``, measured in
    ``rounds`` that alternate the order of the policies, so a busy moment of a
    shared machine hits all of them alike. The policy is switched with
    ``CONFIG SET`` and restored afterwards. One row per policy: ``p50_us``,
    ``p99_us``, ``ops_per_s`` (one client, one SET at a time) and
    ``pipelined_us_per_cmd`` (median).
    """
    import pandas as pd

    original = persistence_config(connection)["appendfsync"]
    singles: dict[str, list[np.ndarray]] = {p: [] for p in policies}
    piped: dict[str, list[np.ndarray]] = {p: [] for p in policies}
    per_round = max(1, n // rounds)
    try:
        for r in range(rounds):
            for policy in policies if r % 2 == 0 else list(policies)[::-1]:
                connection.config_set("appendfsync", policy)
                name = f"fsync-{policy}"
                singles[policy].append(
                    write_latencies(
                        connection, n=per_round, value_size=value_size, name=name, warmup=5
                    )
                )
                piped[policy].append(
                    write_latencies(
                        connection,
                        n=max(batch, per_round),
                        value_size=value_size,
                        name=name,
                        batch=batch,
                        warmup=batch,
                    )
                )
    finally:
        connection.config_set("appendfsync", original)
    rows = []
    for policy in policies:
        one = np.concatenate(singles[policy])
        many = np.concatenate(piped[policy])
        rows.append(
            {
                "appendfsync": policy,
                "p50_us": float(np.median(one) * 1e6),
                "p99_us": float(np.percentile(one, 99) * 1e6),
                "ops_per_s": float(1 / one.mean()),
                "pipelined_us_per_cmd": float(np.median(many) * 1e6),
            }
        )
    return pd.DataFrame(rows).set_index("appendfsync")


def fsync_latencies(directory: Path | str, *, n: int = 50, size: int = 128) -> np.ndarray:
    """Seconds per ``write()`` + ``fsync()`` of ``size`` bytes in ``directory``.

    Tells whether ``appendfsync always`` *can* cost anything on this filesystem
    (on tmpfs an fsync is free).
    """
    path = Path(directory) / ".redislab-fsync-probe"
    data = b"x" * size
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    try:

        def one() -> None:
            os.write(fd, data)
            os.fsync(fd)

        return time_calls(one, n=n, warmup=3)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)


def ping_latencies_during(
    fn: Callable[[], Any], probe: redis.Redis, *, interval: float = 0.001
) -> tuple[np.ndarray, float]:
    """Run ``fn`` in a thread and PING through ``probe`` until it returns.

    Returns the PING latencies (s) and how long ``fn`` took (s): a PING that
    arrives while the server runs a blocking ``SAVE`` waits for it. Re-raises an
    exception from ``fn``.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        t0 = time.perf_counter()
        try:
            fn()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc
        box["seconds"] = time.perf_counter() - t0

    thread = threading.Thread(target=run, daemon=True)
    latencies = []
    thread.start()
    while thread.is_alive():
        t0 = time.perf_counter()
        probe.ping()
        latencies.append(time.perf_counter() - t0)
        time.sleep(interval)
    thread.join()
    if "error" in box:
        raise box["error"]
    return np.asarray(latencies), float(box["seconds"])


def fork_cost(connection: redis.Redis, *, repeats: int = 3) -> dict[str, float]:
    """BGSAVE ``repeats`` times; median ``latest_fork_usec``, memory and snapshot size.

    Returns ``fork_usec`` (median), ``fork_usec_min``, ``used_memory``, ``rss``,
    ``rdb_bytes``, ``keys`` and ``bgsave_s`` (median wall time of one BGSAVE).
    """
    forks, walls = [], []
    for _ in range(repeats):
        res = bgsave(connection)
        forks.append(res["fork_usec"])
        walls.append(res["seconds"])
    mem = connection.info("memory")
    return {
        "keys": float(connection.dbsize()),
        "used_memory": float(mem["used_memory"]),
        "rss": float(mem["used_memory_rss"]),
        "rdb_bytes": float(snapshot_path(connection).stat().st_size),
        "fork_usec": float(np.median(forks)),
        "fork_usec_min": float(min(forks)),
        "bgsave_s": float(np.median(walls)),
    }


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


def populate_mixed(
    connection: redis.Redis,
    n: int,
    *,
    seed: int,
    name: str = "data",
    pipeline: redis.client.Pipeline | None = None,
) -> int:
    """Write ``n`` keys of mixed types (strings, hashes, lists, sets, sorted sets), seeded.

    With ``pipeline`` the commands are queued on it and not executed. Returns ``n``.
    """
    import random

    rng = random.Random(seed)
    pipe = pipeline if pipeline is not None else connection.pipeline(transaction=False)
    for i in range(n):
        k = key("persistence", name, i)
        kind = i % 5
        if kind == 0:
            pipe.set(k, f"{rng.random():.12f}")
        elif kind == 1:
            pipe.hset(k, mapping={f"f{j}": rng.randint(0, 10**6) for j in range(rng.randint(1, 6))})
        elif kind == 2:
            pipe.rpush(k, *[rng.randint(0, 999) for _ in range(rng.randint(1, 8))])
        elif kind == 3:
            pipe.sadd(k, *{f"m{rng.randint(0, 50)}" for _ in range(rng.randint(1, 8))})
        else:
            pipe.zadd(k, {f"p{j}": rng.random() for j in range(rng.randint(1, 6))})
        if pipeline is None and i % 1000 == 999:
            pipe.execute()
    if pipeline is None:
        pipe.execute()
    return n


def populate_hashes(
    connection: redis.Redis, n: int, *, fields: int = 50, name: str = "hash"
) -> int:
    """Create ``n`` small hashes of ``fields`` fields each, server-side (one Lua call).

    Small hashes are stored in the compact listpack encoding, which an RDB file keeps
    as one blob per key while an AOF rebuilds them field by field. Keys are
    ``redislab:persistence:<name>:<i>``. Returns ``n``.
    """
    script = connection.register_script(POPULATE_HASHES_LUA)
    return int(script(keys=[], args=[n, fields, key("persistence", name)], client=connection))


def format_load_times(node: Node, *, repeats: int = 3, timeout: float = 60.0) -> dict[str, Any]:
    """Load the node's current dataset from a RESP AOF and from an RDB-preamble AOF.

    The node must run with the AOF on. Its dataset is rewritten twice
    (``aof-use-rdb-preamble no``, then ``yes``; the setting is restored), the two
    AOF directories are kept aside, and ``repeats`` rounds restart the node from
    each in turn. Returns the median load times and file sizes: ``resp_s``,
    ``rdb_s``, ``resp_bytes``, ``rdb_bytes``, ``keys``.
    """
    client = node.client(socket_timeout=timeout)
    cfg = persistence_config(client)
    if cfg["appendonly"] != "yes":
        raise PersistenceError(f"{node.name} has the AOF off: format_load_times needs it on")
    keys = int(client.dbsize())
    stash_root = Path(cfg["dir"]) / ".redislab-format-stash"
    sizes: dict[str, int] = {}
    times: dict[str, list[float]] = {"resp": [], "rdb": []}
    try:
        for fmt, preamble in (("resp", "no"), ("rdb", "yes")):
            client.config_set("aof-use-rdb-preamble", preamble)
            bgrewriteaof(client, timeout=timeout)
            sizes[fmt] = _stash_files(cfg, "aof", stash_root / fmt)
        client.close()
        for r in range(repeats):
            for fmt in ("resp", "rdb") if r % 2 == 0 else ("rdb", "resp"):
                node.kill()
                _unstash_files(cfg, "aof", stash_root / fmt)
                timing = timed_restart(node)
                if timing.load_s is None:
                    raise PersistenceError(f"no load time in the log of {node.name}")
                times[fmt].append(timing.load_s)
    finally:
        shutil.rmtree(stash_root, ignore_errors=True)
    with node.client(socket_timeout=timeout) as client:
        client.config_set("aof-use-rdb-preamble", cfg["aof-use-rdb-preamble"])
        loaded = int(client.dbsize())
    if loaded != keys:
        raise PersistenceError(f"{node.name} loaded {loaded} keys, expected {keys}")
    return {
        "keys": keys,
        "resp_s": float(np.median(times["resp"])),
        "rdb_s": float(np.median(times["rdb"])),
        "resp_bytes": sizes["resp"],
        "rdb_bytes": sizes["rdb"],
    }


# =============================================================== crash tests
@dataclass
class CrashTrial:
    """One SIGKILL under load and what the restarted server still had.

    ``lost`` counts *acknowledged* writes (a reply reached the client) that are
    missing after the restart. ``expected_lost`` is what the files on disk at the
    kill predict: 0 when the AOF is on (it is what gets loaded), otherwise the
    acknowledged writes that are not in the snapshot (``redis-check-rdb`` counted
    ``snapshot_keys`` in it before the restart).
    """

    label: str
    trial: int
    seconds: float
    acked: int
    present: int
    lost: int
    expected_lost: int
    snapshot_keys: int | None
    prefix_ok: bool
    inflight_persisted: bool
    acked_last_2s: int
    oldest_lost_age_s: float
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    restart_s: float
    load_s: float | None
    aof_delayed_fsync: int | None
    disk_bytes: int

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict (a DataFrame row)."""
        return asdict(self)


class _Writer(threading.Thread):
    """Sequential SETs; records the time of every acknowledged reply."""

    def __init__(self, client: redis.Redis, prefix: str, value_size: int) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.prefix = prefix
        self.value = "v" * value_size
        self.acks: list[float] = []
        self.latencies: list[float] = []
        self.started = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        clock = time.perf_counter
        acks, lats = self.acks, self.latencies
        i = 0
        self.started.set()
        try:
            while not self.stop.is_set():
                t0 = clock()
                self.client.set(f"{self.prefix}:{i}", self.value)
                t1 = clock()
                acks.append(t1)
                lats.append(t1 - t0)
                i += 1
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            self.error = exc  # the kill: the in-flight SET got no reply


def _present(connection: redis.Redis, prefix: str, n: int, batch: int = 1000) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    for start in range(0, n, batch):
        pipe = connection.pipeline(transaction=False)
        stop = min(n, start + batch)
        for i in range(start, stop):
            pipe.exists(f"{prefix}:{i}")
        out[start:stop] = np.asarray(pipe.execute(), dtype=int) > 0
    return out


def crash_trial(
    node: Node,
    *,
    seconds: float = 1.0,
    trial: int = 0,
    value_size: int = 64,
    label: str | None = None,
    check_rdb_tool: Path | None = None,
    child_timeout: float = 10.0,
) -> CrashTrial:
    """Write under steady load, SIGKILL ``node`` after ``seconds``, restart it, count losses.

    The writer is one client doing sequential SETs of unique keys
    ``redislab:persistence:crash:<trial>:<i>``; write ``i`` is acknowledged when its
    reply arrived. The dataset is flushed first (``FLUSHALL``), so a snapshot holds
    only this trial's keys. A background save still running at the kill is allowed
    to finish (its child is not killed) before the files are inspected.

    Args:
        node: the lab node to crash (``lab.primary``); it talks to its own clients.
        seconds: load duration before the kill.
        trial: trial number (part of the key names).
        value_size: bytes per value.
        label: name for the table (default: :func:`persistence_label` of the live config).
        check_rdb_tool: ``lab.server.tool("check-rdb")`` to count the keys in the snapshot
            (default: derived from ``node.server``).
        child_timeout: how long to wait for an orphaned BGSAVE child.
    """
    admin = node.client(socket_timeout=10)
    cfg = persistence_config(admin)
    label = label or persistence_label(cfg)
    aof_on = cfg["appendonly"] == "yes"
    admin.flushall()
    prefix = key("persistence", "crash", trial)
    writer_client = node.client(socket_timeout=10, retry=Retry(NoBackoff(), 0))
    writer = _Writer(writer_client, prefix, value_size)
    proc = psutil.Process(node.pid)
    writer.start()
    writer.started.wait(5)
    time.sleep(seconds)
    delayed = int(admin.info("persistence").get("aof_delayed_fsync", 0)) if aof_on else None
    children = proc.children()
    t_kill = time.perf_counter()
    node.kill()
    writer.join(10)
    writer.stop.set()
    admin.close()
    writer_client.close()
    psutil.wait_procs(children, timeout=child_timeout)

    acked = len(writer.acks)
    dump = Path(cfg["dir"]) / cfg["dbfilename"]
    snapshot_keys: int | None = None
    if not aof_on and dump.exists():
        tool = check_rdb_tool or node.server.tool("check-rdb")
        report = check_rdb(tool, dump)
        snapshot_keys = report.keys if report.ok else None
    disk = disk_usage(cfg["dir"], dbfilename=cfg["dbfilename"])["total_bytes"]

    timing = timed_restart(node)
    check = node.client(socket_timeout=10)
    try:
        present = _present(check, prefix, acked + 1)
    finally:
        check.close()
    present_acked = int(present[:acked].sum())
    lost_ids = np.flatnonzero(~present[:acked])
    first_missing = int(np.argmin(present)) if not present.all() else len(present)
    prefix_ok = bool(present[:first_missing].all() and not present[first_missing:].any())
    expected = 0 if aof_on else acked - min(acked, snapshot_keys or 0)
    acks = np.asarray(writer.acks)
    lats = np.asarray(writer.latencies) * 1e3
    duration = (acks[-1] - acks[0]) if acked > 1 else float("nan")
    return CrashTrial(
        label=label,
        trial=trial,
        seconds=seconds,
        acked=acked,
        present=present_acked,
        lost=acked - present_acked,
        expected_lost=expected,
        snapshot_keys=snapshot_keys,
        prefix_ok=prefix_ok,
        inflight_persisted=bool(present[acked]),
        acked_last_2s=int((acks >= t_kill - EVERYSEC_POSTPONE_S).sum()),
        oldest_lost_age_s=float(t_kill - acks[lost_ids[0]]) if lost_ids.size else 0.0,
        ops_per_s=float((acked - 1) / duration) if acked > 1 and duration > 0 else 0.0,
        p50_ms=float(np.percentile(lats, 50)) if lats.size else float("nan"),
        p99_ms=float(np.percentile(lats, 99)) if lats.size else float("nan"),
        restart_s=timing.wall_s,
        load_s=timing.load_s,
        aof_delayed_fsync=delayed,
        disk_bytes=disk,
    )


def crash_table(trials: Iterable[CrashTrial]) -> pd.DataFrame:
    """One row per configuration: trials, writes acknowledged, lost (total and max),
    predicted from the files, throughput and latency medians, restart time."""
    import pandas as pd

    df = pd.DataFrame([t.as_dict() for t in trials])
    if df.empty:
        return df
    g = df.groupby("label", sort=False)
    return pd.DataFrame(
        {
            "trials": g.size(),
            "acked": g["acked"].sum(),
            "lost": g["lost"].sum(),
            "lost_max": g["lost"].max(),
            "expected_lost": g["expected_lost"].sum(),
            "ops_per_s": g["ops_per_s"].median().round(0),
            "p50_ms": g["p50_ms"].median().round(3),
            "p99_ms": g["p99_ms"].median().round(3),
            "restart_ms": (g["restart_s"].median() * 1e3).round(1),
        }
    )


# ============================================================= recovery time
@dataclass
class RestartTiming:
    """A restart: wall time until PING answers, the load time the server logged, and
    the CPU time the new process had used by then (user + system)."""

    wall_s: float
    load_s: float | None
    source: str | None  # "disk" (RDB) | "append only file" | None (nothing loaded)
    cpu_s: float
    log: str


def parse_load_seconds(log_text: str) -> tuple[str, float] | None:
    """The last ``DB loaded from disk|append only file: X seconds`` line, as (source, X)."""
    matches = _LOAD_RE.findall(log_text)
    if not matches:
        return None
    source, seconds = matches[-1]
    return source, float(seconds)


def _cpu_seconds(pid: int | None) -> float:
    """CPU time a process has run, ns-precise from ``/proc/<pid>/schedstat`` on Linux."""
    if pid is None:
        return float("nan")
    try:
        with open(f"/proc/{pid}/schedstat") as fh:
            return int(fh.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:
        cpu = psutil.Process(pid).cpu_times()
        return float(cpu.user + cpu.system)
    except psutil.Error:
        return float("nan")


def timed_restart(node: Node, *, config: dict[str, object] | None = None) -> RestartTiming:
    """Restart ``node`` (after a kill or not) and time it; read the load time from its log."""
    log = node.log_path
    offset = log.stat().st_size if log.exists() else 0
    t0 = time.perf_counter()
    node.restart(config=config)
    wall = time.perf_counter() - t0
    cpu_s = _cpu_seconds(node.pid)
    with open(log, "rb") as fh:
        fh.seek(offset)
        text = fh.read().decode(errors="replace")
    parsed = parse_load_seconds(text)
    return RestartTiming(
        wall_s=wall,
        load_s=parsed[1] if parsed else None,
        source=parsed[0] if parsed else None,
        cpu_s=cpu_s,
        log=text,
    )


@dataclass
class LoadSample:
    """Loading ``n_keys`` keys from a ``mode`` file of ``file_bytes`` bytes.

    Times are medians over the rounds of :func:`measure_load_time` (the load time the
    server logged, the wall time until PING answered, the CPU time of the new
    process); ``load_min_s`` is the fastest round and ``rounds_s`` every round's
    load time, in round order.
    """

    mode: str
    n_keys: int
    file_bytes: int
    load_s: float
    load_min_s: float
    restart_s: float
    cpu_s: float
    keys_loaded: int
    rounds_s: list[float] = field(default_factory=list)


def _stash_files(cfg: dict[str, str], mode: str, stash: Path) -> int:
    """Copy the files a restart would load into ``stash``; return their size in bytes."""
    data_dir = Path(cfg["dir"])
    if stash.exists():
        shutil.rmtree(stash)
    stash.mkdir(parents=True)
    if mode == "rdb":
        shutil.copyfile(data_dir / cfg["dbfilename"], stash / cfg["dbfilename"])
        return (stash / cfg["dbfilename"]).stat().st_size
    aof_dir = data_dir / cfg["appenddirname"]
    shutil.copytree(aof_dir, stash / cfg["appenddirname"])
    return sum(p.stat().st_size for p in (stash / cfg["appenddirname"]).iterdir())


def _unstash_files(cfg: dict[str, str], mode: str, stash: Path) -> None:
    data_dir = Path(cfg["dir"])
    if mode == "rdb":
        shutil.copyfile(stash / cfg["dbfilename"], data_dir / cfg["dbfilename"])
        return
    aof_dir = data_dir / cfg["appenddirname"]
    shutil.rmtree(aof_dir, ignore_errors=True)
    shutil.copytree(stash / cfg["appenddirname"], aof_dir)


def measure_load_time(
    node: Node,
    sizes: Sequence[int],
    *,
    value_size: int = 32,
    repeats: int = 3,
    timeout: float = 60.0,
) -> list[LoadSample]:
    """Time how long ``node`` takes to load datasets of ``sizes`` keys after a SIGKILL.

    The mode follows the node's live config: ``rdb`` (AOF off: ``BGSAVE``), ``aof``
    (AOF with a RESP base: ``BGREWRITEAOF``) or ``hybrid`` (AOF with an RDB
    preamble). Each dataset is made once (``DEBUG POPULATE``, then persisted) and its
    files are kept aside; then ``repeats`` rounds go over every size (forward, then
    backward), each time killing the node, putting that size's files in place and
    restarting. Interleaving spreads a busy moment of a shared machine over all
    sizes, and the median over the rounds discards the rounds it slowed down.
    The node is left running with the dataset of the last restart loaded.
    """
    client = node.client(socket_timeout=timeout)
    cfg = persistence_config(client)
    if cfg["appendonly"] == "yes":
        mode = "hybrid" if cfg["aof-use-rdb-preamble"] == "yes" else "aof"
    else:
        mode = "rdb"
    prefix = key("persistence", "load")
    stash_root = Path(cfg["dir"]) / ".redislab-load-stash"
    nbytes: dict[int, int] = {}
    timings: dict[int, list[RestartTiming]] = {}
    loaded: dict[int, int] = {}
    try:
        for n in sizes:
            client.flushall()
            client.execute_command("DEBUG", "POPULATE", int(n), prefix, value_size)
            if mode == "rdb":
                bgsave(client, timeout=timeout)  # SAVE fails if a save point's BGSAVE runs
            else:
                bgrewriteaof(client, timeout=timeout)
            nbytes[n] = _stash_files(cfg, mode, stash_root / str(n))
        client.close()
        order = list(sizes)
        for r in range(repeats):
            for n in order if r % 2 == 0 else order[::-1]:
                node.kill()
                _unstash_files(cfg, mode, stash_root / str(n))
                timing = timed_restart(node)
                if timing.load_s is None:
                    raise PersistenceError(
                        f"no load time in the log of {node.name}:\n{timing.log[-2000:]}"
                    )
                timings.setdefault(n, []).append(timing)
                if n not in loaded:
                    with node.client(socket_timeout=timeout) as check:
                        loaded[n] = int(check.dbsize())
    finally:
        shutil.rmtree(stash_root, ignore_errors=True)
    out = []
    for n in sizes:
        loads = [float(t.load_s or 0.0) for t in timings[n]]
        out.append(
            LoadSample(
                mode=mode,
                n_keys=int(n),
                file_bytes=nbytes[n],
                load_s=float(np.median(loads)),
                load_min_s=min(loads),
                restart_s=float(np.median([t.wall_s for t in timings[n]])),
                cpu_s=float(np.median([t.cpu_s for t in timings[n]])),
                keys_loaded=loaded[n],
                rounds_s=loads,
            )
        )
    return out


@dataclass(frozen=True)
class LineFit:
    """``y = slope * x + intercept`` fitted by least squares, with its R²."""

    slope: float
    intercept: float
    r2: float

    def predict(self, x: float | np.ndarray) -> float | np.ndarray:
        """The fitted line at ``x``."""
        return self.slope * np.asarray(x, dtype=float) + self.intercept

    def error(self, x: float, observed: float) -> float:
        """Relative error of the prediction at ``x`` against ``observed``."""
        predicted = float(self.predict(x))
        return (observed - predicted) / predicted if predicted else float("inf")


def fit_line(x: Sequence[float], y: Sequence[float], *, robust: bool = False) -> LineFit:
    """Straight line through ``(x, y)``: least squares, or Theil-Sen with ``robust=True``.

    Theil-Sen takes the median of the slopes between every pair of points (and the
    median intercept), so one point that a busy moment slowed down does not tilt
    the line. R² is reported for the line either way.
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if xs.size < 2 or xs.size != ys.size:
        raise ValueError("fit_line needs at least two (x, y) pairs of equal length")
    if robust:
        i, j = np.triu_indices(xs.size, k=1)
        dx = xs[j] - xs[i]
        keep = dx != 0
        slope = float(np.median((ys[j] - ys[i])[keep] / dx[keep]))
        intercept = float(np.median(ys - slope * xs))
    else:
        slope, intercept = (float(v) for v in np.polyfit(xs, ys, 1))
    residual = ys - (slope * xs + intercept)
    total = ((ys - ys.mean()) ** 2).sum()
    r2 = 1.0 - (residual**2).sum() / total if total > 0 else 1.0
    return LineFit(slope, intercept, float(r2))


@dataclass
class LoadPrediction:
    """A straight line fitted to load times of small datasets, checked on a larger one."""

    mode: str
    samples: list[LoadSample]
    fit: LineFit
    target: int
    predicted_s: float
    observed_s: float
    error: float
    rounds: int

    def as_dict(self) -> dict[str, Any]:
        """The numbers as a DataFrame row (µs per key, intercept in ms, R², error)."""
        return {
            "mode": self.mode,
            "us_per_key": self.fit.slope * 1e6,
            "intercept_ms": self.fit.intercept * 1e3,
            "r2": self.fit.r2,
            "predicted_s": self.predicted_s,
            "observed_s": self.observed_s,
            "error": self.error,
            "rounds": self.rounds,
        }


def predict_load_time(
    node: Node,
    fit_sizes: Sequence[int],
    target: int,
    *,
    repeats: int = 5,
    tolerance: float = 0.5,
    max_rounds: int = 2,
    value_size: int = 32,
) -> LoadPrediction:
    """Fit load time against keys on ``fit_sizes`` (Theil-Sen) and check it at ``target``.

    Each size's load time is the median of its restarts in :func:`measure_load_time`.
    If the prediction misses by more than ``tolerance`` (relative), every size is
    measured ``repeats`` times more and the medians are taken over all restarts, up
    to ``max_rounds`` measurements in all; ``rounds`` tells how many were needed.
    """
    sizes = [*fit_sizes, target]
    loads: dict[int, list[float]] = {n: [] for n in sizes}
    last: dict[int, LoadSample] = {}
    rounds = 0
    while True:
        rounds += 1
        for sample in measure_load_time(node, sizes, repeats=repeats, value_size=value_size):
            loads[sample.n_keys].extend(sample.rounds_s)
            last[sample.n_keys] = sample
        medians = {n: float(np.median(loads[n])) for n in sizes}
        fit = fit_line(list(fit_sizes), [medians[n] for n in fit_sizes], robust=True)
        error = fit.error(target, medians[target])
        if abs(error) <= tolerance or rounds >= max_rounds:
            break
    samples = []
    for n in sizes:
        sample = last[n]
        sample.rounds_s = loads[n]
        sample.load_s = medians[n]
        sample.load_min_s = min(loads[n])
        samples.append(sample)
    return LoadPrediction(
        mode=last[target].mode,
        samples=samples,
        fit=fit,
        target=target,
        predicted_s=float(fit.predict(target)),
        observed_s=medians[target],
        error=error,
        rounds=rounds,
    )


# ================================================================ corruption
def resp_command_offsets(data: bytes) -> tuple[list[int], int]:
    """Start offsets of the complete RESP commands in ``data`` and where the valid part ends.

    Parsing stops at the first byte that is not a well-formed command (corruption)
    or at a command cut short (truncation); everything from the returned end on is
    what ``redis-check-aof --fix`` would discard. Annotation lines (``#...``) are skipped.
    """
    offsets: list[int] = []
    pos, n = 0, len(data)
    while pos < n:
        if data[pos : pos + 1] == b"#":
            eol = data.find(b"\r\n", pos)
            if eol < 0:
                break
            pos = eol + 2
            continue
        if data[pos : pos + 1] != b"*":
            break
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            break
        try:
            argc = int(data[pos + 1 : eol])
        except ValueError:
            break
        p = eol + 2
        ok = True
        for _ in range(argc):
            if data[p : p + 1] != b"$":
                ok = False
                break
            eol2 = data.find(b"\r\n", p)
            if eol2 < 0:
                ok = False
                break
            try:
                length = int(data[p + 1 : eol2])
            except ValueError:
                ok = False
                break
            p = eol2 + 2 + length
            if data[p : p + 2] != b"\r\n":
                ok = False
                break
            p += 2
        if not ok:
            break
        offsets.append(pos)
        pos = p
    return offsets, pos


def count_resp_commands(data: bytes) -> int:
    """The number of complete, well-formed commands at the start of ``data``."""
    return len(resp_command_offsets(data)[0])


def truncate_file(path: Path | str, nbytes: int) -> int:
    """Cut the last ``nbytes`` bytes of ``path`` (a crash in the middle of a write); new size."""
    path = Path(path)
    size = path.stat().st_size
    new = max(0, size - nbytes)
    os.truncate(path, new)
    return new


def corrupt_command(path: Path | str, index: int) -> int:
    """Overwrite the ``*`` that starts command ``index`` of a RESP AOF file with ``X``.

    The server then refuses to load the file ("Bad file format") instead of treating
    it as truncated. Returns the byte offset that was changed.
    """
    path = Path(path)
    data = bytearray(path.read_bytes())
    offsets, _ = resp_command_offsets(bytes(data))
    if not 0 <= index < len(offsets):
        raise PersistenceError(f"{path.name} has {len(offsets)} commands; no command {index}")
    at = offsets[index]
    data[at] = ord("X")
    path.write_bytes(bytes(data))
    return at


def corrupt_byte(path: Path | str, offset: int, *, xor: int = 0xFF) -> int:
    """Flip bits of one byte (``offset`` < 0 counts from the end); return the byte offset."""
    path = Path(path)
    data = bytearray(path.read_bytes())
    at = offset if offset >= 0 else len(data) + offset
    data[at] ^= xor
    path.write_bytes(bytes(data))
    return at


@dataclass
class CheckReport:
    """What ``redis-check-aof`` / ``redis-check-rdb`` said, parsed."""

    tool: str
    target: Path
    returncode: int
    ok: bool
    output: str
    fixed: bool = False
    ok_up_to: int | None = None
    size: int | None = None
    diff: int | None = None
    keys: int | None = None
    error: str | None = None


_AOF_ANALYZED = re.compile(
    r"AOF analyzed: filename=(?P<file>[^,]+), size=(?P<size>\d+), ok_up_to=(?P<ok>\d+),"
    r"(?: ok_up_to_line=\d+,)? diff=(?P<diff>\d+)"
)


def parse_check_aof(output: str, returncode: int, *, target: Path, tool: str) -> CheckReport:
    """Parse ``redis-check-aof`` output (also Valkey's ``valkey-check-aof``)."""
    found = list(_AOF_ANALYZED.finditer(output))
    m = found[-1] if found else None  # the last "AOF analyzed" line
    fixed = "Successfully truncated AOF" in output
    valid = returncode == 0 and (
        "is valid" in output or "are valid" in output or fixed or "RDB looks OK" in output
    )
    error = None
    for line in output.splitlines():
        if any(word in line for word in ("not valid", "Expected", "Bad file", "rror")):
            error = line.strip()
            break
    return CheckReport(
        tool=tool,
        target=target,
        returncode=returncode,
        ok=valid,
        output=output,
        fixed=fixed,
        ok_up_to=int(m.group("ok")) if m else None,
        size=int(m.group("size")) if m else None,
        diff=int(m.group("diff")) if m else None,
        error=error,
    )


def parse_check_rdb(output: str, returncode: int, *, target: Path, tool: str) -> CheckReport:
    """Parse ``redis-check-rdb`` output: OK or not, keys read, the error line."""
    keys = None
    m = re.search(r"\[info\] (\d+) keys read", output)
    if m:
        keys = int(m.group(1))
    ok = returncode == 0 and "RDB looks OK" in output
    error = None
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if "RDB ERROR DETECTED" in line:
            error = lines[i + 1].split("]", 1)[-1].strip() if i + 1 < len(lines) else line
            break
    return CheckReport(
        tool=tool,
        target=target,
        returncode=returncode,
        ok=ok,
        output=output,
        keys=keys,
        error=error,
    )


def _run_tool(tool: Path, args: list[str], *, stdin: str = "", timeout: float) -> tuple[str, int]:
    try:
        res = subprocess.run(
            [str(tool), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"{tool} {' '.join(args)} failed to run: {exc}") from exc
    return res.stdout + res.stderr, res.returncode


def check_aof(
    tool: Path, target: Path | str, *, fix: bool = False, timeout: float = 60
) -> CheckReport:
    """Run ``redis-check-aof [--fix] <manifest or file>`` and parse what it says.

    ``--fix`` truncates the (last) file at the first bad command; the tool asks for
    confirmation, which this answers with ``y``.
    """
    target = Path(target)
    args = (["--fix"] if fix else []) + [str(target)]
    output, code = _run_tool(Path(tool), args, stdin="y\n" if fix else "", timeout=timeout)
    report = parse_check_aof(output, code, target=target, tool=Path(tool).name)
    if report.ok_up_to is None and not report.ok and "AOF" not in output:
        raise ToolError(f"{tool} said nothing usable about {target}:\n{output}")
    return report


def check_rdb(tool: Path, path: Path | str, *, timeout: float = 60) -> CheckReport:
    """Run ``redis-check-rdb <file>`` and parse what it says."""
    path = Path(path)
    output, code = _run_tool(Path(tool), [str(path)], timeout=timeout)
    report = parse_check_rdb(output, code, target=path, tool=Path(tool).name)
    if report.keys is None and not report.error and "RDB" not in output:
        raise ToolError(f"{tool} said nothing usable about {path}:\n{output}")
    return report


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
        raise ValueError(f"no timestamp in {name!r}")
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
