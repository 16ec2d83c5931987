"""The append-only file: its layout on disk, rewrites, and what each fsync policy costs.

:func:`aof_layout` reads the multi-part base / incr / manifest layout (7.0+, inside
``appenddirname``) or a single ``appendonly.aof``; :func:`bgrewriteaof` rewrites it;
:func:`appendfsync_costs` and :func:`fsync_latencies` measure the write cost;
:func:`appendfsync_round` interleaves them (paired samples for :mod:`redislab.kit.evidence`).
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import redis

from ..keys import PERSISTENCE, key
from ..kit.measure import time_calls
from ._common import (
    PersistenceError,
    _persistence_info,
    _wait_persistence,
    persistence_config,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


__all__ = [
    "EVERYSEC_POSTPONE_S",
    "AofFile",
    "AofLayout",
    "FsyncRound",
    "aof_layout",
    "appendfsync_costs",
    "appendfsync_round",
    "bgrewriteaof",
    "disk_usage",
    "file_format",
    "fsync_latencies",
    "live_aof_layout",
    "parse_manifest",
    "wait_for_aof_rewrite",
    "write_latencies",
]


#: ``appendfsync everysec`` may postpone the ``write()`` of the AOF buffer while the
#: background fsync of the previous second still runs, for at most this long
#: (``flushAppendOnlyFile`` in aof.c); replies are sent meanwhile.
EVERYSEC_POSTPONE_S = 2.0


# ======================================================== waiting for children
def wait_for_aof_rewrite(
    connection: redis.Redis, *, after: int | None = None, timeout: float = 60.0
) -> dict[str, Any]:
    """Wait until no AOF rewrite runs or is scheduled (and ``aof_rewrites`` passed ``after``).

    Also waits for the old (history) AOF files to be deleted, so that
    :func:`live_aof_layout` shows the new layout. Returns ``INFO persistence``.
    """

    def finished(info: dict[str, Any]) -> bool:
        if info.get("aof_rewrite_in_progress") or info.get("aof_rewrite_scheduled"):
            return False
        if after is not None and int(info.get("aof_rewrites", after + 1)) <= after:
            return False
        layout = live_aof_layout(connection)
        return layout is None or not layout.history

    return _wait_persistence(
        connection,
        finished,
        timeout=timeout,
        what="BGREWRITEAOF to finish",
        status_field="aof_last_bgrewrite_status",
    )


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
    prefix = key(PERSISTENCE, name)
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
    (on tmpfs an fsync is free). The sync is ``fdatasync`` where the OS has it, as in
    Redis on Linux.
    """
    with _FsyncProbe(directory, size=size) as probe:
        return time_calls(probe.one, n=n, warmup=3)


class _FsyncProbe:
    """An appended file in ``directory``: ``one()`` is a ``write()`` + ``fdatasync()``.

    ``fdatasync`` because that is what ``appendfsync always`` calls on Linux
    (``redis_fsync`` in ``src/config.h``; ``fsync`` elsewhere).
    """

    def __init__(self, directory: Path | str, *, size: int = 128) -> None:
        self.path = Path(directory) / f".redislab-fsync-probe-{os.getpid()}"
        self.data = b"x" * size
        self.fd = -1

    def __enter__(self) -> _FsyncProbe:
        self.fd = os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
        for _ in range(3):  # the first syncs of a new file also write its inode
            self.one()
        return self

    def one(self) -> None:
        os.write(self.fd, self.data)
        sync = getattr(os, "fdatasync", os.fsync)
        sync(self.fd)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class FsyncRound:
    """One round of :func:`appendfsync_round`: per block, medians in microseconds.

    ``lone[policy][i]`` is the median latency of a single ``SET`` under ``policy`` in
    block ``i``, ``piped[policy][i]`` the median per-command time of a pipelined
    ``SET`` and ``fsync[i]`` the median ``write()`` + ``fdatasync()`` of the probe
    file, all measured in the same block, next to each other.
    """

    lone: dict[str, np.ndarray]
    piped: dict[str, np.ndarray]
    fsync: np.ndarray
    batch: int

    def table(self) -> pd.DataFrame:
        """One row per policy: medians over the blocks (µs), and the fsync probe."""
        import pandas as pd

        rows = {
            p: {
                "lone SET p50 (µs)": float(np.median(self.lone[p])),
                f"pipelined SET, per command (µs, batch {self.batch})": float(
                    np.median(self.piped[p])
                ),
            }
            for p in self.lone
        }
        frame = pd.DataFrame(rows).T
        frame.index.name = "appendfsync"
        return frame


def appendfsync_round(
    connection: redis.Redis,
    directory: Path | str,
    *,
    blocks: int = 6,
    per_block: int = 15,
    batch: int = 50,
    value_size: int = 64,
    policies: Sequence[str] = ("always", "everysec", "no"),
) -> FsyncRound:
    """Interleaved timings of each ``appendfsync`` policy and of an fsync on the same disk.

    Each of ``blocks`` blocks switches the policy with ``CONFIG SET`` (the order rotates
    from block to block) and times ``per_block`` single ``SET``s and three pipelines of
    ``batch`` ``SET``s under each, then ``per_block`` ``write()`` + ``fdatasync()``
    calls on a probe file in ``directory`` (the node's data directory). Block ``i`` of
    every series was measured within the same fraction of a second, so the series are
    paired samples: a busy moment of the machine hits all of them. The original policy
    is restored.
    """
    original = persistence_config(connection)["appendfsync"]
    order = list(policies)
    lone: dict[str, list[float]] = {p: [] for p in order}
    piped: dict[str, list[float]] = {p: [] for p in order}
    fsync: list[float] = []
    try:
        with _FsyncProbe(directory) as probe:
            for b in range(blocks):
                for policy in order[b % len(order) :] + order[: b % len(order)]:
                    connection.config_set("appendfsync", policy)
                    name = f"fsync-{policy}"
                    one = write_latencies(
                        connection, n=per_block, value_size=value_size, name=name, warmup=2
                    )
                    many = write_latencies(
                        connection,
                        n=3 * batch,
                        value_size=value_size,
                        name=name,
                        batch=batch,
                        warmup=batch,
                    )
                    lone[policy].append(float(np.median(one)) * 1e6)
                    piped[policy].append(float(np.median(many)) * 1e6)
                fsync.append(float(np.median(time_calls(probe.one, n=per_block))) * 1e6)
    finally:
        connection.config_set("appendfsync", original)
    return FsyncRound(
        lone={p: np.asarray(v) for p, v in lone.items()},
        piped={p: np.asarray(v) for p, v in piped.items()},
        fsync=np.asarray(fsync),
        batch=batch,
    )
