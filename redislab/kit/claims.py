"""Claims: what a notebook asserts about Redis, with its source and what was measured.

A notebook states a Redis claim with :func:`claim` instead of a bare ``assert``::

    from redislab.kit import claim
    claim("noeviction answers writes with OOM instead of evicting",
          source="https://redis.io/docs/latest/develop/reference/eviction/",
          measured={"oom_errors": oom, "evicted_keys": evicted},
          expect="oom_errors > 0 and evicted_keys == 0")

``expect`` is a Python expression over the names in ``measured`` (comprehensions see
them too; builtins: ``abs min max len sum all any round sorted set zip range enumerate
bool int float str list tuple dict isinstance`` and ``math``); or pass ``holds=`` a bool computed
in the cell (then ``expect`` is only the condition in words). A claim that does not
hold raises :class:`AssertionError` saying which claim failed, what was measured and
where the claim comes from.

A claim whose verdict depends on time or throughput passes ``evidence=``, an
:class:`~redislab.kit.evidence.Evidence` decided from samples with a stated confidence
(:func:`redislab.kit.evidence.compare` / :func:`~redislab.kit.evidence.locate`), never a
single number. It fails only when the interval lies wholly against the claim; when the
budget ran out with the threshold inside the interval it is recorded as *inconclusive*
(printed ``≈``) and does not fail. The record keeps n, the interval and the margin.

Only a statement that a *different Redis behaviour would fail* is a claim. A check of
what the lab configured, of arithmetic on constants or of redislab's own logic is a
set-up check: write a plain ``assert`` (it is not counted) or a unit test.

Every claim is recorded in this process's :data:`LEDGER`. When ``REDISLAB_CLAIMS_DIR``
is set (``make test`` and ``make claims`` set it), each record is also appended as a
JSON line to ``$REDISLAB_CLAIMS_DIR/<engine>/<notebook>.jsonl``, where ``<notebook>``
comes from ``REDISLAB_NOTEBOOK`` (set per notebook by the test run) and ``<engine>``
from the server the lab picks (:func:`redislab.find_server`). ``redislab claims``
(:mod:`redislab.report`) turns those files into one table, HTML and CSV.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ClaimError
from ..lab.servers import find_server
from .evidence import Evidence

__all__ = ["LEDGER", "Claim", "claim", "claims_table"]

_BUILTINS: dict[str, Any] = {
    "abs": abs, "min": min, "max": max, "len": len, "sum": sum, "all": all, "any": any,
    "round": round, "sorted": sorted, "set": set, "math": math, "zip": zip, "range": range,
    "bool": bool, "int": int, "float": float, "str": str, "list": list, "tuple": tuple,
    "dict": dict, "enumerate": enumerate, "isinstance": isinstance,
}  # fmt: skip


@dataclass
class Claim:
    """One claim as measured: what, where it comes from, the values, whether it held."""

    text: str
    source: str
    measured: dict[str, Any]
    expect: str
    held: bool
    notebook: str = ""
    engine: str = ""
    version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # "held", "failed" or, for a timing claim whose interval still holds its threshold
    # when the budget ran out, "inconclusive" (which does not fail the run)
    verdict: str = ""
    # for timing claims: Evidence.as_dict() (statistic, interval, confidence, n, margin...)
    evidence: dict[str, Any] | None = None

    def line(self) -> str:
        mark = {"held": "✔", "failed": "✘", "inconclusive": "≈"}.get(self.verdict, "?")
        values = ", ".join(f"{k}={_short(v)}" for k, v in self.measured.items())
        return f"{mark} {self.text}  [{values}]  ({self.source})"


LEDGER: list[Claim] = []
"""Every claim made in this process, in order."""

_engine_cache: tuple[str, str] | None = None
_opened: set[Path] = set()


def _engine() -> tuple[str, str]:
    global _engine_cache
    if _engine_cache is None:
        try:
            info = find_server()
            _engine_cache = (info.engine, str(info.version))
        except Exception:  # no server: still record the claim
            _engine_cache = ("unknown", "")
    return _engine_cache


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return _jsonable(item())
        except Exception:
            pass
    return repr(value)


def _record(c: Claim) -> None:
    LEDGER.append(c)
    folder = os.environ.get("REDISLAB_CLAIMS_DIR")
    if not folder:
        return
    engine = f"{c.engine}-{c.version}" if c.version else (c.engine or "unknown")
    path = Path(folder) / engine / f"{c.notebook or 'script'}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "a" if path in _opened else "w"  # a new run replaces the notebook's old records
    _opened.add(path)
    with path.open(mode) as fh:
        fh.write(json.dumps(_jsonable(asdict(c))) + "\n")


def claim(
    text: str,
    *,
    source: str,
    measured: Mapping[str, Any] | Any,
    expect: str | None = None,
    holds: bool | None = None,
    evidence: Evidence | None = None,
    quiet: bool = False,
) -> Claim:
    """State a claim about Redis, check it against what was measured, and record it.

    ``measured`` is a mapping of names to values (a single value becomes
    ``{"value": v}``); the claim holds when ``expect`` (an expression over those names)
    is true, or when ``holds`` is. With ``evidence`` (a timing decided from samples) the
    claim also needs the evidence not to be against it, and ``expect``/``holds`` may be
    left out; the evidence's figures join ``measured``. Raises :class:`AssertionError` if
    it does not hold and :class:`~redislab.errors.ClaimError` if the claim is malformed.
    Prints one line (``✔ text [measured] (source)``; ``≈`` if inconclusive) unless ``quiet``.
    """
    if not text or not source:
        raise ClaimError("a claim needs its text and a source (a URL, redis.conf, a file)")
    values = dict(measured) if isinstance(measured, Mapping) else {"value": measured}
    if expect is None and holds is None and evidence is None:
        raise ClaimError(f"claim {text!r}: give expect= (an expression) or holds= (a bool)")
    if expect is None and holds is None:
        held = True
    elif holds is None:
        assert expect is not None
        try:
            # the measured names are globals: comprehensions in expect see them too
            result = eval(expect, {"__builtins__": _BUILTINS, **values})
        except Exception as exc:
            raise ClaimError(f"claim {text!r}: cannot evaluate {expect!r}: {exc!r}") from exc
        held = bool(result)
    else:
        held = bool(holds)
    verdict = "held" if held else "failed"
    if evidence is not None:
        values.update(evidence.summary())
        expect = f"{expect} and {evidence.condition}" if expect else evidence.condition
        if held and not evidence.held:
            held, verdict = False, "failed"
        elif held and evidence.verdict == "inconclusive":
            verdict = "inconclusive"
    engine, version = _engine()
    c = Claim(
        text=text,
        source=source,
        measured=values,
        expect=expect or "",
        held=held,
        notebook=os.environ.get("REDISLAB_NOTEBOOK", ""),
        engine=engine,
        version=version,
        verdict=verdict,
        evidence=evidence.as_dict() if evidence is not None else None,
    )
    _record(c)
    if not quiet:
        print(c.line(), file=sys.stdout)
    if not held:
        values_text = ", ".join(f"{k} = {_short(v, 200)}" for k, v in values.items())
        raise AssertionError(
            f"Claim did not hold on {engine} {version}: {text}\n"
            f"  measured: {values_text}\n"
            f"  expected: {expect or 'holds=True'}\n"
            f"  source:   {source}"
        )
    return c


def claims_table(claims: list[Claim] | None = None) -> Any:
    """The claims made so far in this process (or ``claims``) as a pandas DataFrame."""
    import pandas as pd

    rows = [asdict(c) for c in (LEDGER if claims is None else claims)]
    cols = ["notebook", "engine", "version", "text", "source", "measured", "expect", "held"]
    cols += ["verdict"]
    return pd.DataFrame(rows, columns=[*cols, "extra", "evidence"])[cols]
