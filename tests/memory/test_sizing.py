"""Miss-ratio curve and capacity model."""

from __future__ import annotations

from redislab.kit.workload import ZipfWorkload
from redislab.memory import fit_capacity_model, load_keys, miss_ratio_curve


def test_miss_ratio_curve_rises(r):
    wl = ZipfWorkload(2000, seed=1)
    mrc = miss_ratio_curve(
        r, wl, fractions=(0.05, 0.6), policies=("allkeys-lfu",), ops=5000, show_progress=False
    )
    assert mrc.hit_ratio.iloc[1] > mrc.hit_ratio.iloc[0]
    assert (mrc.exact_lru.between(0, 1)).all()


def test_capacity_model_predicts(r):
    model = fit_capacity_model(r, sizes=(1000, 2000, 4000))
    assert 100 < model.per_key < 400
    real = load_keys(r, 20000)
    assert abs(model.predict(20000) / real - 1) < 0.15
