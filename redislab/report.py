"""The claims report: every claim the notebooks asserted, on every engine that ran them.

``redislab claims [DIR]`` reads the JSON lines that :func:`redislab.kit.claims.claim`
wrote under ``DIR`` (default ``build/claims``; one folder per engine, one file per
notebook) and writes ``DIR/claims.csv`` (one row per claim and engine) and
``DIR/claims.html`` (one row per claim, the measured value and held/failed per engine).
``make claims`` runs the notebooks on every engine found here first.
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


def build_report(folder: Path) -> tuple[Path, Path, int]:
    """Write ``claims.csv`` and ``claims.html`` in ``folder``; return both and the count."""
    import pandas as pd

    rows = load_claims(folder)
    if not rows:
        raise FileNotFoundError(f"no claims recorded under {folder} (run `make claims` first)")
    df = pd.DataFrame(rows)
    df["engine_label"] = df["engine"].str.capitalize() + " " + df["version"].astype(str)
    df["measured_text"] = df["measured"].map(_measured)
    csv = folder / "claims.csv"
    cols = ["notebook", "text", "source", "expect", "engine_label", "measured_text", "held"]
    df[cols].rename(columns={"engine_label": "engine", "measured_text": "measured"}).to_csv(
        csv, index=False
    )
    engines = sorted(df["engine_label"].unique())
    keyed = df.drop_duplicates(["notebook", "text", "engine_label"], keep="last")
    claims = keyed.drop_duplicates(["notebook", "text"])[["notebook", "text", "source"]]
    total = len(claims)
    held_all = 0
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
            mark = "held" if r.held else "FAILED"
            value = html.escape(r.measured_text)
            cells.append(f'<td class="{mark.lower()}">{mark}<br><small>{value}</small></td>')
        held_all += ok_everywhere
        src = html.escape(c.source)
        link = f'<a href="{src}">{src}</a>' if c.source.startswith("http") else src
        body.append(
            f"<tr><td>{html.escape(c.notebook)}</td><td>{html.escape(c.text)}</td>"
            f"<td><small>{link}</small></td>{''.join(cells)}</tr>"
        )
    head = "".join(f"<th>{html.escape(e)}</th>" for e in engines)
    page = f"""<!doctype html><meta charset="utf-8"><title>redislab claims</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 6px;vertical-align:top}}th{{background:#f4f4f4}}
.held{{background:#e8f6e8}}.failed{{background:#fbe3e3}}.na{{color:#999}}</style>
<h1>redislab: the claims the notebooks assert</h1>
<p>{total} claims across {claims.notebook.nunique()} notebooks, measured on
{len(engines)} engine(s): {", ".join(html.escape(e) for e in engines)}.
{held_all} held on every engine that ran them.</p>
<table><tr><th>notebook</th><th>claim</th><th>source</th>{head}</tr>
{"".join(body)}</table>"""
    out = folder / "claims.html"
    out.write_text(page)
    return csv, out, total
