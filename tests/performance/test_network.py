"""Socket options and TCP_NODELAY on and off."""

from __future__ import annotations

from redislab.performance import client, nodelay_comparison, server_keepalive, socket_options
from redislab.performance.network import NagleConnection


def test_socket_options_of_default_and_nagle_clients(standalone_lab):
    node = standalone_lab.primary
    default = socket_options(node.client())
    assert default["TCP_NODELAY"] == 1 and default["SO_KEEPALIVE"] == 1
    nagle = socket_options(client(node, connection_class=NagleConnection))
    assert nagle["TCP_NODELAY"] == 0


def test_server_keepalive_reads_the_live_value(standalone_lab):
    r = standalone_lab.client()
    r.config_set("tcp-keepalive", 120)
    try:
        assert server_keepalive(r) == 120
    finally:
        r.config_set("tcp-keepalive", 300)


def test_nodelay_comparison_shows_the_two_write_stall(standalone_lab):
    table = nodelay_comparison(
        standalone_lab.primary,
        sizes=(20_000,),
        calls=30,
        slow_calls=4,
        rounds=1,
        show_progress=False,
    )
    assert len(table) == 2
    two_writes = table[table.packer.str.startswith("python")]["nagle/nodelay"].iloc[0]
    assert two_writes < 0.5  # ~40 ms delayed ACKs against sub-millisecond calls
