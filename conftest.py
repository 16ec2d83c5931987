"""Root conftest: tell each notebook's kernel which notebook it runs, and skip what
cannot run against ``REDISLAB_URL``.

nbval starts one kernel per notebook during the first cell's setup; the kernel inherits
this process's environment, so ``REDISLAB_NOTEBOOK`` set here names the notebook in
the claims ledger (:mod:`redislab.kit.claims`).

With ``REDISLAB_URL`` set (the notebooks against a server someone else runs), a notebook
whose metadata says ``redislab.needs_local_lab: "<reason>"`` is skipped with that
reason; one that says ``false`` runs, and its ``%%local_lab`` cells print why they skip.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pytest


@functools.cache
def _needs_local_lab(path: Path) -> str | None:
    """Why the notebook at ``path`` cannot run against an external server (None: it can)."""
    meta = json.loads(path.read_text()).get("metadata", {}).get("redislab", {})
    reason = meta.get("needs_local_lab", "its metadata does not say it can run against a URL")
    return str(reason) if reason else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("REDISLAB_URL"):
        return
    for item in items:
        path = getattr(item, "path", None)
        if path is not None and path.suffix == ".ipynb":
            reason = _needs_local_lab(Path(path))
            if reason:
                item.add_marker(pytest.mark.skip(reason=f"needs a local lab: {reason}"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    path = getattr(item, "path", None)
    if path is not None and path.suffix == ".ipynb":
        os.environ["REDISLAB_NOTEBOOK"] = path.stem
