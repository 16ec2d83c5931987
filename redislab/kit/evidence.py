"""Timing claims decided from samples, with a stated confidence, never from one number.

A busy machine makes any single timing lie: one slow fsync, one descheduled thread, one
neighbour's burst. A claim such as "pipelining is at least 3x faster" is therefore decided
here from two *sets* of timings, by a confidence interval, and measured further when the
interval still straddles the threshold:

    from redislab.kit import claim
    from redislab.kit.evidence import compare

    def one_round():          # a few interleaved timings of each path
        ...
        return slow_samples, fast_samples

    ev = compare(one_round, at_least=3.0, paired=True)
    claim("pipelining is at least 3x faster", source=URL, evidence=ev)

The verdict (:class:`Evidence`) is

- ``"held"`` when the whole interval is on the claim's side of the threshold,
- ``"failed"`` when the whole interval is on the other side (the evidence is *against*
  the claim: this is the only verdict that makes :func:`~redislab.kit.claims.claim` raise),
- ``"inconclusive"`` when the budget (rounds or seconds) ran out with the threshold still
  inside the interval: the true value is too close to the threshold to tell on this
  machine. The claim is recorded as such, printed with ``≈``, and does not fail the run.

The intervals are rank-based (Hodges–Lehmann, from the Wilcoxon / Mann–Whitney
statistics), so a few huge outliers from a stalled machine cannot move them, and they are
deterministic for given samples. Ratios are computed on the logarithm of the timings.

- ``paired=True``: ``a[i]`` and ``b[i]`` were measured next to each other (interleaved), so
  the noise they share cancels; the interval is for the median of ``a[i] / b[i]``
  (``statistic="ratio"``) or of ``a[i] - b[i]`` (``"difference"``).
- ``paired=False``: two independent samples; the interval is for the median of all
  pairwise ratios (or differences), the shift between the two distributions.
- :func:`locate` is the one-sample form: "the median of these timings is below 200 ms".

Repeated looks at growing data would inflate the error rate, so the stated confidence is
for the whole sequence: each of at most ``max_rounds`` looks uses ``1 - (1 - confidence) /
max_rounds`` (Bonferroni). The default, 99% over the sequence, means a claim whose true
value sits on its side of the threshold is called "failed" at most once in a hundred runs,
and in practice far less (the interval must lie wholly on the wrong side).

Thresholds come from the cited source or from physics measured in the same run (an fsync
timed on the same disk, interleaved with the commands), never from what last week's CI saw.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

from ..errors import UsageError

__all__ = ["Evidence", "compare", "interval", "locate"]

Statistic = Literal["ratio", "difference"]
Verdict = Literal["held", "failed", "inconclusive"]

#: Pairwise statistics are computed over at most this many pairs (memory and time bound):
#: larger samples are thinned evenly, keeping their order.
MAX_PAIRS = 4_000_000


@dataclass(frozen=True)
class Evidence:
    """What a timing claim was decided on: the interval, the threshold, the verdict."""

    statistic: str  # "ratio", "difference" or "median"
    estimate: float
    low: float
    high: float
    confidence: float
    threshold: float
    direction: str  # ">=" or "<=": the claim is "statistic <direction> threshold"
    n: tuple[int, ...]
    rounds: int
    seconds: float
    verdict: Verdict
    paired: bool = False
    unit: str = ""

    @property
    def held(self) -> bool:
        """False only when the evidence is against the claim."""
        return self.verdict != "failed"

    @property
    def margin(self) -> float:
        """Distance from the estimate to the threshold, in half-widths of the interval.

        Positive on the claim's side. Above 1 the interval clears the threshold; a margin
        that stays small across runs is the next claim to go inconclusive or red.
        """
        half = (self.high - self.low) / 2
        if self.statistic == "ratio":
            half = (math.log(self.high) - math.log(self.low)) / 2
            gap = math.log(self.estimate) - math.log(self.threshold)
        else:
            gap = self.estimate - self.threshold
        if self.direction == "<=":
            gap = -gap
        return gap / half if half > 0 else math.copysign(math.inf, gap)

    @property
    def condition(self) -> str:
        """The claim's condition in words, e.g. ``ratio >= 3 (99% interval [3.4, 4.1])``."""
        what = {"ratio": "ratio", "difference": "difference", "median": "median"}[self.statistic]
        unit = f" {self.unit}" if self.unit and self.statistic != "ratio" else ""
        return (
            f"{what} {self.direction} {self.threshold:.4g}{unit} "
            f"({self.confidence:.0%} interval [{self.low:.4g}, {self.high:.4g}])"
        )

    def summary(self) -> dict[str, float | int | str]:
        """The figures a claim record keeps: estimate, interval, n, rounds, margin."""
        return {
            self.statistic: round(self.estimate, 6),
            "low": round(self.low, 6),
            "high": round(self.high, 6),
            "n": int(sum(self.n)),
            "rounds": self.rounds,
            "margin": round(self.margin, 3) if math.isfinite(self.margin) else str(self.margin),
        }

    def as_dict(self) -> dict[str, object]:
        """Every field and the margin, for the claim record and the soak table."""
        out: dict[str, object] = asdict(self)
        out["n"] = list(self.n)
        out["margin"] = self.margin
        out["condition"] = self.condition
        return out

    def __str__(self) -> str:
        return f"{self.verdict}: {self.statistic} {self.estimate:.4g}, {self.condition}"


def _clean(samples: Sequence[float] | np.ndarray, *, positive: bool, name: str) -> np.ndarray:
    arr = np.asarray(samples, dtype=float).ravel()
    arr = arr[np.isfinite(arr)]
    if positive:
        if (arr <= 0).any():
            raise UsageError(f"{name}: a ratio needs positive timings (got {arr.min()!r})")
        arr = np.log(arr)
    return arr


def _thin(arr: np.ndarray, size: int) -> np.ndarray:
    if len(arr) <= size:
        return arr
    return arr[np.linspace(0, len(arr) - 1, size).round().astype(int)]


def _order_stats(values: np.ndarray, lo_rank: int, hi_rank: int) -> tuple[float, float, float]:
    """The lo_rank-th and hi_rank-th smallest (1-based) of values, and their median."""
    n = len(values)
    lo_i, hi_i = max(lo_rank - 1, 0), min(hi_rank - 1, n - 1)
    mid = n // 2
    part = np.partition(values, sorted({lo_i, hi_i, mid, max(mid - 1, 0)}))
    median = part[mid] if n % 2 else (part[mid - 1] + part[mid]) / 2
    return float(part[lo_i]), float(median), float(part[hi_i])


def interval(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    statistic: Statistic = "ratio",
    paired: bool = False,
    confidence: float = 0.99,
) -> tuple[float, float, float]:
    """``(low, estimate, high)`` for how ``a`` compares with ``b`` (a/b or a-b).

    Paired: the Hodges–Lehmann estimate of the median of ``a[i] ? b[i]`` and its
    Wilcoxon signed-rank interval (Walsh averages). Unpaired: the median of all pairwise
    ``a[i] ? b[j]`` and its Mann–Whitney interval. Ratios are taken on logarithms and
    returned as ratios.
    """
    if not 0.5 < confidence < 1:
        raise UsageError(f"confidence must be in (0.5, 1), got {confidence}")
    ratio = statistic == "ratio"
    x, y = _clean(a, positive=ratio, name="a"), _clean(b, positive=ratio, name="b")
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    if paired:
        if len(x) != len(y):
            raise UsageError(f"paired samples need equal lengths ({len(x)} vs {len(y)})")
        d = _thin(x - y, int(math.sqrt(2 * MAX_PAIRS)))
        n = len(d)
        if n < 6:
            raise UsageError(f"need at least 6 pairs for an interval, got {n}")
        i, j = np.triu_indices(n)
        walsh = (d[i] + d[j]) / 2
        m = len(walsh)
        c = math.floor(n * (n + 1) / 4 - z * math.sqrt(n * (n + 1) * (2 * n + 1) / 24))
        lo, est, hi = _order_stats(walsh, max(c, 1), m + 1 - max(c, 1))
    else:
        side = int(math.sqrt(MAX_PAIRS))
        x, y = _thin(x, side), _thin(y, side)
        n, k = len(x), len(y)
        if n < 3 or k < 3:
            raise UsageError(f"need at least 3 samples on each side, got {n} and {k}")
        diffs = (x[:, None] - y[None, :]).ravel()
        m = len(diffs)
        c = math.floor(n * k / 2 - z * math.sqrt(n * k * (n + k + 1) / 12))
        lo, est, hi = _order_stats(diffs, max(c, 1), m + 1 - max(c, 1))
    if ratio:
        return math.exp(lo), math.exp(est), math.exp(hi)
    return lo, est, hi


def _median_interval(x: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """Distribution-free interval for a median: order statistics from the binomial."""
    n = len(x)
    if n < 6:
        raise UsageError(f"need at least 6 samples for a median interval, got {n}")
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    c = math.floor(n / 2 - z * math.sqrt(n) / 2)
    return _order_stats(x, max(c, 1), n - max(c, 1) + 1)


def _verdict(low: float, high: float, threshold: float, direction: str) -> Verdict | None:
    if direction == ">=":
        return "held" if low >= threshold else "failed" if high < threshold else None
    return "held" if high <= threshold else "failed" if low > threshold else None


def _bounds(at_least: float | None, at_most: float | None) -> tuple[float, str]:
    if (at_least is None) == (at_most is None):
        raise UsageError("give exactly one of at_least= or at_most=")
    return (at_least, ">=") if at_least is not None else (float(at_most), "<=")  # type: ignore[arg-type]


def _sequential(
    look: Callable[[float | None], tuple[float, float, float] | None],
    threshold: float,
    direction: str,
    confidence: float,
    min_rounds: int,
    max_rounds: int,
    budget_s: float,
) -> tuple[float, float, float, int, Verdict]:
    """One round per ``look`` until the interval clears the threshold or rounds or budget
    run out; ``look(None)`` only measures (before ``min_rounds``). Each look is tested at
    ``1 - (1 - confidence) / max_rounds``. Returns ``(low, estimate, high, rounds, verdict)``.
    """
    per_look = 1 - (1 - confidence) / max_rounds
    start = time.monotonic()
    lo = est = hi = math.nan
    for rounds in range(1, max_rounds + 1):
        found = look(per_look if rounds >= min_rounds else None)
        if found is None:
            continue
        lo, est, hi = found
        verdict = _verdict(lo, hi, threshold, direction)
        if verdict is not None:
            return lo, est, hi, rounds, verdict
        if time.monotonic() - start > budget_s:
            break
    return lo, est, hi, rounds, "inconclusive"


def compare(
    measure: Callable[[], tuple[Sequence[float], Sequence[float]]],
    *,
    at_least: float | None = None,
    at_most: float | None = None,
    statistic: Statistic = "ratio",
    paired: bool = False,
    confidence: float = 0.99,
    min_rounds: int = 2,
    max_rounds: int = 6,
    budget_s: float = 30.0,
    unit: str = "",
) -> Evidence:
    """Call ``measure()`` (one round: samples of ``a`` and of ``b``) until the verdict is clear.

    The claim is ``a/b >= at_least`` (or ``<= at_most``; ``a - b`` with
    ``statistic="difference"``). After ``min_rounds`` rounds, and after each further one,
    the samples so far are tested at the per-look confidence; a clear interval ends the
    measurement, otherwise it goes on until ``max_rounds`` rounds or ``budget_s`` seconds,
    and the verdict is ``"inconclusive"``.
    """
    threshold, direction = _bounds(at_least, at_most)
    if statistic == "ratio" and threshold <= 0:
        raise UsageError(f"a ratio threshold must be positive, got {threshold}")
    if min_rounds < 1 or max_rounds < min_rounds:
        raise UsageError(f"need 1 <= min_rounds <= max_rounds, got {min_rounds}, {max_rounds}")
    a_all: list[float] = []
    b_all: list[float] = []

    def look(per_look: float | None) -> tuple[float, float, float] | None:
        a, b = measure()
        a_all.extend(float(v) for v in a)
        b_all.extend(float(v) for v in b)
        if per_look is None:
            return None
        return interval(a_all, b_all, statistic=statistic, paired=paired, confidence=per_look)

    start = time.monotonic()
    lo, est, hi, rounds, verdict = _sequential(
        look, threshold, direction, confidence, min_rounds, max_rounds, budget_s
    )
    return Evidence(
        statistic=statistic,
        estimate=est,
        low=lo,
        high=hi,
        confidence=confidence,
        threshold=threshold,
        direction=direction,
        n=(len(a_all), len(b_all)),
        rounds=rounds,
        seconds=round(time.monotonic() - start, 3),
        verdict=verdict,
        paired=paired,
        unit=unit,
    )


def locate(
    measure: Callable[[], Sequence[float]],
    *,
    at_least: float | None = None,
    at_most: float | None = None,
    confidence: float = 0.99,
    min_rounds: int = 1,
    max_rounds: int = 4,
    budget_s: float = 30.0,
    unit: str = "",
) -> Evidence:
    """The one-sample form: is the *median* of ``measure()``'s timings above/below a bound?

    E.g. "a WAIT every replica can answer returns within 200 ms" from 30 WAITs, not one.
    The interval is the distribution-free one for a median (binomial order statistics).
    """
    threshold, direction = _bounds(at_least, at_most)
    values: list[float] = []

    def look(per_look: float | None) -> tuple[float, float, float] | None:
        values.extend(float(v) for v in measure())
        if per_look is None:
            return None
        return _median_interval(_clean(values, positive=False, name="samples"), per_look)

    start = time.monotonic()
    lo, est, hi, rounds, verdict = _sequential(
        look, threshold, direction, confidence, min_rounds, max_rounds, budget_s
    )
    return Evidence(
        statistic="median",
        estimate=est,
        low=lo,
        high=hi,
        confidence=confidence,
        threshold=threshold,
        direction=direction,
        n=(len(values),),
        rounds=rounds,
        seconds=round(time.monotonic() - start, 3),
        verdict=verdict,
        unit=unit,
    )
