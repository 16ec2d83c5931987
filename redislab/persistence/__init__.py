"""Persistence experiments: snapshots, the AOF, crashes, load times, corruption and backups.

Everything here works on real server processes started by :class:`redislab.Lab`:

- waiting for background work: :func:`bgsave`, :func:`wait_for_bgsave`,
  :func:`bgrewriteaof`, :func:`wait_for_aof_rewrite`;
- the files on disk: :func:`aof_layout` (multi-part base / incr / manifest since 7.0,
  inside ``appenddirname``), :func:`snapshot_path`, :func:`disk_usage`;
- costs: :func:`appendfsync_costs`, :func:`fsync_latencies`, :func:`fork_cost`,
  :func:`ping_latencies_during` (who waits while ``SAVE`` runs);
- crash tests: :func:`crash_trial` writes a steady, acknowledged load, SIGKILLs the
  server, restarts it on the same data and counts the acknowledged writes that are gone;
- recovery time: :func:`measure_load_time`, :func:`predict_load_time`, :func:`fit_line`;
- corruption: :func:`truncate_file`, :func:`corrupt_command`, :func:`check_aof`,
  :func:`check_rdb` (the checkers are the server binary under another name,
  ``lab.server.tool("check-aof")``);
- backups: :func:`backup_rdb`, :func:`verify_backup`, :func:`restore_rdb`,
  :func:`retention_plan`, with :func:`dataset_digest` to compare datasets.

What a process kill can show: a SIGKILLed server loses what it never handed to the
kernel (its own buffers); data in the kernel's page cache survives a process crash
whatever the fsync policy. ``appendfsync`` decides what survives an operating-system
crash or a power cut, which a laptop experiment does not produce.

The code is split by concern: :mod:`._common` (errors, the live config, test data),
:mod:`.snapshots`, :mod:`.aof`, :mod:`.crash`, :mod:`.rto`, :mod:`.repair` and
:mod:`.backup`; every public name is re-exported here.
"""

from __future__ import annotations

from ..keys import key as key  # P.key, as before the split
from ._common import (
    POPULATE_HASHES_LUA,
    PersistenceError,
    ToolError,
    builtin_defaults,
    persistence_config,
    populate_hashes,
    populate_mixed,
)
from .aof import (
    EVERYSEC_POSTPONE_S,
    AofFile,
    AofLayout,
    FsyncRound,
    aof_layout,
    appendfsync_costs,
    appendfsync_round,
    bgrewriteaof,
    disk_usage,
    file_format,
    fsync_latencies,
    live_aof_layout,
    parse_manifest,
    wait_for_aof_rewrite,
    write_latencies,
)
from .backup import (
    Backup,
    Digest,
    RestoreResult,
    RetentionPlan,
    backup_rdb,
    backup_time,
    computed_digest,
    dataset_digest,
    debug_digest,
    restore_rdb,
    retention_plan,
    sha256_file,
    verify_backup,
)
from .crash import (
    CrashTrial,
    crash_table,
    crash_trial,
)
from .repair import (
    CheckReport,
    check_aof,
    check_rdb,
    corrupt_byte,
    corrupt_command,
    count_resp_commands,
    parse_check_aof,
    parse_check_rdb,
    resp_command_offsets,
    truncate_file,
)
from .rto import (
    FormatLoads,
    LineFit,
    LoadPrediction,
    LoadSample,
    RestartTiming,
    fit_line,
    format_load_times,
    measure_load_time,
    parse_load_seconds,
    predict_load_time,
    timed_restart,
)
from .snapshots import (
    PingTimeline,
    bgsave,
    fork_cost,
    fork_pairs,
    parse_save_points,
    persistence_label,
    ping_latencies_during,
    ping_timeline_during,
    save_point_due,
    snapshot_path,
    wait_for_bgsave,
)

__all__ = [
    "EVERYSEC_POSTPONE_S",
    "POPULATE_HASHES_LUA",
    "AofFile",
    "AofLayout",
    "Backup",
    "CheckReport",
    "CrashTrial",
    "Digest",
    "FormatLoads",
    "FsyncRound",
    "LineFit",
    "LoadPrediction",
    "LoadSample",
    "PersistenceError",
    "PingTimeline",
    "RestartTiming",
    "RestoreResult",
    "RetentionPlan",
    "ToolError",
    "aof_layout",
    "appendfsync_costs",
    "appendfsync_round",
    "backup_rdb",
    "backup_time",
    "bgrewriteaof",
    "bgsave",
    "builtin_defaults",
    "check_aof",
    "check_rdb",
    "computed_digest",
    "corrupt_byte",
    "corrupt_command",
    "count_resp_commands",
    "crash_table",
    "crash_trial",
    "dataset_digest",
    "debug_digest",
    "disk_usage",
    "file_format",
    "fit_line",
    "fork_cost",
    "fork_pairs",
    "format_load_times",
    "fsync_latencies",
    "live_aof_layout",
    "measure_load_time",
    "parse_check_aof",
    "parse_check_rdb",
    "parse_load_seconds",
    "parse_manifest",
    "parse_save_points",
    "persistence_config",
    "persistence_label",
    "ping_latencies_during",
    "ping_timeline_during",
    "populate_hashes",
    "populate_mixed",
    "predict_load_time",
    "resp_command_offsets",
    "restore_rdb",
    "retention_plan",
    "save_point_due",
    "sha256_file",
    "snapshot_path",
    "timed_restart",
    "truncate_file",
    "verify_backup",
    "wait_for_aof_rewrite",
    "wait_for_bgsave",
    "write_latencies",
]

# ---- issue 17 (notebook 08.04): disaster recovery across sites
from .recovery import (
    DrillResult,
    Site,
    apply_retention,
    consistent_backup,
    drill_table,
    lose_site,
    make_standby,
    paused_backup,
    plot_drill,
    recovery_drill,
    ship_backups,
    standby_lag,
    start_site,
)

__all__ += [
    "DrillResult",
    "Site",
    "apply_retention",
    "consistent_backup",
    "drill_table",
    "lose_site",
    "make_standby",
    "paused_backup",
    "plot_drill",
    "recovery_drill",
    "ship_backups",
    "standby_lag",
    "start_site",
]
