"""Helpers the messaging modules share (not exported)."""

from __future__ import annotations

from ..keys import MESSAGING, key


def done_key(experiment: str) -> str:
    """The hash of job number -> times processed for ``experiment``."""
    return key(MESSAGING, "done", experiment)


def progress_key(experiment: str, worker: str) -> str:
    """The counter of jobs ``worker`` finished in ``experiment``."""
    return key(MESSAGING, "done", experiment, "by", worker)
