"""Root conftest: tell each notebook's kernel which notebook it runs, and skip what
cannot run against ``REDISLAB_URL``.

nbval starts one kernel per notebook during the first cell's setup; the kernel inherits
this process's environment, so ``REDISLAB_NOTEBOOK`` set here names the notebook in
the claims ledger (:mod:`redislab.kit.claims`).

With ``REDISLAB_URL`` set (the notebooks against a server someone else runs), a notebook
whose metadata says ``redislab.needs_local_lab: "<reason>"`` is skipped with that
reason; one that says ``false`` runs, and its ``%%local_lab`` cells print why they skip.

nbval's kernels talk over Unix sockets (ZeroMQ ``ipc``), not TCP: jupyter_client picks a
kernel's five TCP ports by binding and releasing them, and the kernel binds them again a
moment later, once, with no retry. On a machine where notebooks open thousands of client
connections (each takes an ephemeral port), one of them can take a port in between; the
kernel then dies "before replying to kernel_info" and the whole notebook errors (seen
with two engines' suites side by side, as CI runs them).
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import nbval.kernel
import pytest
from jupyter_client.manager import KernelManager

_KERNEL_SOCKETS = tempfile.mkdtemp(prefix="redislab-kernels-")
_kernel_ids = itertools.count(1)


class _IpcKernelManager(KernelManager):
    """A kernel manager whose kernel listens on Unix sockets in a directory of our own."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("transport", "ipc")
        kwargs.setdefault("ip", os.path.join(_KERNEL_SOCKETS, f"k{next(_kernel_ids)}"))
        super().__init__(**kwargs)


nbval.kernel.KernelManager = _IpcKernelManager


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_KERNEL_SOCKETS, ignore_errors=True)


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
