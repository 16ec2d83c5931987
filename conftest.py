"""Root conftest: tell each notebook's kernel which notebook it runs.

nbval starts one kernel per notebook during the first cell's setup; the kernel inherits
this process's environment, so ``REDISLAB_NOTEBOOK`` set here names the notebook in
the claims ledger (:mod:`redislab.kit.claims`).
"""

from __future__ import annotations

import os

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    path = getattr(item, "path", None)
    if path is not None and path.suffix == ".ipynb":
        os.environ["REDISLAB_NOTEBOOK"] = path.stem
