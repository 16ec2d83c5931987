"""Scaling out: one read workload against a standalone server, replicas and the cluster.

The same seeded, read-only workload (pipelined ``GET`` of preloaded keys, every reply
checked against the value that was written) is driven by N client **processes**
(one interpreter lock each, so Python's GIL does not cap the client at one core)
against one of several *plans*:

- ``standalone``: one server takes every read;
- ``replicas``: a primary and its replicas take turns (replicas answer reads by default:
  ``replica-read-only yes``);
- ``cluster``: every key is read from the primary that owns its hash slot (from
  ``CLUSTER SLOTS`` and ``CLUSTER KEYSLOT``, asked of the servers), through a plain
  client per node;
- ``cluster + replicas``: the same, with each shard's replica taking turns with its
  primary after ``READONLY``.

What each server did is read from the server itself: its ``INFO commandstats`` GET
calls and its ``INFO cpu`` time (``used_cpu_user + used_cpu_sys``) before and after the
run, beside what the clients say they sent and how much CPU the client processes used.
On a machine with 2 cores the client processes and every server share those cores, so
scaling out cannot multiply throughput here; the CPU columns show where it went.

- :mod:`.plans`: the :class:`~.plans.Workload` and the plans (which nodes take which keys);
- :mod:`.processes`: :class:`~.processes.ClientProcesses`, N worker processes, started
  once and reused, stopped on exit;
- :mod:`.placement`: where the keys live, and what servers answer outside the plan;
- here: :func:`scale_out`, every plan for a few interleaved rounds -> :class:`ScalingRuns`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import PerformanceError
from ..kit.measure import progress
from .plans import Plan, Workload
from .processes import ClientProcesses

__all__ = ["ScalingRuns", "scale_out"]


# ------------------------------------------------------------------ the experiment
@dataclass
class ScalingRuns:
    """What :func:`scale_out` measured.

    ``runs``: one row per (round, plan): ``gets_per_s`` (the servers' GET count over
    the wall time), ``client_gets``, ``server_cpu_s``, ``client_cpu_s``, ``cores_busy``
    ((server + client CPU) / wall), ``errors``, ``mismatches``.
    ``nodes``: one row per (round, plan, node): ``role``, ``sent`` (what the clients
    say they sent it), ``gets`` (what the server counted), ``cpu_s``, ``errors``,
    ``mismatches``.
    """

    runs: pd.DataFrame
    nodes: pd.DataFrame
    processes: int
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)

    def summary(self) -> pd.DataFrame:
        """Per plan: medians over rounds of the rates, sums of the counts."""
        g = self.runs.groupby("plan", sort=False)
        out = g[["gets_per_s", "cores_busy", "server_cpu_share"]].median()
        out["server_us_per_get"] = g["server_cpu_s"].sum() / g["server_gets"].sum() * 1e6
        out["client_us_per_get"] = g["client_cpu_s"].sum() / g["server_gets"].sum() * 1e6
        out[["errors", "mismatches"]] = g[["errors", "mismatches"]].sum()
        out.insert(0, "nodes", g["nodes"].first())
        return out

    def per_node(self) -> pd.DataFrame:
        """Per (plan, node): counts summed over rounds, each node's share of the GETs,
        and its CPU as a fraction of the wall time (1.0 = one core the whole run)."""
        g = self.nodes.groupby(["plan", "node"], sort=False)
        out = g[["sent", "gets", "cpu_s", "seconds", "errors", "mismatches"]].sum()
        out.insert(0, "role", g["role"].first())
        out["share"] = out["gets"] / out.groupby(level="plan")["gets"].transform("sum")
        out["cpu_per_wall"] = out["cpu_s"] / out["seconds"]
        return out.drop(columns="seconds")

    def limits(self) -> pd.DataFrame:
        """Per plan: what the CPU says limited the run, and the figures behind it.

        ``busiest_server`` is the busiest server's CPU over wall time (1.0: its main
        thread never rested), ``clients_per_process`` the same for an average client
        process, ``cores_busy`` all of them together against ``cores``. The label is
        read from those, in this order: a server thread near one core; the machine's
        cores near full; client processes near one core each; else CPU the run did not
        get (other load on a shared machine).
        """
        nodes = self.per_node()
        runs = self.runs.groupby("plan", sort=False)
        seconds = runs["seconds"].sum()
        out = pd.DataFrame(
            {
                "busiest_server": nodes.groupby(level="plan", sort=False)["cpu_per_wall"].max(),
                "clients_per_process": runs["client_cpu_s"].sum() / seconds / self.processes,
                "cores_busy": (runs["client_cpu_s"].sum() + runs["server_cpu_s"].sum()) / seconds,
            }
        )
        out["cores"] = self.cores

        def label(row: pd.Series) -> str:
            if row["busiest_server"] >= 0.9:
                return "one server's main thread (a core)"
            if row["cores_busy"] >= 0.85 * row["cores"]:
                return f"the machine's {row['cores']} cores, shared by clients and servers"
            if row["clients_per_process"] >= 0.8:
                return "the Python client processes (a core each)"
            return "CPU the run did not get (other processes on the machine)"

        out["limited_by"] = out.apply(label, axis=1)
        return out


def scale_out(
    clients: ClientProcesses,
    plans: Sequence[Plan],
    workload: Workload,
    *,
    duration: float = 1.5,
    rounds: int = 2,
    batch: int = 50,
    seed: int = 0,
    show_progress: bool = True,
) -> ScalingRuns:
    """Run every plan ``rounds`` times (order reversed every other round) -> :class:`ScalingRuns`.

    Interleaving puts the plans' runs moments apart in every round, so a slow phase of
    a shared machine hits them alike.
    """
    if not plans or rounds <= 0:
        raise PerformanceError("scale_out needs at least one plan and one round")
    names = [p.name for p in plans]
    if len(set(names)) != len(names):
        raise PerformanceError(f"plan names must differ: {names}")
    run_rows: list[dict[str, Any]] = []
    node_rows: list[dict[str, Any]] = []
    bar = progress(total=rounds * len(plans), desc="scaling runs", enabled=show_progress)
    for rnd in range(rounds):
        for plan in plans if rnd % 2 == 0 else plans[::-1]:
            res = clients.run(plan, workload, duration=duration, batch=batch, seed=seed + rnd)
            run_rows.append(_run_row(rnd, plan, res))
            node_rows.extend(_node_rows(rnd, plan, res))
            bar.update(1)
    bar.close()
    return ScalingRuns(pd.DataFrame(run_rows), pd.DataFrame(node_rows), clients.processes)


def _sum(reports: Sequence[Mapping[str, Any]], field_name: str, node: str | None = None) -> int:
    if node is None:
        return sum(sum(r[field_name].values()) for r in reports)
    return sum(r[field_name].get(node, 0) for r in reports)


def _run_row(rnd: int, plan: Plan, res: Mapping[str, Any]) -> dict[str, Any]:
    reports, servers, seconds = res["clients"], res["servers"], res["seconds"]
    server_cpu = sum(s["cpu_s"] for s in servers.values())
    client_cpu = sum(r["cpu_s"] for r in reports)
    server_gets = sum(s["gets"] for s in servers.values())
    busy = server_cpu + client_cpu
    return {
        "round": rnd,
        "plan": plan.name,
        "nodes": len(plan.endpoints),
        "seconds": seconds,
        "server_gets": server_gets,
        "client_gets": _sum(reports, "sent"),
        "gets_per_s": server_gets / seconds,
        "server_cpu_s": server_cpu,
        "client_cpu_s": client_cpu,
        "cores_busy": busy / seconds,
        "server_cpu_share": server_cpu / busy if busy else float("nan"),
        "errors": _sum(reports, "errors"),
        "mismatches": _sum(reports, "mismatches"),
        "first_error": next((r["first_error"] for r in reports if r["first_error"]), ""),
    }


def _node_rows(rnd: int, plan: Plan, res: Mapping[str, Any]) -> list[dict[str, Any]]:
    reports, servers = res["clients"], res["servers"]
    return [
        {
            "round": rnd,
            "plan": plan.name,
            "node": ep.name,
            "role": ep.role,
            "sent": _sum(reports, "sent", ep.name),
            "gets": int(servers[ep.name]["gets"]),
            "cpu_s": servers[ep.name]["cpu_s"],
            "seconds": res["seconds"],
            "errors": _sum(reports, "errors", ep.name),
            "mismatches": _sum(reports, "mismatches", ep.name),
        }
        for ep in plan.endpoints
    ]
