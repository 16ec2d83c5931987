"""A server's own per-command counters (``INFO commandstats``), read one way.

``INFO commandstats`` has a line per command the server ran since its start (or
``CONFIG RESETSTAT``): ``cmdstat_<name>:calls=..,usec=..,usec_per_call=..,
rejected_calls=..,failed_calls=..``; Redis 7+ counts subcommands apart
(``cmdstat_config|set``). https://redis.io/docs/latest/commands/info/

A difference of two readings is what the server did in between, whatever a client
meant to send: where reads went, how long a command ran on the main thread.
"""

from __future__ import annotations

from ..types import PlainConnection

__all__ = ["command_calls", "command_stats", "command_total"]


def command_stats(connection: PlainConnection) -> dict[str, dict[str, float]]:
    """``{command: {calls, usec, usec_per_call, ...}}``, names without ``cmdstat_``."""
    out: dict[str, dict[str, float]] = {}
    for name, fields in connection.info("commandstats").items():
        if isinstance(fields, dict):
            out[str(name).removeprefix("cmdstat_")] = {k: float(v) for k, v in fields.items()}
        else:  # an old server answering "calls" alone
            out[str(name).removeprefix("cmdstat_")] = {"calls": float(fields)}
    return out


def command_calls(connection: PlainConnection) -> dict[str, int]:
    """``{command: calls}`` for every command the server has run (``get``, ``config|set``)."""
    return {name: int(f.get("calls", 0)) for name, f in command_stats(connection).items()}


def command_total(connection: PlainConnection, command: str, field: str = "calls") -> float:
    """``field`` (``calls`` or ``usec``) of ``command`` and its subcommands, summed.

    0 for a command the server has not run (it has no line yet).
    """
    name = command.lower()
    return sum(
        f.get(field, 0.0)
        for cmd, f in command_stats(connection).items()
        if cmd == name or cmd.startswith(f"{name}|")
    )
