"""A cluster primary killed under load (redislab.cluster.failover). Slow."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest

from redislab import cluster as C
from redislab import kit
from redislab.cluster.hashing import key_slot


@pytest.mark.slow
@pytest.mark.cluster
def test_cluster_failover_with_and_without_retries(lab_factory) -> None:
    lab = lab_factory("cluster")
    plain = C.cluster_failover(lab, victim=lab.node("primary-1"), rate=200, before=0.3, after=0.2)
    ev = plain.timeline.events
    assert ev["fault"] < ev["FAIL"] <= ev["promoted"] <= ev["cluster ok"]
    assert 1.0 <= plain.interval("fault", "promoted") <= 5.0
    s = plain.summary().iloc[0]
    assert s["failed_after_fault"] > 0 and plain.lost_count(plain.summary().index[0]) == 0
    # the outage figures count only the victim's slots
    recs = plain.records
    affected = plain.keys_filter(recs["key"]).to_numpy()
    assert plain.details["victim_slots"] == 5461  # primary-1 serves slots 0-5460
    assert affected.any() and (~affected).any()
    assert all(key_slot(k) < 5461 for k in recs.loc[affected, "key"])

    retried = C.cluster_failover(
        lab,
        victim=lab.node("primary-2"),
        rate=200,
        retry=kit.backoff_retry(),
        before=0.3,
        after=0.2,
    )
    assert retried.summary()["failed"].sum() == 0
    assert retried.lost_count("with retry") == 0
