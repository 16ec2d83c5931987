"""The memory sampler and its alerts."""

from __future__ import annotations

from redislab.kit.workload import ZipfWorkload
from redislab.memory import Alert, MemorySampler, data_cost, run_policy


def test_sampler_fires_eviction_alert(r):
    wl = ZipfWorkload(2000, seed=1)
    cost = data_cost(r, 2000)  # first: it leaves the server's own overhead where it stays
    limit = int(r.info("memory")["used_memory"]) + cost // 5
    with MemorySampler(r, interval=0.05) as s:
        run_policy(r, "allkeys-lru", wl, maxmemory=limit, ops=8000, ttl=None)
    assert len(s.samples) > 0
    assert "keys evicted in the interval" in set(s.fired.alert)


def test_custom_alert_never_fires(r):
    with MemorySampler(r, interval=0.05, alerts=[Alert("never", lambda row: False)]) as s:
        r.set("k", "v")
        import time

        time.sleep(0.2)
    assert s.fired.empty and len(s.samples) >= 1
