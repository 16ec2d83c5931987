"""Alert rules tripped by real faults; the Prometheus ``for`` semantics."""

from __future__ import annotations

import time

from redislab.monitoring import (
    DRILL_INTENDED,
    Sampler,
    alerts_between,
    default_rules,
    evaluate,
    wait_for_alert,
)
from redislab.monitoring import faults as F


def _run(lab, steps, interval=0.1):
    s = Sampler(lab, interval=interval)
    marks = []
    with s:
        time.sleep(0.3)
        for step in steps:
            start = time.time() - s._t0
            step()
            marks.append((start, time.time() - s._t0))
    return s.frame(), marks


def test_each_fault_trips_its_rule_and_it_resolves(lab_factory):
    # a loaded shared machine can stretch a single write past the default 10 ms slow-log
    # threshold: a real slow-log entry, but not one of these faults
    lab = lab_factory("standalone", config={"slowlog-log-slower-than": 100_000})
    r = lab.primary.client()

    def memory():
        r.config_set("maxmemory", "8mb")
        r.config_set("maxmemory-policy", "allkeys-lru")
        F.fill_memory(r, fraction=1.5)
        time.sleep(1.3)
        r.flushall(asynchronous=True)
        r.config_set("maxmemory", 0)
        time.sleep(2.3)

    def blocked():
        with F.blocked_client(r, seconds=1.6):
            pass
        time.sleep(0.4)

    def maxclients():
        assert F.exceed_maxclients(r) > 0
        time.sleep(2.3)

    frame, marks = _run(lab, [memory, blocked, maxclients])
    alerts = evaluate(frame, default_rules())
    assert alerts_between(alerts, *marks[0]) == {
        ("MemoryHigh", "primary"),
        ("Evictions", "primary"),
    }
    assert alerts_between(alerts, *marks[1]) == {("BlockedClients", "primary")}
    assert alerts_between(alerts, *marks[2]) == {("RejectedConnections", "primary")}
    assert (alerts["state"] == "resolved").all()


def test_for_duration_suppresses_short_spikes(lab_factory):
    lab = lab_factory("standalone")
    r = lab.primary.client()

    def short_block():
        with F.blocked_client(r, seconds=0.3):
            pass
        time.sleep(0.3)

    frame, _ = _run(lab, [short_block], interval=0.05)
    assert (frame["redis_blocked_clients"] > 0).any(), "the client was seen blocked"
    rules = [rule for rule in default_rules(for_s=1.0) if rule.name == "BlockedClients"]
    assert evaluate(frame, rules).empty
    rules0 = [rule for rule in default_rules(for_s=0.0) if rule.name == "BlockedClients"]
    assert len(evaluate(frame, rules0)) == 1


def test_fragmentation_fires_after_a_mass_delete_and_resolves_after_a_refill(lab_factory):
    lab = lab_factory("standalone", config={"slowlog-log-slower-than": 100_000})
    r = lab.primary.client()
    rule = next(x for x in default_rules(for_s=0.5) if x.name == "Fragmentation")
    s = Sampler(lab, interval=0.1)
    with s:
        time.sleep(1.0)  # near-empty: a high ratio (fixed overhead / little data), no alert
        empty = s.frame()
        F.fragment_memory(r, seed=1)
        fired = wait_for_alert(s, rule, state="firing", timeout=20)
        F.refill_memory(r, seed=1)
        resolved = wait_for_alert(s, rule, state="resolved", timeout=20)
    assert (empty["redis_mem_fragmentation_ratio"] > 1.5).all(), "an empty server reads high"
    assert evaluate(empty, [rule]).empty
    assert fired is not None and resolved is not None
    frame = s.frame()
    alerts = evaluate(frame, [rule])
    assert list(alerts["state"]) == ["resolved"]
    at_fire = frame[frame["elapsed_s"] >= alerts["fired_at_s"].iloc[0]].iloc[0]
    assert at_fire["redis_mem_fragmentation_ratio"] > 1.5
    # the refill reused the freed memory: the ratio fell from where it fired (on a loaded
    # machine it can settle just above 1.5 while the fragmented bytes drop under the
    # rule's floor: the rule, not the ratio alone, resolves it)
    at_resolve = frame[frame["elapsed_s"] >= alerts["resolved_at_s"].iloc[0]].iloc[0]
    ratio = "redis_mem_fragmentation_ratio"
    assert at_resolve[ratio] < at_fire[ratio] - 0.2, (at_fire[ratio], at_resolve[ratio])
    assert r.dbsize() == 150_000


def test_the_drill_trips_every_default_rule_but_the_link_rule():
    tripped = {rule for intended in DRILL_INTENDED.values() for rule, _ in intended}
    names = {r.name for r in default_rules()}
    assert tripped <= names
    assert names - tripped == {"ReplicaLinkDown"}  # it needs a dead primary (05.02)
