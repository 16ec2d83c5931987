"""Disaster recovery across sites (redislab.persistence.recovery) against real labs."""

from __future__ import annotations

import pytest

from redislab import persistence as P
from redislab.errors import RecoveryError


def test_ship_verify_and_retention(tmp_path) -> None:
    a = P.start_site("A", tmp_path)
    b = P.start_site("B", tmp_path)
    try:
        c = a.client()
        for i in range(3):
            c.set(f"redislab:dr:k:{i}", i)
            backup, cut = P.consistent_backup(c, a.backups)
            assert backup.digest is not None and cut > 0
        shipped = P.ship_backups(a.backups, b.backups)
        assert len(shipped) == 3 and shipped["verified"].all()
        assert len(P.ship_backups(a.backups, b.backups)) == 0  # nothing new to ship
        deleted = P.apply_retention(a.backups, last=1)
        assert len(deleted) == 2 and len(list(a.backups.glob("dump-*.rdb"))) == 1
        assert len(list(a.backups.glob("*.sha256"))) == 1
        # a corrupted copy at B is caught when shipped again
        victim = sorted(b.backups.glob("dump-*.rdb"))[-1]
        victim.write_bytes(victim.read_bytes()[:-5] + b"XXXXX")
        P.ship_backups(a.backups, b.backups)  # replaced from A: verified again
        assert P.verify_backup(victim)
        c.close()
    finally:
        a.lab.stop()
        b.lab.stop()


def test_standby_lag_and_site_loss(tmp_path) -> None:
    a = P.start_site("A", tmp_path)
    b = P.start_site("B", tmp_path)
    try:
        assert P.make_standby(b, a) > 0
        ca, cb = a.client(), b.client()
        ca.set("redislab:dr:x", 1)
        assert P.standby_lag(ca, cb) >= 0
        ca.close()
        P.lose_site(a)
        assert not a.root.exists() and not a.node.alive
    finally:
        a.lab.stop()
        b.lab.stop()


@pytest.mark.parametrize("mode", ["standby", "backup"])
def test_recovery_drill(tmp_path, mode) -> None:
    r = P.recovery_drill(tmp_path, mode=mode, keys=2000, rate=300, load_s=1.2, backup_every_s=0.4)
    assert r.rto_s > r.detect_s > 0 and r.acked_before_loss > 0
    assert {"loss", "detected", "first write"} <= set(r.run.timeline.events)
    assert len(r.backups) >= 2 and r.backups["verified"].all()
    if mode == "backup":
        assert r.digest_ok is True
        assert abs(r.rpo_writes - r.predicted_rpo_writes) <= 1  # the write in flight at the cut
    else:
        assert r.rpo_writes <= r.predicted_rpo_writes + 1
    assert list(tmp_path.iterdir()) == []
    assert P.drill_table([r]).shape[0] == 1


def test_drill_rejects_unknown_mode(tmp_path) -> None:
    with pytest.raises(RecoveryError):
        P.recovery_drill(tmp_path, mode="prayer")


def test_paused_backup_returns_the_pause_window(tmp_path) -> None:
    a = P.start_site("A", tmp_path)
    try:
        c = a.client()
        c.set("redislab:dr:k:1", 1)
        backup, paused, unpaused = P.paused_backup(c, a.backups)
        assert 0 < paused <= unpaused and backup.dbsize == 1
        assert c.set("redislab:dr:k:2", 2)  # writes flow again after the unpause
        c.close()
    finally:
        a.lab.stop()
