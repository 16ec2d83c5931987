"""What every persistence module shares: errors, the live persistence config, test data.

:func:`persistence_config` reads the directives a server runs with now;
:func:`populate_mixed` and :func:`populate_hashes` write seeded datasets to persist.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import redis

from ..errors import PersistenceError, ToolError
from ..keys import PERSISTENCE, key
from ..kit.measure import wait_until
from ..lab.process import spawn

__all__ = [
    "POPULATE_HASHES_LUA",
    "PersistenceError",
    "ToolError",
    "builtin_defaults",
    "persistence_config",
    "populate_hashes",
    "populate_mixed",
]


#: Creates ``ARGV[1]`` hashes of ``ARGV[2]`` fields each, named ``<ARGV[3]>:<i>``.
#: KEYS: none (it makes its own key names: standalone servers only).
#: ARGV[1]: number of hashes, ARGV[2]: fields per hash, ARGV[3]: key prefix.
#: Returns the number of hashes written.
POPULATE_HASHES_LUA = """
local n, f, prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local args = {}
for j = 1, f do
  args[2 * j - 1] = 'field:' .. j
  args[2 * j] = 'value-' .. string.format('%04d', j)
end
for i = 0, n - 1 do
  redis.call('HSET', prefix .. ':' .. i, unpack(args))
end
return n
"""


# =============================================================== configuration
def persistence_config(connection: redis.Redis) -> dict[str, str]:
    """The persistence directives the server runs with now (``CONFIG GET``).

    Keys: ``save``, ``appendonly``, ``appendfsync``, ``aof-use-rdb-preamble``,
    ``aof-load-truncated``, ``dir``, ``dbfilename``, ``appendfilename`` and
    ``appenddirname`` (empty on servers older than 7.0).
    """
    names = (
        "save",
        "appendonly",
        "appendfsync",
        "aof-use-rdb-preamble",
        "aof-load-truncated",
        "dir",
        "dbfilename",
        "appendfilename",
        "appenddirname",
    )
    out: dict[str, str] = {}
    for name in names:
        got = connection.config_get(name)
        value = got.get(name, "")
        out[name] = value.decode() if isinstance(value, bytes) else str(value)
    return out


def _persistence_info(connection: redis.Redis) -> dict[str, Any]:
    return dict(connection.info("persistence"))


def _wait_persistence(
    connection: redis.Redis,
    finished: Callable[[dict[str, Any]], bool],
    *,
    timeout: float,
    what: str,
    status_field: str,
) -> dict[str, Any]:
    """Poll ``INFO persistence`` until ``finished(info)``; then require ``status_field`` ok.

    Returns the last ``INFO persistence``; raises :class:`PersistenceError` on a timeout
    or a failed background job.
    """
    info: dict[str, Any] = {}

    def done() -> bool:
        nonlocal info
        info = _persistence_info(connection)
        return finished(info)

    try:
        wait_until(done, timeout=timeout, interval=0.005, what=what)
    except TimeoutError as exc:
        raise PersistenceError(str(exc)) from None
    if info.get(status_field) != "ok":
        raise PersistenceError(f"{what}: {status_field}={info.get(status_field)!r} ({info!r})")
    return info


def populate_mixed(
    connection: redis.Redis,
    n: int,
    *,
    seed: int,
    name: str = "data",
    pipeline: redis.client.Pipeline | None = None,
) -> int:
    """Write ``n`` keys of mixed types (strings, hashes, lists, sets, sorted sets), seeded.

    With ``pipeline`` the commands are queued on it and not executed. Returns ``n``.
    """
    import random

    rng = random.Random(seed)
    pipe = pipeline if pipeline is not None else connection.pipeline(transaction=False)
    for i in range(n):
        k = key(PERSISTENCE, name, i)
        kind = i % 5
        if kind == 0:
            pipe.set(k, f"{rng.random():.12f}")
        elif kind == 1:
            pipe.hset(k, mapping={f"f{j}": rng.randint(0, 10**6) for j in range(rng.randint(1, 6))})
        elif kind == 2:
            pipe.rpush(k, *[rng.randint(0, 999) for _ in range(rng.randint(1, 8))])
        elif kind == 3:
            pipe.sadd(k, *{f"m{rng.randint(0, 50)}" for _ in range(rng.randint(1, 8))})
        else:
            pipe.zadd(k, {f"p{j}": rng.random() for j in range(rng.randint(1, 6))})
        if pipeline is None and i % 1000 == 999:
            pipe.execute()
    if pipeline is None:
        pipe.execute()
    return n


def populate_hashes(
    connection: redis.Redis, n: int, *, fields: int = 50, name: str = "hash"
) -> int:
    """Create ``n`` small hashes of ``fields`` fields each, server-side (one Lua call).

    Small hashes are stored in the compact listpack encoding, which an RDB file keeps
    as one blob per key while an AOF rebuilds them field by field. Keys are
    ``redislab:persistence:<name>:<i>``. Returns ``n``.
    """
    script = connection.register_script(POPULATE_HASHES_LUA)
    return int(script(keys=[], args=[n, fields, key(PERSISTENCE, name)], client=connection))


def builtin_defaults(
    server_path: str | Path,
    names: Sequence[str] = ("save", "appendonly", "appendfsync", "aof-use-rdb-preamble"),
    *,
    timeout: float = 10.0,
) -> dict[str, str]:
    """``CONFIG GET`` of ``names`` on a server started with NO configuration at all.

    Every lab node has a generated ``redis.conf`` with a persistence preset, so its
    values are the lab's. This starts ``server_path`` with only ``--port 0`` (no TCP),
    a unix socket and a scratch ``--dir`` in a temporary directory, reads the values the
    server itself defaults to, and shuts it down (``SHUTDOWN NOSAVE``; killed if it does
    not exit). Returns ``{name: value}``.
    """
    with tempfile.TemporaryDirectory(prefix="redislab-defaults-") as tmp:
        folder = Path(tmp)
        sock = folder / "s.sock"
        argv = [str(server_path), "--port", "0", "--unixsocket", str(sock), "--dir", str(folder)]
        proc = spawn(argv, cwd=folder, output=folder / "server.log")
        client = redis.Redis(unix_socket_path=str(sock), decode_responses=True, socket_timeout=2)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    if client.ping():
                        break
                except (redis.ConnectionError, FileNotFoundError, OSError):
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = (folder / "server.log").read_text(errors="replace")[-500:]
                    raise PersistenceError(f"a bare {server_path} did not start: {log}")
                time.sleep(0.02)
            out: dict[str, str] = {}
            for name in names:
                out.update(client.config_get(name))
            return {name: out.get(name, "") for name in names}
        finally:
            with contextlib.suppress(redis.RedisError, OSError):
                client.shutdown(nosave=True)
            try:
                proc.wait(timeout=5)
            except Exception:
                proc.kill()
                proc.wait(timeout=5)
            client.close()
