"""Vector similarity: RediSearch KNN over FLAT and HNSW fields, and Redis 8's vector sets,
each scored by recall@k against an exact numpy search of the same seeded vectors.

No model is downloaded: the vectors are seeded random points around a few hundred
centres (embeddings cluster by topic; uniform noise in many dimensions would be an
unrealistically hard case), normalised so cosine similarity is a dot product. FLAT is
a brute-force scan (exact); HNSW is a navigable graph searched greedily, approximate,
its accuracy set by ``EF_RUNTIME`` (candidates kept while searching). Vector sets
(``VADD``/``VSIM``, built into Redis 8) are HNSW too, and quantize to 8 bits by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import StructureError
from ..keys import VECTORS, key
from ..kit.features import has_command, has_module
from ..kit.measure import progress, summarize, time_calls
from ..lab.waits import wait_until
from ..types import Connection

INDEX_FLAT = key(VECTORS, "ft", "flat")
INDEX_HNSW = key(VECTORS, "ft", "hnsw")
FIELD = "v"


def make_vectors(
    n: int, dim: int, *, seed: int, centres: int = 200, spread: float = 0.35
) -> np.ndarray:
    """``n`` seeded unit vectors (float32) scattered around ``centres`` random directions."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    x = c[rng.integers(0, centres, n)] + spread * rng.standard_normal((n, dim)) / np.sqrt(dim)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def exact_knn(vectors: np.ndarray, queries: np.ndarray, k: int) -> list[list[int]]:
    """The true ``k`` nearest neighbours by cosine similarity (numpy, brute force)."""
    sims = queries @ vectors.T
    top = np.argpartition(-sims, k, axis=1)[:, :k]
    return [list(map(int, row)) for row in top]


def recall_at_k(found: Sequence[Sequence[int]], exact: Sequence[Sequence[int]]) -> float:
    """Mean share of the true neighbours each answer contains."""
    if not exact:
        raise StructureError("no queries to score")
    shares = [len(set(f) & set(e)) / len(e) for f, e in zip(found, exact, strict=True)]
    return float(np.mean(shares))


def item_key(i: int | str) -> str:
    """The hash holding vector ``i`` in its field ``v``."""
    return key(VECTORS, "item", i)


def _need_search(connection: Connection) -> None:
    if not has_module(connection, "search"):
        raise StructureError("the RediSearch module (search) is not loaded on this server")


def load_vectors(connection: Connection, vectors: np.ndarray, *, chunk: int = 500) -> None:
    """Store each vector as a hash field of raw float32 bytes (what a vector field reads)."""
    pipe = connection.pipeline(transaction=False)
    for i, v in enumerate(vectors):
        pipe.hset(item_key(i), FIELD, v.tobytes())
        if (i + 1) % chunk == 0:
            pipe.execute()
    pipe.execute()


def _indexed(connection: Connection, index: str) -> bool:
    reply = connection.execute_command("FT.INFO", index)
    d = reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2], strict=False))
    d = {str(k): v for k, v in d.items()}
    return float(d.get("percent_indexed", 0)) >= 1.0 and int(d.get("indexing", 1)) == 0


def create_vector_indexes(
    connection: Connection,
    dim: int,
    *,
    m: int = 16,
    ef_construction: int = 200,
    timeout: float = 120.0,
) -> dict[str, float]:
    """``FT.CREATE`` a FLAT and an HNSW index (cosine) over the stored vectors; wait for
    each to index the existing hashes. Returns the seconds each took to be ready."""
    _need_search(connection)
    out = {}
    for index, algo, extra in (
        (INDEX_FLAT, "FLAT", []),
        (INDEX_HNSW, "HNSW", ["M", m, "EF_CONSTRUCTION", ef_construction]),
    ):
        try:
            connection.execute_command("FT.DROPINDEX", index)
        except Exception:
            pass
        attrs = ["TYPE", "FLOAT32", "DIM", dim, "DISTANCE_METRIC", "COSINE", *extra]
        connection.execute_command(
            "FT.CREATE", index, "ON", "HASH", "PREFIX", 1, item_key(""),
            "SCHEMA", FIELD, "VECTOR", algo, len(attrs), *attrs,
        )  # fmt: skip
        out[index] = wait_until(
            lambda i=index: _indexed(connection, i), timeout=timeout, what=f"{index} indexed"
        )
    return out


def knn(
    connection: Connection, index: str, query: np.ndarray, k: int, *, ef: int | None = None
) -> list[int]:
    """The ids ``FT.SEARCH ... =>[KNN k @v $q]`` returns (``EF_RUNTIME ef`` on HNSW)."""
    ef_part = " EF_RUNTIME $ef" if ef is not None else ""
    params: list[Any] = ["q", query.astype(np.float32).tobytes()]
    if ef is not None:
        params += ["ef", ef]
    reply = connection.execute_command(
        "FT.SEARCH", index, f"*=>[KNN {k} @{FIELD} $q{ef_part}]", "NOCONTENT",
        "LIMIT", 0, k, "PARAMS", len(params), *params, "DIALECT", 2,
    )  # fmt: skip
    ids = [r["id"] for r in reply["results"]] if isinstance(reply, dict) else reply[1:]
    prefix = item_key("")
    return [int(str(i).removeprefix(prefix)) for i in ids]


def vector_set_key(quant: str) -> str:
    """The vector set holding the vectors quantized as ``quant``."""
    return key(VECTORS, "set", quant.lower())


def load_vector_set(
    connection: Connection,
    vectors: np.ndarray,
    *,
    quant: str = "Q8",
    m: int = 16,
    ef_construction: int = 200,
    chunk: int = 200,
    show_progress: bool = True,
) -> str:
    """``VADD`` every vector into a vector set (``quant``: ``Q8``, the default, ``NOQUANT``
    or ``BIN``); returns its key. Needs Redis 8's vector sets."""
    if not has_command(connection, "VADD"):
        raise StructureError("this server has no vector sets (VADD): Redis 8 has them built in")
    if quant not in ("Q8", "NOQUANT", "BIN"):
        raise StructureError(f"quant must be Q8, NOQUANT or BIN, not {quant!r}")
    k = vector_set_key(quant)
    connection.delete(k)
    pipe = connection.pipeline(transaction=False)
    bar = progress(total=len(vectors), desc=f"VADD {quant}", enabled=show_progress)
    for i, v in enumerate(vectors):
        pipe.execute_command(
            "VADD", k, "FP32", v.tobytes(), i, quant, "EF", ef_construction, "M", m
        )
        if (i + 1) % chunk == 0:
            pipe.execute()
            bar.update(chunk)
    pipe.execute()
    bar.close()
    return k


def vsim(connection: Connection, set_key: str, query: np.ndarray, k: int, *, ef: int) -> list[int]:
    """The ``k`` most similar elements ``VSIM`` returns, exploring ``ef`` candidates."""
    reply = connection.execute_command(
        "VSIM", set_key, "FP32", query.astype(np.float32).tobytes(), "COUNT", k, "EF", ef
    )
    return [int(x) for x in reply]


def knn_sweep(
    connection: Connection,
    queries: np.ndarray,
    exact: Sequence[Sequence[int]],
    *,
    k: int = 10,
    efs: Sequence[int] = (10, 20, 50, 100, 200),
    vector_sets: Sequence[str] = (),
    flat_hnsw: bool = True,
    show_progress: bool = True,
) -> pd.DataFrame:
    """recall@k and per-query latency for FLAT (once) and HNSW at each ``EF_RUNTIME``
    (``flat_hnsw``: the indexes of :func:`create_vector_indexes`), and each vector set in
    ``vector_sets`` (keys from :func:`load_vector_set`) at each ``EF``."""
    runs: list[tuple[str, int | None, Any]] = []
    if flat_hnsw:
        runs.append(("FT FLAT", None, lambda q, ef: knn(connection, INDEX_FLAT, q, k)))
        runs += [
            ("FT HNSW", ef, lambda q, ef: knn(connection, INDEX_HNSW, q, k, ef=ef)) for ef in efs
        ]
    for vs in vector_sets:
        name = f"VSIM {vs.rsplit(':', 1)[-1].upper()}"
        runs += [(name, ef, lambda q, ef, vs=vs: vsim(connection, vs, q, k, ef=ef)) for ef in efs]
    rows = []
    for name, ef, fn in progress(runs, desc="KNN", enabled=show_progress):
        found = [fn(q, ef) for q in queries]
        it = iter(list(queries) * 2)
        lat = summarize(
            time_calls(lambda fn=fn, ef=ef, it=it: fn(next(it), ef), n=len(queries)), unit="us"
        )
        rows.append({"method": name, "ef": ef, "recall_at_k": recall_at_k(found, exact),
                     "p50_us": lat["p50_us"], "p95_us": lat["p95_us"]})  # fmt: skip
    return pd.DataFrame(rows)
