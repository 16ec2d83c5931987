"""Round trips and pipelining: throughput against batch size, and what the server reads.

A client that waits for each reply pays one round trip per command; a pipeline sends a
batch and reads all replies at once ("Redis pipelining",
https://redis.io/docs/latest/develop/using-commands/pipelining/). The page also says
why pipelining helps even on loopback: fewer ``read()``/``write()`` system calls on
both sides. :func:`syscalls_per_command` reads that from the server's own counters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from ..errors import PerformanceError
from ..keys import PERFORMANCE, key
from ..kit.bench import median_ratio, sweep
from ..kit.counters import command_calls
from ..types import PlainConnection

__all__ = [
    "BATCH_SIZES",
    "batch_sweep",
    "pipeline_call",
    "pipelining_round",
    "single_calls",
    "stops_paying",
    "syscalls_per_command",
    "transaction_comparison",
]

BATCH_SIZES: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 1000, 10000)
"""Batch sizes of the default sweep (1 = one command per round trip, no pipeline)."""


def single_calls(connection: PlainConnection, n: int, *, name: str = "rt") -> Callable[[], None]:
    """A callable that does ``n`` SETs, each waiting for its reply (n round trips)."""
    keys = [key(PERFORMANCE, name, i) for i in range(n)]
    setter = connection.set

    def run() -> None:
        for k in keys:
            setter(k, "v")

    return run


def pipeline_call(
    connection: PlainConnection, batch: int, *, transaction: bool = False, name: str = "pipe"
) -> Callable[[], Any]:
    """A callable that sends ``batch`` SETs in one pipeline (one round trip).

    ``transaction=True`` wraps the batch in ``MULTI``/``EXEC`` (redis-py's default for
    ``pipeline()``): the server queues the commands and runs them as one unit.
    """
    if batch <= 0:
        raise PerformanceError("batch must be positive")
    keys = [key(PERFORMANCE, name, i) for i in range(batch)]

    def run() -> Any:
        pipe = connection.pipeline(transaction=transaction)
        for k in keys:
            pipe.set(k, "v")
        return pipe.execute()

    return run


def batch_sweep(
    connection: PlainConnection,
    sizes: Sequence[int] = BATCH_SIZES,
    *,
    ops: int = 20_000,
    single_ops: int = 2_000,
    rounds: int = 3,
    transaction: bool = False,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Throughput of SETs against batch size; batch 1 is plain calls (no pipeline).

    Each size does about ``ops`` SETs per measurement (at least one batch), batch 1
    does ``single_ops`` (it is slow). Returns one row per size: ``batch``,
    ``ops_per_s`` (median over rounds), ``speedup`` (median of per-round ratios
    against batch 1) and ``us_per_op``.
    """
    if 1 not in sizes:
        raise PerformanceError("the sweep needs batch size 1 as its baseline")

    def make(size: int) -> tuple[Callable[[], Any], int, int]:
        if size == 1:
            return single_calls(connection, single_ops), 1, single_ops
        calls = max(1, ops // size)
        return pipeline_call(connection, size, transaction=transaction), calls, size

    raw = sweep(list(sizes), make, rounds=rounds, desc="batch sizes", show_progress=show_progress)
    table = raw.groupby("value", as_index=False)["ops_per_s"].median()
    table = table.rename(columns={"value": "batch"})
    table["speedup"] = [median_ratio(raw, str(b), "1") for b in table.batch]
    table["us_per_op"] = 1e6 / table.ops_per_s
    table.attrs["raw"] = raw
    return table


def stops_paying(table: pd.DataFrame, *, within: float = 0.9) -> int:
    """The smallest batch whose throughput is at least ``within`` x the best one."""
    best = table.ops_per_s.max()
    return int(table.loc[table.ops_per_s >= within * best, "batch"].min())


def _stats(connection: PlainConnection) -> tuple[int, int]:
    info = connection.info("stats")
    if "total_reads_processed" not in info:
        raise PerformanceError("this server's INFO stats has no total_reads_processed")
    return int(info["total_reads_processed"]), sum(command_calls(connection).values())


def syscalls_per_command(
    connection: PlainConnection, fn: Callable[[], Any], *, commands: int
) -> float:
    """Socket reads the server did per command while ``fn`` sent ``commands`` commands.

    From ``INFO stats`` ``total_reads_processed`` (one per ``read()`` on a client
    socket) and ``INFO commandstats``, read through ``connection`` before and after;
    the two ``INFO`` calls of the second snapshot are subtracted. Assumes no other
    client is busy on the server meanwhile.
    """
    fn()  # warm: connect first
    reads0, calls0 = _stats(connection)
    fn()
    reads1, calls1 = _stats(connection)
    # between the snapshots: fn's commands + 2 INFO calls of the first snapshot's reads
    reads = reads1 - reads0 - 2
    if calls1 - calls0 - 2 < commands:
        raise PerformanceError(f"the server ran {calls1 - calls0 - 2} commands, not {commands}")
    return reads / commands


def transaction_comparison(
    connection: PlainConnection,
    *,
    batch: int = 100,
    ops: int = 20_000,
    rounds: int = 5,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Plain pipeline against ``MULTI``/``EXEC`` pipeline of the same ``batch``, interleaved.

    Returns the per-round table of :func:`~redislab.performance.bench.compare` with paths
    ``"pipeline"`` and ``"transaction"``.
    """
    from ..kit.bench import compare

    calls = max(1, ops // batch)
    return compare(
        {
            "pipeline": pipeline_call(connection, batch, transaction=False),
            "transaction": pipeline_call(connection, batch, transaction=True, name="tx"),
        },
        calls=calls,
        ops_per_call=batch,
        rounds=rounds,
        desc="pipeline vs MULTI/EXEC",
        show_progress=show_progress,
    )


def pipelining_round(
    *, connection: PlainConnection, commands: int = 200, batch: int = 100, pairs: int = 10
) -> tuple[list[float], list[float]]:
    """One round of interleaved timings: seconds per SET, single calls against a pipeline.

    Each of ``pairs`` pairs times ``commands`` SETs sent one round trip each, then the
    same ``commands`` SETs pipelined in batches of ``batch``, right after each other, so
    the machine's noise of that moment hits both. Returns ``(single, pipelined)``
    seconds per command, one value per pair: their ratio is the pipelining speed-up,
    for :func:`redislab.kit.evidence.compare` (``paired=True``).
    """
    if commands < batch or batch <= 1:
        raise PerformanceError("need commands >= batch > 1")
    single = single_calls(connection, commands, name="ev")
    piped = pipeline_call(connection, batch, name="ev")
    rounds = max(1, commands // batch)
    single()  # warm: connect, and let the keys exist
    piped()
    a: list[float] = []
    b: list[float] = []
    for _ in range(pairs):
        t0 = time.perf_counter()
        single()
        t1 = time.perf_counter()
        for _ in range(rounds):
            piped()
        t2 = time.perf_counter()
        a.append((t1 - t0) / commands)
        b.append((t2 - t1) / (rounds * batch))
    return a, b
