"""The Sampler against real labs: rates, counter resets, gaps, clean stop, clusters."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from redislab.keys import MONITORING, key
from redislab.kit import wait_until
from redislab.monitoring import MonitoringError, Sampler
from redislab.monitoring.faults import write_load


def _redislab_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("redislab-sampler")]


def test_sampler_rates_follow_a_known_load_and_stop_cleanly(standalone_lab):
    r = standalone_lab.primary.client()
    with Sampler(connection=r, interval=0.1) as s:
        wait_until(lambda: len(s.frame(rates=False)) >= 1, timeout=5, what="a first scrape")
        written = write_load(r, seconds=1.0, rate=2000)
    assert not s.running and not _redislab_threads()
    s.sample_once()  # a last scrape after the last write
    f = s.frame()
    assert f.index.is_monotonic_increasing and str(f.index.tz) == "UTC"
    assert len(f) >= 5
    assert (f["redis_up"] == 1).all()
    # the load's SETs are counted by the server: the sum of the increases covers them
    assert f["commands_processed_increase"].sum() >= written
    assert (f["ops_per_sec"].dropna() >= 0).all()


def test_counter_reset_is_not_a_negative_rate(standalone_lab):
    r = standalone_lab.primary.client()
    with Sampler(connection=r, interval=0.05) as s:
        write_load(r, seconds=0.3)
        r.config_resetstat()  # counters drop to zero without a restart
        write_load(r, seconds=0.3)
    f = s.frame()
    raw = f["redis_commands_processed_total"].dropna()
    assert (raw.diff() < 0).any(), "the reset happened while sampled"
    assert (f["ops_per_sec"].dropna() >= 0).all()


def test_restart_and_a_dead_node_are_gaps_not_exceptions(lab_factory):
    lab = lab_factory("standalone")
    with Sampler(lab, interval=0.05) as s:
        time.sleep(0.2)
        lab.primary.kill()
        time.sleep(0.3)
        lab.primary.restart()
        time.sleep(0.3)
    f = s.frame()
    assert (f["redis_up"] == 0).sum() >= 2
    assert f.loc[f["redis_up"] == 0, "redis_commands_processed_total"].isna().all()
    assert f["run_id"].dropna().nunique() == 2
    assert (f["ops_per_sec"].dropna() >= 0).all()
    assert f["redis_up"].iloc[-1] == 1


def test_paused_node_costs_one_timeout_per_tick(lab_factory):
    lab = lab_factory("standalone")
    s = Sampler(lab, interval=0.05, timeout=0.1).start()
    lab.primary.pause()
    time.sleep(0.6)
    lab.primary.resume()
    time.sleep(0.2)
    t0 = time.perf_counter()
    s.stop()
    assert time.perf_counter() - t0 < 2.0
    f = s.frame()
    assert (f["redis_up"] == 0).sum() >= 2 and f["redis_up"].iloc[-1] == 1


def test_cluster_client_is_sampled_per_node(cluster_lab):
    c = cluster_lab.client()
    for i in range(100):
        c.set(key(MONITORING, "c", i), i)
    with Sampler(connection=c, interval=0.1) as s:
        time.sleep(0.35)
    f = s.frame()
    assert set(f["node"]) == {f"{n.host}:{n.port}" for n in cluster_lab.data_nodes}
    primaries = f[f["role"] == "master"].groupby("node")["redis_db_keys"].last()
    assert primaries.sum() == 100


def test_url_and_wide(standalone_lab):
    n = standalone_lab.primary
    s = Sampler(f"redis://{n.host}:{n.port}", interval=0.1)
    s.sample_once()
    s.sample_once()
    w = s.wide("redis_connected_clients")
    assert w.shape == (2, 1) and np.isfinite(w.to_numpy()).all()


def test_bad_input_is_a_typed_error():
    with pytest.raises(MonitoringError):
        Sampler(connection=42)
    with pytest.raises(MonitoringError):
        Sampler(connection="redis://localhost:1", interval=0)
