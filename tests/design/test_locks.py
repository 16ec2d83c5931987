"""Locks on real labs: safe release, renewal, fencing, contention, a paused holder, failover."""

from __future__ import annotations

import time

import pytest

from redislab.design import locks as K
from redislab.errors import DesignError, LockLost


def test_token_lock_release_and_extend_check_ownership(standalone_lab):
    c = standalone_lab.client()
    a = K.TokenLock(c, "own", ttl_ms=200)
    b = K.TokenLock(c, "own", ttl_ms=5000)
    lease = a.acquire(timeout=0)
    assert lease is not None and a.owned()
    assert b.acquire(timeout=0) is None  # held
    a.extend(400)
    assert 200 < c.pttl(a.key) <= 400
    time.sleep(0.45)  # a's lease expires
    lease_b = b.acquire(timeout=0)
    assert lease_b is not None and lease_b.fence == lease.fence + 1
    with pytest.raises(LockLost):
        a.extend()
    assert a.release() is False and b.owned()  # a did not delete b's lock
    assert b.release() is True and not c.exists(b.key)


def test_naive_release_deletes_the_next_holders_lock(standalone_lab):
    c = standalone_lab.client()
    a = K.NaiveLock(c, "naive", ttl_ms=100)
    a.acquire(timeout=0)
    time.sleep(0.15)
    b = K.TokenLock(c, "naive", ttl_ms=5000)
    assert b.acquire(timeout=0) is not None
    assert a.release() is True and not b.owned()


def test_fenced_resource_refuses_older_tokens(standalone_lab):
    c = standalone_lab.client()
    fenced = K.FencedResource(c, "fenced")
    assert fenced.write(5, "five") and not fenced.write(4, "four") and fenced.value() == "five"
    plain = K.FencedResource(c, "plain", check=False)
    assert plain.write(5, "five") and plain.write(4, "four") and plain.value() == "four"


def test_overlap_detector():
    assert K.overlaps([(0, 1, "a"), (1, 2, "b"), (2, 3, "a")]) == 0
    assert K.overlaps([(0, 5, "a"), (1, 2, "b"), (3, 4, "c")]) == 2


@pytest.mark.parametrize("kind", ["token", "redis-py", "naive"])
def test_locks_give_mutual_exclusion_under_contention(standalone_lab, kind):
    res = K.contention(standalone_lab.client, kind=kind, workers=4, sections=10, hold_ms=1)
    assert res.sections == 40 and res.overlaps == 0 and res.lost_increments == 0


def test_without_a_lock_the_detector_sees_overlaps(standalone_lab):
    res = K.contention(standalone_lab.client, kind=None, workers=4, sections=10, hold_ms=2)
    assert res.overlaps > 0 and res.lost_increments > 0


def test_unknown_kind_is_a_typed_error(standalone_lab):
    with pytest.raises(DesignError):
        K.contention(standalone_lab.client, kind="redlock", workers=1, sections=1)


@pytest.mark.slow
def test_paused_holder_fencing_refuses_the_stale_write(standalone_lab):
    c = standalone_lab.client()
    fenced = K.paused_holder(c, kind="token", fenced=True)
    assert fenced.second_acquired and fenced.overlapped
    assert not fenced.stale_write_accepted and fenced.final_value == "from the second holder"
    assert not fenced.worker_release_deleted and fenced.second_still_locked
    naive = K.paused_holder(c, kind="naive", fenced=False)
    assert naive.stale_write_accepted and naive.worker_release_deleted
    assert not naive.second_still_locked


@pytest.mark.slow
def test_lock_lost_when_an_unreplicated_primary_dies(lab_factory):
    lab = lab_factory("sentinel")
    loss = K.failover_loss(lab)
    assert loss.first_acquired and not loss.replica_had_lock
    assert loss.second_acquired and loss.new_primary != loss.old_primary
    assert loss.replica_offset_gap > 0
    # what Redis decided: it acknowledged with no replica attached (min-replicas-to-write 0)
    assert loss.replicas_attached == 0 and loss.min_replicas_to_write == 0
