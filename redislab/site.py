"""The course as a small static site: ``redislab site`` (``make report``) writes ``build/site/``.

- ``index.html``: the course path (what to read in which order), for each notebook what
  it shows, its run time and how many claims held on the engine used;
- ``notebooks/<name>.html``: each notebook executed, with its plots (every plot has alt
  text naming the section it belongs to) and links home, to the claims and to the
  previous and next notebook;
- ``claims.html`` / ``claims.csv``: the claims report (:mod:`redislab.report`).

Notebooks are executed with nbclient (``REDISLAB_CLAIMS_DIR`` and ``REDISLAB_NOTEBOOK``
set for each, so the claims land in the site's own ledger). Each kernel runs in its
notebook's directory (``notebooks/``), not in the directory ``redislab site`` was started
from, so every path handed to a kernel (the claims directory, the notebook, and the
path-valued variables it inherits: ``REDISLAB_HOME``, ``XDG_CACHE_HOME``, a
``REDISLAB_SERVER`` that is a path) is made absolute first: a relative
``--out build/site`` once sent every claim to ``notebooks/build/site/claims-data`` and
the site said "0 claims".
"""

from __future__ import annotations

import html
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["NotebookPage", "build_site", "course_table", "kernel_environment"]

THEMES = {
    "00": "start here", "01": "data structures", "02": "caching", "03": "messaging",
    "04": "memory", "05": "replication, Sentinel, Cluster", "06": "performance",
    "07": "security", "08": "persistence", "09": "monitoring", "10": "design studio",
}  # fmt: skip


@dataclass
class NotebookPage:
    """One executed notebook as the site shows it."""

    name: str
    title: str
    theme: str
    summary: str
    seconds: float
    claims: int
    held: int
    images: int
    error: str = ""


def course_table(readme: Path) -> dict[str, str]:
    """``notebook name -> what it shows`` from the README's notebook table."""
    rows = {}
    for line in readme.read_text().splitlines():
        m = re.match(r"\|\s*`([0-9][0-9.]*-[^`]+)`\s*\|\s*(.+?)\s*\|\s*$", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def _md_inline(text: str) -> str:
    text = html.escape(text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def _alt_texts(nb: Any) -> list[str]:
    """Alt text for every image output, in order: the section heading and notebook it is in."""
    title = ""
    section = ""
    alts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                m = re.match(r"^(#+)\s+(.*)", line)
                if m:
                    text = re.sub(r"[`*_]", "", m.group(2)).strip()
                    if len(m.group(1)) == 1 and not title:
                        title = text
                    section = text
        elif cell.cell_type == "code":
            for out in cell.get("outputs", []):
                if "image/png" in out.get("data", {}) or "image/svg+xml" in out.get("data", {}):
                    alts.append(f"Plot measured in '{section or title}' ({title})")
    return alts


#: Environment variables the kernels inherit that hold a path (a relative one would be
#: read against the notebook's directory, not the directory the site was built from).
PATH_VARIABLES = ("REDISLAB_HOME", "XDG_CACHE_HOME", "REDISLAB_SERVER")


def kernel_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The path-valued variables of ``environ`` (default ``os.environ``) made absolute.

    ``REDISLAB_SERVER`` is left alone when it is a name (``system``, ``redis8``...) or a
    command found on PATH rather than a path; only the variables that are set and change
    are returned.
    """
    from .lab.servers import SERVER_NAMES

    env = os.environ if environ is None else environ
    out = {}
    for key in PATH_VARIABLES:
        value = env.get(key)
        if not value:
            continue
        path = Path(value).expanduser()
        if key == "REDISLAB_SERVER" and (
            value in SERVER_NAMES or (os.sep not in value and not path.exists())
        ):
            continue
        absolute = str(path.resolve())
        if absolute != value:
            out[key] = absolute
    return out


def _execute(path: Path, claims_dir: Path, timeout: int) -> tuple[Any, float, str]:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    # the kernel works in the notebook's directory: hand it absolute paths only
    path, claims_dir = path.resolve(), claims_dir.resolve()
    nb = nbformat.read(path, as_version=4)
    os.environ["REDISLAB_CLAIMS_DIR"] = str(claims_dir)
    os.environ["REDISLAB_NOTEBOOK"] = path.stem
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})  # fmt: skip
    t0 = time.perf_counter()
    error = ""
    try:
        client.execute()
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1][:300]
    return nb, time.perf_counter() - t0, error


def _page_html(nb: Any, alts: list[str], nav: str) -> str:
    from bs4 import BeautifulSoup
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    soup = BeautifulSoup(body, features="html.parser")
    images = soup.select(".jp-OutputArea-output img")
    for img, alt in zip(images, alts, strict=False):
        img.attrs["alt"] = alt
    bar = BeautifulSoup(nav, features="html.parser")
    if soup.body is not None:
        soup.body.insert(0, bar)
    return str(soup)


def _nav(pages: list[str], i: int) -> str:
    links = ['<a href="../index.html">course home</a>', '<a href="../claims.html">claims</a>']
    if i > 0:
        links.append(f'<a href="{pages[i - 1]}.html">← {html.escape(pages[i - 1])}</a>')
    if i + 1 < len(pages):
        links.append(f'<a href="{pages[i + 1]}.html">{html.escape(pages[i + 1])} →</a>')
    style = "padding:8px 16px;background:#f4f4f4;border-bottom:1px solid #ccc;font:14px sans-serif"
    return f'<nav class="redislab-nav" style="{style}">{" · ".join(links)}</nav>'


def build_site(
    notebooks: list[Path],
    out: Path,
    *,
    readme: Path | None = None,
    timeout: int = 600,
    progress: bool = True,
) -> Path:
    """Execute ``notebooks`` and write the site under ``out``; returns ``out/index.html``.

    Relative paths (``out``, the notebooks, ``readme``) are taken from the current
    directory, as a shell would, and made absolute before any kernel sees them.
    """
    from .kit.measure import progress as bar
    from .lab.servers import find_server
    from .report import build_report, load_claims

    out = Path(out).resolve()
    notebooks = [Path(p).resolve() for p in notebooks]
    readme = Path(readme).resolve() if readme else None
    out.mkdir(parents=True, exist_ok=True)
    (out / "notebooks").mkdir(exist_ok=True)
    claims_dir = out / "claims-data"
    descriptions = course_table(readme) if readme and readme.exists() else {}
    names = [p.stem for p in notebooks]
    pages: list[NotebookPage] = []
    saved_env = {
        k: os.environ.get(k) for k in ("REDISLAB_CLAIMS_DIR", "REDISLAB_NOTEBOOK", *PATH_VARIABLES)
    }
    os.environ.update(kernel_environment())
    try:
        for i, path in enumerate(bar(notebooks, desc="notebooks", enabled=progress)):
            nb, seconds, error = _execute(path, claims_dir, timeout)
            alts = _alt_texts(nb)
            (out / "notebooks" / f"{path.stem}.html").write_text(
                _page_html(nb, alts, _nav(names, i))
            )
            recs = [r for r in load_claims(claims_dir) if r.get("notebook") == path.stem]
            headings = [c.source.splitlines()[0].lstrip("# ").strip() for c in nb.cells
                        if c.cell_type == "markdown" and c.source.startswith("#")]  # fmt: skip
            title = headings[0] if headings else path.stem
            pages.append(
                NotebookPage(
                    name=path.stem, title=title, theme=THEMES.get(path.stem[:2], ""),
                    summary=descriptions.get(path.stem, ""), seconds=seconds,
                    claims=len(recs), held=sum(bool(r["held"]) for r in recs),
                    images=len(alts), error=error,
                )
            )  # fmt: skip
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    total = sum(p.claims for p in pages)
    if total:
        csv, page, _ = build_report(claims_dir)
        (out / "claims.html").write_text(page.read_text())
        (out / "claims.csv").write_text(csv.read_text())
    else:
        (out / "claims.html").write_text("<!doctype html><p>No claims were recorded.</p>")
    try:
        engine = find_server().label
    except Exception:
        engine = "no server"
    rows = []
    for p in pages:
        status = (
            f'<span style="color:#b00">failed: {html.escape(p.error)}</span>' if p.error else ""
        )
        rows.append(
            f"<tr><td>{html.escape(p.name[:5].rstrip('-'))}</td>"
            f'<td><a href="notebooks/{p.name}.html">{html.escape(p.name)}</a><br>'
            f"<small>{html.escape(p.title)}</small></td><td>{html.escape(p.theme)}</td>"
            f"<td>{_md_inline(p.summary)} {status}</td><td>{p.seconds:.0f} s</td>"
            f"<td>{p.held}/{p.claims}</td><td>{p.images}</td></tr>"
        )
    index = f"""<!doctype html><meta charset="utf-8"><title>redislab: the course</title>
<style>body{{font:15px system-ui,sans-serif;margin:2em;max-width:75em}}
table{{border-collapse:collapse}} th{{background:#f4f4f4}}
td,th{{border:1px solid #ccc;padding:6px 8px;vertical-align:top}}</style>
<h1>redislab: Redis, measured</h1>
<p>Read the notebooks in this order. Each ran here on <b>{html.escape(engine)}</b>; every
claim it makes was measured and checked on that run
(<a href="claims.html">all {total} claims, with their sources</a>).</p>
<table><tr><th>#</th><th>notebook</th><th>theme</th><th>what it shows</th><th>run time</th>
<th>claims held</th><th>plots</th></tr>
{"".join(rows)}</table>
<p><small>Built {time.strftime("%Y-%m-%d %H:%M")} by <code>redislab site</code>.</small></p>"""
    (out / "index.html").write_text(index)
    (out / "site.json").write_text(json.dumps([p.__dict__ for p in pages], indent=1))
    return out / "index.html"
