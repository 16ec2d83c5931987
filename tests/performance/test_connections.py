"""Connections: explicit parsers and protocols, pools, exhaustion, asyncio."""

from __future__ import annotations

import pytest
from redis._parsers import _HiredisParser, _RESP2Parser, _RESP3Parser

from redislab.errors import PerformanceError
from redislab.performance import (
    PythonPackerConnection,
    async_concurrency_sweep,
    client,
    connections_received,
    new_connection_per_op,
    parser_paths,
    pool_exhaustion,
    pool_round,
    pool_thread_sweep,
)


@pytest.mark.parametrize(
    ("parser", "protocol", "parser_class"),
    [("hiredis", 2, _HiredisParser), ("hiredis", 3, _HiredisParser),
     ("python", 2, _RESP2Parser), ("python", 3, _RESP3Parser)],
)  # fmt: skip
def test_client_uses_the_parser_and_protocol_asked_for(
    standalone_lab, parser, protocol, parser_class
):
    r = client(standalone_lab.primary, parser=parser, protocol=protocol)
    r.set("redislab:perf:test:p", "v")
    assert r.get("redislab:perf:test:p") == "v"
    conn = r.connection_pool.get_connection()
    try:
        assert isinstance(conn._parser, parser_class)
        assert isinstance(conn, PythonPackerConnection) == (parser == "python")
    finally:
        r.connection_pool.release(conn)
    assert str(r.client_info()["resp"]) == str(protocol)
    r.close()
    with pytest.raises(PerformanceError):
        client(standalone_lab.primary, parser="fast")


def test_new_connection_per_op_is_one_accepted_connection_each(standalone_lab):
    r = standalone_lab.client()
    op = new_connection_per_op(standalone_lab.primary)
    before = connections_received(r)
    for _ in range(5):
        op()
    assert connections_received(r) - before == 5


def test_pool_thread_sweep_never_opens_more_than_the_pool(standalone_lab):
    table = pool_thread_sweep(
        standalone_lab.primary, threads=(1, 4), pool_sizes=(1, 2), seconds=0.1, show_progress=False
    )
    assert len(table) == 4 and (table.ops_per_s > 0).all()
    assert (table.connections <= table[["pool_size", "threads"]].min(axis=1)).all()


def test_pool_exhaustion_fails_fast_waits_or_gets_a_released_connection(standalone_lab):
    table = pool_exhaustion(standalone_lab.primary, max_connections=1, wait=0.2)
    rows = table.set_index("pool")
    assert "Too many connections" in rows.loc["ConnectionPool", "error"]
    assert "No connection available" in rows.loc["BlockingConnectionPool", "error"]
    assert rows.loc["BlockingConnectionPool", "waited_s"] >= 0.19
    assert rows.loc["BlockingConnectionPool+release", "outcome"] == "got a connection"


def test_async_sweep_opens_one_connection_per_task(standalone_lab):
    table = async_concurrency_sweep(
        standalone_lab.primary, concurrency=(1, 4), ops=80, rounds=1, show_progress=False
    )
    assert list(table.concurrency) == [1, 4] and list(table.connections) == [1, 4]
    assert (table.ops_per_s > 0).all()


def test_parser_paths_all_return_the_same_reply(standalone_lab):
    r = standalone_lab.client()
    r.delete("redislab:perf:test:l")
    r.rpush("redislab:perf:test:l", *range(10))
    paths, clients = parser_paths(
        standalone_lab.primary, command=lambda c: c.lrange("redislab:perf:test:l", 0, -1)
    )
    assert set(paths) == {"hiredis RESP2", "hiredis RESP3", "python RESP2", "python RESP3"}
    assert all(fn() == [str(i) for i in range(10)] for fn in paths.values())
    for c in clients:
        c.close()


def test_pool_round_times_new_connections_against_the_pool(standalone_lab):
    r = standalone_lab.client()
    before = connections_received(r)
    new, pooled = pool_round(
        connection=r, node=standalone_lab.primary, pairs=2, new_ops=3, pooled_ops=5
    )
    assert len(new) == len(pooled) == 2 and all(v > 0 for v in new + pooled)
    # 2 x 3 timed + 1 warm-up connection, each accepted by the server
    assert connections_received(r) - before >= 7
    with pytest.raises(PerformanceError):
        pool_round(connection=r, node=standalone_lab.primary, pairs=0)
