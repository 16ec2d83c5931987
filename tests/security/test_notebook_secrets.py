"""The security notebooks never show a generated password: run each, then scan its outputs.

An extra cell appended to the executed notebook collects, from the kernel's memory, every
password :func:`redislab.security.generate_password` returned and every lab's generated
credentials; none of them may appear in any output or source of the other cells.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted(
    (Path(__file__).resolve().parents[2] / "notebooks").glob("07.*-security-*.ipynb")
)

PROBE = """
import json as _json
from redislab import Lab as _Lab
from redislab.security.auth import issued_secrets as _issued
_labs = [v for v in list(globals().values()) if isinstance(v, _Lab)]
_all = set(_issued()) | {p for _l in _labs for p in _l.credentials.values()}
print("SECRETS:" + _json.dumps(sorted(_all)))
"""


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_generated_secret_in_a_notebook(path):
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    probe = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    secrets = json.loads(probe.split("SECRETS:", 1)[1])
    assert len(secrets) >= 3  # the notebook did generate passwords
    shown = json.dumps([[c.source, c.get("outputs", [])] for c in nb.cells[:-1]])
    leaked = [s[:4] + "…" for s in secrets if s in shown]
    assert not leaked, f"{len(leaked)} generated secret(s) appear in {path.name}: {leaked}"
