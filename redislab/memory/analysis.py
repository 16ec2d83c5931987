"""Memory analysis: a keyspace analyser, MEMORY STATS/DOCTOR, fragmentation, client memory.

The analyser walks the keyspace with ``SCAN`` (never ``KEYS``, which blocks the server)
and asks ``TYPE``, ``OBJECT ENCODING`` and ``MEMORY USAGE`` for each key, pipelined.
On a big keyspace it samples: it scans from cursor 0 until it has seen ``sample`` of
``DBSIZE`` keys. SCAN visits hash-table buckets, and keys land in buckets by hash, so
the first part of a scan is an unbiased sample of the keyspace; totals are scaled by
``DBSIZE / sampled``. Sources: https://redis.io/docs/latest/commands/scan/,
https://redis.io/docs/latest/commands/memory-usage/, https://redis.io/docs/latest/commands/memory-stats/.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import redis

from ..replies import text
from ..types import PlainConnection
from ._common import flush_sync, mkey

__all__ = [
    "KeyspaceReport",
    "activedefrag_supported",
    "analyse_keyspace",
    "client_memory",
    "fragmentation_after_delete",
    "memory_overview",
]


@dataclass
class KeyspaceReport:
    """What :func:`analyse_keyspace` found; memory figures are estimates for the whole keyspace."""

    by_prefix: pd.DataFrame
    by_type: pd.DataFrame
    by_encoding: pd.DataFrame
    top_keys: pd.DataFrame
    keys_total: int
    keys_sampled: int
    seconds: float

    @property
    def estimated_bytes(self) -> float:
        """Estimated ``MEMORY USAGE`` summed over every key."""
        return float(self.by_type["bytes"].sum())


def analyse_keyspace(
    connection: PlainConnection,
    *,
    sample: float = 1.0,
    depth: int = 2,
    sep: str = ":",
    top: int = 10,
    count: int = 1000,
    memory_samples: int = 5,
) -> KeyspaceReport:
    """Memory by prefix, type and encoding, and the ``top`` biggest keys (sampled keys only).

    Args:
        sample: share of ``DBSIZE`` to look at (1.0: every key).
        depth: the prefix is the first ``depth`` parts of the name split on ``sep``.
        count: the SCAN ``COUNT`` hint and the pipeline batch.
        memory_samples: ``MEMORY USAGE ... SAMPLES`` for nested types (server default 5).
    """
    t0 = time.perf_counter()
    total = int(connection.dbsize())
    target = max(1, int(np.ceil(total * sample)))
    names: list[bytes] = []
    cursor = 0
    while True:
        cursor, batch = connection.scan(cursor=cursor, count=count)
        names.extend(batch)
        if cursor == 0 or len(names) >= target:
            break
    rows = []
    for lo in range(0, len(names), count):
        chunk = names[lo : lo + count]
        pipe = connection.pipeline(transaction=False)
        for n in chunk:
            pipe.type(n)
            pipe.object("encoding", n)
            pipe.memory_usage(n, samples=memory_samples)
        replies = pipe.execute(raise_on_error=False)
        for i, n in enumerate(chunk):
            kind, enc, size = replies[3 * i : 3 * i + 3]
            if size is None or isinstance(size, redis.ResponseError):
                continue  # gone between SCAN and now
            name = text(n)
            rows.append(
                {
                    "key": name,
                    "prefix": sep.join(name.split(sep)[:depth]),
                    "type": text(kind),
                    "encoding": text(enc),
                    "bytes": int(size),
                }
            )
    keys = pd.DataFrame(rows, columns=["key", "prefix", "type", "encoding", "bytes"])
    scale = total / len(keys) if len(keys) else 0.0

    def group(col: str) -> pd.DataFrame:
        g = keys.groupby(col)["bytes"].agg(["count", "sum", "mean"])
        g = g.rename(columns={"count": "keys", "sum": "bytes", "mean": "mean_bytes"})
        g["keys"] = g["keys"] * scale
        g["bytes"] = g["bytes"] * scale
        g["share"] = g["bytes"] / g["bytes"].sum()
        return g.sort_values("bytes", ascending=False)

    return KeyspaceReport(
        by_prefix=group("prefix"),
        by_type=group("type"),
        by_encoding=group("encoding"),
        top_keys=keys.nlargest(top, "bytes").reset_index(drop=True),
        keys_total=total,
        keys_sampled=len(keys),
        seconds=time.perf_counter() - t0,
    )


def memory_overview(connection: PlainConnection) -> tuple[pd.Series, str]:
    """``MEMORY STATS`` flattened into a Series, and the ``MEMORY DOCTOR`` text."""
    stats = connection.memory_stats()
    flat: dict[str, object] = {}
    for k, v in stats.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                flat[f"{text(k)}.{text(k2)}"] = v2
        else:
            flat[text(k)] = v
    doctor = text(connection.execute_command("MEMORY", "DOCTOR"))
    return pd.Series(flat, name="MEMORY STATS"), doctor


def activedefrag_supported(connection: PlainConnection) -> bool:
    """True if ``CONFIG SET activedefrag yes`` is accepted (it is set back to ``no``).

    Active defragmentation needs Redis's bundled jemalloc; with libc malloc (Valkey's
    pip build) or a system jemalloc without the defrag hint the server refuses it.
    """
    try:
        connection.config_set("activedefrag", "yes")
    except redis.ResponseError:
        return False
    connection.config_set("activedefrag", "no")
    return True


def _memory(connection: PlainConnection) -> dict[str, float]:
    info = connection.info("memory")
    return {
        "used_memory": int(info["used_memory"]),
        "used_memory_rss": int(info["used_memory_rss"]),
        "mem_fragmentation_ratio": float(info["mem_fragmentation_ratio"]),
        "allocator_frag_bytes": int(info.get("allocator_frag_bytes", 0) or 0),
    }


def fragmentation_after_delete(
    connection: PlainConnection,
    *,
    n_keys: int = 300_000,
    keep_every: int = 10,
    value_size: int = 64,
    defrag_seconds: float = 0.0,
    defrag_until: float | None = None,
) -> pd.DataFrame:
    """Fill, delete all but every ``keep_every``-th key, read memory; optionally defragment.

    One row per stage (``filled``, ``after delete``, and ``after activedefrag`` when
    ``defrag_seconds > 0`` and the server supports it): ``used_memory``, ``used_memory_rss``,
    ``mem_fragmentation_ratio``, ``allocator_frag_bytes``; the defrag row also has
    ``defrag_s``, how long defragmentation ran. With ``defrag_until`` (a fraction) it stops
    as soon as the server's ``allocator_frag_bytes`` is below that fraction of its value
    after the delete, and ``defrag_seconds`` is only the limit: the server's own state
    decides, not a fixed time on a machine that may be busy. Keys are left for the caller.
    """
    flush_sync(connection)
    connection.execute_command("DEBUG", "POPULATE", n_keys, mkey("frag"), value_size)
    rows = [{"stage": "filled", **_memory(connection)}]
    pipe = connection.pipeline(transaction=False)
    for i in range(n_keys):
        if i % keep_every:
            pipe.unlink(f"{mkey('frag')}:{i}")
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    time.sleep(0.5)
    rows.append({"stage": "after delete", **_memory(connection)})
    if defrag_seconds > 0 and activedefrag_supported(connection):
        settings = {
            "active-defrag-ignore-bytes": "1mb",
            "active-defrag-threshold-lower": 1,
            "active-defrag-cycle-min": 25,
            "active-defrag-cycle-max": 75,
        }
        before = {str(k): str(v) for n in settings for k, v in connection.config_get(n).items()}
        for k, v in settings.items():
            connection.config_set(k, v)
        frag0 = float(rows[-1]["allocator_frag_bytes"])
        connection.config_set("activedefrag", "yes")
        t0 = time.monotonic()
        while time.monotonic() - t0 < defrag_seconds:
            time.sleep(0.1)
            if defrag_until is not None:
                now = float(connection.info("memory").get("allocator_frag_bytes", frag0))
                if now < defrag_until * frag0:
                    break
        defrag_s = time.monotonic() - t0
        connection.config_set("activedefrag", "no")
        for k, v in before.items():  # restore what was there
            connection.config_set(k, v)
        rows.append({"stage": "after activedefrag", **_memory(connection), "defrag_s": defrag_s})
    return pd.DataFrame(rows).set_index("stage")


def client_memory(
    connection: PlainConnection,
    *,
    counts: tuple[int, ...] = (0, 50, 100, 200),
) -> pd.DataFrame:
    """Open idle clients and read what the server says they cost.

    One row per client count: ``clients`` (INFO ``connected_clients``), ``tot_mem_sum``
    (``CLIENT LIST`` ``tot-mem`` summed) and ``clients_normal`` (``MEMORY STATS``).
    """
    kwargs = connection.connection_pool.connection_kwargs
    opened: list[redis.Redis] = []
    rows = []
    try:
        for n in counts:
            while len(opened) < n:
                c = redis.Redis(
                    host=kwargs.get("host", "127.0.0.1"),
                    port=kwargs.get("port", 6379),
                    password=kwargs.get("password"),
                    username=kwargs.get("username"),
                )
                c.ping()
                opened.append(c)
            listing = connection.client_list()
            rows.append(
                {
                    "opened": n,
                    "clients": int(connection.info("clients")["connected_clients"]),
                    "tot_mem_sum": sum(int(c.get("tot-mem", 0)) for c in listing),
                    "clients_normal": int(connection.memory_stats()["clients.normal"]),
                }
            )
    finally:
        for c in opened:
            c.close()
    return pd.DataFrame(rows).set_index("opened")
