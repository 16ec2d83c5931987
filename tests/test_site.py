"""The course site (``redislab site`` / ``make report``) records the notebooks' claims when
it is built the way the README says: from the repository root, with a relative ``--out``.

The notebooks' kernels work in the notebooks' own directory, so a relative claims
directory handed to them once landed in ``notebooks/build/site/claims-data`` and the site
said "all 0 claims" and "0/0" for every notebook. Each build here runs in a copy of the
repository's layout (``README.md`` and ``notebooks/``) in a temporary directory, so a
regression writes into that copy, never into the checkout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from redislab.cli import build_parser
from redislab.errors import RedislabError
from redislab.site import build_site, kernel_environment

ROOT = Path(__file__).resolve().parents[1]

CLAIMING_NOTEBOOK = [
    "# Two claims",
    "from redislab.kit import claim\n"
    "claim('one plus one is two', source='https://example.org/a', "
    "measured={'x': 1 + 1}, expect='x == 2')\n"
    "claim('a set has no duplicates', source='https://example.org/b', "
    "measured={'n': len({1, 1})}, expect='n == 1')",
]


def _repo_copy(root: Path, notebooks: dict[str, Path | list[str]]) -> Path:
    """A repository root with the README and the given notebooks (a file, or cell sources)."""
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "README.md", root / "README.md")
    for name, what in notebooks.items():
        target = root / "notebooks" / f"{name}.ipynb"
        if isinstance(what, Path):
            shutil.copy(what, target)
        else:
            cells = [
                nbformat.v4.new_markdown_cell(src)
                if src.startswith("#")
                else nbformat.v4.new_code_cell(src)
                for src in what
            ]
            nbformat.write(nbformat.v4.new_notebook(cells=cells), target)
    return root


def _claims_shown(index: Path) -> int:
    m = re.search(r"all (\d+) claims", index.read_text())
    assert m, index.read_text()[:500]
    return int(m.group(1))


def test_relative_out_records_the_claims(tmp_path: Path, monkeypatch) -> None:
    repo = _repo_copy(tmp_path / "repo", {"99-claims": CLAIMING_NOTEBOOK})
    monkeypatch.chdir(repo)
    index = build_site([Path("notebooks/99-claims.ipynb")], Path("build/site"),
                       readme=Path("README.md"), progress=False)  # fmt: skip
    pages = json.loads((repo / "build" / "site" / "site.json").read_text())
    assert [(p["claims"], p["held"], p["error"]) for p in pages] == [(2, 2, "")], pages
    assert index == repo / "build" / "site" / "index.html"
    assert _claims_shown(index) == 2 and "<td>2/2</td>" in index.read_text()
    assert not (repo / "notebooks" / "build").exists()  # nothing resolved against notebooks/
    assert "one plus one is two" in (repo / "build" / "site" / "claims.html").read_text()


@pytest.mark.slow
def test_site_as_the_readme_builds_it_counts_the_claims(tmp_path: Path) -> None:
    """``redislab site --out build/site`` (``make report``), from the root, one real notebook."""
    repo = _repo_copy(tmp_path / "repo", {"00-start-here": ROOT / "notebooks/00-start-here.ipynb"})
    command = ["site", "--out", "build/site", "--only", "00-start-here"]  # make report's, + --only
    res = subprocess.run(
        [sys.executable, "-m", "redislab", *command],
        cwd=repo, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    site = repo / "build" / "site"
    pages = json.loads((site / "site.json").read_text())
    assert [p["name"] for p in pages] == ["00-start-here"] and not pages[0]["error"], pages
    assert pages[0]["claims"] > 0 and pages[0]["held"] == pages[0]["claims"], pages
    assert _claims_shown(site / "index.html") == pages[0]["claims"]
    assert list((site / "claims-data").glob("*/00-start-here.jsonl"))
    assert not (repo / "notebooks" / "build").exists()


def test_site_only_picks_notebooks_by_name(tmp_path: Path) -> None:
    from redislab.cli import _site_notebooks

    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in ("00-start-here", "05.01-replication", "05.02-sentinel"):
        (folder / f"{name}.ipynb").write_text("{}")
    args = build_parser().parse_args(["site", "--only", "00-start-here,05.02", "--only", "05.01"])
    picked = _site_notebooks(folder, args.files, args.only)
    assert [p.stem for p in picked] == ["00-start-here", "05.01-replication", "05.02-sentinel"]
    assert [p.stem for p in _site_notebooks(folder, [], ["05"])] == [
        "05.01-replication",
        "05.02-sentinel",
    ]
    with pytest.raises(RedislabError, match="99-nothing"):
        _site_notebooks(folder, [], ["99-nothing"])


def test_path_variables_reach_kernels_absolute(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "redis-server").touch()
    env = {"REDISLAB_HOME": "home", "XDG_CACHE_HOME": "/already/absolute",
           "REDISLAB_SERVER": "bin/redis-server"}  # fmt: skip
    assert kernel_environment(env) == {
        "REDISLAB_HOME": str(tmp_path / "home"),
        "REDISLAB_SERVER": str(tmp_path / "bin" / "redis-server"),
    }
    # a server name, or a command looked up on PATH, is not a path
    for name in ("redis8", "valkey", "system", "valkey-server"):
        assert kernel_environment({"REDISLAB_SERVER": name}) == {}
    assert os.environ.get("REDISLAB_HOME") != "home"
