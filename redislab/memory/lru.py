"""Redis's approximated LRU against an exact LRU, as the key-eviction page draws it.

The experiment (https://redis.io/docs/latest/develop/reference/eviction/, "Approximated
LRU algorithm"): fill N keys, access them from the first to the last (so the first is
the best LRU candidate), then add 50% more keys under a ``maxmemory`` that only holds the
first N. An exact LRU evicts the oldest keys; Redis samples ``maxmemory-samples`` keys per
eviction (``src/evict.c``, ``evictionPoolPopulate``) and gets close to it as the sample grows.

The LRU clock has a resolution of one second (``LRU_CLOCK_RESOLUTION`` in ``server.h``), so
touching N keys in a loop would give most of them the same age. Instead every key is
created with ``RESTORE ... IDLETIME`` (https://redis.io/docs/latest/commands/restore/):
key *i* of N gets an idle time of ``N - i`` seconds, exactly what accessing them in order
one second apart would leave.

:func:`replay_with_ages` does the same for a whole cache-aside trace: every access is a
``RESTORE ... REPLACE IDLETIME`` that dates it one (virtual) second after the previous one,
so a trace that runs in seconds leaves keys as far apart in age as one running for hours.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..errors import MemoryLabError
from ..kit.measure import progress
from ..kit.workload import ZipfWorkload
from ..types import PlainConnection
from ._common import counters, flush_sync, is_oom, mkey, used_memory
from .eviction import PolicyRun, finish_run

__all__ = [
    "approximated_lru",
    "exact_lru_hit_ratio",
    "exact_lru_survivors",
    "lru_comparison",
    "plot_lru_runs",
    "replay_with_ages",
]


def exact_lru_survivors(trace: Iterable[int], capacity: int) -> set[int]:
    """The keys an exact LRU cache of ``capacity`` keys holds after ``trace`` (a simulation)."""
    if capacity <= 0:
        raise MemoryLabError("capacity must be positive")
    cache: OrderedDict[int, None] = OrderedDict()
    for k in trace:
        if k in cache:
            cache.move_to_end(k)
        else:
            cache[k] = None
            if len(cache) > capacity:
                cache.popitem(last=False)
    return set(cache)


def approximated_lru(
    connection: PlainConnection,
    *,
    samples: int = 5,
    n_keys: int = 5000,
    extra: float = 0.5,
    value_size: int = 100,
) -> pd.DataFrame:
    """Run the key-eviction page's experiment once; one row per key.

    Columns: ``key`` (0 = least recently used), ``new`` (one of the added keys),
    ``survived`` (still there on the server), ``exact_survived`` (an exact LRU of the same
    capacity keeps it). The capacity given to the exact LRU is the number of keys that the
    server kept, so both hold the same number of keys.
    """
    flush_sync(connection)
    connection.config_set("maxmemory", 0)
    connection.config_set("maxmemory-policy", "allkeys-lru")
    connection.config_set("maxmemory-samples", samples)
    probe = mkey("lru-probe")
    connection.set(probe, b"x" * value_size)
    payload = connection.dump(probe)
    connection.delete(probe)
    pipe = connection.pipeline(transaction=False)
    for i in range(n_keys):
        pipe.restore(mkey("lru", i), 0, payload, idletime=n_keys - i)
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    connection.config_set("maxmemory", used_memory(connection))
    n_new = int(n_keys * extra)
    pipe = connection.pipeline(transaction=False)
    for j in range(n_keys, n_keys + n_new):
        pipe.restore(mkey("lru", j), 0, payload)
        if j % 1000 == 999:
            pipe.execute(raise_on_error=False)
    pipe.execute(raise_on_error=False)
    total = n_keys + n_new
    pipe = connection.pipeline(transaction=False)
    for i in range(total):
        pipe.exists(mkey("lru", i))
    survived = np.array(pipe.execute(), dtype=bool)
    connection.config_set("maxmemory", 0)
    flush_sync(connection)
    kept = int(survived.sum())
    if kept == 0:
        raise MemoryLabError("no key survived: maxmemory is below the server's own overhead")
    exact = exact_lru_survivors(range(total), kept)
    return pd.DataFrame(
        {
            "key": np.arange(total),
            "new": np.arange(total) >= n_keys,
            "survived": survived,
            "exact_survived": [i in exact for i in range(total)],
        }
    )


def lru_comparison(
    connection: PlainConnection,
    *,
    samples: tuple[int, ...] = (1, 3, 5, 10),
    n_keys: int = 5000,
    show_progress: bool = True,
    **kwargs: object,
) -> tuple[pd.DataFrame, dict[int, pd.DataFrame]]:
    """:func:`approximated_lru` for each ``maxmemory-samples``; a summary and the runs.

    Summary columns: ``kept`` keys, ``agreement`` (share of keys whose fate matches the
    exact LRU), ``old_evicted_share`` (share of the evicted keys that exact LRU also
    evicts), and ``mean_evicted_age_rank`` (0 = evicted keys were the very oldest).
    """
    runs: dict[int, pd.DataFrame] = {}
    rows = []
    for s in progress(samples, desc="maxmemory-samples", enabled=show_progress):
        df = approximated_lru(connection, samples=s, n_keys=n_keys, **kwargs)
        runs[s] = df
        evicted = df[~df.survived]
        exact_evicted = set(df.key[~df.exact_survived])
        rows.append(
            {
                "maxmemory-samples": s,
                "kept": int(df.survived.sum()),
                "evicted": len(evicted),
                "agreement": float((df.survived == df.exact_survived).mean()),
                "evicted_also_by_exact": float(evicted.key.isin(exact_evicted).mean())
                if len(evicted)
                else 1.0,
                "new_keys_evicted": int((~df.survived & df.new).sum()),
            }
        )
    return pd.DataFrame(rows).set_index("maxmemory-samples"), runs


def plot_lru_runs(runs: dict[int, pd.DataFrame], *, width: int = 100) -> object:
    """The key-eviction page's picture: one panel per run, keys laid out in rows of ``width``.

    Light grey: evicted; grey: old keys kept; green: added keys kept. The first panel is
    the exact LRU.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    first = next(iter(runs.values()))
    panels = [("exact LRU", first.exact_survived.to_numpy())]
    panels += [(f"samples = {s}", df.survived.to_numpy()) for s, df in runs.items()]
    new = first.new.to_numpy()
    cmap = ListedColormap(["#e6e6e6", "#7f7f7f", "#2ca02c"])
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3))
    for ax, (title, kept) in zip(np.atleast_1d(axes), panels, strict=True):
        code = np.where(kept, np.where(new, 2, 1), 0)
        rows = -(-len(code) // width)
        grid = np.full(rows * width, np.nan)
        grid[: len(code)] = code
        ax.imshow(grid.reshape(rows, width), cmap=cmap, vmin=0, vmax=2, aspect="auto")
        ax.set(title=title, xticks=[], yticks=[])
    fig.suptitle(
        "light grey: evicted · grey: old keys kept · green: new keys kept (oldest top-left)"
    )
    fig.tight_layout()
    return fig


def exact_lru_hit_ratio(trace: Iterable[int], capacity: int, *, warmup: float = 0.2) -> float:
    """Hit ratio of an exact LRU cache of ``capacity`` keys on ``trace`` (a simulation).

    The first ``warmup`` share of the trace fills the cache and is not counted, as in
    :func:`redislab.memory.eviction.run_policy`.
    """
    keys = [int(k) for k in trace]
    if capacity <= 0:
        return 0.0
    cache: OrderedDict[int, None] = OrderedDict()
    n_warm = int(len(keys) * warmup)
    hits = 0
    for i, k in enumerate(keys):
        if k in cache:
            cache.move_to_end(k)
            hits += i >= n_warm
        else:
            cache[k] = None
            if len(cache) > capacity:
                cache.popitem(last=False)
    counted = len(keys) - n_warm
    return hits / counted if counted else 0.0


def replay_with_ages(
    connection: PlainConnection,
    policy: str,
    workload: ZipfWorkload,
    *,
    maxmemory: int,
    ops: int = 30_000,
    seconds_per_op: int = 1,
    value_size: int = 100,
    batch: int = 500,
    warmup: float = 0.2,
    seed: int = 0,
) -> PolicyRun:
    """A cache-aside run of ``workload`` in which access *i* happens ``seconds_per_op`` after *i-1*.

    The same loop as :func:`redislab.memory.eviction.run_policy` (GET, and the key is then
    stored), except that the store is always ``RESTORE key 0 <value> REPLACE IDLETIME t``
    with ``t = (ops - i) * seconds_per_op``: on a hit it re-dates the key, on a miss it
    inserts it, and the server's LRU clock sees access *i* exactly ``seconds_per_op``
    seconds after access *i - 1* (the few real seconds the run lasts shift every key by
    the same amount, in order). Only for LRU and random policies: under an LFU policy
    ``RESTORE`` replaces the object and its counter starts again at 5.
    Hits and misses come from ``INFO stats`` after the warm-up share of the trace.
    """
    if "lfu" in policy:
        raise MemoryLabError("replay_with_ages re-creates keys: an LFU counter would restart")
    if seconds_per_op < 1:
        raise MemoryLabError("seconds_per_op must be at least 1 (the LRU clock's resolution)")
    flush_sync(connection)
    connection.config_set("maxmemory", 0)
    probe = mkey("replay-probe")
    connection.set(probe, b"v" * value_size)
    payload = connection.dump(probe)
    connection.delete(probe)
    connection.config_set("maxmemory-policy", policy)
    connection.config_set("maxmemory", maxmemory)
    trace = workload.keys(ops, seed=seed)
    start = counters(connection)
    measured_from: dict[str, int] | None = None
    oom = 0
    n_warm = int(ops * warmup)
    for lo in range(0, ops, batch):
        if measured_from is None and lo >= n_warm:
            measured_from = counters(connection)
        pipe = connection.pipeline(transaction=False)
        for i in range(lo, min(lo + batch, ops)):
            name = mkey("evict", int(trace[i]))
            pipe.get(name)
            idle = (ops - i) * seconds_per_op
            pipe.restore(name, 0, payload, replace=True, idletime=idle)
        oom += sum(is_oom(reply) for reply in pipe.execute(raise_on_error=False))
    return finish_run(connection, policy, start=start, measured_from=measured_from, oom=oom,
                      maxmemory=maxmemory)  # fmt: skip
