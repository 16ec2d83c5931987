"""Alert rules over sampled metrics, evaluated the way Prometheus evaluates them.

A rule is a condition on one node's sampled series (a boolean per sample) and a
duration: the alert is **pending** from the first sample where the condition holds,
**fires** once it has held for ``for_s`` seconds without a break, and is
**resolved** at the first sample where it no longer holds. That is Prometheus'
``for:`` clause (https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/).
A node that does not answer has no series: its rules stop holding (Prometheus
resolves an alert whose series vanished), and :func:`default_rules`' ``NodeDown``
fires instead.

Counter rules (evictions, rejected connections, slow commands) look at the increase
over a trailing ``window_s`` (PromQL ``increase(x[2s]) > 0``), so they fire on the
first increase and resolve ``window_s`` after the last one.

::

    alerts = evaluate(sampler.frame(), default_rules())
    alerts[["rule", "node", "fired_at_s", "resolved_at_s"]]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import MonitoringError, WaitTimeout
from ..kit import wait_until

if TYPE_CHECKING:
    from .sampler import Sampler

__all__ = [
    "AlertRule",
    "alerts_between",
    "default_rules",
    "evaluate",
    "plot_alerts",
    "wait_for_alert",
]

Condition = Callable[[pd.DataFrame], pd.Series]

_ALERT_COLUMNS = [
    "rule", "node", "severity", "state", "pending_at_s", "fired_at_s", "resolved_at_s",
    "firing_s", "summary",
]  # fmt: skip


@dataclass(frozen=True)
class AlertRule:
    """One alert rule: ``condition(frame) -> bool Series`` over one node's rows.

    ``frame`` is the node's part of a :meth:`Sampler.frame` (DatetimeIndex, columns
    such as ``memory_used_ratio``), rows where the node did not answer included
    (their metrics are NaN; a comparison with NaN is False). ``promql`` is the same
    rule written against redis_exporter's metrics, for a real stack.
    """

    name: str
    condition: Condition
    for_s: float = 0.0
    severity: str = "warning"
    summary: str = ""
    promql: str = ""


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    """A column, or all-NaN if this node never had it (a replica has no replicas)."""
    if name in frame:
        return pd.to_numeric(frame[name], errors="coerce")
    return pd.Series(np.nan, index=frame.index)


def _window_sum(frame: pd.DataFrame, name: str, window_s: float) -> pd.Series:
    """The sum of a per-sample increase column over a trailing time window."""
    col = _col(frame, name).fillna(0.0)
    return col.rolling(pd.Timedelta(seconds=window_s)).sum()


def default_rules(
    *,
    memory_ratio: float = 0.9,
    hit_ratio: float = 0.5,
    min_lookups_per_s: float = 50.0,
    lag_seconds: float = 2.0,
    fragmentation_ratio: float = 1.5,
    fragmentation_bytes: float = 32 * 2**20,
    min_used_bytes: float = 8 * 2**20,
    window_s: float = 2.0,
    for_s: float = 1.0,
) -> list[AlertRule]:
    """The rules the notebook trips one by one, with thresholds as keyword arguments.

    ============================ ======================================================
    ``NodeDown``                 the scrape failed (``redis_up == 0``) for ``for_s``
    ``MemoryHigh``               ``used_memory / maxmemory > memory_ratio`` for ``for_s``
    ``Evictions``                keys evicted in the last ``window_s``
    ``HitRatioLow``              hits / lookups over ``window_s`` below ``hit_ratio``
                                 while there are at least ``min_lookups_per_s``
    ``ReplicationLag``           a replica's last ACK older than ``lag_seconds``
    ``ReplicaMissing``           a primary has fewer replicas than it had before
    ``ReplicaLinkDown``          a replica's ``master_link_status`` is down for ``for_s``
    ``BlockedClients``           a client blocked (BLPOP...) for ``for_s``
    ``RejectedConnections``      connections refused (``maxclients``) in ``window_s``
    ``SlowCommands``             new SLOWLOG entries in the last ``window_s``
    ``Fragmentation``            ``mem_fragmentation_ratio`` (RSS / used) above
                                 ``fragmentation_ratio`` with more than
                                 ``fragmentation_bytes`` of RSS - used, on a server
                                 holding at least ``min_used_bytes``, for ``for_s``
    ============================ ======================================================

    ``Fragmentation`` reads ``mem_fragmentation_ratio``, the field every engine moves
    (jemalloc and libc builds alike; ``allocator_frag_ratio`` is jemalloc's view only,
    a constant 1.0 on a libc build). The ratio also counts the process's fixed
    overhead (code, libraries, allocator arenas: several MB), so on a near-empty
    server it reads 5x-30x without any fragmentation: ``min_used_bytes`` keeps such a
    server quiet, and ``fragmentation_bytes`` ignores a high ratio over a few MB.
    """
    w = f"{window_s:g}s"

    def hit_ratio_low(f: pd.DataFrame) -> pd.Series:
        hits = _window_sum(f, "keyspace_hits_increase", window_s)
        misses = _window_sum(f, "keyspace_misses_increase", window_s)
        lookups = hits + misses
        enough = lookups >= min_lookups_per_s * window_s
        return enough & (hits / lookups.where(lookups > 0) < hit_ratio)

    def replica_missing(f: pd.DataFrame) -> pd.Series:
        slaves = _col(f, "redis_connected_slaves")
        return slaves < slaves.cummax()

    return [
        AlertRule("NodeDown", lambda f: _col(f, "redis_up") == 0, for_s, "critical",
                  "the server does not answer", "redis_up == 0"),
        AlertRule("MemoryHigh", lambda f: _col(f, "memory_used_ratio") > memory_ratio, for_s,
                  "warning", f"used_memory above {memory_ratio:.0%} of maxmemory",
                  f"redis_memory_used_bytes / redis_memory_max_bytes > {memory_ratio}"),
        AlertRule("Evictions", lambda f: _window_sum(f, "evicted_keys_increase", window_s) > 0,
                  0.0, "warning", "keys are being evicted",
                  f"increase(redis_evicted_keys_total[{w}]) > 0"),
        AlertRule("HitRatioLow", hit_ratio_low, 0.0, "warning",
                  f"fewer than {hit_ratio:.0%} of lookups hit",
                  f"rate(redis_keyspace_hits_total[{w}]) / (rate(redis_keyspace_hits_total[{w}])"
                  f" + rate(redis_keyspace_misses_total[{w}])) < {hit_ratio}"),
        AlertRule("ReplicationLag",
                  lambda f: _col(f, "redis_connected_slave_lag_seconds") > lag_seconds, 0.0,
                  "warning", f"a replica has not acknowledged for over {lag_seconds:g} s",
                  f"max(redis_connected_slave_lag_seconds) > {lag_seconds}"),
        AlertRule("ReplicaMissing", replica_missing, 0.0, "critical",
                  "a primary lost a replica",
                  "redis_connected_slaves < max_over_time(redis_connected_slaves[1h])"),
        AlertRule("ReplicaLinkDown", lambda f: _col(f, "redis_master_link_up") == 0, for_s,
                  "critical", "a replica lost its link to the primary",
                  "redis_master_link_up == 0"),
        AlertRule("BlockedClients", lambda f: _col(f, "redis_blocked_clients") > 0, for_s,
                  "info", "clients wait in blocking commands", "redis_blocked_clients > 0"),
        AlertRule("RejectedConnections",
                  lambda f: _window_sum(f, "rejected_connections_increase", window_s) > 0, 0.0,
                  "critical", "connections refused (maxclients reached)",
                  f"increase(redis_rejected_connections_total[{w}]) > 0"),
        AlertRule("SlowCommands",
                  lambda f: _window_sum(f, "slowlog_entries_increase", window_s) > 0, 0.0,
                  "warning", "commands slower than slowlog-log-slower-than",
                  f"increase(redis_slowlog_last_id[{w}]) > 0"),
        AlertRule("Fragmentation",
                  lambda f: (_col(f, "redis_mem_fragmentation_ratio") > fragmentation_ratio)
                  & (_col(f, "redis_mem_fragmentation_bytes") > fragmentation_bytes)
                  & (_col(f, "redis_memory_used_bytes") >= min_used_bytes),
                  for_s, "warning", "memory fragmentation is high",
                  f"redis_mem_fragmentation_ratio > {fragmentation_ratio} and "
                  f"redis_mem_fragmentation_bytes > {fragmentation_bytes:.0f} and "
                  f"redis_memory_used_bytes >= {min_used_bytes:.0f}"),
    ]  # fmt: skip


def _episodes(
    held: pd.Series, elapsed: pd.Series, for_s: float
) -> Iterable[tuple[float, float, float | None]]:
    """(pending_at, fired_at, resolved_at) for every stretch that fired."""
    pending: float | None = None
    fired: float | None = None
    for ok, t in zip(held.to_numpy(), elapsed.to_numpy(), strict=True):
        if bool(ok):
            if pending is None:
                pending = t
            if fired is None and t - pending >= for_s - 1e-9:
                fired = t
        else:
            if fired is not None:
                yield pending, fired, t
            pending = fired = None
    if fired is not None:
        yield pending, fired, None


def evaluate(frame: pd.DataFrame, rules: Sequence[AlertRule] | None = None) -> pd.DataFrame:
    """Every alert that fired in ``frame`` (a :meth:`Sampler.frame`), oldest first.

    Columns: ``rule``, ``node``, ``severity``, ``state`` (``firing`` or ``resolved``),
    ``pending_at_s``, ``fired_at_s``, ``resolved_at_s`` (seconds on the sampler's
    clock, ``elapsed_s``; NaN while still firing), ``firing_s``, ``summary``.
    """
    rules = list(rules) if rules is not None else default_rules()
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise MonitoringError(f"alert rule names must be unique: {names}")
    rows = []
    if frame.empty or "node" not in frame:
        return pd.DataFrame(columns=_ALERT_COLUMNS)
    for node, part in frame.groupby("node", sort=False):
        for rule in rules:
            held = rule.condition(part).fillna(False).astype(bool)
            for pending, fired, resolved in _episodes(held, part["elapsed_s"], rule.for_s):
                rows.append(
                    {
                        "rule": rule.name,
                        "node": node,
                        "severity": rule.severity,
                        "state": "firing" if resolved is None else "resolved",
                        "pending_at_s": pending,
                        "fired_at_s": fired,
                        "resolved_at_s": np.nan if resolved is None else resolved,
                        "firing_s": np.nan if resolved is None else resolved - fired,
                        "summary": rule.summary,
                    }
                )
    out = pd.DataFrame(rows, columns=_ALERT_COLUMNS)
    return out.sort_values(["fired_at_s", "rule", "node"], ignore_index=True)


def alerts_between(alerts: pd.DataFrame, start_s: float, end_s: float) -> set[tuple[str, str]]:
    """The ``(rule, node)`` pairs that fired between ``start_s`` and ``end_s`` (elapsed s)."""
    hit = alerts[(alerts["fired_at_s"] >= start_s) & (alerts["fired_at_s"] <= end_s)]
    return set(zip(hit["rule"], hit["node"], strict=True))


def wait_for_alert(
    sampler: Sampler,
    rule: AlertRule,
    *,
    state: str = "firing",
    nodes: Sequence[str] | None = None,
    since_s: float | None = None,
    timeout: float = 10.0,
    interval: float = 0.2,
) -> float | None:
    """Wait until ``rule`` is ``state`` on every node of a running ``sampler``.

    ``state="firing"``: each node's latest episode of the rule fires now;
    ``"resolved"``: each node had one and it has resolved (none firing). With
    ``since_s`` (sampler seconds, e.g. a :meth:`Sampler.window`'s ``start_s``) only
    episodes that became pending since then count, so an old episode of the rule
    that resolved long ago does not end the wait before the new one starts. The rule is
    evaluated on :meth:`Sampler.frame` every ``interval`` s, so the wait adapts to how
    fast the servers (and a loaded machine) get there. Returns the seconds waited, or
    ``None`` after ``timeout`` (the caller's claim then shows what was reached).
    """
    if state not in ("firing", "resolved"):
        raise MonitoringError(f"state must be 'firing' or 'resolved', not {state!r}")
    wanted = list(nodes) if nodes is not None else sampler.nodes

    def reached() -> bool:
        alerts = evaluate(sampler.frame(), [rule])
        if since_s is not None:
            alerts = alerts[alerts["pending_at_s"] >= since_s]
        last = alerts.groupby("node")["state"].last() if len(alerts) else pd.Series(dtype=object)
        return all(last.get(n) == state for n in wanted)

    try:
        return wait_until(reached, timeout=timeout, interval=interval, what=f"{rule.name} {state}")
    except WaitTimeout:
        return None


def plot_alerts(
    alerts: pd.DataFrame,
    windows: pd.DataFrame | None = None,
    *,
    end_s: float | None = None,
    ax: Any = None,
) -> object:
    """A timeline: one bar per alert (fired -> resolved), fault windows shaded behind."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 0.4 * max(4, len(alerts)) + 1))
    end = end_s if end_s is not None else float(alerts["fired_at_s"].max() if len(alerts) else 1)
    labels = [f"{r} @ {n}" for r, n in zip(alerts["rule"], alerts["node"], strict=True)]
    for y, row in enumerate(alerts.itertuples()):
        stop = row.resolved_at_s if not np.isnan(row.resolved_at_s) else end
        ax.plot([row.pending_at_s, row.fired_at_s], [y, y], color="orange", lw=3, alpha=0.5)
        ax.plot([row.fired_at_s, stop], [y, y], color="crimson", lw=6)
    if windows is not None:
        for i, (name, w) in enumerate(windows.iterrows()):
            ax.axvspan(w["start_s"], w["end_s"], color=f"C{i % 10}", alpha=0.12)
            ax.text(w["start_s"], len(alerts) - 0.4, str(name), fontsize=7, rotation=30)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds (pending: orange, firing: red)")
    return ax
