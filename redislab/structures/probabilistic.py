"""HyperLogLog: accuracy against an exact set, sparse vs dense encoding, memory."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import StructureError
from ..keys import HLL, key
from ..types import Connection
from ._common import _raw, memory_usage

HLL_STANDARD_ERROR = 0.0081  # documented standard error of Redis's HLL (16384 registers)
HLL_HEADER_BYTES = 16  # "HYLL" magic, encoding, 3 unused, 8-byte cached cardinality
HLL_DENSE_BYTES = HLL_HEADER_BYTES + 16384 * 6 // 8  # 12 KiB of 6-bit registers + header


def hll_is_sparse(connection: Connection, key_: str) -> bool:
    """Byte 4 of the HLL header is the encoding: 0 = dense, 1 = sparse."""
    return _raw(connection, "GETRANGE", key_, 4, 4) == b"\x01"


def hll_accuracy(
    connection: Connection,
    *,
    checkpoints: Sequence[int],
    seed: int,
    name: str = "visitors",
    exact_set: bool = True,
    chunk: int = 5000,
) -> pd.DataFrame:
    """Add distinct seeded ids to an HLL (and an exact set); measure at each checkpoint.

    Columns: ``n`` (true distinct count), ``estimate`` (``PFCOUNT``), ``rel_error``,
    ``hll_bytes`` (``STRLEN``), ``hll_memory`` and ``set_memory`` (``MEMORY USAGE``),
    ``sparse`` (header encoding byte).
    """
    cps = sorted(int(c) for c in checkpoints)
    rng = np.random.default_rng(seed)
    ids = np.unique(rng.integers(0, 2**62, size=int(cps[-1] * 1.01) + 100))
    ids = rng.permutation(ids)[: cps[-1]]  # distinct, in random order
    if len(ids) < cps[-1]:
        raise StructureError("could not draw enough distinct ids")  # pragma: no cover
    k_hll, k_set = key(HLL, name), key(HLL, name, "exact")
    connection.delete(k_hll, k_set)
    rows, done = [], 0
    for cp in cps:
        while done < cp:
            batch = [str(x) for x in ids[done : min(cp, done + chunk)]]
            pipe = connection.pipeline(transaction=False)
            pipe.pfadd(k_hll, *batch)
            if exact_set:
                pipe.sadd(k_set, *batch)
            pipe.execute()
            done += len(batch)
        est = connection.pfcount(k_hll)
        rows.append(
            {"n": cp, "estimate": est, "rel_error": (est - cp) / cp,
             "hll_bytes": connection.strlen(k_hll), "sparse": hll_is_sparse(connection, k_hll),
             "hll_memory": memory_usage(connection, k_hll),
             "set_memory": memory_usage(connection, k_set) if exact_set else None}
        )  # fmt: skip
    connection.delete(k_hll, k_set)
    return pd.DataFrame(rows)
