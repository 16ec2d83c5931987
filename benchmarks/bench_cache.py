"""Cache hit paths: the ``@cached`` decorator and the L1 against raw redis-py, same run.

Targets (issue 4):
- a cache-aside hit through ``@cached`` costs <= 1.15x a raw redis-py ``GET`` plus the same
  ``json.loads``;
- an L1 hit (:class:`redislab.cache.TwoLevelCache`) is >= 20x faster than a Redis ``GET``
  over loopback.

Every path is timed in rounds of ``--calls`` calls, interleaved (the order alternates per
round), so each round's ratio compares measurements taken moments apart; the script prints
the median per-call times and the median of the per-round ratios. Exit status 1 with
``--strict`` if a target is missed.

    python benchmarks/bench_cache.py [--rounds 41] [--calls 400] [--strict]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from redislab import Lab
from redislab.cache import hit_path_samples

DECORATOR_MAX = 1.15
L1_MIN = 20.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()

    with Lab.start("standalone") as lab:
        r = lab.client()
        samples = hit_path_samples(r, n=args.calls, rounds=args.rounds)
        r.close()
        label = lab.server.label

    print(f"server: {label}; {args.rounds} rounds x {args.calls} calls per path")
    print(f"{'path':<20}{'median us/call':>16}{'p10':>10}{'p90':>10}")
    for name, s in samples.items():
        us = s * 1e6
        print(
            f"{name:<20}{np.median(us):>16.2f}{np.percentile(us, 10):>10.2f}"
            f"{np.percentile(us, 90):>10.2f}"
        )

    decorator = samples["@cached hit"] / samples["GET + json.loads"]
    l1 = samples["redis GET"] / samples["L1 hit"]
    checks = [
        (
            "@cached hit / (GET + json.loads)",
            float(np.median(decorator)),
            f"<= {DECORATOR_MAX}",
            float(np.median(decorator)) <= DECORATOR_MAX,
        ),
        (
            "redis GET / L1 hit",
            float(np.median(l1)),
            f">= {L1_MIN}",
            float(np.median(l1)) >= L1_MIN,
        ),
    ]
    print()
    print(f"{'ratio (median of per-round ratios)':<36}{'measured':>10}{'target':>10}  result")
    for name, value, target, ok in checks:
        print(f"{name:<36}{value:>10.3f}{target:>10}  {'ok' if ok else 'MISSED'}")
    missed = [c for c in checks if not c[3]]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
