"""Client processes: started once, reused, reported when they fail, always stopped."""

from __future__ import annotations

import psutil
import pytest

from redislab.errors import ClientProcessError, PerformanceError
from redislab.performance import (
    ClientProcesses,
    Endpoint,
    Plan,
    Workload,
    server_counters,
    standalone_plan,
)

WORKLOAD = Workload(n_keys=2_000, value_size=24, seed=7)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_server_counters_count_gets(standalone_lab):
    r = standalone_lab.primary.client()
    before = server_counters(r)
    for _ in range(25):
        r.get("redislab:perf:scale:none")
    after = server_counters(r)
    assert after["gets"] - before["gets"] == 25
    assert after["commands"] - before["commands"] >= 25


def test_a_failing_worker_is_reported_and_every_process_stops(standalone_lab):
    dead = Plan("nobody listens", ((Endpoint("gone", "127.0.0.1", 1),),))
    with ClientProcesses(2) as pool:
        pids = pool.pids
        with pytest.raises(ClientProcessError, match="failed"):
            pool.run(
                dead, WORKLOAD, duration=0.2
            )  # default timeout: spawned imports are slow under load
        with pytest.raises(ClientProcessError, match="cannot run"):
            pool.run(standalone_plan(standalone_lab), WORKLOAD, duration=0.2)
    assert len(pids) == 2 and not any(_alive(p) for p in pids)
    with pytest.raises(PerformanceError):
        ClientProcesses(0)
