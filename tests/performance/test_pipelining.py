"""Pipelining: sweeps against batch size and the server's reads per command."""

from __future__ import annotations

import pytest

from redislab.errors import PerformanceError
from redislab.performance import (
    batch_sweep,
    median_ratio,
    pipeline_call,
    pipelining_round,
    single_calls,
    stops_paying,
    syscalls_per_command,
    transaction_comparison,
)


def test_pipeline_call_writes_every_key_in_one_batch(standalone_lab):
    r = standalone_lab.client()
    r.flushall()
    replies = pipeline_call(r, 50, name="t")()
    assert replies == [True] * 50 and r.dbsize() == 50
    single_calls(r, 10, name="s")()
    assert r.dbsize() == 60
    with pytest.raises(PerformanceError):
        pipeline_call(r, 0)


def test_batch_sweep_pipelining_beats_single_round_trips(standalone_lab):
    r = standalone_lab.client()
    table = batch_sweep(r, (1, 10, 200), ops=2_000, single_ops=300, rounds=3, show_progress=False)
    assert list(table.batch) == [1, 10, 200]
    assert table.loc[0, "speedup"] == pytest.approx(1.0)
    # a loose ordering: a batch of 200 is well ahead of single calls even on a loaded machine
    assert table.loc[2, "speedup"] > 2
    assert stops_paying(table, within=0.0) == 1
    assert stops_paying(table, within=1.0) == int(table.loc[table.ops_per_s.idxmax(), "batch"])
    with pytest.raises(PerformanceError):
        batch_sweep(r, (10, 100))


def test_server_reads_one_socket_read_per_unpipelined_command(standalone_lab):
    r = standalone_lab.client()
    single = syscalls_per_command(r, single_calls(r, 100), commands=100)
    piped = syscalls_per_command(r, pipeline_call(r, 100), commands=100)
    assert single == pytest.approx(1.0, abs=0.05)
    assert piped < 0.2


def test_transaction_comparison_runs_both_kinds(standalone_lab):
    r = standalone_lab.client()
    res = transaction_comparison(r, batch=20, ops=400, rounds=2, show_progress=False)
    assert set(res.path) == {"pipeline", "transaction"} and (res.ops == 400).all()
    assert median_ratio(res, "transaction", "pipeline") > 0


def test_pipelining_round_returns_paired_seconds_per_command(standalone_lab):
    r = standalone_lab.client()
    single, piped = pipelining_round(connection=r, commands=200, batch=100, pairs=3)
    assert len(single) == len(piped) == 3
    assert all(v > 0 for v in single + piped)
    # one round trip per command against one per 100: the pipeline is faster per command
    assert sorted(single)[1] > sorted(piped)[1]
    with pytest.raises(PerformanceError):
        pipelining_round(connection=r, commands=10, batch=100)
