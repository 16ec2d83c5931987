"""Notebook support: ``%load_ext redislab`` and the ``%%local_lab`` cell magic.

A notebook runs against a lab it starts (:meth:`redislab.Lab.open`), or, with
``REDISLAB_URL`` set, against a server someone else runs. Sections that kill, pause,
restart or reconfigure servers can only run on a local lab; their cells start with::

    %%local_lab it sets maxmemory and flushes the server

With no ``REDISLAB_URL`` the cell runs as if the magic were not there (its last
expression is displayed, an exception fails the cell). With one, the cell is skipped
and the reason printed, so a learner (and nbval) sees which parts did not run and why.
"""

from __future__ import annotations

from typing import Any

from ..lab.external import external_url

__all__ = ["SKIP_MARK", "load_ipython_extension", "local_lab", "skip_reason"]

SKIP_MARK = "skipped against REDISLAB_URL"
"""How a skipped cell's printed line starts (tests look for it)."""


def skip_reason(reason: str) -> str | None:
    """The line a ``%%local_lab`` cell prints when it is skipped; ``None`` when it runs."""
    url = external_url()
    if url is None:
        return None
    why = reason.strip() or "it needs servers redislab runs"
    return f"{SKIP_MARK}: this section needs a local lab ({why})"


def local_lab(line: str, cell: str, *, shell: Any) -> None:
    """Run ``cell`` unless the notebook runs against an external server."""
    skipped = skip_reason(line)
    if skipped is not None:
        print(skipped)
        return
    result = shell.run_cell(cell, store_history=False)
    result.raise_error()  # the traceback is shown already; this fails the cell too


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%%local_lab`` (``%load_ext redislab``)."""

    def magic(line: str, cell: str) -> None:
        local_lab(line, cell, shell=ipython)

    magic.__doc__ = local_lab.__doc__
    ipython.register_magic_function(magic, magic_kind="cell", magic_name="local_lab")
