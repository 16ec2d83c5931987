"""Messaging speed: the stream worker against a bare loop, and a 10-subscriber fan-out.

Targets (issue 11):
- :class:`redislab.messaging.StreamWorker` sustains >= 80 % of the throughput of a bare
  ``XREADGROUP`` + ``XACK`` pipelined loop (:func:`redislab.messaging.bare_loop`) over the
  same stream (the worker also decodes each entry's JSON and calls a handler);
- a pub/sub fan-out to 10 subscribers delivers every message to every subscriber.

Rounds are interleaved (the order alternates per round) over the same stream through two
consumer groups, so each round's ratio compares runs taken moments apart; the script prints
the median per-round ratio. Exit status 1 with ``--strict`` if a target is missed.

    python benchmarks/bench_messaging.py [--rounds 9] [--entries 20000] [--strict]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from redislab import Lab
from redislab.messaging import StreamWorker, bare_loop, broadcast, produce

WORKER_MIN = 0.80


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--entries", type=int, default=20_000)
    ap.add_argument("--strict", action="store_true")
    args = ap.parse_args()
    lab = Lab.start("standalone")
    try:
        r = lab.client()
        stream = "redislab:messaging:bench:stream"
        ratios, bare_rates, worker_rates = [], [], []
        for rnd in range(args.rounds):
            r.delete(stream)
            produce(r, stream, ({"n": i, "pad": "x" * 32} for i in range(args.entries)))
            r.xgroup_create(stream, "bare", id="0")
            r.xgroup_create(stream, "worker", id="0")

            def run_bare() -> float:
                t0 = time.perf_counter()
                assert bare_loop(r, stream, "bare", "c", batch=100) == args.entries
                return args.entries / (time.perf_counter() - t0)

            def run_worker() -> float:
                w = StreamWorker(r, stream, "worker", "c", lambda p: None, batch=100)
                t0 = time.perf_counter()
                stats = w.run(max_messages=args.entries)
                assert stats.acked == args.entries
                return args.entries / (time.perf_counter() - t0)

            if rnd % 2:
                wr, br = run_worker(), run_bare()
            else:
                br, wr = run_bare(), run_worker()
            bare_rates.append(br)
            worker_rates.append(wr)
            ratios.append(wr / br)
        ratio = float(np.median(ratios))
        fan = broadcast(r, subscribers=10, messages=2000, seed=1)
        delivered = int(fan["per_subscriber"]["received"].sum())
        print(f"engine: {lab.server.label}")
        print(f"bare XREADGROUP+XACK : {np.median(bare_rates):10.0f} entries/s (median)")
        print(f"StreamWorker         : {np.median(worker_rates):10.0f} entries/s (median)")
        print(f"worker / bare        : {ratio:.2f} (median of {args.rounds} rounds; "
              f"target >= {WORKER_MIN:.2f})")  # fmt: skip
        print(f"fan-out to 10        : {delivered} of {10 * 2000} deliveries")
        ok = ratio >= WORKER_MIN and delivered == 10 * 2000
        print("targets:", "met" if ok else "MISSED")
        return 0 if ok or not args.strict else 1
    finally:
        lab.stop()


if __name__ == "__main__":
    sys.exit(main())
