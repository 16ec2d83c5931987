"""Speed of the performance toolkit against bare redis-py loops, in the same run.

Targets (issue 13):
- the toolkit's reported throughput for pipelined SETs (:func:`redislab.performance.rate`
  over :func:`~redislab.performance.pipeline_call`) is >= 90% of a bare redis-py
  pipeline loop doing the same SETs;
- its latency percentiles (:func:`redislab.kit.measure.time_calls` + ``summarize``)
  agree with a bare ``perf_counter`` loop within 10% at p50.

Each pair is measured in interleaved rounds (the order alternates), and the script
prints the median of the per-round ratios; ``redis-benchmark`` on the same server is
printed beside as the server's ceiling (where the tool exists). Exit status 1 with
``--strict`` if a target is missed.

    python benchmarks/bench_performance.py [--rounds 21] [--batches 40] [--calls 2000] [--strict]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from redislab import Lab
from redislab.keys import PERFORMANCE, key
from redislab.kit.measure import summarize, time_calls
from redislab.performance import benchmark_tool, pipeline_call, rate, redis_benchmark

THROUGHPUT_MIN = 0.90
P50_TOLERANCE = 0.10
BATCH = 100


def bare_pipeline_rate(r, keys: list[str], batches: int) -> float:
    """SET/s of the plain loop a user would write: pipeline, set each key, execute."""
    t0 = time.perf_counter()
    for _ in range(batches):
        pipe = r.pipeline(transaction=False)
        for k in keys:
            pipe.set(k, "v")
        pipe.execute()
    return batches * len(keys) / (time.perf_counter() - t0)


def bare_latencies(fn, n: int) -> np.ndarray:
    """Per-call durations from a bare perf_counter loop."""
    out = []
    clock = time.perf_counter
    for _ in range(n):
        t0 = clock()
        fn()
        out.append(clock() - t0)
    return np.asarray(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--batches", type=int, default=40, help="pipelines of 100 per round")
    parser.add_argument("--calls", type=int, default=2000, help="GETs per latency round")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()

    with Lab.start("standalone") as lab:
        r = lab.client()
        keys = [key(PERFORMANCE, "pipe", i) for i in range(BATCH)]  # the same keys as pipeline_call
        toolkit_call = pipeline_call(r, BATCH)
        r.set(key(PERFORMANCE, "get"), "v")
        get = lambda: r.get(key(PERFORMANCE, "get"))  # noqa: E731

        thr_ratios, toolkit_rates, bare_rates, p50_ratios, tk_p50, bare_p50 = [], [], [], [], [], []
        for rnd in range(args.rounds):
            first_toolkit = rnd % 2 == 0
            for which in ("toolkit", "bare") if first_toolkit else ("bare", "toolkit"):
                if which == "toolkit":
                    tk = rate(toolkit_call, calls=args.batches, ops_per_call=BATCH).ops_per_s
                else:
                    toolkit_call()  # same warm-up as rate()
                    bare = bare_pipeline_rate(r, keys, args.batches)
            thr_ratios.append(tk / bare)
            toolkit_rates.append(tk)
            bare_rates.append(bare)
            for which in ("toolkit", "bare") if first_toolkit else ("bare", "toolkit"):
                if which == "toolkit":
                    tk50 = summarize(time_calls(get, n=args.calls, warmup=1), unit="us")["p50_us"]
                else:
                    get()
                    b50 = float(np.percentile(bare_latencies(get, args.calls), 50)) * 1e6
            p50_ratios.append(tk50 / b50)
            tk_p50.append(tk50)
            bare_p50.append(b50)

        ceiling = {}
        if benchmark_tool() is not None:
            for clients, pipeline in ((1, 1), (50, 1), (50, 16)):
                n = 20_000 if pipeline == 1 else 100_000
                res = redis_benchmark(lab.primary, requests=n, clients=clients, pipeline=pipeline)
                ceiling[f"redis-benchmark -c {clients} -P {pipeline}"] = res["rps"]
        label = lab.server.label
        r.close()

    thr = float(np.median(thr_ratios))
    p50 = float(np.median(p50_ratios))
    print(f"server: {label}; {args.rounds} rounds")
    print(f"{'path':<44}{'median':>14}")
    print(f"{'toolkit rate(pipeline_call) SET/s':<44}{np.median(toolkit_rates):>14.0f}")
    print(f"{'bare redis-py pipeline loop SET/s':<44}{np.median(bare_rates):>14.0f}")
    print(f"{'toolkit time_calls GET p50 (us)':<44}{np.median(tk_p50):>14.2f}")
    print(f"{'bare perf_counter loop GET p50 (us)':<44}{np.median(bare_p50):>14.2f}")
    for name, rps in ceiling.items():
        print(f"{name + ' SET/s':<44}{rps:>14.0f}")
    checks = [
        (
            "toolkit / bare pipelined SET throughput",
            thr,
            f">= {THROUGHPUT_MIN}",
            thr >= THROUGHPUT_MIN,
        ),
        ("toolkit / bare GET p50", p50, f"1 ± {P50_TOLERANCE}", abs(p50 - 1) <= P50_TOLERANCE),
    ]
    if ceiling:
        best_c = ceiling["redis-benchmark -c 50 -P 16"]
        over = best_c / np.median(toolkit_rates)
        print(f"{'redis-benchmark -c 50 -P 16 / toolkit pipeline':<44}{over:>14.2f}")
    print()
    print(f"{'ratio (median of per-round ratios)':<44}{'measured':>10}{'target':>10}  result")
    for name, value, target, ok in checks:
        print(f"{name:<44}{value:>10.3f}{target:>10}  {'ok' if ok else 'MISSED'}")
    missed = [c for c in checks if not c[3]]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
