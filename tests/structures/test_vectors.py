"""redislab.structures.vectors: KNN recall against an exact numpy search."""

from __future__ import annotations

import numpy as np
import pytest

from redislab import structures as S
from redislab.errors import StructureError
from redislab.kit.features import has_command


def test_vectors_are_seeded_unit_vectors_and_exact_knn_is_exact() -> None:
    x = S.make_vectors(200, 8, seed=1)
    assert x.dtype == np.float32 and np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    assert np.array_equal(x, S.make_vectors(200, 8, seed=1))
    q = x[:5]
    found = S.exact_knn(x, q, 3)
    assert [i in f for i, f in enumerate(found)] == [True] * 5  # a point is its own neighbour
    want = np.argsort(-(q @ x.T), axis=1)[:, :3]
    assert [set(f) for f in found] == [set(map(int, w)) for w in want]
    assert S.recall_at_k([[1, 2], [3, 4]], [[1, 2], [3, 5]]) == 0.75
    with pytest.raises(StructureError):
        S.recall_at_k([], [])


def test_flat_is_exact_and_hnsw_close_at_a_large_ef(search_lab) -> None:
    r = search_lab.client()
    x, q = S.make_vectors(600, 16, seed=2), S.make_vectors(10, 16, seed=3)
    truth = S.exact_knn(x, q, 10)
    S.load_vectors(r, x)
    S.create_vector_indexes(r, 16, ef_construction=64)
    assert S.recall_at_k([S.knn(r, S.INDEX_FLAT, v, 10) for v in q], truth) >= 0.999
    assert S.recall_at_k([S.knn(r, S.INDEX_HNSW, v, 10, ef=200) for v in q], truth) >= 0.9
    df = S.knn_sweep(r, q, truth, efs=(10, 200), show_progress=False)
    assert list(df["method"]) == ["FT FLAT", "FT HNSW", "FT HNSW"]
    assert df["recall_at_k"].between(0, 1).all() and (df["p50_us"] > 0).all()


def test_vector_sets_where_the_server_has_them(search_lab) -> None:
    r = search_lab.client()
    x, q = S.make_vectors(400, 16, seed=4), S.make_vectors(10, 16, seed=5)
    if not has_command(r, "VADD"):
        with pytest.raises(StructureError, match="vector sets"):
            S.load_vector_set(r, x, show_progress=False)
        pytest.skip(f"{search_lab.server.label} has no vector sets")
    k = S.load_vector_set(r, x, quant="NOQUANT", show_progress=False)
    assert r.execute_command("VCARD", k) == 400
    found = [S.vsim(r, k, v, 10, ef=200) for v in q]
    assert S.recall_at_k(found, S.exact_knn(x, q, 10)) >= 0.9
    with pytest.raises(StructureError, match="quant"):
        S.load_vector_set(r, x, quant="Q4")
