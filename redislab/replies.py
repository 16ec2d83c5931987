"""Reading redis-py replies the same way whatever ``decode_responses`` the client has."""

from __future__ import annotations

__all__ = ["text"]


def text(value: object) -> str:
    """``value`` as ``str``: bytes decoded as UTF-8 (undecodable bytes replaced), else ``str()``.

    redis-py answers ``bytes`` on a client made without ``decode_responses=True`` and
    ``str`` on one made with it; helpers that take any client read replies through this.
    """
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
