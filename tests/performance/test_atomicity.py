"""Read-modify-write under contention: no lost update for the atomic methods."""

from __future__ import annotations

import pytest

from redislab.errors import PerformanceError
from redislab.performance import contention_round, contention_run, contention_sweep, has_functions


@pytest.mark.parametrize("method", ["watch", "lua", "function"])
def test_atomic_methods_lose_no_update(standalone_lab, method):
    r = standalone_lab.client()
    if method == "function" and not has_functions(r):
        pytest.skip("no FUNCTION/FCALL on this server")
    row = contention_run(r, method, writers=4, seconds=0.2)
    assert row["increments"] > 0 and row["final"] == row["increments"] and row["lost"] == 0
    if method != "watch":
        assert row["retries"] == 0


def test_naive_read_modify_write_loses_updates_and_watch_retries(standalone_lab):
    r = standalone_lab.client()
    table = contention_sweep(
        r, writers=(1, 4), methods=("naive", "watch"), seconds=0.2, show_progress=False
    )
    rows = table.set_index(["method", "writers"])
    assert rows.loc[("naive", 1), "lost"] == 0
    assert rows.loc[("naive", 4), "lost"] > 0
    assert rows.loc[("watch", 1), "retries"] == 0 and rows.loc[("watch", 4), "retries"] > 0


def test_unknown_method(standalone_lab):
    with pytest.raises(PerformanceError):
        contention_run(standalone_lab.client(), "telepathy", writers=1, seconds=0.05)


def test_contention_round_returns_paired_seconds_per_increment(standalone_lab):
    r = standalone_lab.client()
    watch, lua = contention_round(connection=r, writers=2, seconds=0.05, pairs=2)
    assert len(watch) == len(lua) == 2 and all(v > 0 for v in watch + lua)
    with pytest.raises(PerformanceError):
        contention_round(connection=r, pairs=0)
