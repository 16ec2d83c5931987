"""Every notebook keeps the house rules: stripped, parameters first, claims, sources, cleanup."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

CLAIM_CALL = re.compile(r"(?<![\w.])claim\(")
NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_house_rules(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert all(not c.outputs and c.execution_count is None for c in code), "strip outputs"
    first = code[0]
    assert "parameters" in first.metadata.get("tags", []) and "SEED" in first.source
    # a Redis claim goes through redislab.kit.claim; a bare assert is a set-up check and
    # does not count (nor does another module's claim, e.g. a queue's S.claim(...))
    claim_cells = sum(bool(CLAIM_CALL.search(c.source)) for c in code)
    assert claim_cells >= 3, f"{claim_cells} cells call claim(...); 3 must (redislab.kit.claim)"
    assert "redis.io" in markdown or "redis.conf" in markdown, "claims must cite a source"
    assert ".stop()" in code[-1].source, "the last cell stops the labs"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    # REDISLAB_URL runs (conftest.py): the notebook says whether it needs a local lab
    needs = nb.metadata.get("redislab", {}).get("needs_local_lab")
    assert needs is False or (isinstance(needs, str) and needs.startswith("it ")), (
        'metadata redislab.needs_local_lab: false, or the reason ("it kills ...")'
    )
    sources = "\n".join(c.source for c in code)
    if needs is False:
        assert "Lab.open(" in sources and "Lab.start(" not in sources, "use Lab.open"
    if "%%local_lab" in sources:
        assert "%load_ext redislab" in sources and needs is False
