"""Client ceiling against server ceiling: ``redis-benchmark`` beside redis-py, and a profile.

``redis-benchmark`` is a C client that keeps ``-c`` connections busy (and ``-P``
commands in flight on each); what it reaches on the same server in the same run is the
server's ceiling on this machine ("Redis benchmark",
https://redis.io/docs/latest/operate/oss_and_stack/management/optimization/benchmarks/).
:func:`profile_calls` shows where one redis-py call spends its time: packing the
command, the system calls (``sendall``, and ``recv`` which also waits for the server)
and parsing the reply.
"""

from __future__ import annotations

import cProfile
import csv
import io
import pstats
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import PerformanceError, ToolError
from ..keys import PERFORMANCE, key
from ..lab.node import Node
from ..types import PlainConnection

__all__ = [
    "PROFILE_CATEGORIES",
    "benchmark_tool",
    "ceiling_round",
    "profile_calls",
    "redis_benchmark",
]


def benchmark_tool() -> Path | None:
    """``redis-benchmark`` (or ``valkey-benchmark``) on PATH, or None."""
    for name in ("redis-benchmark", "valkey-benchmark"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def redis_benchmark(
    node: Node,
    *,
    requests: int = 50_000,
    clients: int = 50,
    pipeline: int = 1,
    command: Sequence[str] | None = None,
    timeout: float = 120.0,
) -> dict[str, float]:
    """Run ``redis-benchmark --csv`` against ``node``; returns ``rps`` and latency figures.

    The command defaults to ``SET redislab:perf:benchmark v`` (a custom command, so
    the benchmark writes only under the ``perf`` namespace). Latencies (ms) are given
    when the tool reports them (Redis 7+ tools do). Raises :class:`ToolError` if the
    tool is missing or fails.
    """
    tool = benchmark_tool()
    if tool is None:
        raise ToolError("no redis-benchmark on PATH (Debian: apt-get install redis-tools)")
    args = list(command or ("SET", key(PERFORMANCE, "benchmark"), "v"))
    argv = [str(tool), "-h", node.host, "-p", str(node.port), "-n", str(requests)]
    argv += ["-c", str(clients), "-P", str(pipeline), "--csv", *args]
    if node.password is not None:
        argv[1:1] = ["--user", str(node.username), "-a", str(node.password)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise ToolError(f"{' '.join(argv[:1])} failed: {proc.stderr.strip() or proc.stdout}")
    rows = list(csv.reader(io.StringIO(proc.stdout.strip())))
    if not rows:
        raise ToolError(f"redis-benchmark printed nothing: {proc.stderr.strip()}")
    if rows[0] and rows[0][0] == "test":  # Redis 7+: a header line
        header, values = rows[0], rows[-1]
    else:  # older tools: "NAME","rps"
        header, values = ["test", "rps"], rows[-1]
    out: dict[str, float] = {}
    for name, value in zip(header[1:], values[1:], strict=False):
        out[name] = float(value)
    return out


PROFILE_CATEGORIES: dict[str, tuple[str, ...]] = {
    "pack the command": ("pack", "encode", "pack_command"),
    "sendall (syscall)": ("sendall", "send"),
    "recv: wait + read (syscall)": ("recv", "recv_into", "_read_from_socket", "readline"),
    "parse the reply": ("read_response", "gets", "feed", "_read_response", "parse_response"),
}
"""How :func:`profile_calls` sorts functions: by name fragments, first match wins."""


def _category(func: tuple[str, int, str]) -> str:
    filename, _, name = func
    for cat, fragments in PROFILE_CATEGORIES.items():
        if any(name == f or name.endswith(f) or f"'{f}'" in name for f in fragments):
            return cat
    if "redis" in filename:
        return "other redis-py code"
    return "other (Python, stdlib)"


def profile_calls(fn: Callable[[], Any], *, calls: int = 2_000) -> pd.DataFrame:
    """Profile ``calls`` calls of ``fn`` (``cProfile``); own time per category, and share.

    The profiler slows Python code more than system calls, so read the shares as an
    ordering, not as exact fractions. Returns ``category, seconds, share`` sorted by
    time; ``attrs["top"]`` holds the ten functions with most own time.
    """
    fn()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        fn()
    prof.disable()
    stats = pstats.Stats(prof)
    totals: dict[str, float] = {}
    top = []
    for func, (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        cat = _category(func)
        totals[cat] = totals.get(cat, 0.0) + tottime
        top.append(
            {"function": f"{Path(func[0]).name}:{func[2]}", "category": cat, "seconds": tottime}
        )
    table = pd.DataFrame([{"category": c, "seconds": s} for c, s in totals.items()])
    table["share"] = table.seconds / table.seconds.sum()
    table = table.sort_values("seconds", ascending=False, ignore_index=True)
    table.attrs["top"] = (
        pd.DataFrame(top).sort_values("seconds", ascending=False, ignore_index=True).head(10)
    )
    return table


def ceiling_round(
    *,
    connection: PlainConnection,
    node: Node,
    requests: int = 20_000,
    clients: int = 50,
    pipeline: int = 16,
    single: int = 200,
    pairs: int = 3,
) -> tuple[list[float], list[float]]:
    """One round of timings: redis-py, one SET per round trip, against ``redis-benchmark``.

    Each of ``pairs`` pairs times ``single`` SETs through ``connection``, each waiting for
    its reply, then runs ``redis-benchmark -c clients -P pipeline -n requests`` on
    ``node`` (its own ``rps``, so its process start is not counted). Returns ``(python,
    benchmark)`` seconds per SET, one value per pair: their ratio is how many times the
    server served what one waiting Python client sends, for
    :func:`redislab.kit.evidence.compare` (``paired=True``).
    """
    import time

    if pairs < 1 or single < 1:
        raise PerformanceError("pairs and single must be positive")
    k = key(PERFORMANCE, "ceiling")
    connection.set(k, "v")  # warm: the pool holds a connection
    a: list[float] = []
    b: list[float] = []
    for _ in range(pairs):
        t0 = time.perf_counter()
        for _ in range(single):
            connection.set(k, "v")
        a.append((time.perf_counter() - t0) / single)
        res = redis_benchmark(node, requests=requests, clients=clients, pipeline=pipeline)
        b.append(1.0 / res["rps"])
    return a, b
