"""The README's script example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- README-EXAMPLE[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert m, "README lost its marked example"
    return m.group(1)


def test_readme_example_runs():
    res = subprocess.run(
        [sys.executable, "-c", readme_example()], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert "primary" in res.stdout and "sentinel-3" in res.stdout


def test_readme_lists_every_notebook():
    text = (ROOT / "README.md").read_text()
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"`{nb.stem}`" in text, f"{nb.name} missing from the README's notebook table"


def test_make_targets_named_in_readme_exist():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("lab", "test", "report", "bench", "lint", "strip", "test-notebooks"):
        assert re.search(rf"^{re.escape(target)}:", makefile, re.M), target
