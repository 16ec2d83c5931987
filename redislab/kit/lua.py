"""One way to register Lua scripts.

Scripts are module-level UPPER_CASE constants whose first lines say what ``KEYS[n]`` and
``ARGV[n]`` are (as redis-py's ``lock.py`` does). :func:`script` registers a source once
per connection pool (redis-py ``register_script``: ``EVALSHA``, falling back to ``EVAL``
on ``NOSCRIPT``) and returns the callable ``Script``; call it with ``keys=``/``args=``
and, inside a pipeline, ``client=pipe``.
"""

from __future__ import annotations

import hashlib
import weakref
from typing import Any

from ..errors import UsageError
from ..types import Connection

__all__ = ["script", "sha1"]

_registered: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def sha1(source: str) -> str:
    """The SHA1 Redis names a script by (``SCRIPT LOAD`` answers it)."""
    return hashlib.sha1(source.encode()).hexdigest()


def script(connection: Connection, source: str) -> Any:
    """The registered ``Script`` for ``source`` on ``connection`` (registered once)."""
    if "KEYS" not in source and "ARGV" not in source:
        raise UsageError("a Lua script takes its inputs from KEYS and ARGV; none found")
    owner = getattr(connection, "connection_pool", None) or connection
    try:
        scripts = _registered.setdefault(owner, {})
    except TypeError:  # not weak-referenceable: register every time
        return connection.register_script(source)
    digest = sha1(source)
    if digest not in scripts:
        scripts[digest] = connection.register_script(source)
    return scripts[digest]
