"""The claims report: every claim the notebooks asserted, on every engine that ran them.

``redislab claims [DIR]`` reads the JSON lines that :func:`redislab.kit.claims.claim`
wrote under ``DIR`` (default ``build/claims``; one folder per engine, one file per
notebook) and writes ``DIR/claims.csv`` (one row per claim and engine) and
``DIR/claims.html`` (one row per claim, the measured value and held/failed per engine).
A timing claim (decided from samples, :mod:`redislab.kit.evidence`) also shows its
interval, confidence, sample size and margin, and may be *inconclusive* (the threshold
still inside the interval when the budget ran out), which does not fail a run.
``make claims`` runs the notebooks on every engine found here first; ``make soak``
(:mod:`redislab.soak`) runs them several times and writes the per-claim soak table.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

__all__ = ["build_report", "load_claims"]


def load_claims(folder: Path) -> list[dict[str, Any]]:
    """Every recorded claim under ``folder`` (``<engine>/<notebook>.jsonl``)."""
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*/*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows


def _measured(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_measured(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and len(value) > 6:
        return f"[{', '.join(_measured(v) for v in value[:6])}, …] ({len(value)})"
    return str(value)


def _verdict(row: Any) -> str:
    verdict = row.get("verdict") if isinstance(row, dict) else getattr(row, "verdict", None)
    if isinstance(verdict, str) and verdict:
        return verdict
    held = row.get("held") if isinstance(row, dict) else row.held
    return "held" if held else "failed"


def _evidence_text(ev: Any) -> str:
    """``ratio 3.9 [3.5, 4.2] >= 3, 99%, n=160, margin 2.1`` for a timing claim, else ''."""
    if not isinstance(ev, dict):
        return ""
    return (
        f"{ev['statistic']} {ev['estimate']:.4g} [{ev['low']:.4g}, {ev['high']:.4g}] "
        f"{ev['direction']} {ev['threshold']:.4g}, {ev['confidence']:.0%}, "
        f"n={sum(ev['n'])}, margin {ev['margin']:.2g}"
    )


def build_report(folder: Path) -> tuple[Path, Path, int]:
    """Write ``claims.csv`` and ``claims.html`` in ``folder``; return both and the count."""
    import pandas as pd

    rows = load_claims(folder)
    if not rows:
        raise FileNotFoundError(f"no claims recorded under {folder} (run `make claims` first)")
    df = pd.DataFrame(rows)
    df["engine_label"] = df["engine"].str.capitalize() + " " + df["version"].astype(str)
    df["measured_text"] = df["measured"].map(_measured)
    df["verdict"] = [_verdict(r) for r in rows]
    if "evidence" not in df:
        df["evidence"] = None
    df["evidence_text"] = df["evidence"].map(_evidence_text)
    csv = folder / "claims.csv"
    cols = ["notebook", "text", "source", "expect", "engine_label", "measured_text", "held"]
    cols += ["verdict", "evidence_text"]
    renamed = {"engine_label": "engine", "measured_text": "measured", "evidence_text": "evidence"}
    df[cols].rename(columns=renamed).to_csv(csv, index=False)
    engines = sorted(df["engine_label"].unique())
    keyed = df.drop_duplicates(["notebook", "text", "engine_label"], keep="last")
    claims = keyed.drop_duplicates(["notebook", "text"])[["notebook", "text", "source"]]
    total = len(claims)
    held_all = 0
    timed = int(keyed.drop_duplicates(["notebook", "text"])["evidence_text"].astype(bool).sum())
    inconclusive = int((keyed["verdict"] == "inconclusive").sum())
    body = []
    for _, c in claims.sort_values(["notebook"], kind="stable").iterrows():
        cells = []
        ok_everywhere = True
        for eng in engines:
            hit = keyed[
                (keyed.notebook == c.notebook)
                & (keyed.text == c.text)
                & (keyed.engine_label == eng)
            ]
            if hit.empty:
                cells.append('<td class="na">not run</td>')
                continue
            r = hit.iloc[-1]
            ok_everywhere &= bool(r.held)
            mark = {"held": "held", "failed": "FAILED"}.get(r.verdict, r.verdict)
            value = html.escape(r.evidence_text or r.measured_text)
            cells.append(f'<td class="{r.verdict}">{mark}<br><small>{value}</small></td>')
        held_all += ok_everywhere
        src = html.escape(c.source)
        link = f'<a href="{src}">{src}</a>' if c.source.startswith("http") else src
        body.append(
            f"<tr><td>{html.escape(c.notebook)}</td><td>{html.escape(c.text)}</td>"
            f"<td><small>{link}</small></td>{''.join(cells)}</tr>"
        )
    head = "".join(f"<th>{html.escape(e)}</th>" for e in engines)
    soak_link = (
        ' The soak table (every claim over repeated runs): <a href="soak.html">soak.html</a>.'
        if (folder / "soak.html").exists()
        else ""
    )
    page = f"""<!doctype html><meta charset="utf-8"><title>redislab claims</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 6px;vertical-align:top}}th{{background:#f4f4f4}}
.held{{background:#e8f6e8}}.failed{{background:#fbe3e3}}.na{{color:#999}}
.inconclusive{{background:#fff6d8}}</style>
<h1>redislab: the claims the notebooks assert</h1>
<p>{total} claims across {claims.notebook.nunique()} notebooks, measured on
{len(engines)} engine(s): {", ".join(html.escape(e) for e in engines)}.
{held_all} held on every engine that ran them. {timed} are timing claims, decided from
samples by a confidence interval (shown: estimate [interval] threshold, confidence, n,
margin in half-widths); {inconclusive} verdict(s) inconclusive (the threshold inside the
interval when the measuring budget ran out; not a failure).{soak_link}</p>
<table><tr><th>notebook</th><th>claim</th><th>source</th>{head}</tr>
{"".join(body)}</table>"""
    out = folder / "claims.html"
    out.write_text(page)
    return csv, out, total
