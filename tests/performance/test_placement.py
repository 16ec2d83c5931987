"""What cluster nodes answer outside a scaling plan: MOVED, and READONLY on a replica."""

from __future__ import annotations

from redislab.performance import Workload, replica_reads, wrong_node_replies

WORKLOAD = Workload(n_keys=2_000, value_size=24, seed=7)


def test_a_node_redirects_keys_it_does_not_serve(cluster_lab):
    WORKLOAD.load(cluster_lab.client())
    wrong = wrong_node_replies(cluster_lab, WORKLOAD, n=10)
    assert wrong["sent"] == 10 and wrong["moved"] == 10 and wrong["values"] == 0
    replica = replica_reads(cluster_lab, WORKLOAD)
    assert replica["before"].startswith("MovedError") and replica["after"] == replica["expected"]
