"""The keyspace analyser's 1% sample against a full pipelined ``MEMORY USAGE`` pass.

Targets (issue 12), same run, same keyspace of ``--keys`` keys (default 1,000,000) in
three prefixes of different value sizes:
- ``analyse_keyspace(sample=0.01)`` takes at most 20% of the time of a full pass
  (SCAN every key + pipelined ``MEMORY USAGE``);
- its per-prefix estimate of total memory is within 5% of the full pass.

    python benchmarks/bench_memory_analyser.py [--keys 1000000] [--strict]
"""

from __future__ import annotations

import argparse
import time

from redislab import Lab
from redislab.memory import analyse_keyspace

TIME_MAX = 0.20
ERROR_MAX = 0.05
PREFIXES = (("bench:a", 0.5, 50), ("bench:b", 0.3, 200), ("bench:c", 0.2, 1000))


def full_pass(connection, batch: int = 1000) -> dict[str, int]:
    """SCAN every key and ``MEMORY USAGE`` it, pipelined; bytes per two-part prefix."""
    totals: dict[str, int] = {}
    cursor = 0
    while True:
        cursor, names = connection.scan(cursor=cursor, count=batch)
        pipe = connection.pipeline(transaction=False)
        for n in names:
            pipe.memory_usage(n)
        for n, size in zip(names, pipe.execute(), strict=True):
            name = n.decode() if isinstance(n, bytes) else n
            prefix = ":".join(name.split(":")[:2])
            totals[prefix] = totals.get(prefix, 0) + int(size or 0)
        if cursor == 0:
            return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    with Lab.start("standalone") as lab:
        r = lab.client()
        for prefix, share, size in PREFIXES:
            r.execute_command("DEBUG", "POPULATE", int(args.keys * share), prefix, size)
        t0 = time.perf_counter()
        full = full_pass(r)
        full_s = time.perf_counter() - t0
        report = analyse_keyspace(r, sample=0.01)
        label = lab.server.label
    ratio = report.seconds / full_s
    print(f"server: {label}; {args.keys} keys")
    print(
        f"full pass {full_s:.2f} s; 1% sample {report.seconds:.2f} s; "
        f"ratio {ratio:.3f} (<= {TIME_MAX})"
    )
    worst = 0.0
    for prefix, _, _ in PREFIXES:
        err = report.by_prefix.bytes[prefix] / full[prefix] - 1
        worst = max(worst, abs(err))
        print(f"  {prefix}: full {full[prefix] / 1e6:.1f} MB, estimate error {err:+.2%}")
    ok = ratio <= TIME_MAX and worst <= ERROR_MAX
    print("targets met" if ok else "target missed")
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    raise SystemExit(main())
