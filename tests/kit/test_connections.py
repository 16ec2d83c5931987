"""kit.connections.clone: a second client to the same server, with its own socket."""

from __future__ import annotations

from redislab.kit.connections import clone


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
