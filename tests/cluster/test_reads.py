"""Reads from cluster replicas (redislab.cluster.reads) against a real cluster lab."""

from __future__ import annotations

from redislab import cluster as C
from redislab.kit.timeline import no_retry


def _keys(lab, n=120):
    rc = lab.client()
    keys = [f"redislab:routing:read:{i}" for i in range(n)]
    for k in keys:
        rc.set(k, "v")
    rc.close()
    return keys


def test_strategies_decide_which_nodes_serve_reads(cluster_lab) -> None:
    keys = _keys(cluster_lab)
    strategies = C.read_strategies()
    assert strategies[0] is None and len(strategies) >= 2
    default = C.cluster_read_distribution(cluster_lab, keys, None)
    by_role = default.groupby("role")["gets"].sum()
    assert by_role["primary"] == len(keys) and by_role["replica"] == 0
    replicas_only = [s for s in strategies[1:] if "REPLICA" in str(s).upper()]
    if replicas_only:
        df = C.cluster_read_distribution(cluster_lab, keys, replicas_only[0])
        by_role = df.groupby("role")["gets"].sum()
        # every replica is in CLUSTER SLOTS before the client is made (wait_replicas_listed)
        assert by_role["replica"] == len(keys) and by_role["primary"] == 0


def test_a_replica_redirects_until_readonly(cluster_lab) -> None:
    keys = _keys(cluster_lab, 50)
    replica = next(n for n in cluster_lab.data_nodes if n.current_role() == "replica")
    out = C.replica_get_without_readonly(replica, keys)
    assert out["before"].startswith("MovedError") and out["after"] == "v" and not out["after_error"]
    c = replica.client(retry=no_retry())
    assert int(c.execute_command("CLUSTER KEYSLOT", out["key"])) == out["slot"]
    c.close()
