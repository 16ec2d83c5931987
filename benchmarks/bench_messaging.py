"""Messaging speed: the stream worker against a bare loop, and a 10-subscriber fan-out.

Targets (issue 11):
- :class:`redislab.messaging.StreamWorker` sustains >= 80 % of the throughput of a bare
  ``XREADGROUP`` + ``XACK`` pipelined loop (:func:`redislab.messaging.bare_loop`) over the
  same stream;
- a pub/sub fan-out to 10 subscribers delivers every message to every subscriber.

What is compared, like with like (the target applies to both rows):

- ``raw``: neither side decodes. The bare loop reads and acknowledges; the worker calls
  an identity ``decode`` and a no-op handler per entry, keeps its stats, runs its
  ``XAUTOCLAIM`` timer and acknowledges each batch with the next read. This is the
  worker's own overhead.
- ``json``: both decode each entry's JSON with :func:`redislab.messaging.decode_json`
  (the bare loop drops the result; the worker hands it to the no-op handler). This is
  the worker as a script would run it.

For reference the script also prints the worker with JSON against the bare loop without
(``json/raw``: not like with like, the decode is extra work only one side does).

Every round writes a fresh stream of ``--entries`` entries and drains it through four
consumer groups (one per run), in an order rotated per round, so each round's ratios
compare runs taken moments apart on the same data; the script prints the median per-round
ratio. Exit status 1 with ``--strict`` if a target is missed.

    python benchmarks/bench_messaging.py [--rounds 9] [--entries 20000] [--strict]
    REDISLAB_SERVER=redis8 python benchmarks/bench_messaging.py   # or valkey
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np

from redislab import Lab
from redislab.messaging import StreamWorker, bare_loop, broadcast, decode_json, produce

WORKER_MIN = 0.80


def _identity(fields: object) -> object:
    return fields


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--entries", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--strict", action="store_true")
    args = ap.parse_args()
    n, batch = args.entries, args.batch
    lab = Lab.start("standalone")
    try:
        r = lab.client()
        stream = "redislab:messaging:bench:stream"

        def bare(group: str, decode: Callable | None) -> Callable[[], float]:
            def run() -> float:
                t0 = time.perf_counter()
                assert bare_loop(r, stream, group, "c", batch=batch, decode=decode) == n
                return n / (time.perf_counter() - t0)

            return run

        def worker(group: str, decode: Callable) -> Callable[[], float]:
            def run() -> float:
                w = StreamWorker(r, stream, group, "c", lambda p: None, decode=decode, batch=batch)
                t0 = time.perf_counter()
                stats = w.run(max_messages=n)
                assert stats.acked == n and stats.processed == n
                return n / (time.perf_counter() - t0)

            return run

        runs = {
            "bare raw": bare("bare-raw", None),
            "worker raw": worker("worker-raw", _identity),
            "bare json": bare("bare-json", decode_json),
            "worker json": worker("worker-json", decode_json),
        }
        rates: dict[str, list[float]] = {name: [] for name in runs}
        names = list(runs)
        for rnd in range(args.rounds):
            r.delete(stream)
            produce(r, stream, ({"n": i, "pad": "x" * 32} for i in range(n)))
            for name in names:
                r.xgroup_create(stream, name.replace(" ", "-"), id="0")
            k = rnd % len(names)
            for name in names[k:] + names[:k]:
                rates[name].append(runs[name]())
        per_round = {name: np.array(v) for name, v in rates.items()}
        ratios = {
            "raw (neither decodes)": per_round["worker raw"] / per_round["bare raw"],
            "json (both decode)": per_round["worker json"] / per_round["bare json"],
            "json/raw (reference only)": per_round["worker json"] / per_round["bare raw"],
        }
        fan = broadcast(r, subscribers=10, messages=2000, seed=1)
        delivered = int(fan["per_subscriber"]["received"].sum())
        print(f"engine: {lab.server.label}; {args.rounds} rounds of {n} entries, batch {batch}")
        for name, v in per_round.items():
            print(f"  {name:12s}: {np.median(v):10.0f} entries/s (median)")
        for name, v in ratios.items():
            print(f"  worker / bare, {name:26s}: {np.median(v):.2f} "
                  f"(rounds {v.min():.2f}..{v.max():.2f})")  # fmt: skip
        print(f"  fan-out to 10: {delivered} of {10 * 2000} deliveries")
        like = [
            float(np.median(ratios[k])) for k in ("raw (neither decodes)", "json (both decode)")
        ]
        ok = min(like) >= WORKER_MIN and delivered == 10 * 2000
        print(f"targets (both like-with-like ratios >= {WORKER_MIN:.2f}, every delivery):",
              "met" if ok else "MISSED")  # fmt: skip
        return 0 if ok or not args.strict else 1
    finally:
        lab.stop()


if __name__ == "__main__":
    sys.exit(main())
