"""Eviction policies under a small ``maxmemory``, measured with a seeded Zipf workload.

Every run is a cache-aside loop over a real server: GET a key; on a miss SET it (with a
TTL for the ``volatile-*`` policies). What the server reports is what counts: hits and
misses from ``INFO stats`` (``keyspace_hits``/``keyspace_misses``), evictions from
``evicted_keys``, and OOM errors from the replies to the SETs.
Source: https://redis.io/docs/latest/develop/reference/eviction/ and ``src/evict.c``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import MemoryLabError
from ..kit.measure import progress
from ..kit.workload import ZipfWorkload
from ..types import PlainConnection
from ._common import counters, flush_sync, hit_ratio, is_oom, mkey, used_memory

__all__ = [
    "POLICIES",
    "PolicyRun",
    "compare_policies",
    "data_cost",
    "fill_unlimited",
    "not_counted_for_evict",
    "run_policy",
    "ttl_eviction_order",
]

POLICIES = (
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-ttl",
    "volatile-random",
)
"""The eight ``maxmemory-policy`` values of Redis up to 8.4 and Valkey 9.1 (``redis.conf``).

Redis 8.6 adds ``allkeys-lrm`` and ``volatile-lrm`` (listed on the current eviction page);
none of the lab's engines has them.
"""


@dataclass
class PolicyRun:
    """One policy over one trace: what the server reported."""

    policy: str
    hit_ratio: float
    hits: int
    misses: int
    evicted_keys: int
    oom_errors: int
    keys_at_end: int
    maxmemory: int
    used_memory: int


def data_cost(connection: PlainConnection, n_keys: int, *, value_size: int = 100) -> int:
    """Bytes of ``used_memory`` that ``n_keys`` string keys of ``value_size`` bytes take.

    Measured: flush, write them with no limit, read ``used_memory`` before and after, flush.
    """
    flush_sync(connection)
    connection.config_set("maxmemory", 0)
    before = used_memory(connection)
    value = b"v" * value_size
    pipe = connection.pipeline(transaction=False)
    for i in range(n_keys):
        pipe.set(mkey("evict", i), value)
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    cost = used_memory(connection) - before
    flush_sync(connection)
    return cost


def run_policy(
    connection: PlainConnection,
    policy: str,
    workload: ZipfWorkload,
    *,
    maxmemory: int,
    ops: int = 50_000,
    value_size: int = 100,
    ttl: tuple[int, int] | None = (3600, 7200),
    batch: int = 500,
    warmup: float = 0.2,
    seed: int = 0,
) -> PolicyRun:
    """Run ``ops`` cache-aside reads of ``workload`` under ``policy`` and ``maxmemory``.

    Args:
        ttl: a miss stores the key with a TTL drawn uniformly from this range (seconds);
            ``None`` stores keys without TTL.
        warmup: the first share of the trace fills the cache and is not counted in the
            hit ratio (evictions and OOM errors are counted over the whole run).
    """
    if policy not in POLICIES:
        raise MemoryLabError(f"unknown policy {policy!r}; one of {', '.join(POLICIES)}")
    flush_sync(connection)
    connection.config_set("maxmemory-policy", policy)
    connection.config_set("maxmemory", maxmemory)
    rng = np.random.default_rng(seed)
    trace = workload.keys(ops, seed=seed)
    value = b"v" * value_size
    start = counters(connection)
    measured_from: dict[str, int] | None = None
    oom = 0
    n_warm = int(ops * warmup)
    for lo in range(0, ops, batch):
        if measured_from is None and lo >= n_warm:
            measured_from = counters(connection)
        chunk = trace[lo : lo + batch]
        pipe = connection.pipeline(transaction=False)
        for k in chunk:
            pipe.get(mkey("evict", int(k)))
        replies = pipe.execute()
        pipe = connection.pipeline(transaction=False)
        for k, got in zip(chunk, replies, strict=True):
            if got is None:
                ex = None if ttl is None else int(rng.integers(ttl[0], ttl[1] + 1))
                pipe.set(mkey("evict", int(k)), value, ex=ex)
        oom += sum(is_oom(r) for r in pipe.execute(raise_on_error=False))
    return finish_run(connection, policy, start=start, measured_from=measured_from, oom=oom,
                      maxmemory=maxmemory)  # fmt: skip


def finish_run(
    connection: PlainConnection,
    policy: str,
    *,
    start: dict[str, Any],
    measured_from: dict[str, Any] | None,
    oom: int,
    maxmemory: int,
) -> PolicyRun:
    """The :class:`PolicyRun` of a replay (counters from ``measured_from``, else ``start``),
    then ``maxmemory`` lifted and the server flushed for the next one."""
    end = counters(connection)
    base = measured_from or start
    hits = end["keyspace_hits"] - base["keyspace_hits"]
    misses = end["keyspace_misses"] - base["keyspace_misses"]
    run = PolicyRun(
        policy=policy,
        hit_ratio=hit_ratio(hits, misses),
        hits=hits,
        misses=misses,
        evicted_keys=end["evicted_keys"] - start["evicted_keys"],
        oom_errors=oom,
        keys_at_end=int(connection.dbsize()),
        maxmemory=maxmemory,
        used_memory=end["used_memory"],
    )
    connection.config_set("maxmemory", 0)
    flush_sync(connection)
    return run


def compare_policies(
    connection: PlainConnection,
    workload: ZipfWorkload,
    *,
    maxmemory: int,
    policies: tuple[str, ...] = POLICIES,
    show_progress: bool = True,
    **kwargs: object,
) -> pd.DataFrame:
    """:func:`run_policy` for each policy on the same trace; one row per policy."""
    rows = []
    for policy in progress(policies, desc="policies", enabled=show_progress):
        rows.append(asdict(run_policy(connection, policy, workload, maxmemory=maxmemory, **kwargs)))
    return pd.DataFrame(rows).set_index("policy")


def fill_unlimited(
    connection: PlainConnection, total_bytes: int, *, value_size: int = 10_000
) -> dict[str, int]:
    """Write ``total_bytes`` of values under the server's current ``maxmemory``.

    Returns ``{"written", "oom_errors", "used_memory", "maxmemory"}``; keys are left in place.
    """
    value = b"u" * value_size
    n = max(1, total_bytes // value_size)
    pipe = connection.pipeline(transaction=False)
    oom = 0
    for i in range(n):
        pipe.set(mkey("unlimited", i), value)
        if i % 200 == 199:
            oom += sum(is_oom(r) for r in pipe.execute(raise_on_error=False))
    oom += sum(is_oom(r) for r in pipe.execute(raise_on_error=False))
    info = counters(connection)
    return {
        "written": n * value_size,
        "oom_errors": oom,
        "used_memory": info["used_memory"],
        "maxmemory": int(connection.config_get("maxmemory")["maxmemory"]),
    }


def ttl_eviction_order(
    connection: PlainConnection,
    *,
    n_keys: int = 5000,
    pressure: float = 0.3,
    value_size: int = 100,
    seed: int = 0,
) -> pd.DataFrame:
    """Which keys ``volatile-ttl`` evicts: one row per TTL'd key (``ttl``, ``evicted``).

    ``n_keys`` keys get distinct TTLs (1000 + i seconds, written in a seeded shuffled
    order); ``maxmemory`` is then set to the memory in use and ``pressure * n_keys`` keys
    *without* TTL are written, so every eviction must pick among the TTL'd keys.
    """
    flush_sync(connection)
    connection.config_set("maxmemory", 0)
    connection.config_set("maxmemory-policy", "volatile-ttl")
    order = np.random.default_rng(seed).permutation(n_keys)
    value = b"t" * value_size
    pipe = connection.pipeline(transaction=False)
    for i in order:
        pipe.set(mkey("ttl", int(i)), value, ex=1000 + int(i))
    pipe.execute()
    connection.config_set("maxmemory", used_memory(connection))
    pipe = connection.pipeline(transaction=False)
    for j in range(int(n_keys * pressure)):
        pipe.set(mkey("ttl-pressure", j), value)
    pipe.execute(raise_on_error=False)
    pipe = connection.pipeline(transaction=False)
    for i in range(n_keys):
        pipe.exists(mkey("ttl", i))
    alive = pipe.execute()
    connection.config_set("maxmemory", 0)
    flush_sync(connection)
    return pd.DataFrame({"ttl": 1000 + np.arange(n_keys), "evicted": [not a for a in alive]})


def not_counted_for_evict(connection: PlainConnection) -> dict[str, int]:
    """``used_memory``, ``mem_not_counted_for_evict`` and what eviction compares to maxmemory."""
    info = counters(connection)
    return {
        "used_memory": info["used_memory"],
        "mem_not_counted_for_evict": info["mem_not_counted_for_evict"],
        "counted_for_evict": info["used_memory"] - info["mem_not_counted_for_evict"],
    }
