"""Where labs live on disk, what they record, and cleaning up after crashes.

Each lab has a directory ``<REDISLAB_HOME or ~/.cache/redislab>/labs/<name>/``
holding ``lab.json`` and a sub-directory per node. ``lab.json`` names the owner
process; a lab whose owner died (and that was not started detached by
``redislab up``) is stale: its servers are killed and its directory removed at
the next start. Servers are matched by pid *and* working directory, so a recycled
pid is never killed by mistake.

The owner is matched by pid *and* its start time. On Linux that is the kernel's
``starttime`` (``/proc/<pid>/stat``, clock ticks since boot), which no change of the
wall clock moves: psutil's ``create_time()`` is boot time + ticks, and the boot time it
reads (``btime``) shifts when the wall clock jumps, as it does when a virtual machine is
paused and restored. Compared against a wall-clock ``created``, that jump once made a
live owner look younger than its lab, so another process's ``Lab.start`` killed a
running lab as stale (a CI run, two test suites sharing the labs directory).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import psutil

from .servers import _cache_dir

__all__ = [
    "cleanup_stale",
    "kill_pids",
    "labs_dir",
    "list_records",
    "owner_alive",
    "process_start_ticks",
    "read_record",
    "write_record",
]


def labs_dir() -> Path:
    d = _cache_dir() / "labs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def write_record(directory: Path, record: dict[str, Any]) -> None:
    """Write ``lab.json`` atomically (mode 0600: it may hold generated passwords)."""
    tmp = directory / f".lab.json.{os.getpid()}"
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(record, fh, indent=2)
    os.replace(tmp, directory / "lab.json")


def read_record(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / "lab.json").read_text())  # type: ignore[no-any-return]
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def list_records() -> list[dict[str, Any]]:
    """Records of every lab directory under :func:`labs_dir` (and of registered elsewhere)."""
    out = []
    for d in sorted(labs_dir().iterdir()):
        if d.is_dir():
            rec = read_record(d)
            if rec:
                out.append(rec)
    return out


def _server_process(pid: int | None, directory: str) -> psutil.Process | None:
    """The process ``pid`` if it is still one of this lab's servers."""
    if not pid:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        # Redis rewrites its process title, so the command line does not name the
        # config; but the server runs with its node directory as working directory.
        cwd = proc.cwd()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return proc if os.path.realpath(cwd) == os.path.realpath(directory) else None


def live_pids(record: dict[str, Any]) -> list[int]:
    """Pids of the record's servers that are still running."""
    out = []
    for node in record.get("nodes", []):
        proc = _server_process(node.get("pid"), node.get("dir", "?"))
        if proc is not None:
            out.append(proc.pid)
    return out


def kill_pids(record: dict[str, Any]) -> int:
    """SIGKILL every live server of ``record``; return how many there were."""
    procs = []
    for node in record.get("nodes", []):
        proc = _server_process(node.get("pid"), node.get("dir", "?"))
        if proc is not None:
            procs.append(proc)
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=5)
    return len(procs)


def process_start_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (Linux ``/proc``); None elsewhere.

    Field 22 of ``/proc/<pid>/stat``; the command name (field 2) may hold spaces and
    parentheses, so the fields are counted after its closing parenthesis.
    """
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    try:
        return int(raw[raw.rindex(b")") + 2 :].split()[19])
    except (ValueError, IndexError):
        return None


def owner_alive(record: dict[str, Any]) -> bool:
    """Whether the process that owns ``record`` still runs (that process, not a reused pid)."""
    pid = record.get("owner_pid")
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        ticks = record.get("owner_start_ticks")
        if ticks is not None:
            now = process_start_ticks(pid)
            if now is not None:
                return bool(now == ticks)
        # no ticks recorded (or no /proc): the owner must be older than its lab
        return bool(proc.create_time() <= float(record.get("created", float("inf"))) + 1)
    except psutil.NoSuchProcess:
        return False


def cleanup_stale() -> list[str]:
    """Kill and remove labs whose owner is gone; return their names.

    A detached lab (``redislab up``) is stale only once none of its servers runs.
    """
    removed = []
    for d in sorted(labs_dir().iterdir()):
        if not d.is_dir():
            continue
        rec = read_record(d)
        if rec is None:
            # a directory without a record: a lab that crashed while being created
            try:
                age = max(0.0, time.time() - d.stat().st_mtime)
            except FileNotFoundError:
                continue
            if age > 60:
                shutil.rmtree(d, ignore_errors=True)
            continue
        if rec.get("detached"):
            if live_pids(rec):
                continue
        elif owner_alive(rec):
            continue
        kill_pids(rec)
        shutil.rmtree(d, ignore_errors=True)
        removed.append(str(rec.get("name", d.name)))
    return removed


def lab_server_pids(under: str | os.PathLike[str] | None = None) -> set[int]:
    """Pids of running server processes whose working directory is a redislab one.

    Redis rewrites its process title, so processes are recognised by their cwd,
    which is always the node's directory (``dir`` in its config). ``under`` limits
    the answer to servers whose directory lies below that path.
    """
    prefix = os.path.realpath(under) if under is not None else None
    out = set()
    for proc in psutil.process_iter(["name"]):
        try:
            name = proc.info["name"] or ""
            cwd = proc.cwd()
            if prefix is not None and not (cwd == prefix or cwd.startswith(prefix + os.sep)):
                continue
            if ("redis" in name or "valkey" in name) and (prefix is not None or "redislab" in cwd):
                if proc.status() != psutil.STATUS_ZOMBIE:
                    out.add(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out
