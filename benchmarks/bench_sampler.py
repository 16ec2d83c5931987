"""What sampling costs the server: throughput with and without a 10 Hz Sampler, same run.

Target (issue 14): the sampler at 10 Hz costs the server < 2% of its throughput under a
saturating pipelined load.

A saturating load: ``--clients`` threads, each sending pipelines of ``--batch`` SETs as
fast as the server answers, for ``--seconds`` per round. Rounds alternate without / with a
``Sampler(interval=0.1)`` scraping the same server (the order flips every round), and the
server's own counter (``total_commands_processed``) gives the throughput, so client-side
noise does not count. The script prints median throughputs and the median of the
per-round ratios. Exit status 1 with ``--strict`` if the target is missed.

    python benchmarks/bench_sampler.py [--rounds 11] [--seconds 1.0] [--strict]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import numpy as np

from redislab import Lab
from redislab.keys import MONITORING, key
from redislab.monitoring import Sampler

COST_MAX = 0.02


def saturate(lab: Lab, *, clients: int, batch: int, seconds: float) -> float:
    """Commands per second the server processed while ``clients`` threads pipelined SETs."""
    probe = lab.primary.client()
    stop = threading.Event()

    def worker(i: int) -> None:
        c = lab.primary.client()
        keys = [key(MONITORING, "bench", i, j) for j in range(batch)]
        while not stop.is_set():
            pipe = c.pipeline(transaction=False)
            for k in keys:
                pipe.set(k, "x")
            pipe.execute()
        c.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    time.sleep(0.2)  # warm up
    c0, t0 = probe.info("stats")["total_commands_processed"], time.perf_counter()
    time.sleep(seconds)
    c1, t1 = probe.info("stats")["total_commands_processed"], time.perf_counter()
    stop.set()
    for t in threads:
        t.join()
    return (c1 - c0) / (t1 - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--strict", action="store_true", help="exit 1 if the target is missed")
    args = parser.parse_args()

    without, with_, ratios = [], [], []
    with Lab.start("standalone") as lab:
        print(lab.server.label)
        for i in range(args.rounds):
            pair = {}
            for sampled in (False, True) if i % 2 == 0 else (True, False):
                if sampled:
                    with Sampler(lab, interval=0.1) as s:
                        pair[True] = saturate(
                            lab, clients=args.clients, batch=args.batch, seconds=args.seconds
                        )
                    assert len(s.frame()) >= 5 * args.seconds
                else:
                    pair[False] = saturate(
                        lab, clients=args.clients, batch=args.batch, seconds=args.seconds
                    )
            without.append(pair[False])
            with_.append(pair[True])
            ratios.append(pair[True] / pair[False])
    cost = 1 - float(np.median(ratios))
    print(f"without sampler: median {np.median(without):,.0f} commands/s")
    print(f"with 10 Hz sampler: median {np.median(with_):,.0f} commands/s")
    print(
        f"per-round ratio with/without: median {np.median(ratios):.4f} "
        f"(IQR {np.percentile(ratios, 25):.4f}-{np.percentile(ratios, 75):.4f})"
    )
    print(f"cost: {cost:+.2%} of throughput (target < {COST_MAX:.0%})")
    return 1 if args.strict and cost >= COST_MAX else 0


if __name__ == "__main__":
    sys.exit(main())
