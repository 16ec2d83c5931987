"""kit.connections: a second client to the same server, and the READONLY probe."""

from __future__ import annotations

import pytest
import redis

from redislab.kit.connections import clone, readonly_probe, reply_text


def test_clone_reaches_the_same_server_on_its_own_connection(standalone_lab) -> None:
    r = standalone_lab.client()
    r.set("redislab:test:clone", "v")
    c = clone(r, db=0)
    try:
        assert c.get("redislab:test:clone") == "v"  # decode_responses is kept
        assert c.client_id() != r.client_id()
        other_db = clone(r, db=3)
        assert other_db.get("redislab:test:clone") is None
        other_db.close()
        raw = clone(r, decode_responses=False)
        assert raw.get("redislab:test:clone") == b"v"
        raw.close()
    finally:
        c.close()
        r.delete("redislab:test:clone")


def test_readonly_probe_on_a_cluster_replica(cluster_lab) -> None:
    k = "redislab:test:readonly"
    owner = cluster_lab.client().get_node_from_key(k)
    primary = next(n for n in cluster_lab.data_nodes if n.port == owner.port)
    replica = next(
        n for n in cluster_lab.data_nodes if n.info("replication").get("master_port") == owner.port
    )
    writer, conn = primary.client(), replica.client()
    try:
        writer.set(k, "v")
        assert writer.wait(1, 5000) == 1
        out = readonly_probe(conn, k)
        assert out["before_error"] and out["before"].startswith("MovedError: ")
        assert not out["after_error"] and out["after"] == "v"
        # the probe used its own connection: this one never sent READONLY
        with pytest.raises(redis.exceptions.MovedError):
            conn.get(k)
    finally:
        writer.delete(k)
        writer.close()
        conn.close()


def test_reply_text_renders_values_and_errors() -> None:
    assert reply_text(b"caf\xc3\xa9") == "café" and reply_text(3) == "3"
    assert reply_text(redis.ResponseError("WRONGTYPE x")) == "ResponseError: WRONGTYPE x"
