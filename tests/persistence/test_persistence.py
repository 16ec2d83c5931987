"""redislab.persistence against real servers: snapshots, the AOF, crashes, corruption, backups."""

from __future__ import annotations

import datetime as dt
import shutil

import numpy as np
import pytest

from redislab import NodeDied
from redislab import persistence as P
from redislab.keys import key

UTC = dt.UTC


def resp(*args: object) -> bytes:
    """One command in the RESP form an AOF stores."""
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


# ---------------------------------------------------------------- pure helpers
def test_save_points_parse_and_fire_only_when_both_conditions_hold():
    points = P.parse_save_points("3600 1 300 100 60 10000")
    assert points == [(3600, 1), (300, 100), (60, 10000)]
    assert P.parse_save_points('""') == []
    assert not P.save_point_due(points, elapsed=59, changes=10**6)  # too early for every point
    assert P.save_point_due(points, elapsed=61, changes=10_000)
    assert not P.save_point_due(points, elapsed=61, changes=9_999)  # 300 s not passed for 100
    assert not P.save_point_due([(1, 100)], elapsed=1.0, changes=100)  # "more than" 1 s
    with pytest.raises(ValueError):
        P.parse_save_points("3600")


def test_persistence_label_matches_presets():
    from redislab import PERSISTENCE

    for name, directives in PERSISTENCE.items():
        cfg = {k: v.strip('"') for k, v in directives.items()}
        assert P.persistence_label(cfg) == name


def test_parse_manifest_both_dialects():
    text70 = (
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    )
    text8 = "file appendonly.aof.2.base.aof seq 2 type b\nfile x.aof seq 3 type i startoffset 0\n"
    assert [(e["file"], e["seq"], e["type"]) for e in P.parse_manifest(text70)] == [
        ("appendonly.aof.1.base.rdb", 1, "base"),
        ("appendonly.aof.1.incr.aof", 1, "incr"),
    ]
    entries = P.parse_manifest(text8)
    assert entries[1]["startoffset"] == "0" and entries[1]["type"] == "incr"
    with pytest.raises(P.PersistenceError):
        P.parse_manifest("file lonely seq 1 type\n")


def test_resp_offsets_stop_at_truncation_and_corruption():
    cmds = [resp("SELECT", 0)] + [resp("SET", f"k{i}", "v" * i) for i in range(5)]
    data = b"".join(cmds)
    offsets, end = P.resp_command_offsets(data)
    assert len(offsets) == 6 and end == len(data)
    assert offsets[3] == sum(len(c) for c in cmds[:3])
    assert P.count_resp_commands(data[:-3]) == 5  # the last command cut short
    broken = bytearray(data)
    broken[offsets[4]] = ord("X")
    offsets2, end2 = P.resp_command_offsets(bytes(broken))
    assert len(offsets2) == 4 and end2 == offsets[4]
    assert P.count_resp_commands(b"#annotation\r\n" + data) == 6


def test_fit_line_and_robust_fit():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    fit = P.fit_line(x, 2 * x + 1)
    assert fit.slope == pytest.approx(2) and fit.intercept == pytest.approx(1)
    assert fit.r2 == pytest.approx(1) and fit.error(10, 21) == pytest.approx(0)
    y = 2 * x + 1
    y[1] += 5  # one point slowed down by a busy moment
    assert P.fit_line(x, y, robust=True).slope == pytest.approx(2)
    assert abs(P.fit_line(x, y).slope - 2) > 0.1


def test_retention_plan_grandfather_father_son():
    start = dt.datetime(2025, 3, 1, 0, 30, tzinfo=UTC)  # a Saturday
    times = [start + dt.timedelta(hours=h) for h in range(24 * 20)]  # hourly, 20 days
    plan = P.retention_plan(times, last=1, hourly=24, daily=7, weekly=4, monthly=0)
    assert sorted(plan.keep + plan.delete) == sorted(times)
    assert not set(plan.keep) & set(plan.delete)
    newest = sorted(times)[-24:]
    assert set(newest) <= set(plan.keep)  # the last 24 hours, one per hour
    days = sorted({t.date() for t in times})[-7:]
    for day in days:  # the newest backup of each of the last 7 days
        assert max(t for t in times if t.date() == day) in plan.keep
    # 24 hourly + 6 more days (today's newest is also an hourly one) + older weeks'
    # newest: 20 days from Sat 1 March span ISO weeks 9..12; weeks 12 and 11 are
    # already kept (their last days are among the 7 daily), weeks 10 and 9 add 2.
    assert len(plan.keep) == 24 + 6 + 2
    assert plan.reasons[max(times)] == ["last", "hourly", "daily", "weekly"]
    assert P.retention_plan([], hourly=3).keep == []


def test_backup_names_carry_utc_time():
    t = P.backup_time("dump-20250102T030405123456Z.rdb")
    assert t == dt.datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert P.backup_time("x/dump-20250102T030405Z.rdb").second == 5
    with pytest.raises(ValueError):
        P.backup_time("dump.rdb")


# --------------------------------------------------------------- real servers
def test_bgsave_snapshot_and_restart_restore_exactly(lab_factory):
    lab = lab_factory("standalone", persistence="rdb")
    r = lab.client()
    P.populate_mixed(r, 500, seed=1)
    res = P.bgsave(r)
    assert res["fork_usec"] > 0 and res["reply_seconds"] <= res["seconds"]
    saved = P.dataset_digest(r)
    assert saved.kind == "debug"
    report = P.check_rdb(lab.server.tool("check-rdb"), P.snapshot_path(r))
    assert report.ok and report.keys == 500 and report.error is None
    P.populate_mixed(r, 100, seed=2, name="after")  # after the snapshot: lost at a kill
    lab.primary.kill()
    timing = P.timed_restart(lab.primary)
    assert timing.source == "disk" and timing.load_s is not None
    r = lab.client()
    assert r.dbsize() == 500 and P.dataset_digest(r) == saved


def test_aof_layout_rewrite_and_preamble(lab_factory):
    lab = lab_factory("standalone", persistence="aof-everysec")
    r = lab.client()
    layout = P.live_aof_layout(r)
    assert layout is not None and layout.multi_part
    assert layout.base is not None and len(layout.incr) == 1 and layout.manifest.exists()
    pipe = r.pipeline(transaction=False)
    counter = key("persistence", "test", "counter")
    for _ in range(3000):
        pipe.incr(counter)
    pipe.execute()
    before = P.live_aof_layout(r)
    P.bgrewriteaof(r)
    after = P.live_aof_layout(r)
    assert after.base.seq == before.base.seq + 1 and after.base.format == "resp"
    assert after.total_bytes < before.total_bytes / 10  # 3000 INCRs became one SET
    assert not after.history
    r.config_set("aof-use-rdb-preamble", "yes")
    P.bgrewriteaof(r)
    hybrid = P.live_aof_layout(r)
    assert hybrid.base.format == "rdb" and hybrid.base.name.endswith(".rdb")
    lab.primary.kill()
    P.timed_restart(lab.primary)
    assert lab.client().get(counter) == "3000"


def test_crash_with_aof_always_loses_no_acknowledged_write(lab_factory):
    lab = lab_factory("standalone", persistence="aof-always")
    trial = P.crash_trial(lab.primary, seconds=0.5)
    assert trial.label == "aof-always" and trial.acked > 50
    assert trial.lost == 0 and trial.expected_lost == 0 and trial.prefix_ok
    assert trial.load_s is not None  # it did load the AOF


def test_crash_without_persistence_loses_everything(lab_factory):
    lab = lab_factory("standalone")
    trial = P.crash_trial(lab.primary, seconds=0.3)
    assert trial.label == "none" and trial.acked > 50
    assert trial.lost == trial.acked == trial.expected_lost and trial.present == 0


@pytest.mark.slow
def test_crash_with_rdb_loses_exactly_the_writes_after_the_snapshot(lab_factory):
    lab = lab_factory("standalone", persistence="rdb", config={"save": "1 1"})
    trial = P.crash_trial(lab.primary, seconds=2.3)
    assert trial.label == "rdb"
    assert trial.snapshot_keys and 0 < trial.snapshot_keys <= trial.acked + 1  # a save fired
    assert trial.lost == trial.expected_lost == trial.acked - min(trial.acked, trial.snapshot_keys)
    assert trial.prefix_ok  # a snapshot is a point in time: the writes before it, no holes
    table = P.crash_table([trial])
    assert table.loc["rdb", "lost"] == trial.lost


def test_measure_load_time_rdb_and_aof(lab_factory):
    for persistence, mode in (("rdb", "rdb"), ("aof-everysec", "aof"), ("hybrid", "hybrid")):
        lab = lab_factory("standalone", persistence=persistence)
        samples = P.measure_load_time(lab.primary, [2000, 8000], repeats=3)
        assert [s.mode for s in samples] == [mode, mode]
        assert [s.keys_loaded for s in samples] == [2000, 8000]
        assert samples[1].file_bytes > samples[0].file_bytes > 0
        for s in samples:
            assert len(s.rounds_s) == 3 and s.load_s == float(np.median(s.rounds_s))
            assert 0 <= s.load_min_s <= s.load_s and s.restart_s > 0
        assert lab.client().dbsize() in (2000, 8000)  # left running with a loaded dataset
        assert not (lab.primary.dir / ".redislab-load-stash").exists()


def test_predict_load_time_reports_fit_and_error(lab_factory):
    lab = lab_factory("standalone", persistence="rdb")
    pred = P.predict_load_time(lab.primary, [2000, 4000, 6000], 12000, repeats=2, max_rounds=1)
    assert pred.mode == "rdb" and pred.rounds == 1 and pred.target == 12000
    assert [s.n_keys for s in pred.samples] == [2000, 4000, 6000, 12000]
    assert pred.observed_s == pred.samples[-1].load_s
    assert pred.predicted_s == pytest.approx(float(pred.fit.predict(12000)))
    assert pred.error == pytest.approx(pred.fit.error(12000, pred.observed_s))
    row = pred.as_dict()
    assert row["us_per_key"] == pytest.approx(pred.fit.slope * 1e6)


def test_truncated_aof_tail_loads_without_the_last_command(lab_factory):
    lab = lab_factory("standalone", persistence="aof-always")
    r = lab.client()
    assert P.persistence_config(r)["aof-load-truncated"] == "yes"
    for i in range(200):
        r.set(key("persistence", "test", i), i)
    lab.primary.kill()
    incr = P.aof_layout(lab.primary.dir).incr[-1].path
    before = P.count_resp_commands(incr.read_bytes())
    P.truncate_file(incr, 5)
    assert P.count_resp_commands(incr.read_bytes()) == before - 1
    timing = P.timed_restart(lab.primary)
    assert "aof-load-truncated is enabled" in timing.log
    r = lab.client()
    assert r.dbsize() == 199 and r.get(key("persistence", "test", 199)) is None


def test_corrupted_aof_refused_then_fixed_by_check_aof(lab_factory):
    lab = lab_factory("standalone", persistence="aof-always")
    r = lab.client()
    for i in range(300):
        r.set(key("persistence", "test", i), i)
    node = lab.primary
    node.kill()
    layout = P.aof_layout(node.dir)
    incr = layout.incr[-1].path
    offsets, _ = P.resp_command_offsets(incr.read_bytes())
    at = P.corrupt_command(incr, len(offsets) - 100)
    with pytest.raises(NodeDied):
        node.restart()
    assert "Bad file format" in node.log_tail(5)
    tool = lab.server.tool("check-aof")
    report = P.check_aof(tool, layout.manifest)
    assert not report.ok and report.ok_up_to == at and report.diff == incr.stat().st_size - at
    fixed = P.check_aof(tool, layout.manifest, fix=True)
    assert fixed.fixed and incr.stat().st_size == at
    assert P.count_resp_commands(incr.read_bytes()) == len(offsets) - 100
    P.timed_restart(node)
    assert lab.client().dbsize() == 200  # the 100 SETs from the bad byte on are gone


def test_check_rdb_reports_a_damaged_snapshot(lab_factory, tmp_path):
    lab = lab_factory("standalone", persistence="rdb")
    r = lab.client()
    P.populate_mixed(r, 300, seed=3)
    r.save()
    copy = tmp_path / "copy.rdb"
    shutil.copyfile(P.snapshot_path(r), copy)
    P.corrupt_byte(copy, copy.stat().st_size // 2)
    report = P.check_rdb(lab.server.tool("check-rdb"), copy)
    assert not report.ok and report.error and report.returncode != 0


def test_backup_verify_restore_and_refuse_tampered(lab_factory, tmp_path):
    source = lab_factory("standalone", persistence="rdb")
    scratch = lab_factory("standalone")
    r = source.client()
    P.populate_mixed(r, 400, seed=4)
    backup = P.backup_rdb(r, tmp_path / "backups")
    assert backup.dbsize == 400 and backup.digest is not None
    assert P.verify_backup(backup.path) and backup.path.name.startswith("dump-")
    assert P.backup_time(backup.path.name) == backup.created
    restored = P.restore_rdb(backup, scratch.primary)
    assert restored.verified and restored.dbsize == 400
    assert P.computed_digest(scratch.client()) == P.computed_digest(r)
    tampered = tmp_path / "backups" / "dump-20000101T000000000000Z.rdb"
    shutil.copyfile(backup.path, tampered)
    shutil.copyfile(backup.checksum_path, tampered.with_name(tampered.name + ".sha256"))
    P.corrupt_byte(tampered, -20)
    assert not P.verify_backup(tampered)
    with pytest.raises(P.PersistenceError):
        P.restore_rdb(tampered, scratch.primary)


def test_computed_digest_ignores_order_and_sees_changes(lab_factory):
    lab = lab_factory("standalone")
    r = lab.client()
    P.populate_mixed(r, 50, seed=5)
    first = P.computed_digest(r)
    debug = P.debug_digest(r)
    dump = {k: r.dump(k) for k in r.scan_iter()}
    r.flushall()
    for k in sorted(dump, reverse=True):  # same data, written in another order
        r.restore(k, 0, dump[k])
    assert P.computed_digest(r) == first and P.debug_digest(r) == debug
    r.hset(key("persistence", "data", 1), "f0", "changed")
    assert P.computed_digest(r) != first and P.debug_digest(r) != debug
    assert P.dataset_digest(r, prefer_debug=False).kind == "computed"


def test_write_and_fsync_costs_have_the_right_shape(lab_factory):
    lab = lab_factory("standalone", persistence="aof-always")
    r = lab.client()
    single = P.write_latencies(r, n=200)
    batched = P.write_latencies(r, n=200, batch=50)
    assert single.shape == (200,) and batched.shape == (4,)
    assert np.median(batched) < np.median(single)  # one write+fsync per batch
    fs = P.fsync_latencies(lab.primary.dir, n=10)
    assert fs.shape == (10,) and (fs > 0).all()
    cost = P.fork_cost(r, repeats=2)
    assert cost["keys"] == r.dbsize() and cost["rdb_bytes"] > 0 and cost["fork_usec"] > 0


def test_format_load_times_and_listpack_hashes(lab_factory):
    lab = lab_factory("standalone", persistence="aof-everysec")
    r = lab.client()
    assert P.populate_hashes(r, 500, fields=20) == 500
    first = key("persistence", "hash", 0)
    assert r.hlen(first) == 20 and r.object("encoding", first) == "listpack"
    res = P.format_load_times(lab.primary, repeats=1)
    assert res["keys"] == 500 and res["rdb_bytes"] < res["resp_bytes"]
    assert res["resp_s"] >= 0 and res["rdb_s"] >= 0
    r = lab.client()
    assert P.persistence_config(r)["aof-use-rdb-preamble"] == "no"  # restored
    assert r.dbsize() == 500 and not (lab.primary.dir / ".redislab-format-stash").exists()


def test_save_blocks_pings_and_appendfsync_costs_restore_config(lab_factory):
    lab = lab_factory("standalone", persistence="aof-everysec")
    r = lab.client()
    r.execute_command("DEBUG", "POPULATE", 100_000, key("persistence", "test"), 32)
    pings, seconds = P.ping_latencies_during(r.save, lab.primary.client())
    assert pings.size >= 1 and pings.max() >= 0.5 * seconds  # a PING waited for SAVE
    costs = P.appendfsync_costs(r, n=100, rounds=2, batch=10)
    assert list(costs.index) == ["always", "everysec", "no"]
    assert (costs.p50_us > 0).all() and (costs.pipelined_us_per_cmd > 0).all()
    assert P.persistence_config(r)["appendfsync"] == "everysec"


def test_builtin_defaults_come_from_a_server_without_a_config() -> None:
    from redislab import find_server

    defaults = P.builtin_defaults(find_server().path, ["save", "appendonly", "port"])
    assert set(defaults) == {"save", "appendonly", "port"}
    assert defaults["port"] == "0"  # ours: no TCP port was opened
    assert defaults["appendonly"] in ("yes", "no") and defaults["save"] != ""


def test_appendfsync_round_pairs_blocks_and_restores_the_policy(lab_factory):
    lab = lab_factory("standalone", persistence="aof-everysec")
    r = lab.client()
    rd = P.appendfsync_round(r, lab.primary.dir, blocks=3, per_block=4, batch=10)
    assert set(rd.lone) == set(rd.piped) == {"always", "everysec", "no"}
    assert all(v.shape == (3,) and (v > 0).all() for v in [*rd.lone.values(), rd.fsync])
    assert list(rd.table().index) == ["always", "everysec", "no"]
    assert P.persistence_config(r)["appendfsync"] == "everysec"
    assert not list(lab.primary.dir.glob(".redislab-fsync-probe*"))  # probe file removed


def test_ping_timeline_counts_what_was_answered_during_save(lab_factory):
    lab = lab_factory("standalone", persistence="rdb")
    r = lab.client()
    r.execute_command("DEBUG", "POPULATE", 100_000, key("persistence", "tl"), 32)
    line = P.ping_timeline_during(r.save, lab.primary.client())
    assert line.sent.shape == line.latency.shape and line.seconds > 0
    assert line.inside.size <= 3 and line.latency.max() >= 0.5 * line.seconds
    res = P.bgsave(r)
    assert res["in_progress_after_reply"] == 1.0  # the reply does not wait for the child
    cost = P.fork_cost(r, repeats=2)
    assert len(cost["fork_usecs"]) == 2 and cost["fork_usec_min"] == min(cost["fork_usecs"])
    other = lab_factory("standalone", persistence="rdb").client()
    big, little = P.fork_pairs(r, other, n=2)
    assert len(big) == len(little) == 2 and min(big) > 0


def test_format_loads_gives_paired_restarts(lab_factory):
    lab = lab_factory("standalone", persistence="aof-everysec")
    r = lab.client()
    P.populate_hashes(r, 300, fields=10)
    with P.FormatLoads(lab.primary) as loads:
        resp, rdb = loads.pairs(2)
    assert len(resp) == len(rdb) == 2 and loads.summary()["restarts"] == 2
    assert lab.client().dbsize() == 300
    assert not (lab.primary.dir / ".redislab-format-stash").exists()
