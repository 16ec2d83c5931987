"""redislab.kit.evidence: timing claims decided from samples with a stated confidence."""

from __future__ import annotations

import time

import numpy as np
import pytest

from redislab.errors import UsageError
from redislab.kit import claims as C
from redislab.kit.evidence import compare, interval, locate


def _lognormal(rng: np.random.Generator, median: float, n: int, sigma: float = 0.3) -> np.ndarray:
    return median * np.exp(rng.normal(0, sigma, n))


def _rounds(rng: np.random.Generator, a_median: float, b_median: float, n: int = 40):
    def one_round():
        return _lognormal(rng, a_median, n), _lognormal(rng, b_median, n)

    return one_round


def test_interval_contains_the_true_ratio_and_is_deterministic() -> None:
    rng = np.random.default_rng(1)
    a, b = _lognormal(rng, 400.0, 200), _lognormal(rng, 100.0, 200)
    lo, est, hi = interval(a, b, confidence=0.99)
    assert lo < 4.0 < hi and lo < est < hi
    assert interval(a, b, confidence=0.99) == (lo, est, hi)
    lo_p, _est_p, hi_p = interval(a, b, paired=True, confidence=0.99)
    assert lo_p < 4.0 < hi_p


def test_difference_interval_and_paired_noise_cancels() -> None:
    rng = np.random.default_rng(2)
    shared = rng.exponential(500.0, 300)  # a busy machine's stall, common to both
    a = 1000.0 + shared + rng.normal(0, 5, 300)
    b = 200.0 + shared + rng.normal(0, 5, 300)
    lo, _est, hi = interval(a, b, statistic="difference", paired=True)
    assert 790 < lo < 800 < hi < 810  # the shared stalls cancel pair by pair
    lo_u, _, hi_u = interval(a, b, statistic="difference", paired=False)
    assert hi_u - lo_u > 5 * (hi - lo)  # unpaired, they widen the interval


def test_outliers_cannot_move_the_verdict() -> None:
    rng = np.random.default_rng(3)
    a, b = _lognormal(rng, 500.0, 100), _lognormal(rng, 100.0, 100)
    b[:5] = 1e6  # five fast-path samples stalled for a second
    lo, _, _ = interval(a, b, paired=False)
    assert lo > 3.0


def test_compare_holds_fails_and_stays_inconclusive_at_the_threshold() -> None:
    rng = np.random.default_rng(4)
    held = compare(_rounds(rng, 5.0, 1.0), at_least=3.0)
    assert held.verdict == "held" and held.rounds == 2 and held.margin > 1
    failed = compare(_rounds(rng, 1.5, 1.0), at_least=3.0)
    assert failed.verdict == "failed" and not failed.held and failed.margin < -1
    edge = compare(_rounds(rng, 3.0, 1.0), at_least=3.0, max_rounds=4)
    assert edge.verdict == "inconclusive" and edge.rounds == 4 and edge.n == (160, 160)
    below = compare(_rounds(rng, 1.0, 4.0), at_most=0.5)
    assert below.verdict == "held" and below.direction == "<="


def test_the_stated_confidence_bounds_false_failures() -> None:
    """A claim true by a hair (ratio 3.05 vs >= 3) is called failed in < 1% of runs."""
    rng = np.random.default_rng(5)
    verdicts = [
        compare(_rounds(rng, 3.05, 1.0, n=30), at_least=3.0, max_rounds=3).verdict
        for _ in range(300)
    ]
    assert verdicts.count("failed") <= 3
    assert verdicts.count("held") + verdicts.count("inconclusive") >= 297


def test_the_budget_stops_measuring() -> None:
    calls = []

    def slow_round():
        calls.append(1)
        time.sleep(0.05)
        return [1.0, 1.1, 0.9, 1.05, 0.95, 1.0], [1.0, 1.1, 0.9, 1.05, 0.95, 1.0]

    ev = compare(slow_round, at_least=1.0, min_rounds=1, max_rounds=50, budget_s=0.2)
    assert ev.verdict == "inconclusive" and len(calls) < 10 and ev.seconds >= 0.2


def test_locate_a_median_below_a_bound() -> None:
    rng = np.random.default_rng(6)
    ev = locate(lambda: rng.exponential(20.0, 30), at_most=200.0, unit="ms")
    assert ev.verdict == "held" and ev.statistic == "median" and ev.n == (30,)
    ev = locate(lambda: 300 + rng.exponential(20.0, 30), at_most=200.0)
    assert ev.verdict == "failed"


def test_malformed_comparisons_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        compare(lambda: ([1.0], [1.0]), at_least=1.0, at_most=2.0)
    with pytest.raises(UsageError):
        interval([1.0, 2.0, 3.0], [-1.0, 2.0, 3.0])
    with pytest.raises(UsageError):
        interval([1.0] * 10, [1.0] * 9, paired=True)


def test_a_claim_decided_on_evidence_records_the_interval(tmp_path, monkeypatch) -> None:
    import json

    monkeypatch.setenv("REDISLAB_CLAIMS_DIR", str(tmp_path))
    monkeypatch.setenv("REDISLAB_NOTEBOOK", "99-evidence")
    rng = np.random.default_rng(7)
    c = C.claim("slow is 3x slow", source="physics", measured={"extra": 1},
                evidence=compare(_rounds(rng, 5.0, 1.0), at_least=3.0))  # fmt: skip
    assert c.held and c.verdict == "held" and c.measured["extra"] == 1
    assert c.evidence is not None and c.evidence["low"] > 3.0 and c.measured["n"] == 160
    rec = json.loads(next(tmp_path.glob("*/99-evidence.jsonl")).read_text().splitlines()[-1])
    assert rec["evidence"]["verdict"] == "held" and rec["evidence"]["confidence"] == 0.99
    at_edge = compare(_rounds(rng, 3.0, 1.0), at_least=3.0, max_rounds=3)
    edge = C.claim("slow is 3x slow", source="physics", measured={}, evidence=at_edge)
    assert edge.held and edge.verdict == "inconclusive" and edge.line().startswith("≈")
    with pytest.raises(AssertionError, match="ratio >= 3"):
        C.claim("slow is 3x slow", source="physics", measured={},
                evidence=compare(_rounds(rng, 1.0, 1.0), at_least=3.0))  # fmt: skip
    with pytest.raises(AssertionError):  # evidence for, expect against: fails
        C.claim("x", source="s", measured={"k": 0}, expect="k == 1",
                evidence=compare(_rounds(rng, 5.0, 1.0), at_least=3.0))  # fmt: skip


def test_pipelining_against_a_real_server_is_decided_in_two_rounds(standalone_lab) -> None:
    """On a live server a pipeline of 50 GETs beats 50 round trips by far more than 3x."""
    r = standalone_lab.client()
    r.set("k", "v")

    def one_round():
        single, piped = [], []
        for _ in range(20):
            t = time.perf_counter()
            for _ in range(50):
                r.get("k")
            single.append(time.perf_counter() - t)
            t = time.perf_counter()
            p = r.pipeline(transaction=False)
            for _ in range(50):
                p.get("k")
            p.execute()
            piped.append(time.perf_counter() - t)
        return single, piped

    ev = compare(one_round, at_least=3.0, paired=True)
    assert ev.verdict == "held", ev
