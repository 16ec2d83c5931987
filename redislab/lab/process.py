"""Starting server processes that die with the Python process that started them.

On Linux each child asks the kernel for a parent-death signal (``PR_SET_PDEATHSIG``,
SIGKILL), so no server outlives its Python process, even one that is SIGKILLed.
Linux ties that signal to the *thread* that forked the child, so every process is
spawned from one long-lived daemon thread: a lab started from a short-lived thread
(an ipywidgets callback) does not die with that thread. Elsewhere, stale labs are
cleaned up at the next start (:mod:`redislab.lab.registry`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

__all__ = ["PDEATHSIG_SUPPORTED", "spawn"]

PR_SET_PDEATHSIG = 1
PDEATHSIG_SUPPORTED = sys.platform.startswith("linux")

_libc = None
if PDEATHSIG_SUPPORTED:
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:  # pragma: no cover - exotic libc
        _libc = None
        PDEATHSIG_SUPPORTED = False


def _make_preexec(parent_pid: int):  # type: ignore[no-untyped-def]
    libc = _libc

    def preexec() -> None:  # runs in the child between fork and exec
        if libc is not None:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent_pid:  # parent died before prctl took effect
                os._exit(1)

    return preexec


_jobs: queue.Queue[tuple[Future[subprocess.Popen[bytes]], dict[str, object]]] = queue.Queue()
_thread: threading.Thread | None = None
_thread_lock = threading.Lock()


def _spawner() -> None:
    while True:
        fut, kwargs = _jobs.get()
        if not fut.set_running_or_notify_cancel():
            continue
        try:
            fut.set_result(subprocess.Popen(**kwargs))  # type: ignore[call-overload]
        except BaseException as exc:
            fut.set_exception(exc)


def _ensure_thread() -> None:
    global _thread
    with _thread_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_spawner, name="redislab-spawner", daemon=True)
            _thread.start()


def spawn(
    argv: Sequence[str],
    *,
    cwd: Path,
    output: Path,
    die_with_parent: bool = True,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session, stdout+stderr to ``output``.

    With ``die_with_parent`` (the default) the child gets SIGKILL when this Python
    process dies (Linux). ``redislab up`` passes False: its lab outlives the command.
    """
    out = open(output, "ab", buffering=0)  # noqa: SIM115 - handed to the child, closed below
    kwargs: dict[str, object] = {
        "args": list(argv),
        "cwd": str(cwd),
        "stdin": subprocess.DEVNULL,
        "stdout": out,
        "stderr": subprocess.STDOUT,
        "start_new_session": True,  # Ctrl-C in a terminal does not reach the servers
        "close_fds": True,
    }
    try:
        if die_with_parent and PDEATHSIG_SUPPORTED:
            kwargs["preexec_fn"] = _make_preexec(os.getpid())
            _ensure_thread()
            fut: Future[subprocess.Popen[bytes]] = Future()
            _jobs.put((fut, kwargs))
            return fut.result()
        return subprocess.Popen(**kwargs)  # type: ignore[call-overload,no-any-return]
    finally:
        out.close()
