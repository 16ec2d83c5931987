"""Recovery time: timed restarts, load time against dataset size, a fitted prediction.

:func:`timed_restart` reads the load time from the server log; :func:`measure_load_time`
times loads of several sizes; :func:`fit_line` and :func:`predict_load_time` check a
straight-line prediction on a larger dataset; :func:`format_load_times` compares a
RESP AOF with an RDB-preamble AOF.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import psutil

from ..errors import UsageError
from ..keys import PERSISTENCE, key
from ..kit.measure import progress as progress_bar
from ._common import (
    PersistenceError,
    persistence_config,
)
from .aof import (
    bgrewriteaof,
)
from .snapshots import (
    bgsave,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..lab.node import Node

__all__ = [
    "FormatLoads",
    "LineFit",
    "LoadPrediction",
    "LoadSample",
    "RestartTiming",
    "fit_line",
    "format_load_times",
    "measure_load_time",
    "parse_load_seconds",
    "predict_load_time",
    "timed_restart",
]


_LOAD_RE = re.compile(r"DB loaded from (disk|append only file): (\d+(?:\.\d+)?) seconds")


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
    progress: bool = False,
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
    ``progress`` shows a bar over the datasets made and the restarts.
    """
    client = node.client(socket_timeout=timeout)
    cfg = persistence_config(client)
    if cfg["appendonly"] == "yes":
        mode = "hybrid" if cfg["aof-use-rdb-preamble"] == "yes" else "aof"
    else:
        mode = "rdb"
    prefix = key(PERSISTENCE, "load")
    stash_root = Path(cfg["dir"]) / ".redislab-load-stash"
    nbytes: dict[int, int] = {}
    timings: dict[int, list[RestartTiming]] = {}
    loaded: dict[int, int] = {}
    bar = progress_bar(
        total=len(sizes) * (1 + repeats), desc=f"{node.name}: {mode} load times", enabled=progress
    )
    try:
        for n in sizes:
            client.flushall()
            client.execute_command("DEBUG", "POPULATE", int(n), prefix, value_size)
            if mode == "rdb":
                bgsave(client, timeout=timeout)  # SAVE fails if a save point's BGSAVE runs
            else:
                bgrewriteaof(client, timeout=timeout)
            nbytes[n] = _stash_files(cfg, mode, stash_root / str(n))
            bar.update(1)
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
                bar.update(1)
                if n not in loaded:
                    with node.client(socket_timeout=timeout) as check:
                        loaded[n] = int(check.dbsize())
    finally:
        bar.close()
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
        raise UsageError("fit_line needs at least two (x, y) pairs of equal length")
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
    progress: bool = False,
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
        samples_now = measure_load_time(
            node, sizes, repeats=repeats, value_size=value_size, progress=progress
        )
        for sample in samples_now:
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


class FormatLoads:
    """The node's dataset as a RESP AOF and as an RDB-preamble AOF, restarted from each.

    A context manager. On entry the dataset is rewritten twice (``aof-use-rdb-preamble
    no``, then ``yes``) and the two AOF directories are kept aside; :meth:`pairs` then
    restarts the node from each in turn, back to back, and returns the load times the
    server logged as paired samples (for :func:`redislab.kit.evidence.compare`). On exit
    the stash is removed, the setting restored and the key count checked. The node
    must run with the AOF on.
    """

    def __init__(self, node: Node, *, timeout: float = 60.0) -> None:
        self.node = node
        self.timeout = timeout
        self.times: dict[str, list[float]] = {"resp": [], "rdb": []}
        self.sizes: dict[str, int] = {}
        self.keys = 0
        self._cfg: dict[str, str] = {}
        self._stash = Path()

    def __enter__(self) -> FormatLoads:
        client = self.node.client(socket_timeout=self.timeout)
        try:
            self._cfg = persistence_config(client)
            if self._cfg["appendonly"] != "yes":
                raise PersistenceError(f"{self.node.name} has the AOF off: FormatLoads needs it on")
            self.keys = int(client.dbsize())
            self._stash = Path(self._cfg["dir"]) / ".redislab-format-stash"
            for fmt, preamble in (("resp", "no"), ("rdb", "yes")):
                client.config_set("aof-use-rdb-preamble", preamble)
                bgrewriteaof(client, timeout=self.timeout)
                self.sizes[fmt] = _stash_files(self._cfg, "aof", self._stash / fmt)
        except BaseException:
            shutil.rmtree(self._stash, ignore_errors=True)
            raise
        finally:
            client.close()
        return self

    def _restart(self, fmt: str) -> float:
        self.node.kill()
        _unstash_files(self._cfg, "aof", self._stash / fmt)
        timing = timed_restart(self.node)
        if timing.load_s is None:
            raise PersistenceError(f"no load time in the log of {self.node.name}")
        self.times[fmt].append(timing.load_s)
        return timing.load_s

    def pairs(self, n: int = 5) -> tuple[list[float], list[float]]:
        """``n`` back-to-back restarts from each format (order alternating): ``(resp, rdb)``."""
        resp, rdb = [], []
        for i in range(n):
            order = ("resp", "rdb") if (len(self.times["resp"]) + i) % 2 == 0 else ("rdb", "resp")
            got = {fmt: self._restart(fmt) for fmt in order}
            resp.append(got["resp"])
            rdb.append(got["rdb"])
        return resp, rdb

    def summary(self) -> dict[str, Any]:
        """Median load times and file sizes: ``resp_s``, ``rdb_s``, ``resp_bytes``,
        ``rdb_bytes``, ``keys``, and ``restarts`` (per format)."""
        return {
            "keys": self.keys,
            "resp_s": float(np.median(self.times["resp"])),
            "rdb_s": float(np.median(self.times["rdb"])),
            "resp_bytes": self.sizes["resp"],
            "rdb_bytes": self.sizes["rdb"],
            "restarts": len(self.times["resp"]),
        }

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self._stash, ignore_errors=True)
        with self.node.client(socket_timeout=self.timeout) as client:
            client.config_set("aof-use-rdb-preamble", self._cfg["aof-use-rdb-preamble"])
            loaded = int(client.dbsize())
        if loaded != self.keys and exc[0] is None:
            raise PersistenceError(f"{self.node.name} loaded {loaded} keys, expected {self.keys}")


def format_load_times(node: Node, *, repeats: int = 3, timeout: float = 60.0) -> dict[str, Any]:
    """Load the node's current dataset from a RESP AOF and from an RDB-preamble AOF.

    :class:`FormatLoads` with ``repeats`` pairs of restarts; returns its summary
    (median load times and file sizes: ``resp_s``, ``rdb_s``, ``resp_bytes``,
    ``rdb_bytes``, ``keys``).
    """
    with FormatLoads(node, timeout=timeout) as loads:
        loads.pairs(repeats)
    return loads.summary()
