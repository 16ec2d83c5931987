"""Lab start-up and failover speed, with the naive way measured in the same run.

Prints medians of several runs per topology, the naive bootstrap for comparison
(replicas with `replicaof` in their config, sentinels with only `sentinel monitor`,
`redis-cli --cluster create` + `add-node`), the ratios, and failover times until
the new primary takes a write. Targets (2 cores): standalone <= 0.15 s, replicated
<= 0.15 s, sentinel <= 0.5 s, cluster <= 2.5 s; sentinel failover <= 3.5 s,
cluster failover <= 3 s.

    python benchmarks/bench_startup.py [--runs 5] [--server system|redis8|valkey]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time

import redis
from redis.cluster import RedisCluster

from redislab import Lab, find_server

TARGETS = {"standalone": 0.15, "replicated": 0.15, "sentinel": 0.5, "cluster": 2.5}
FAILOVER_TARGETS = {"sentinel": 3.5, "cluster": 3.0}


def time_start(topology: str, bootstrap: str, server: str | None) -> float:
    t0 = time.perf_counter()
    lab = Lab.start(topology, server=server, bootstrap=bootstrap)
    elapsed = time.perf_counter() - t0
    lab.stop()
    return elapsed


def sentinel_failover(server: str | None) -> float:
    with Lab.start("sentinel", server=server) as lab:
        sentinel = lab.sentinel_client(socket_timeout=0.2)
        lab.primary.kill()
        t0 = time.perf_counter()
        while True:
            try:
                sentinel.master_for(lab.master_name, socket_timeout=0.2).set("probe", 1)
                break
            except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
                time.sleep(0.02)
            except redis.ResponseError:
                time.sleep(0.02)
        return time.perf_counter() - t0


def cluster_failover(server: str | None) -> float:
    with Lab.start("cluster", server=server) as lab:
        victim = lab.node("primary-1")  # owns slots 0-5460: probe with a key that lives there
        rc: RedisCluster = lab.client(socket_timeout=0.3)
        key = next(f"k{i}" for i in range(10_000) if rc.keyslot(f"k{i}") <= 5460)
        rc.set(key, 0)
        victim.kill()
        t0 = time.perf_counter()
        while True:
            try:
                rc.set(key, 1)
                break
            except Exception:
                time.sleep(0.02)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--server", default=None)
    args = ap.parse_args()
    info = find_server(args.server)
    print(f"server: {info.label} ({info.path})\n")
    have_cli = shutil.which("redis-cli") is not None
    print(
        f"{'topology':<11} {'fast (s)':>9} {'target':>7} {'ok':>3} "
        f"{'naive (s)':>10} {'naive/fast':>11}"
    )
    for topo, target in TARGETS.items():
        runs = args.runs if topo != "cluster" else max(3, args.runs // 2)
        fast = statistics.median(time_start(topo, "fast", args.server) for _ in range(runs))
        naive_runs = 1 if topo in ("sentinel", "cluster") else runs
        if topo == "cluster" and not have_cli:
            naive_s, ratio = "n/a", "n/a"
        else:
            naive = statistics.median(
                time_start(topo, "naive", args.server) for _ in range(naive_runs)
            )
            naive_s, ratio = f"{naive:.3f}", f"{naive / fast:.1f}x"
        ok = "yes" if fast <= target else "NO"
        print(f"{topo:<11} {fast:>9.3f} {target:>7.2f} {ok:>3} {naive_s:>10} {ratio:>11}")
    print()
    print(f"{'failover':<11} {'median (s)':>10} {'runs':>20} {'target':>7} {'ok':>3}")
    for name, fn in (("sentinel", sentinel_failover), ("cluster", cluster_failover)):
        times = [fn(args.server) for _ in range(3)]
        med = statistics.median(times)
        ok = "yes" if med <= FAILOVER_TARGETS[name] else "NO"
        runs = " ".join(f"{t:.2f}" for t in times)
        print(f"{name:<11} {med:>10.2f} {runs:>20} {FAILOVER_TARGETS[name]:>7.1f} {ok:>3}")


if __name__ == "__main__":
    main()
