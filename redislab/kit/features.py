"""Feature detection on a live server: ask the server, never guess from versions."""

from __future__ import annotations

from packaging.version import Version

from ..types import Connection

__all__ = ["has_command", "has_module", "server_engine", "server_version"]


def has_command(connection: Connection, name: str) -> bool:
    """True if the server knows the command ``name`` (e.g. ``"HEXPIRE"``, ``"JSON.SET"``)."""
    try:
        reply = connection.execute_command("COMMAND", "INFO", name)
    except Exception:
        return False
    if isinstance(reply, dict):  # redis-py parses COMMAND INFO into a dict on some versions
        return bool(reply) and any(v for v in reply.values())
    return bool(reply) and reply[0] is not None


def has_module(connection: Connection, name: str) -> bool:
    """True if a module called ``name`` (case-insensitive) is loaded (``MODULE LIST``)."""
    try:
        modules = connection.execute_command("MODULE", "LIST")
    except Exception:
        return False
    wanted = name.lower()
    for mod in modules or []:
        if isinstance(mod, dict):
            mod_name = mod.get("name") or mod.get(b"name")
        else:  # flat [b"name", b"ReJSON", b"ver", ...]
            items = list(mod)
            pairs = dict(zip(items[::2], items[1::2], strict=False))
            mod_name = pairs.get(b"name") or pairs.get("name")
        if isinstance(mod_name, bytes):
            mod_name = mod_name.decode()
        if mod_name and str(mod_name).lower() == wanted:
            return True
    return False


def server_engine(connection: Connection) -> str:
    """``"valkey"`` or ``"redis"``, from ``INFO server``."""
    info = connection.info("server")
    return "valkey" if "valkey_version" in info or info.get("server_name") == "valkey" else "redis"


def server_version(connection: Connection) -> Version:
    """The server's version (Valkey's own version on Valkey, not its Redis compatibility one)."""
    info = connection.info("server")
    return Version(str(info.get("valkey_version") or info["redis_version"]))
