"""The soak: the notebook suite N times per engine, and a per-claim table of how close it came.

``redislab soak --runs 5 --neighbour`` (``make soak RUNS=5 NEIGHBOUR=1``) runs the notebooks
(``pytest --nbval-lax``) ``runs`` times on each engine found here (``system``, ``redis8``,
``valkey``: :func:`redislab.available_servers`), round by round (run 1 on every engine,
then run 2...), so a slow hour of the machine falls on every engine alike. Each run
records its claims (:mod:`redislab.kit.claims`) into a folder of its own,
``OUT/run-<k>/<engine>/``, and pytest's output into ``pytest.log`` beside them; a
JUnit report there gives the cells that failed.

With ``neighbour=True`` a separate process spins on one core for the whole soak (pinned
with ``os.sched_setaffinity`` where there is one): the notebooks then run as on a CI
machine whose other tenant is busy. It is killed at the end, on Ctrl-C and on failure,
and it exits by itself if this process dies (it watches its parent).

The table (:func:`soak_table`) has one row per engine, notebook and claim: in how many
runs it was recorded, failed or was inconclusive and, for what was measured,

- timing claims (decided from samples, :mod:`redislab.kit.evidence`): the estimate's
  min / median / max over the runs, the threshold, and the **margin in spreads**,
  ``(median estimate - threshold) / stdev of the estimate across runs`` (ratios on the
  log scale), signed so that positive is on the claim's side: 3 means the threshold is
  three run-to-run standard deviations away; below :data:`THIN` it is the next claim to
  go inconclusive or red. Beside it, the smallest per-run :attr:`Evidence.margin
  <redislab.kit.evidence.Evidence.margin>` (in half-widths of that run's interval; near
  or below 1 the interval's edge is at the threshold: the run was, or nearly was,
  inconclusive);
- other claims: each numeric measured value's min / median / max;
- cells that failed for another reason than a claim (an exception, a timeout, a kernel
  that died): one row per notebook cell, counted in the run it failed in.

Failures, cell errors and claims missing from some runs come first, then the thinnest
margins. :func:`run_soak` writes ``soak.csv``, ``soak-runs.csv`` (one row per run),
``soak.html`` and ``soak.md`` (a summary for ``docs/SOAK.md``: the command, the machine,
the engines, the wall time, the thinnest rows) in ``OUT``, and copies ``soak.html`` into
the claims folder (``build/claims``) so the claims report (``redislab claims``) links it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import html
import math
import numbers
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError
from .lab.servers import ServerInfo, available_servers, find_server
from .report import load_claims

__all__ = [
    "THIN",
    "CellError",
    "Neighbour",
    "RunResult",
    "SoakConfig",
    "SoakReport",
    "neighbour",
    "read_junit",
    "run_soak",
    "runs_table",
    "select_notebooks",
    "soak_table",
    "write_outputs",
]

#: A timing claim whose threshold is fewer run-to-run standard deviations away is "thin".
THIN = 3.0

#: Rows shown in soak.md (all of them are in soak.csv and soak.html).
MD_ROWS = 25

#: How long a pytest run interrupted by Ctrl-C gets to stop its kernels and labs.
INTERRUPT_GRACE_S = 60.0

# The neighbour: a busy loop that ignores Ctrl-C (this process decides when it ends) and
# ends by itself within a few milliseconds once its parent is gone.
NEIGHBOUR_CODE = (
    "import os, signal  # redislab soak neighbour: spins on one core\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "parent = os.getppid()\n"
    "while os.getppid() == parent:\n"
    "    for _ in range(100_000):\n"
    "        pass\n"
)
NEIGHBOUR_MARK = "redislab soak neighbour"

_ANSI = re.compile(r"(?:\x1b|#x1B)\[[0-9;]*[A-Za-z]")
_CLAIM_FAILURE = re.compile(r"^AssertionError: Claim did not hold", re.MULTILINE)
# figures Evidence.summary() adds to a timing claim's measured values
_EVIDENCE_KEYS = {"ratio", "difference", "median", "low", "high", "n", "rounds", "margin"}


# --------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class SoakConfig:
    """What to soak: how many runs, which engines and notebooks, where to write."""

    runs: int = 5
    engines: tuple[str, ...] = ()  # system | redis8 | valkey | a path; () = all found here
    neighbour: bool = False
    notebooks: tuple[str, ...] = ()  # name prefixes, e.g. ("06.01", "08.01"); () = all
    workers: int = 2  # pytest-xdist workers per run (1: serial)
    out: Path = Path("build/soak")
    notebooks_dir: Path = Path("notebooks")
    link_into: Path | None = None  # also copy soak.html here (the claims folder)

    def command(self) -> str:
        """The ``redislab soak`` command line that reproduces this soak."""
        parts = ["redislab", "soak", "--runs", str(self.runs)]
        if self.engines:
            parts += ["--engines", ",".join(self.engines)]
        if self.neighbour:
            parts.append("--neighbour")
        if self.notebooks:
            parts += ["--notebooks", ",".join(self.notebooks)]
        parts += ["--workers", str(self.workers)]
        if self.out.resolve() != Path("build/soak").resolve():
            parts += ["--out", str(self.out)]
        return shlex.join(parts)


def select_notebooks(folder: Path, prefixes: Sequence[str] = ()) -> list[Path]:
    """The notebooks in ``folder``, or those whose name starts with one of ``prefixes``."""
    found = sorted(folder.glob("*.ipynb"))
    if not found:
        raise UsageError(f"no notebooks in {folder} (run the soak from the project's root)")
    wanted = [p.removesuffix(".ipynb") for item in prefixes for p in item.split(",") if p]
    if not wanted:
        return found
    missing = [w for w in wanted if not any(p.stem.startswith(w) for p in found)]
    if missing:
        raise UsageError(
            f"--notebooks {', '.join(missing)}: no notebook in {folder} starts with it "
            f"(there are: {', '.join(p.stem for p in found)})"
        )
    return [p for p in found if any(p.stem.startswith(w) for w in wanted)]


def _servers(names: Sequence[str]) -> list[ServerInfo]:
    if not names:
        found = available_servers()
        return found or [find_server()]  # none: find_server raises with instructions
    servers = []
    for name in names:
        try:
            servers.append(find_server(name))
        except Exception as exc:
            known = ", ".join(s.source for s in available_servers()) or "none"
            reason = str(exc).splitlines()[0].rstrip(".")
            raise UsageError(f"--engines {name}: {reason} (found here: {known})") from exc
    return servers


def _engine_dir(server: ServerInfo) -> str:
    return server.source if server.source != "path" else f"{server.engine}-{server.version}"


# --------------------------------------------------------------------------- the neighbour
@dataclass
class Neighbour:
    """The CPU-bound process beside the soak: its pid, its CPU, what it used."""

    pid: int
    cpu: int | None  # the CPU it is pinned to (None: no sched_setaffinity here)
    started: float = field(default_factory=time.monotonic)
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0

    def alive(self) -> bool:
        import psutil

        try:
            return psutil.Process(self.pid).status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    @property
    def busy(self) -> float:
        """The share of one core it used (about 1.0 when it really spun)."""
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0


def _pin(pid: int) -> int | None:
    """Pin ``pid`` to the last CPU this process may use; None where that cannot be done."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        cpu = max(os.sched_getaffinity(0))
        os.sched_setaffinity(pid, {cpu})
    except OSError:
        return None
    return cpu


@contextlib.contextmanager
def neighbour(enabled: bool = True) -> Iterator[Neighbour | None]:
    """A process spinning on one core while the block runs; killed when it ends, however."""
    if not enabled:
        yield None
        return
    proc = subprocess.Popen(
        [sys.executable, "-c", NEIGHBOUR_CODE],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    info = Neighbour(pid=proc.pid, cpu=None)
    try:
        info.cpu = _pin(proc.pid)
        yield info
    finally:
        info.wall_seconds = time.monotonic() - info.started
        with contextlib.suppress(Exception):
            import psutil

            times = psutil.Process(proc.pid).cpu_times()
            info.cpu_seconds = times.user + times.system
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not refused
            pass


# --------------------------------------------------------------------------- one run
@dataclass(frozen=True)
class CellError:
    """A notebook cell that failed for another reason than a claim."""

    notebook: str
    cell: str
    message: str


@dataclass
class RunResult:
    """One pytest run of the notebooks on one engine."""

    run: int
    engine: str  # the server's source name: system | redis8 | valkey
    label: str  # e.g. "Redis 7.0.15"
    claims_dir: Path
    log: Path | None = None
    exit_code: int = 0
    seconds: float = 0.0
    tests: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    claim_failures: int = 0  # cells that failed because a claim did not hold
    cell_errors: list[CellError] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        """The claims recorded in this run (``claims_dir/<engine>-<version>/<nb>.jsonl``)."""
        return load_claims(self.claims_dir)


def _last_line(text: str) -> str:
    """The exception line of a traceback: the last line that does not start indented."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln[0].isspace()]
    return (lines[-1] if lines else text.strip())[:300]


def read_junit(path: Path, notebooks: Sequence[str] = ()) -> dict[str, Any]:
    """Counts and failing cells from a JUnit report of a notebook run.

    Returns ``tests``, ``passed``, ``failed``, ``skipped``, ``claim_failures`` (cells whose
    exception is a claim that did not hold) and ``cell_errors`` (the other failing cells,
    as :class:`CellError`). ``notebooks``: the stems run, to name a test's notebook.
    """
    root = ET.parse(path).getroot()
    out: dict[str, Any] = {"tests": 0, "passed": 0, "failed": 0, "skipped": 0}
    out["claim_failures"] = 0
    errors: list[CellError] = []
    for case in root.iter("testcase"):
        out["tests"] += 1
        classname = case.get("classname", "")
        notebook = next(
            (s for s in notebooks if classname.endswith(f"{s}.ipynb")),
            classname.removesuffix(".ipynb").rsplit("/", 1)[-1],
        )
        problems = [c for c in case if c.tag in ("failure", "error")]
        if any(c.tag == "skipped" for c in case):
            out["skipped"] += 1
        elif not problems:
            out["passed"] += 1
        if not problems:
            continue
        out["failed"] += 1
        text = _ANSI.sub("", "\n".join((c.text or c.get("message") or "") for c in problems))
        if _CLAIM_FAILURE.search(text):
            out["claim_failures"] += 1
        else:
            errors.append(CellError(notebook, case.get("name", ""), _last_line(text)))
    out["cell_errors"] = errors
    return out


def _child_env(server: ServerInfo, claims_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT_TEST"))
        and k not in ("REDISLAB_NOTEBOOK", "REDISLAB_URL")
    }
    env["REDISLAB_SERVER"] = str(server.path) if server.source == "path" else server.source
    env["REDISLAB_CLAIMS_DIR"] = str(claims_dir)
    return env


def _wait(proc: subprocess.Popen[bytes]) -> int:
    """Wait for pytest; on Ctrl-C give it time to stop its kernels and labs, then raise."""
    try:
        return proc.wait()
    except KeyboardInterrupt:
        try:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)  # it has it already if Ctrl-C hit the group
            proc.wait(timeout=INTERRUPT_GRACE_S)
        except (KeyboardInterrupt, subprocess.TimeoutExpired):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        raise


def run_once(
    run: int, server: ServerInfo, notebooks: Sequence[Path], config: SoakConfig, out: Path
) -> RunResult:
    """One pytest run of ``notebooks`` on ``server``; claims and log in ``out/run-<k>/<eng>``."""
    folder = out / f"run-{run}" / _engine_dir(server)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    root = config.notebooks_dir.resolve().parent
    junit = folder / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "--color=no", "--nbval-lax"]
    cmd += [f"--junitxml={junit}"]
    workers = min(config.workers, len(notebooks))
    if workers > 1:
        cmd += ["-n", str(workers), "--dist", "loadfile"]
    cmd += [str(p.resolve().relative_to(root)) for p in notebooks]
    result = RunResult(
        run=run, engine=server.source, label=server.label, claims_dir=folder,
        log=folder / "pytest.log",
    )  # fmt: skip
    start = time.monotonic()
    with (folder / "pytest.log").open("wb") as log:
        log.write(f"$ cd {root} && {shlex.join(cmd)}\n\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd, cwd=root, env=_child_env(server, folder), stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        result.exit_code = _wait(proc)
    result.seconds = round(time.monotonic() - start, 1)
    stems = [p.stem for p in notebooks]
    if junit.exists():
        counts = read_junit(junit, stems)
        for key in ("tests", "passed", "failed", "skipped", "claim_failures"):
            setattr(result, key, int(counts[key]))
        result.cell_errors = list(counts["cell_errors"])
    if result.exit_code not in (0, 1) or not junit.exists():
        result.cell_errors.append(
            CellError("(pytest)", "", f"pytest exited {result.exit_code}; see {result.log}")
        )
    return result


# --------------------------------------------------------------------------- the table
def _num(value: Any) -> float | None:
    """A finite-or-infinite float from a recorded value (JSON keeps inf as "inf")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in ("inf", "-inf", "+inf", "nan"):
        return float(value)
    return None


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.4g}"


def _spread_margin(evs: Sequence[dict[str, Any]]) -> tuple[float, float, float, float]:
    """(margin in run-to-run stdevs, min per-run margin, median threshold, stdev) of timings.

    The gap is taken per run (each run's estimate against its own threshold), on the log
    scale for ratios, and signed so that positive is on the claim's side; the spread is
    the sample standard deviation of the estimates (same scale) across runs.
    """
    gaps: list[float] = []
    points: list[float] = []
    thresholds: list[float] = []
    run_margins: list[float] = []
    for ev in evs:
        est, thr = _num(ev.get("estimate")), _num(ev.get("threshold"))
        m = _num(ev.get("margin"))
        if m is not None and not math.isnan(m):
            run_margins.append(m)
        if est is None or thr is None or math.isnan(est) or math.isnan(thr):
            continue
        thresholds.append(thr)
        log = ev.get("statistic") == "ratio"
        if log and (est <= 0 or thr <= 0):
            continue
        f_est, f_thr = (math.log(est), math.log(thr)) if log else (est, thr)
        gap = f_est - f_thr
        gaps.append(-gap if ev.get("direction") == "<=" else gap)
        points.append(f_est)
    min_margin = min(run_margins) if run_margins else math.nan
    threshold = statistics.median(thresholds) if thresholds else math.nan
    if len(points) < 2:
        return math.nan, min_margin, threshold, math.nan
    sd = statistics.stdev(points)
    gap = statistics.median(gaps)
    margin = gap / sd if sd > 0 else math.copysign(math.inf, gap) if gap else math.nan
    return margin, min_margin, threshold, sd


def _measured_summary(records: Sequence[dict[str, Any]], timing: bool) -> str:
    """``key min/median/max`` (or one value when they agree) for each numeric value."""
    values: dict[str, list[float]] = {}
    for rec in records:
        measured = rec.get("measured") or {}
        if not isinstance(measured, dict):
            continue
        for key, value in measured.items():
            if timing and key in _EVIDENCE_KEYS:
                continue
            v = _num(value)
            if v is not None and not math.isnan(v):
                values.setdefault(str(key), []).append(v)
    parts = []
    for key, vs in values.items():
        lo, med, hi = min(vs), statistics.median(vs), max(vs)
        span = _fmt(lo) if lo == hi else f"{_fmt(lo)} / {_fmt(med)} / {_fmt(hi)}"
        parts.append(f"{key} {span}")
    return "; ".join(parts)


def _status(row: dict[str, Any]) -> str:
    if row["kind"] == "cell error":
        return "ERROR"
    if row["failures"]:
        return "FAILED"
    if row["missing"]:
        return "missing"
    if row["inconclusive"]:
        return "inconclusive"
    margin, run_margin = row["margin_sd"], row["min_run_margin"]
    if row["kind"] == "timing" and (
        (not math.isnan(margin) and margin < THIN)
        or (math.isnan(margin) and not math.isnan(run_margin) and run_margin < 1)
    ):
        return "thin"
    return "ok"


_RANK = {"ERROR": 0, "FAILED": 0, "missing": 1, "inconclusive": 2, "thin": 3, "ok": 3}

COLUMNS = [
    "status", "engine", "label", "notebook", "claim", "kind", "runs", "records", "missing",
    "failures", "inconclusive", "statistic", "direction", "threshold", "estimate_min",
    "estimate_median", "estimate_max", "spread_sd", "margin_sd", "min_run_margin", "measured",
]  # fmt: skip


def soak_table(results: Sequence[RunResult]) -> Any:
    """One row per (engine, notebook, claim), plus one per failing non-claim cell; sorted.

    Failures and cell errors first, then claims missing from some runs, inconclusive ones,
    then by ``margin_sd`` (the thinnest first), then by the smallest per-run margin.
    """
    import pandas as pd

    runs_per_engine: dict[str, set[int]] = {}
    labels: dict[str, str] = {}
    grouped: dict[tuple[str, str, str], list[tuple[int, dict[str, Any]]]] = {}
    errors: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
    for res in results:
        runs_per_engine.setdefault(res.engine, set()).add(res.run)
        labels[res.engine] = res.label
        for rec in res.records():
            key = (res.engine, str(rec.get("notebook", "")), str(rec.get("text", "")))
            grouped.setdefault(key, []).append((res.run, rec))
        for err in res.cell_errors:
            errors.setdefault((res.engine, err.notebook, err.cell), []).append(
                (res.run, err.message)
            )
    rows: list[dict[str, Any]] = []
    for (engine, notebook, text), items in grouped.items():
        recs = [r for _, r in items]
        runs = {k for k, _ in items}
        verdicts = [str(r.get("verdict") or ("held" if r.get("held") else "failed")) for r in recs]
        evs = [r["evidence"] for r in recs if isinstance(r.get("evidence"), dict)]
        timing = bool(evs)
        estimates = [e for e in (_num(ev.get("estimate")) for ev in evs) if e is not None]
        estimates = [e for e in estimates if not math.isnan(e)]
        margin, run_margin, threshold, sd = _spread_margin(evs)
        row: dict[str, Any] = {
            "engine": engine,
            "label": labels[engine],
            "notebook": notebook,
            "claim": text,
            "kind": "timing" if timing else "value",
            "runs": len(runs),
            "records": len(recs),
            "missing": len(runs_per_engine[engine] - runs),
            "failures": verdicts.count("failed"),
            "inconclusive": verdicts.count("inconclusive"),
            "statistic": str(evs[0].get("statistic", "")) if timing else "",
            "direction": str(evs[0].get("direction", "")) if timing else "",
            "threshold": threshold,
            "estimate_min": min(estimates) if estimates else math.nan,
            "estimate_median": statistics.median(estimates) if estimates else math.nan,
            "estimate_max": max(estimates) if estimates else math.nan,
            "spread_sd": sd,
            "margin_sd": margin,
            "min_run_margin": run_margin,
            "measured": _measured_summary(recs, timing),
        }
        rows.append(row)
    for (engine, notebook, cell), hits in errors.items():
        messages = list(dict.fromkeys(m for _, m in hits))
        rows.append(
            {
                "engine": engine, "label": labels[engine], "notebook": notebook,
                "claim": f"[not a claim] {cell or 'the run'} failed", "kind": "cell error",
                "runs": len(runs_per_engine[engine]), "records": len(hits), "missing": 0,
                "failures": len({k for k, _ in hits}), "inconclusive": 0, "statistic": "",
                "direction": "", "threshold": math.nan, "estimate_min": math.nan,
                "estimate_median": math.nan, "estimate_max": math.nan, "spread_sd": math.nan,
                "margin_sd": math.nan, "min_run_margin": math.nan,
                "measured": " | ".join(messages[:3]),
            }
        )  # fmt: skip
    for row in rows:
        row["status"] = _status(row)

    def order(row: dict[str, Any]) -> tuple[Any, ...]:
        def key(v: float) -> float:
            return math.inf if math.isnan(v) else v

        return (
            _RANK[row["status"]], -row["failures"], -row["missing"], -row["inconclusive"],
            key(row["margin_sd"]), key(row["min_run_margin"]), row["kind"] != "timing",
            row["notebook"], row["claim"], row["engine"],
        )  # fmt: skip

    rows.sort(key=order)
    return pd.DataFrame(rows, columns=COLUMNS)


def runs_table(results: Sequence[RunResult]) -> Any:
    """One row per pytest run: counts, claim verdicts, cell errors, time, log."""
    import pandas as pd

    rows = []
    for r in results:
        recs = r.records()
        verdicts = [str(x.get("verdict") or ("held" if x.get("held") else "failed")) for x in recs]
        rows.append(
            {
                "run": r.run, "engine": r.engine, "label": r.label, "exit_code": r.exit_code,
                "seconds": r.seconds, "tests": r.tests, "passed": r.passed, "failed": r.failed,
                "skipped": r.skipped, "claims": len(recs),
                "claims_failed": verdicts.count("failed"),
                "claims_inconclusive": verdicts.count("inconclusive"),
                "cell_errors": len(r.cell_errors), "log": str(r.log or ""),
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the outputs
@dataclass
class SoakReport:
    """What a soak did and where it wrote it."""

    config: SoakConfig
    results: list[RunResult]
    table: Any  # pandas DataFrame, soak_table()
    facts: dict[str, str]
    files: list[Path] = field(default_factory=list)
    interrupted: bool = False
    neighbour: Neighbour | None = None

    @property
    def failures(self) -> int:
        """Claim failures, cell errors and claims missing from some runs, in all."""
        t = self.table
        return int(t["failures"].sum() + t["missing"].sum()) if len(t) else 0

    @property
    def html(self) -> Path:
        return self.config.out / "soak.html"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_facts() -> dict[str, str]:
    """Cores, CPU, memory, OS, Python, load average: what a soak's numbers depend on."""
    import psutil

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = f"{os.cpu_count()} logical CPUs" + (f" ({usable} usable)" if usable else "")
    return {
        "cores": cores,
        "cpu": _cpu_model(),
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "system": platform.platform(),
        "python": platform.python_version(),
        "load": _load(),
    }


def _load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1 / 5 / 15 min)"
    except OSError:
        return "unknown"


def _duration(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s" if m else f"{s} s"


def _cells(row: Any) -> dict[str, str]:
    """The display form of a table row (estimate min/median/max, margins)."""
    timing = row["kind"] == "timing"
    lo, med, hi = row["estimate_min"], row["estimate_median"], row["estimate_max"]
    est = "" if not timing else _fmt(lo) if lo == hi else f"{_fmt(lo)} / {_fmt(med)} / {_fmt(hi)}"
    thr = f"{row['direction']} {_fmt(row['threshold'])}" if timing else ""
    return {
        "estimate": est,
        "threshold": thr,
        "margin_sd": _fmt(row["margin_sd"]) if timing else "",
        "min_run_margin": _fmt(row["min_run_margin"]) if timing else "",
    }


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _summary_line(table: Any, results: Sequence[RunResult]) -> str:
    claims = table[table["kind"] != "cell error"]
    return (
        f"{len(claims)} claim rows over {len(results)} pytest runs: "
        f"{int(claims['failures'].sum())} claim failures, "
        f"{int(claims['inconclusive'].sum())} inconclusive, "
        f"{int(claims['missing'].sum())} missing, "
        f"{sum(len(r.cell_errors) for r in results)} cells failed for another reason, "
        f"{int((table['status'] == 'thin').sum())} thin timing margins (< {THIN:g} sd)."
    )


def _header(report: SoakReport) -> list[tuple[str, str]]:
    cfg, facts = report.config, report.facts
    items = [
        ("command", cfg.command()),
        ("date", facts["date"]),
        ("runs", f"{cfg.runs} per engine" + (" (interrupted)" if report.interrupted else "")),
        ("engines", facts["engines"]),
        ("notebooks", facts["notebooks"]),
        ("workers", str(cfg.workers)),
        ("neighbour", facts["neighbour"]),
        ("wall time", facts["wall"]),
        ("machine", f"{facts['cores']}, {facts['cpu']}, {facts['memory']}"),
        ("system", f"{facts['system']}, Python {facts['python']}"),
        ("load before", facts["load_before"]),
        ("load after", facts["load_after"]),
    ]
    return items


def _markdown(report: SoakReport, runs: Any) -> str:
    table = report.table
    lines = [f"Soak of {report.facts['date']}: {_summary_line(table, report.results)}", ""]
    lines += [f"- **{k}**: `{v}`" if k == "command" else f"- **{k}**: {v}"
              for k, v in _header(report)]  # fmt: skip
    lines += ["", "Per run:", ""]
    lines += ["| run | engine | passed | failed | claims | failed | inconclusive | "
              "cell errors | seconds |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for _, r in runs.iterrows():
        lines.append(
            f"| {r['run']} | {r['engine']} | {r['passed']} | {r['failed']} | {r['claims']} | "
            f"{r['claims_failed']} | {r['claims_inconclusive']} | {r['cell_errors']} | "
            f"{r['seconds']:.0f} |"
        )
    shown = table.head(MD_ROWS)
    lines += ["", f"Failures and the thinnest margins ({len(shown)} of {len(table)} rows; "
              "all in soak.csv / soak.html):", ""]  # fmt: skip
    lines += ["| status | engine | notebook | claim | runs | fail | inc | estimate min / med / "
              "max | threshold | margin (sd) | min run margin | measured |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for _, row in shown.iterrows():
        c = _cells(row)
        lines.append(
            "| " + " | ".join(_md_escape(x) for x in (
                row["status"], row["engine"], row["notebook"], row["claim"], str(row["runs"]),
                str(row["failures"]), str(row["inconclusive"]), c["estimate"], c["threshold"],
                c["margin_sd"], c["min_run_margin"], row["measured"],
            )) + " |"
        )  # fmt: skip
    return "\n".join(lines) + "\n"


_CSS = """body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top}th{background:#f4f4f4}
.ERROR,.FAILED{background:#fbe3e3}.missing,.inconclusive{background:#fff6d8}
.thin{background:#fdebd3}.ok{background:#e8f6e8}td.num{text-align:right}dt{font-weight:600}"""


def _html(report: SoakReport, runs: Any) -> str:
    e = html.escape
    head = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in _header(report))
    run_cols = ["run", "engine", "label", "exit_code", "seconds", "passed", "failed", "skipped",
                "claims", "claims_failed", "claims_inconclusive", "cell_errors", "log"]  # fmt: skip
    run_rows = "".join(
        "<tr>" + "".join(f"<td>{e(str(r[c]))}</td>" for c in run_cols) + "</tr>"
        for _, r in runs.iterrows()
    )
    cols = ["status", "engine", "notebook", "claim", "runs", "failures", "inconclusive",
            "missing", "estimate min / median / max", "threshold", "margin (sd)",
            "min run margin", "measured"]  # fmt: skip
    body = []
    for _, row in report.table.iterrows():
        c = _cells(row)
        cells = [row["status"], f"{row['engine']} ({row['label']})", row["notebook"],
                 row["claim"], row["runs"], row["failures"], row["inconclusive"],
                 row["missing"], c["estimate"], c["threshold"], c["margin_sd"],
                 c["min_run_margin"], row["measured"]]  # fmt: skip
        tds = "".join(
            f'<td class="num">{e(str(v))}</td>'
            if isinstance(v, numbers.Integral)
            else f"<td>{e(str(v))}</td>"
            for v in cells
        )
        body.append(f'<tr class="{e(row["status"])}">{tds}</tr>')
    return f"""<!doctype html><meta charset="utf-8"><title>redislab soak</title>
<style>{_CSS}</style>
<h1>redislab soak: every claim over repeated runs</h1>
<p>{e(_summary_line(report.table, report.results))}</p>
<dl>{head}</dl>
<p><b>margin (sd)</b>: (median estimate - threshold) / standard deviation of the estimate
across runs (ratios on the log scale), positive on the claim's side; below {THIN:g} the row
is <i>thin</i>. <b>min run margin</b>: the smallest per-run margin of the claim's own
interval, in half-widths (near or below 1 that run was, or nearly was, inconclusive).
For other claims, <b>measured</b> is each numeric value's min / median / max over the
runs.</p>
<table><tr>{"".join(f"<th>{e(c)}</th>" for c in cols)}</tr>
{"".join(body)}</table>
<h2>Runs</h2>
<table><tr>{"".join(f"<th>{e(c)}</th>" for c in run_cols)}</tr>{run_rows}</table>
"""


def write_outputs(report: SoakReport) -> list[Path]:
    """soak.csv, soak-runs.csv, soak.html and soak.md in the soak's folder (and the link)."""
    out = report.config.out
    out.mkdir(parents=True, exist_ok=True)
    runs = runs_table(report.results)
    files = [out / "soak.csv", out / "soak-runs.csv", out / "soak.html", out / "soak.md"]
    report.table.to_csv(files[0], index=False)
    runs.to_csv(files[1], index=False)
    files[2].write_text(_html(report, runs))
    files[3].write_text(_markdown(report, runs))
    if report.config.link_into is not None:
        report.config.link_into.mkdir(parents=True, exist_ok=True)
        files.append(Path(shutil.copy2(files[2], report.config.link_into / "soak.html")))
    report.files = files
    return files


# --------------------------------------------------------------------------- the soak
class _Progress:
    """A tqdm bar with a line per run (plain lines where tqdm is not installed)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        if enabled:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="run", desc="soak", file=sys.stderr)
            except ImportError:
                self.bar = None

    def line(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
            self.bar.update(1)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_line(res: RunResult, runs: int) -> str:
    recs = res.records()
    verdicts = [str(x.get("verdict") or ("held" if x.get("held") else "failed")) for x in recs]
    return (
        f"run {res.run}/{runs} {res.engine} ({res.label}): {res.passed} passed, "
        f"{res.failed} failed · claims {verdicts.count('held')} held, "
        f"{verdicts.count('failed')} failed, {verdicts.count('inconclusive')} inconclusive · "
        f"{len(res.cell_errors)} cell errors · {res.seconds:.0f} s"
    )


def _prepare(out: Path) -> None:
    """Remove an earlier soak's runs and tables from ``out`` (a run replaces nothing else)."""
    out.mkdir(parents=True, exist_ok=True)
    for child in out.iterdir():
        if child.is_dir() and re.fullmatch(r"run-\d+", child.name):
            shutil.rmtree(child)
        elif child.name in ("soak.csv", "soak-runs.csv", "soak.html", "soak.md"):
            child.unlink()


def run_soak(
    config: SoakConfig,
    *,
    progress: bool = True,
    run: Callable[[int, ServerInfo, Sequence[Path], SoakConfig, Path], RunResult] = run_once,
) -> SoakReport:
    """Run the soak, write its tables, return the report (``interrupted`` after Ctrl-C).

    Raises :class:`~redislab.errors.UsageError` for an argument that cannot work.
    """
    if config.runs < 1:
        raise UsageError(f"--runs must be at least 1, got {config.runs}")
    if config.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {config.workers}")
    notebooks = select_notebooks(config.notebooks_dir, config.notebooks)
    servers = _servers(config.engines)
    out = config.out.resolve()
    config = dataclasses.replace(config, out=out)
    _prepare(out)
    facts = machine_facts()
    facts["load_before"] = facts.pop("load")
    facts["date"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    facts["engines"] = ", ".join(f"{s.source} = {s.label}" for s in servers)
    facts["notebooks"] = (
        f"all {len(notebooks)}" if not config.notebooks else ", ".join(p.stem for p in notebooks)
    )
    results: list[RunResult] = []
    interrupted = False
    start = time.monotonic()
    bar = _Progress(config.runs * len(servers), progress)
    with neighbour(config.neighbour) as spinner:
        try:
            for k in range(1, config.runs + 1):
                for server in servers:
                    res = run(k, server, notebooks, config, out)
                    results.append(res)
                    bar.line(_run_line(res, config.runs))
                    if spinner is not None and not spinner.alive():
                        bar.line(f"the neighbour (pid {spinner.pid}) is gone")
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
    facts["wall"] = _duration(time.monotonic() - start)
    facts["load_after"] = _load()
    if spinner is None:
        facts["neighbour"] = "none"
    else:
        where = f"pinned to CPU {spinner.cpu}" if spinner.cpu is not None else "not pinned"
        facts["neighbour"] = (
            f"a CPU-bound process {where}: {spinner.cpu_seconds:.0f} CPU-s over "
            f"{spinner.wall_seconds:.0f} s ({spinner.busy:.0%} of one core)"
        )
    report = SoakReport(
        config=config, results=results, table=soak_table(results), facts=facts,
        interrupted=interrupted, neighbour=spinner,
    )  # fmt: skip
    write_outputs(report)
    return report
