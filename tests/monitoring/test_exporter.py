"""The Prometheus exposition: redis_exporter names, parseable text, labels per node."""

from __future__ import annotations

from redislab.keys import MONITORING, key
from redislab.monitoring import Sampler, exposition, parse_exposition, write_exposition


def test_exposition_of_one_server_uses_redis_exporter_names(standalone_lab, tmp_path):
    r = standalone_lab.primary.client()
    r.flushall()
    for i in range(7):
        r.set(key(MONITORING, "exp", i), i)
    text = exposition(r)
    assert "# TYPE redis_commands_processed_total counter" in text
    values = parse_exposition(text)
    assert values["redis_up"] == 1.0
    assert values['redis_db_keys{db="db0"}'] == 7.0
    assert values["redis_connected_clients"] >= 1
    assert values["redis_memory_used_bytes"] > 0
    path = write_exposition(r, tmp_path / "redis.prom")
    assert "redis_uptime_in_seconds" in path.read_text()


def test_exposition_of_a_lab_labels_nodes_and_replicas(replicated_lab):
    s = Sampler(replicated_lab, interval=0.1)
    s.sample_once()
    values = parse_exposition(exposition(s))
    assert values['redis_up{node="primary"}'] == 1.0
    assert values['redis_connected_slaves{node="primary"}'] == 2.0
    lags = [k for k in values if k.startswith("redis_connected_slave_lag_seconds")]
    assert len(lags) == 2
    links = [k for k in values if k.startswith("redis_master_link_up")]
    assert len(links) == 2 and all(values[k] == 1.0 for k in links)
