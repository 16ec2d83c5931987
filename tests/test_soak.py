"""The soak (redislab.soak): the table from claim records, the neighbour, one real soak."""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from pathlib import Path

import psutil
import pytest

from redislab.errors import UsageError
from redislab.lab.servers import find_server
from redislab.soak import (
    NEIGHBOUR_MARK,
    CellError,
    RunResult,
    SoakConfig,
    SoakReport,
    neighbour,
    read_junit,
    run_soak,
    select_notebooks,
    soak_table,
    write_outputs,
)

ROOT = Path(__file__).resolve().parents[1]


def _ev(estimate, threshold, *, direction=">=", statistic="ratio", low=None, high=None, margin):
    return {
        "statistic": statistic, "estimate": estimate, "low": low or estimate * 0.9,
        "high": high or estimate * 1.1, "confidence": 0.99, "threshold": threshold,
        "direction": direction, "n": [40, 40], "rounds": 2, "seconds": 1.0,
        "verdict": "held", "paired": True, "unit": "", "margin": margin, "condition": "",
    }  # fmt: skip


def _rec(text, verdict="held", measured=None, evidence=None, notebook="nb-a"):
    return {
        "text": text, "source": "https://example.org", "measured": measured or {},
        "expect": "", "held": verdict != "failed", "notebook": notebook, "engine": "redis",
        "version": "7.0.15", "extra": {}, "verdict": verdict, "evidence": evidence,
    }  # fmt: skip


def _run(tmp_path, k, records, *, errors=(), engine="system"):
    folder = tmp_path / f"run-{k}" / engine
    by_nb: dict[str, list[dict]] = {}
    for r in records:
        by_nb.setdefault(r["notebook"], []).append(r)
    for nb, recs in by_nb.items():
        path = folder / "redis-7.0.15" / f"{nb}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    folder.mkdir(parents=True, exist_ok=True)
    return RunResult(
        run=k, engine=engine, label="Redis 7.0.15", claims_dir=folder, passed=10,
        cell_errors=list(errors),
    )  # fmt: skip


def _synthetic(tmp_path):
    """Three runs: a comfortable and a thin ratio claim, a '<=' median with one inconclusive
    run, a value claim that failed once, a claim missing from run 3 (its cell errored)."""
    ratios = [4.0, 4.4, 3.7]
    thin = [1.30, 1.18, 1.25]
    medians = [120.0, 180.0, 150.0]
    results = []
    for k in (1, 2, 3):
        recs = [
            _rec("pipelining is 3x faster", evidence=_ev(ratios[k - 1], 3.0, margin=2.5 + k)),
            _rec("thin ratio", evidence=_ev(thin[k - 1], 1.1, margin=1.5 - k / 10)),
            _rec(
                "WAIT within 200 ms",
                verdict="inconclusive" if k == 2 else "held",
                evidence=_ev(
                    medians[k - 1],
                    200.0,
                    direction="<=",
                    statistic="median",
                    margin=0.5 if k == 2 else 2.0,
                ),
            ),
            _rec(
                "noeviction answers OOM",
                verdict="failed" if k == 3 else "held",
                measured={"oom_errors": [5, 7, 0][k - 1], "evicted_keys": 0, "ok": True},
            ),
        ]
        errors = []
        if k != 3:
            recs.append(_rec("only when the cell runs", measured={"x": 1}, notebook="nb-b"))
        else:
            errors.append(CellError("nb-b", "Cell 4", "ZeroDivisionError: division by zero"))
        results.append(_run(tmp_path, k, recs, errors=errors))
    return results, ratios, thin


def test_the_table_from_claim_records(tmp_path):
    results, ratios, _ = _synthetic(tmp_path)
    table = soak_table(results)
    rows = {r["claim"]: r for r in table.to_dict("records")}
    assert set(rows) == {
        "pipelining is 3x faster", "thin ratio", "WAIT within 200 ms", "noeviction answers OOM",
        "only when the cell runs", "[not a claim] Cell 4 failed",
    }  # fmt: skip

    fast = rows["pipelining is 3x faster"]
    assert (fast["runs"], fast["failures"], fast["inconclusive"], fast["missing"]) == (3, 0, 0, 0)
    assert fast["kind"] == "timing" and fast["statistic"] == "ratio" and fast["direction"] == ">="
    assert (fast["estimate_min"], fast["estimate_median"], fast["estimate_max"]) == (3.7, 4.0, 4.4)
    logs = [math.log(r) for r in ratios]
    expected = (statistics.median(logs) - math.log(3.0)) / statistics.stdev(logs)
    assert fast["margin_sd"] == pytest.approx(expected) and fast["margin_sd"] > 3
    assert fast["min_run_margin"] == 3.5 and fast["status"] == "ok"

    assert rows["thin ratio"]["status"] == "thin" and 0 < rows["thin ratio"]["margin_sd"] < 3
    assert rows["thin ratio"]["min_run_margin"] == pytest.approx(1.2)

    wait = rows["WAIT within 200 ms"]  # "<=": below the threshold is the claim's side
    assert wait["inconclusive"] == 1 and wait["status"] == "inconclusive"
    expected = (200.0 - 150.0) / statistics.stdev([120.0, 180.0, 150.0])
    assert wait["margin_sd"] == pytest.approx(expected) and wait["min_run_margin"] == 0.5

    oom = rows["noeviction answers OOM"]
    assert oom["kind"] == "value" and oom["failures"] == 1 and oom["status"] == "FAILED"
    assert "oom_errors 0 / 5 / 7" in oom["measured"] and "evicted_keys 0" in oom["measured"]
    assert "ok" not in oom["measured"].split("; ")[-1]  # booleans are not numbers
    assert math.isnan(oom["margin_sd"])

    gone = rows["only when the cell runs"]
    assert (gone["runs"], gone["missing"], gone["status"]) == (2, 1, "missing")
    err = rows["[not a claim] Cell 4 failed"]
    assert (err["kind"], err["failures"], err["runs"], err["status"]) == (
        "cell error",
        1,
        3,
        "ERROR",
    )
    assert "ZeroDivisionError" in err["measured"] and err["notebook"] == "nb-b"

    # failures and errors first, then missing, inconclusive, then the thinnest margins
    assert list(table["status"]) == ["FAILED", "ERROR", "missing", "inconclusive", "thin", "ok"]


def test_one_run_gives_no_spread_but_the_per_run_margin_still_sorts(tmp_path):
    recs = [
        _rec("wide", evidence=_ev(5.0, 2.0, margin=6.0)),
        _rec("close", evidence=_ev(2.1, 2.0, margin=0.8)),
        _rec("plain", measured={"v": 3}),
    ]
    table = soak_table([_run(tmp_path, 1, recs)])
    assert list(table["claim"]) == ["close", "wide", "plain"]
    assert table["margin_sd"].isna().all()
    assert list(table["status"]) == ["thin", "ok", "ok"]


def test_engines_are_rows_of_their_own(tmp_path):
    results = [
        _run(tmp_path, k, [_rec("c", measured={"v": k})], engine=e)
        for k in (1, 2)
        for e in ("system", "valkey")
    ]
    table = soak_table(results)
    assert sorted(table["engine"]) == ["system", "valkey"] and set(table["runs"]) == {2}


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="4">
<testcase classname="notebooks.01.03-data-structures-probabilistic.ipynb" name="Cell 0"/>
<testcase classname="notebooks.01.03-data-structures-probabilistic.ipynb" name="Cell 1">
<failure message="failed">#x1B[91mNotebook cell execution failed#x1B[0m
Traceback:
#x1B[31mAssertionError#x1B[39m: Claim did not hold on redis 7.0.15: x is two
  measured: x = 1
</failure></testcase>
<testcase classname="notebooks.01.03-data-structures-probabilistic.ipynb" name="Cell 2">
<failure message="failed">Notebook cell execution failed
ZeroDivisionError                         Traceback (most recent call last)
----&gt; 1 1/0

ZeroDivisionError: division by zero
</failure></testcase>
<testcase classname="notebooks.01.03-data-structures-probabilistic.ipynb" name="Cell 3">
<skipped message="no TLS"/></testcase>
</testsuite></testsuites>"""


def test_read_junit_tells_claim_failures_from_other_errors(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    got = read_junit(path, ["01.03-data-structures-probabilistic"])
    assert {k: got[k] for k in ("tests", "passed", "failed", "skipped", "claim_failures")} == {
        "tests": 4, "passed": 1, "failed": 2, "skipped": 1, "claim_failures": 1,
    }  # fmt: skip
    assert got["cell_errors"] == [
        CellError(
            "01.03-data-structures-probabilistic", "Cell 2", "ZeroDivisionError: division by zero"
        )
    ]


def test_select_notebooks_by_prefix(tmp_path):
    for name in ("06.01-a", "06.02-b", "08.01-c"):
        (tmp_path / f"{name}.ipynb").write_text("{}")
    assert [p.stem for p in select_notebooks(tmp_path, ["06.01,08"])] == ["06.01-a", "08.01-c"]
    assert len(select_notebooks(tmp_path)) == 3
    with pytest.raises(UsageError, match="99"):
        select_notebooks(tmp_path, ["99"])
    with pytest.raises(UsageError, match="no notebooks"):
        select_notebooks(tmp_path / "empty")


def test_outputs_and_the_claims_report_links_the_soak(tmp_path):
    from redislab.report import build_report

    results, _, _ = _synthetic(tmp_path / "soak")
    claims = tmp_path / "claims"
    config = SoakConfig(runs=3, neighbour=True, out=tmp_path / "soak", link_into=claims)
    facts = {
        "date": "2026-01-01 00:00 UTC", "engines": "system = Redis 7.0.15", "notebooks": "all 2",
        "neighbour": "pinned to CPU 1", "wall": "3 min 00 s", "cores": "2 logical CPUs",
        "cpu": "x", "memory": "1 GiB", "system": "Linux", "python": "3.11",
        "load_before": "1", "load_after": "2",
    }  # fmt: skip
    report = SoakReport(config=config, results=results, table=soak_table(results), facts=facts)
    files = write_outputs(report)
    assert {f.name for f in files} == {"soak.csv", "soak-runs.csv", "soak.html", "soak.md"}
    md = (tmp_path / "soak" / "soak.md").read_text()
    assert "`redislab soak --runs 3 --neighbour --workers 2 --out" in md
    assert "| FAILED | system | nb-a | noeviction answers OOM |" in md
    assert "2 logical CPUs" in md and "3 min 00 s" in md
    assert 'class="FAILED"' in (tmp_path / "soak" / "soak.html").read_text()
    runs = (tmp_path / "soak" / "soak-runs.csv").read_text().splitlines()
    assert len(runs) == 4 and runs[0].startswith("run,engine,label")
    assert report.failures == 3  # a failed claim, a cell error, a claim missing from a run
    # the claims report, built on the claims folder, links the copy
    (claims / "redis-7.0.15").mkdir(parents=True)
    (claims / "redis-7.0.15" / "nb-a.jsonl").write_text(json.dumps(_rec("c", measured={})) + "\n")
    _, page, _ = build_report(claims)
    assert 'href="soak.html"' in page.read_text() and (claims / "soak.html").exists()


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _neighbours() -> list[int]:
    """Neighbour processes this test process started (directly or not) that still run."""
    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            if any(NEIGHBOUR_MARK in part for part in p.cmdline()) and not _gone(p.pid):
                found.append(p.pid)
        except psutil.Error:
            continue
    return found


def test_the_neighbour_spins_pinned_and_is_killed_even_on_an_exception():
    with pytest.raises(RuntimeError), neighbour() as spinner:
        assert spinner is not None and spinner.alive()
        if hasattr(os, "sched_getaffinity"):
            assert os.sched_getaffinity(spinner.pid) == {max(os.sched_getaffinity(0))}
            assert spinner.cpu == max(os.sched_getaffinity(0))
        proc = psutil.Process(spinner.pid)
        deadline = time.monotonic() + 10  # it spins (how fast depends on the machine's load)
        while proc.cpu_times().user < 0.3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.cpu_times().user >= 0.3
        raise RuntimeError("a failing soak")
    assert _gone(spinner.pid) and spinner.pid not in _neighbours()
    assert spinner.cpu_seconds >= 0.3
    with neighbour(False) as none:
        assert none is None


def test_run_soak_stops_the_neighbour_and_writes_what_finished_on_ctrl_c(tmp_path):
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "06.01-x.ipynb").write_text("{}")
    seen = []

    def fake_run(k, server, notebooks, config, out):
        if len(seen) == 2:
            raise KeyboardInterrupt
        seen.append(k)
        folder = out / f"run-{k}" / server.source
        recs = [_rec("c", measured={"v": k}, notebook="06.01-x")]
        path = folder / "redis-7.0.15" / "06.01-x.jsonl"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(recs[0]) + "\n")
        return RunResult(run=k, engine=server.source, label=server.label, claims_dir=folder)

    engine = find_server().source
    config = SoakConfig(
        runs=5, engines=(engine,), neighbour=True, out=tmp_path / "out",
        notebooks_dir=tmp_path / "nb", link_into=None,
    )  # fmt: skip
    report = run_soak(config, progress=False, run=fake_run)
    assert report.interrupted and seen == [1, 2]
    assert report.neighbour is not None and _gone(report.neighbour.pid)
    assert list(report.table["runs"]) == [2]
    assert (tmp_path / "out" / "soak.md").exists()
    assert "(interrupted)" in (tmp_path / "out" / "soak.md").read_text()


@pytest.mark.slow
def test_a_real_soak_of_one_notebook_twice_with_the_neighbour(tmp_path):
    """Two runs of the fastest notebook on the default engine, the neighbour spinning."""
    engine = find_server()
    config = SoakConfig(
        runs=2, engines=(engine.source,), neighbour=True, notebooks=("01.03",), workers=1,
        out=tmp_path / "soak", notebooks_dir=ROOT / "notebooks", link_into=tmp_path / "claims",
    )  # fmt: skip
    report = run_soak(config, progress=False)
    assert not report.interrupted
    assert [r.exit_code for r in report.results] == [0, 0], [str(r.log) for r in report.results]
    table = report.table
    mine = table[table["notebook"] == "01.03-data-structures-probabilistic"]
    assert len(mine) >= 3, table
    assert set(mine["runs"]) == {2} and set(mine["engine"]) == {engine.source}
    assert mine["failures"].sum() == 0 and (table["kind"] != "cell error").all()
    for r in report.results:
        assert r.tests > 0 and r.failed == 0 and r.log is not None and r.log.exists()
    # it spun (its share of the core depends on how loaded the machine is)
    assert report.neighbour is not None and report.neighbour.cpu_seconds > 1
    assert _gone(report.neighbour.pid) and not _neighbours()
    assert (tmp_path / "claims" / "soak.html").exists()
    assert "01.03-data-structures-probabilistic" in (tmp_path / "soak" / "soak.csv").read_text()
