"""The session store against a real lab (standalone and cluster)."""

from __future__ import annotations

import time

import pytest

from redislab.design.sessions import SessionStore, login_load, memory_per_session
from redislab.errors import DesignError


def test_create_get_update_slide_and_destroy(standalone_lab):
    c = standalone_lab.client()
    store = SessionStore(c, ttl_s=2, seed=1)
    sid = store.create("alice", {"cart": 0})
    assert store.get(sid)["user"] == "alice"
    assert store.update(sid, cart=3) and store.get(sid)["cart"] == "3"
    time.sleep(1.2)
    store.get(sid)  # slides the expiry
    assert c.ttl(store.session_key(sid)) == 2
    assert store.destroy(sid) and store.get(sid) is None
    assert not store.update(sid, cart=4)  # never resurrected
    assert not c.exists(store.session_key(sid))


def test_index_drops_expired_sessions_and_destroy_all(standalone_lab):
    c = standalone_lab.client()
    store = SessionStore(c, ttl_s=60, seed=2)
    keep = [store.create("bob") for _ in range(3)]
    gone = store.create("bob")
    c.delete(store.session_key(gone))  # as if it had expired
    assert store.sessions_of("bob") == sorted(keep)
    assert c.scard(store.index_key("bob")) == 3
    assert store.destroy_all("bob") == 3 and store.sessions_of("bob") == []
    assert not any(c.exists(store.session_key(s)) for s in keep)


def test_bad_inputs(standalone_lab):
    store = SessionStore(standalone_lab.client(), seed=0)
    with pytest.raises(DesignError):
        store.create("a.b")
    with pytest.raises(DesignError):
        store.get("nodot")
    with pytest.raises(DesignError):
        SessionStore(standalone_lab.client(), ttl_s=0)


def test_memory_and_load(standalone_lab):
    store = SessionStore(standalone_lab.client(), ttl_s=60, seed=3)
    mem = memory_per_session(store, sessions=300, fields=5, value_bytes=20)
    assert mem["encoding"] == "listpack" and 5 * 20 < mem["hash_bytes"] < 2000
    stats = login_load(store, users=20, logins=30, reads_per_login=2, seed=1)
    assert stats.live_sessions == 30 and stats.latency_ms["n"] == 90


@pytest.mark.cluster
def test_one_users_keys_share_a_slot_on_a_cluster(cluster_lab):
    rc = cluster_lab.client()
    store = SessionStore(rc, ttl_s=60, seed=4)
    sids = [store.create("carol") for _ in range(3)]
    slots = {rc.keyslot(store.session_key(s)) for s in sids} | {
        rc.keyslot(store.index_key("carol"))
    }
    assert len(slots) == 1
    assert store.destroy_all("carol") == 3
