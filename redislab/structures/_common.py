"""What the families share: the error type, live config, memory, raw replies, Lua registration."""

from __future__ import annotations

from typing import Any

from redis.client import NEVER_DECODE

from ..types import Connection


def config_int(connection: Connection, name: str) -> int | None:
    """The live value of an integer ``CONFIG GET`` parameter, or None if the server lacks it."""
    reply = connection.config_get(name)
    return int(reply[name]) if name in reply else None


def memory_usage(connection: Connection, key_: str) -> int:
    """``MEMORY USAGE key SAMPLES 0``: bytes, counting every element (no sampling)."""
    return int(connection.memory_usage(key_, samples=0) or 0)


def _raw(connection: Connection, *args: Any) -> Any:
    """Run a command and return its reply undecoded (bytes), whatever the client decodes."""
    return connection.execute_command(*args, **{NEVER_DECODE: True})


# Lua scripts, registered once per process (redis-py ``register_script``)

_scripts: dict[str, Any] = {}


def _script(connection: Connection, name: str, source: str) -> Any:
    """Register ``source`` once per process; call the result with ``client=``."""
    if name not in _scripts:
        _scripts[name] = connection.register_script(source)
    return _scripts[name]
