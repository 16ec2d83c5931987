"""Connections: pools, per-operation connects, pool size against threads, asyncio, parsers.

redis-py keeps a connection pool per client ("Connection pools",
https://redis.readthedocs.io/en/stable/connections.html): a command borrows a
connection, uses it and gives it back. This module measures what that saves against a
new connection per operation, what a pool's ``max_connections`` does when more threads
want one than it holds, how ``redis.asyncio`` scales with concurrency on one thread,
and what the reply parser (``hiredis`` or pure Python) and the protocol (RESP2 or
RESP3, ``protocol=``) cost.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import redis
import redis.asyncio as aioredis
from redis._parsers import _AsyncHiredisParser, _AsyncRESP2Parser, _AsyncRESP3Parser
from redis.connection import (
    BlockingConnectionPool,
    Connection,
    ConnectionPool,
    PythonRespSerializer,
    _HiredisParser,
    _RESP2Parser,
    _RESP3Parser,
)

from ..errors import PerformanceError
from ..keys import PERFORMANCE, key
from ..kit.bench import Rate, concurrent_rate
from ..lab.node import Node
from ..types import PlainConnection

__all__ = [
    "PARSERS",
    "PythonPackerConnection",
    "async_concurrency_sweep",
    "client",
    "connections_received",
    "new_connection_per_op",
    "parser_paths",
    "pool_exhaustion",
    "pool_round",
    "pool_thread_sweep",
]

PARSERS: tuple[str, ...] = ("hiredis", "python")
COMBOS: tuple[tuple[str, int], ...] = (("hiredis", 2), ("hiredis", 3), ("python", 2), ("python", 3))
"""Reply parsers redis-py can use: the C ``hiredis`` package or its pure-Python one."""


class PythonPackerConnection(Connection):
    """A ``Connection`` that also *encodes* commands in Python (redis-py without hiredis).

    With hiredis installed redis-py packs commands with ``hiredis.pack_command`` as well
    as parsing replies with it; this class packs with redis-py's own
    ``PythonRespSerializer``, so that "hiredis off" means off in both directions.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._command_packer = PythonRespSerializer(self._buffer_cutoff, self.encoder.encode)


def _parser_class(parser: str, protocol: int) -> type:
    if parser == "hiredis":
        return _HiredisParser
    if parser == "python":
        return _RESP3Parser if protocol == 3 else _RESP2Parser
    raise PerformanceError(f"unknown parser {parser!r}: use one of {PARSERS}")


def client(
    node: Node,
    *,
    parser: str = "hiredis",
    protocol: int = 2,
    max_connections: int | None = None,
    blocking_timeout: float | None = None,
    connection_class: type[Connection] | None = None,
    **kwargs: Any,
) -> PlainConnection:
    """A ``redis.Redis`` to ``node`` with an explicit pool, parser and protocol.

    ``parser="python"`` also packs commands in Python (:class:`PythonPackerConnection`).
    ``blocking_timeout`` makes the pool a ``BlockingConnectionPool`` (a thread waits that
    long for a free connection, then gets ``ConnectionError``); otherwise a
    ``ConnectionPool`` that raises ``MaxConnectionsError`` at once when
    ``max_connections`` are in use. Other ``kwargs`` go to the connections.
    """
    kw = node.client_kwargs(**kwargs)
    kw.update(protocol=protocol, parser_class=_parser_class(parser, protocol))
    if connection_class is None:
        connection_class = PythonPackerConnection if parser == "python" else Connection
    kw["connection_class"] = connection_class
    if blocking_timeout is not None:
        pool: ConnectionPool = BlockingConnectionPool(
            max_connections=max_connections or 50, timeout=blocking_timeout, **kw
        )
    else:
        pool = ConnectionPool(max_connections=max_connections, **kw)
    return redis.Redis(connection_pool=pool)


def connections_received(connection: PlainConnection) -> int:
    """The server's ``total_connections_received`` (INFO stats): connections accepted so far."""
    return int(connection.info("stats")["total_connections_received"])


def new_connection_per_op(node: Node, *, name: str = "churn") -> Callable[[], Any]:
    """A callable that opens a connection, does one SET and closes it (no pool reuse)."""
    kw = node.client_kwargs()
    k = key(PERFORMANCE, name)

    def run() -> Any:
        r = redis.Redis(**kw)
        try:
            return r.set(k, "v")
        finally:
            r.close()

    return run


def pool_thread_sweep(
    node: Node,
    *,
    threads: Sequence[int] = (1, 2, 4, 8, 16),
    pool_sizes: Sequence[int] = (1, 2, 4, 16),
    seconds: float = 0.3,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Aggregate SET throughput for each (threads, pool size), through a blocking pool.

    Threads share one client whose ``BlockingConnectionPool`` holds ``pool size``
    connections; a thread that finds none free waits. Returns ``threads, pool_size,
    ops_per_s, connections`` (connections the pool opened).
    """
    from ..kit.measure import progress

    rows = []
    bar = progress(
        total=len(threads) * len(pool_sizes), desc="pool x threads", enabled=show_progress
    )
    for size in pool_sizes:
        for n in threads:
            r = client(node, max_connections=size, blocking_timeout=10.0)

            def worker(i: int, stop: threading.Event, r: PlainConnection = r) -> int:
                k = key(PERFORMANCE, "pool", i)
                done = 0
                while not stop.is_set():
                    r.set(k, "v")
                    done += 1
                return done

            res = concurrent_rate(worker, workers=n, seconds=seconds)
            opened = len(r.connection_pool._connections)  # type: ignore[attr-defined]
            rows.append(
                {"threads": n, "pool_size": size, "ops_per_s": res.ops_per_s, "connections": opened}
            )
            r.close()
            bar.update(1)
    bar.close()
    return pd.DataFrame(rows)


def pool_exhaustion(node: Node, *, max_connections: int = 2, wait: float = 0.2) -> pd.DataFrame:
    """What a client sees when more connections are wanted than ``max_connections``.

    Holds ``max_connections`` connections (as that many busy threads would), then asks
    for one more from a ``ConnectionPool`` (fails at once) and from a
    ``BlockingConnectionPool`` with ``timeout=wait`` (waits ``wait``, then fails), and
    once more from the blocking pool while another thread releases one after ``wait/2``
    (gets it). Returns one row per case: ``pool, outcome, error, waited_s``.
    """
    rows = []
    for kind in ("ConnectionPool", "BlockingConnectionPool", "BlockingConnectionPool+release"):
        blocking = kind.startswith("Blocking")
        r = client(
            node, max_connections=max_connections, blocking_timeout=wait if blocking else None
        )
        pool = r.connection_pool
        held = [pool.get_connection() for _ in range(max_connections)]
        if kind.endswith("release"):
            threading.Timer(wait / 2, pool.release, args=(held.pop(),)).start()
        t0 = time.perf_counter()
        try:
            conn = pool.get_connection()
            outcome, error = "got a connection", ""
            held.append(conn)
        except redis.ConnectionError as exc:
            outcome, error = "error", f"{type(exc).__name__}: {exc}"
        waited = time.perf_counter() - t0
        for c in held:
            pool.release(c)
        r.close()
        rows.append({"pool": kind, "outcome": outcome, "error": error, "waited_s": waited})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ asyncio
def _run_async(coro: Any) -> Any:
    """Run ``coro`` to completion on a fresh event loop in a worker thread.

    Jupyter already runs an event loop in the main thread, where ``asyncio.run`` refuses
    to start another; a thread of our own has none.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=run, name="redislab-asyncio")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _async_client(node: Node, *, parser: str = "hiredis", protocol: int = 2) -> Any:
    kw = node.client_kwargs()
    kw.pop("driver_info", None)
    if parser == "hiredis":
        parser_class: type = _AsyncHiredisParser
    elif parser == "python":
        parser_class = _AsyncRESP3Parser if protocol == 3 else _AsyncRESP2Parser
    else:
        raise PerformanceError(f"unknown parser {parser!r}: use one of {PARSERS}")
    pool = aioredis.ConnectionPool(protocol=protocol, parser_class=parser_class, **kw)
    return aioredis.Redis(connection_pool=pool)


def async_concurrency_sweep(
    node: Node,
    *,
    concurrency: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
    ops: int = 1_500,
    rounds: int = 3,
    show_progress: bool = True,
) -> pd.DataFrame:
    """SET throughput of one ``redis.asyncio`` client on one thread, ``c`` tasks at once.

    ``c`` tasks each do ``ops // c`` SETs in sequence (each awaiting its reply); the pool
    opens up to ``c`` connections. Rounds alternate the order. Returns ``concurrency,
    ops_per_s`` (median over rounds) and ``connections`` (what the pool opened).
    """
    from ..kit.measure import progress

    async def one(c: int) -> tuple[Rate, int]:
        r = _async_client(node)
        per = max(1, ops // c)

        async def task(i: int) -> None:
            k = key(PERFORMANCE, "aio", i)
            for _ in range(per):
                await r.set(k, "v")

        await asyncio.gather(*(r.ping() for _ in range(c)))  # open the connections first
        t0 = time.perf_counter()
        await asyncio.gather(*(task(i) for i in range(c)))
        elapsed = time.perf_counter() - t0
        opened = len(r.connection_pool._available_connections) + len(
            r.connection_pool._in_use_connections
        )
        await r.aclose()
        return Rate(per * c, elapsed), opened

    rows = []
    bar = progress(total=rounds * len(concurrency), desc="asyncio tasks", enabled=show_progress)
    for rnd in range(rounds):
        order = list(concurrency) if rnd % 2 == 0 else list(concurrency)[::-1]
        for c in order:
            res, opened = _run_async(one(c))
            rows.append(
                {"round": rnd, "concurrency": c, "ops_per_s": res.ops_per_s, "connections": opened}
            )
            bar.update(1)
    bar.close()
    raw = pd.DataFrame(rows)
    table = raw.groupby("concurrency", as_index=False).agg(
        ops_per_s=("ops_per_s", "median"), connections=("connections", "max")
    )
    table.attrs["raw"] = raw
    return table


# ------------------------------------------------------------------ parsers
def parser_paths(
    node: Node,
    *,
    command: Callable[[PlainConnection], Any],
    combos: Sequence[tuple[str, int]] = (
        ("hiredis", 2),
        ("hiredis", 3),
        ("python", 2),
        ("python", 3),
    ),
) -> tuple[dict[str, Callable[[], Any]], list[PlainConnection]]:
    """One callable per (parser, protocol) running ``command(client)``, for :func:`compare`.

    Returns the paths (named ``"hiredis RESP2"`` ...) and the clients (close them after).
    """
    paths: dict[str, Callable[[], Any]] = {}
    clients = []
    for parser, protocol in combos:
        r = client(node, parser=parser, protocol=protocol)
        clients.append(r)
        paths[f"{parser} RESP{protocol}"] = lambda r=r: command(r)
    return paths, clients


def pool_round(
    *,
    connection: PlainConnection,
    node: Node,
    pairs: int = 10,
    new_ops: int = 5,
    pooled_ops: int = 50,
) -> tuple[list[float], list[float]]:
    """One round of interleaved timings: seconds per SET, new connection against the pool.

    Each of ``pairs`` pairs times ``new_ops`` SETs that each open a connection (TCP
    connect, redis-py's ``CLIENT SETINFO`` handshake, the SET, close), then
    ``pooled_ops`` SETs through ``connection`` (a client whose pool is already
    connected), right after each other. Returns ``(new, pooled)`` seconds per SET, one
    value per pair, for :func:`redislab.kit.evidence.compare` (``paired=True``).
    """
    if pairs < 1 or new_ops < 1 or pooled_ops < 1:
        raise PerformanceError("pairs, new_ops and pooled_ops must be positive")
    fresh = new_connection_per_op(node, name="ev-pool")
    k = key(PERFORMANCE, "ev-pool")
    connection.set(k, "v")  # warm: the pool holds a connection
    fresh()
    a: list[float] = []
    b: list[float] = []
    for _ in range(pairs):
        t0 = time.perf_counter()
        for _ in range(new_ops):
            fresh()
        t1 = time.perf_counter()
        for _ in range(pooled_ops):
            connection.set(k, "v")
        t2 = time.perf_counter()
        a.append((t1 - t0) / new_ops)
        b.append((t2 - t1) / pooled_ops)
    return a, b
