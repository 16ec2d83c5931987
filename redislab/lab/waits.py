"""One way to wait: poll a condition until it holds or a bound runs out.

Every bounded wait in redislab goes through :func:`wait_until`; what it raises on
timeout is a subclass of :class:`redislab.errors.Timeout` (``error=`` picks which), so
one ``except redislab.Timeout`` catches them all. :class:`Deadline` carries one bound
across several waits (forming a topology waits for many things under one timeout).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..errors import WaitTimeout

__all__ = ["Deadline", "wait_until"]


def wait_until(
    predicate: Callable[[], Any],
    *,
    timeout: float,
    interval: float = 0.01,
    what: str = "condition",
    error: type[WaitTimeout] = WaitTimeout,
) -> float:
    """Poll ``predicate`` until it returns a truthy value; return the seconds waited.

    Exceptions raised by ``predicate`` count as "not yet" (a node may be down, paused or
    loading). After ``timeout`` seconds raises ``error`` (a :class:`WaitTimeout`) naming
    ``what`` and the last exception seen.
    """
    start = time.perf_counter()
    last_exc: BaseException | None = None
    while True:
        try:
            if predicate():
                return time.perf_counter() - start
        except Exception as exc:
            last_exc = exc
        if time.perf_counter() - start > timeout:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise error(f"{what} not reached within {timeout:.1f} s{detail}")
        time.sleep(interval)


class Deadline:
    """One time bound shared by several waits: ``Deadline(10).remaining()`` counts down."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left (never below a small positive floor, so a last poll still runs)."""
        return max(0.1, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at
