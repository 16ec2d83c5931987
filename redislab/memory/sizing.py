"""Sizing a cache: a miss-ratio curve measured on the server, and a capacity model.

The curve: hit ratio against ``maxmemory`` for one trace, under ``allkeys-lru`` and
``allkeys-lfu`` on the real server, beside the exact-LRU simulation of the same trace
with the number of keys the server held. The model: ``used_memory = a + b * N`` fitted
on small loads of a given key/value shape, used to predict a larger one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..kit.measure import progress
from ..kit.workload import ZipfWorkload
from ..types import PlainConnection
from ._common import flush_sync, mkey, used_memory
from .eviction import data_cost, run_policy
from .lru import exact_lru_hit_ratio

__all__ = ["CapacityModel", "fit_capacity_model", "load_keys", "miss_ratio_curve"]


def miss_ratio_curve(
    connection: PlainConnection,
    workload: ZipfWorkload,
    *,
    fractions: Sequence[float] = (0.05, 0.1, 0.2, 0.4, 0.7),
    policies: Sequence[str] = ("allkeys-lru", "allkeys-lfu"),
    ops: int = 20_000,
    value_size: int = 100,
    seed: int = 0,
    show_progress: bool = True,
) -> pd.DataFrame:
    """One row per (policy, fraction): ``maxmemory`` = empty + ``fraction`` of the data,
    the measured hit ratio, the keys held, and ``exact_lru`` (simulated, same capacity)."""
    cost = data_cost(connection, workload.n_keys, value_size=value_size)
    empty = used_memory(connection)
    trace = workload.keys(ops, seed=seed)
    rows = []
    steps = [(p, f) for p in policies for f in fractions]
    for policy, frac in progress(steps, desc="miss-ratio curve", enabled=show_progress):
        run = run_policy(connection, policy, workload, maxmemory=empty + int(cost * frac),
                         ops=ops, value_size=value_size, ttl=None, seed=seed)  # fmt: skip
        rows.append(
            {
                "policy": policy,
                "fraction": frac,
                "maxmemory": run.maxmemory,
                "hit_ratio": run.hit_ratio,
                "keys_held": run.keys_at_end,
                "exact_lru": exact_lru_hit_ratio(trace, run.keys_at_end),
            }
        )
    return pd.DataFrame(rows)


def load_keys(
    connection: PlainConnection, n_keys: int, *, key_size: int = 32, value_size: int = 100
) -> int:
    """Flush, write ``n_keys`` string keys of the given shape, return the ``used_memory`` delta."""
    flush_sync(connection)
    before = used_memory(connection)
    value = b"c" * value_size
    pipe = connection.pipeline(transaction=False)
    for i in range(n_keys):
        base = mkey("cap", i)
        pipe.set((base + ":" + "k" * key_size)[:key_size] if key_size > len(base) else base, value)
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()
    return used_memory(connection) - before


@dataclass(frozen=True)
class CapacityModel:
    """``bytes(N) = intercept + per_key * N`` for one key/value shape."""

    intercept: float
    per_key: float
    key_size: int
    value_size: int

    def predict(self, n_keys: int) -> float:
        """Predicted ``used_memory`` growth for ``n_keys`` keys of this shape."""
        return self.intercept + self.per_key * n_keys


def fit_capacity_model(
    connection: PlainConnection,
    *,
    sizes: Sequence[int] = (2_000, 4_000, 8_000),
    key_size: int = 32,
    value_size: int = 100,
) -> CapacityModel:
    """Fit :class:`CapacityModel` by least squares on loads of ``sizes`` keys."""
    measured = [load_keys(connection, n, key_size=key_size, value_size=value_size) for n in sizes]
    flush_sync(connection)
    per_key, intercept = np.polyfit(np.asarray(sizes, float), np.asarray(measured, float), 1)
    return CapacityModel(float(intercept), float(per_key), key_size, value_size)
