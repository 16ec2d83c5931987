"""RedisBloom's probabilistic structures measured against exact answers.

Bloom and Cuckoo filters (false-positive rate against the configured error rate, memory
against a set, deletion in Cuckoo), Count-Min Sketch (never underestimates; the
overestimate against the ``error * N`` bound), Top-K against exact counts on a seeded
Zipf stream and t-digest quantiles against numpy. Every function needs the ``bf`` module
(``Lab.start(..., modules=("bloom",))``) and returns a plain dict of what it measured.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import StructureError
from ..keys import SKETCH, key
from ..kit.features import has_module
from ..kit.measure import progress
from ..kit.workload import ZipfWorkload
from ..types import Connection
from ._common import memory_usage


def _need_bloom(connection: Connection) -> None:
    if not has_module(connection, "bf"):
        raise StructureError("the RedisBloom module (bf) is not loaded on this server")


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _members(rng: np.random.Generator, n: int, prefix: str) -> list[str]:
    ids = rng.choice(10**12, size=n, replace=False)
    return [f"{prefix}:{i}" for i in ids]


def bloom_filter_check(
    connection: Connection,
    *,
    capacity: int,
    error_rate: float,
    seed: int,
    fill: float = 1.0,
    probes: int = 20_000,
    chunk: int = 2000,
    show_progress: bool = True,
) -> dict[str, Any]:
    """``BF.RESERVE`` a filter, add ``fill * capacity`` members, probe absent items.

    Returns ``added``, ``false_negatives`` (members reported absent: a Bloom filter has
    none), ``false_positives`` / ``fpr`` over ``probes`` never-added items, and
    ``filter_bytes`` / ``set_bytes`` (``MEMORY USAGE`` of the filter and of a set holding
    the same members).
    """
    _need_bloom(connection)
    rng = np.random.default_rng(seed)
    n = int(capacity * fill)
    members = _members(rng, n, "m")
    absent = _members(rng, probes, "x")  # another prefix: never a member
    k_bf, k_set = key(SKETCH, "bloom"), key(SKETCH, "bloom", "exact")
    connection.delete(k_bf, k_set)
    connection.execute_command("BF.RESERVE", k_bf, error_rate, capacity, "NONSCALING")
    bar = progress(total=n, desc="BF.MADD", enabled=show_progress)
    for part in _chunks(members, chunk):
        pipe = connection.pipeline(transaction=False)
        pipe.execute_command("BF.MADD", k_bf, *part)
        pipe.sadd(k_set, *part)
        pipe.execute()
        bar.update(len(part))
    bar.close()
    present = [int(x) for p in _chunks(members, chunk) for x in
               connection.execute_command("BF.MEXISTS", k_bf, *p)]  # fmt: skip
    fp = [int(x) for p in _chunks(absent, chunk) for x in
          connection.execute_command("BF.MEXISTS", k_bf, *p)]  # fmt: skip
    out = {
        "capacity": capacity, "error_rate": error_rate, "added": n,
        "false_negatives": n - sum(present), "false_positives": sum(fp), "probes": probes,
        "fpr": sum(fp) / probes, "filter_bytes": memory_usage(connection, k_bf),
        "set_bytes": memory_usage(connection, k_set),
    }  # fmt: skip
    connection.delete(k_bf, k_set)
    return out


def cuckoo_filter_check(
    connection: Connection,
    *,
    capacity: int,
    seed: int,
    delete_fraction: float = 0.5,
    probes: int = 20_000,
    chunk: int = 2000,
) -> dict[str, Any]:
    """``CF.RESERVE`` a Cuckoo filter, fill it, delete a part with ``CF.DEL``, probe.

    Returns ``fpr`` (absent items reported present, before deletion), ``kept_missing``
    (kept members reported absent: should be 0), ``deleted_still_present`` (deleted
    members still reported: only fingerprint collisions), ``deleted``, ``filter_bytes``,
    ``set_bytes`` and the filter's ``CF.INFO``.
    """
    _need_bloom(connection)
    if not 0 < delete_fraction < 1:
        raise StructureError("delete_fraction must be between 0 and 1")
    rng = np.random.default_rng(seed)
    members = _members(rng, capacity, "m")
    absent = _members(rng, probes, "x")
    k_cf, k_set = key(SKETCH, "cuckoo"), key(SKETCH, "cuckoo", "exact")
    connection.delete(k_cf, k_set)
    connection.execute_command("CF.RESERVE", k_cf, capacity)
    for part in _chunks(members, chunk):
        pipe = connection.pipeline(transaction=False)
        for m in part:  # CF.ADD takes one item; CF.INSERT would too, one reply each
            pipe.execute_command("CF.ADD", k_cf, m)
        pipe.sadd(k_set, *part)
        pipe.execute()
    fp = [int(x) for p in _chunks(absent, chunk) for x in
          connection.execute_command("CF.MEXISTS", k_cf, *p)]  # fmt: skip
    n_del = int(capacity * delete_fraction)
    gone, kept = members[:n_del], members[n_del:]
    deleted = 0
    for part in _chunks(gone, chunk):
        pipe = connection.pipeline(transaction=False)
        for m in part:
            pipe.execute_command("CF.DEL", k_cf, m)
        deleted += sum(int(x) for x in pipe.execute())
    still = [int(x) for p in _chunks(gone, chunk) for x in
             connection.execute_command("CF.MEXISTS", k_cf, *p)]  # fmt: skip
    kept_ok = [int(x) for p in _chunks(kept, chunk) for x in
               connection.execute_command("CF.MEXISTS", k_cf, *p)]  # fmt: skip
    raw = connection.execute_command("CF.INFO", k_cf)
    info = raw if isinstance(raw, dict) else dict(zip(raw[::2], raw[1::2], strict=False))
    out = {
        "capacity": capacity, "probes": probes, "fpr": sum(fp) / probes, "deleted": deleted,
        "to_delete": n_del, "deleted_still_present": sum(still),
        "kept_missing": len(kept) - sum(kept_ok), "filter_bytes": memory_usage(connection, k_cf),
        "set_bytes": memory_usage(connection, k_set),
        "info": {str(k): v for k, v in info.items()},
    }  # fmt: skip
    connection.delete(k_cf, k_set)
    return out


def zipf_stream(n_keys: int, n: int, *, seed: int, s: float = 1.1) -> list[str]:
    """``n`` item names drawn from a seeded Zipf popularity over ``n_keys`` items."""
    return [f"item:{k}" for k in ZipfWorkload(n_keys=n_keys, s=s, seed=seed).keys(n)]


def count_min_check(
    connection: Connection,
    stream: Sequence[str],
    *,
    error: float,
    probability: float,
    chunk: int = 2000,
) -> dict[str, Any]:
    """``CMS.INITBYPROB`` then ``CMS.INCRBY`` the stream; compare every item with exact.

    ``probability`` is the chance that an estimate overshoots by more than
    ``error * N`` (N = total count). Returns ``n_total``, ``items``, ``underestimates``
    (estimates below the truth), ``over_bound`` (estimates above truth + error*N),
    ``bound``, ``max_over``, ``mean_over``, ``width``/``depth`` and ``sketch_bytes``.
    """
    _need_bloom(connection)
    k = key(SKETCH, "cms")
    connection.delete(k)
    connection.execute_command("CMS.INITBYPROB", k, error, probability)
    exact = Counter(stream)
    items = list(exact)
    for part in _chunks(items, chunk):
        args = [x for it in part for x in (it, exact[it])]
        connection.execute_command("CMS.INCRBY", k, *args)
    est = [int(x) for p in _chunks(items, chunk) for x in
           connection.execute_command("CMS.QUERY", k, *p)]  # fmt: skip
    truth = np.array([exact[i] for i in items])
    over = np.array(est) - truth
    bound = error * len(stream)
    raw = connection.execute_command("CMS.INFO", k)
    info = raw if isinstance(raw, dict) else dict(zip(raw[::2], raw[1::2], strict=False))
    out = {
        "n_total": len(stream), "items": len(items), "error": error,
        "probability": probability, "bound": bound,
        "underestimates": int((over < 0).sum()), "over_bound": int((over > bound).sum()),
        "max_over": int(over.max()), "mean_over": float(over.mean()),
        "width": int(info["width"]), "depth": int(info["depth"]),
        "sketch_bytes": memory_usage(connection, k),
    }  # fmt: skip
    connection.delete(k)
    return out


def top_k_check(
    connection: Connection,
    stream: Sequence[str],
    *,
    k: int,
    width: int = 2000,
    depth: int = 7,
    decay: float = 0.925,
    chunk: int = 2000,
) -> dict[str, Any]:
    """``TOPK.RESERVE`` and ``TOPK.ADD`` the stream; compare ``TOPK.LIST`` with exact.

    Returns ``reported`` / ``exact`` (the k items, heaviest first), ``overlap`` (how many
    of the exact top k the sketch reports), ``counts`` (item -> (estimate, exact)) and
    ``sketch_bytes``.
    """
    _need_bloom(connection)
    key_ = key(SKETCH, "topk")
    connection.delete(key_)
    connection.execute_command("TOPK.RESERVE", key_, k, width, depth, decay)
    for part in _chunks(list(stream), chunk):
        connection.execute_command("TOPK.ADD", key_, *part)
    raw = connection.execute_command("TOPK.LIST", key_, "WITHCOUNT")
    reported = [str(x) for x in raw[::2]]
    estimates = [int(x) for x in raw[1::2]]
    exact = Counter(stream)
    true_top = [it for it, _ in exact.most_common(k)]
    out = {
        "k": k, "reported": reported, "exact": true_top,
        "overlap": len(set(reported) & set(true_top)),
        "counts": {it: (e, exact[it]) for it, e in zip(reported, estimates, strict=True)},
        "sketch_bytes": memory_usage(connection, key_),
    }  # fmt: skip
    connection.delete(key_)
    return out


def t_digest_check(
    connection: Connection,
    *,
    n: int,
    seed: int,
    quantiles: Sequence[float] = (0.5, 0.9, 0.99, 0.999),
    compression: int = 100,
    chunk: int = 5000,
) -> dict[str, Any]:
    """Add ``n`` seeded log-normal latencies to a t-digest; quantiles against numpy.

    Returns ``rows``: per quantile ``q``, the ``estimate`` (``TDIGEST.QUANTILE``), the
    ``exact`` (numpy), ``rel_error`` and ``rank_error`` (the fraction of values between
    the two: how far off the estimate is in rank), plus ``sketch_bytes`` and the bytes
    the raw values take as 8-byte floats.
    """
    _need_bloom(connection)
    rng = np.random.default_rng(seed)
    values = rng.lognormal(mean=1.0, sigma=0.6, size=n)  # "latency in ms"
    k = key(SKETCH, "tdigest")
    connection.delete(k)
    connection.execute_command("TDIGEST.CREATE", k, "COMPRESSION", compression)
    for i in range(0, n, chunk):
        connection.execute_command("TDIGEST.ADD", k, *values[i : i + chunk].tolist())
    est = [float(x) for x in connection.execute_command("TDIGEST.QUANTILE", k, *quantiles)]
    ordered = np.sort(values)
    rows = []
    for q, e in zip(quantiles, est, strict=True):
        exact = float(np.quantile(values, q))
        rank = np.searchsorted(ordered, e) / n
        rows.append({"q": q, "estimate": e, "exact": exact, "rel_error": (e - exact) / exact,
                     "rank_error": float(abs(rank - q))})  # fmt: skip
    out = {"n": n, "compression": compression, "rows": rows,
           "sketch_bytes": memory_usage(connection, k), "raw_bytes": 8 * n}  # fmt: skip
    connection.delete(k)
    return out
