"""Value and key design: client-side compression, key-name length, hash bucketing.

Redis stores a string value as it is given (an SDS; https://redis.io/docs/latest/develop/data-types/strings/),
so compressing large values in the client trades CPU for memory. Small keys cost a fixed
overhead each (a dict entry, a key SDS, a ``robj``); many small values bucketed into
hashes encoded as listpacks save most of it (the memory-optimization page,
https://redis.io/docs/latest/operate/oss_and_stack/management/optimization/memory-optimization/,
*Use hashes when possible*).
"""

from __future__ import annotations

import bz2
import json
import lzma
import time
import zlib
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ..types import PlainConnection
from ._common import flush_sync, mkey, used_memory

__all__ = [
    "CODECS",
    "bucketed_vs_plain",
    "compression_table",
    "key_length_cost",
    "sample_value",
]

Codec = tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]

CODECS: dict[str, Codec] = {
    "zlib-1": (lambda b: zlib.compress(b, 1), zlib.decompress),
    "zlib-6": (lambda b: zlib.compress(b, 6), zlib.decompress),
    "bz2": (lambda b: bz2.compress(b, 9), bz2.decompress),
    "lzma": (lambda b: lzma.compress(b, preset=1), lzma.decompress),
}
"""Standard-library codecs: name -> (compress, decompress). ``zstd``/``lz4`` are added
when their packages are installed."""

try:  # optional codecs, used only if installed
    import zstandard as _zstd

    CODECS["zstd-3"] = (_zstd.ZstdCompressor(level=3).compress, _zstd.ZstdDecompressor().decompress)
except ImportError:  # pragma: no cover - depends on the environment
    pass
try:
    import lz4.frame as _lz4

    CODECS["lz4"] = (_lz4.compress, _lz4.decompress)
except ImportError:  # pragma: no cover
    pass


def sample_value(kind: str, size: int, *, seed: int = 0) -> bytes:
    """A seeded value of ``size`` bytes: ``json`` (records of repetitive text) or ``random``."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        return rng.bytes(size)
    words = ["user", "order", "status", "shipped", "pending", "price", "sku", "amount", "eur"]
    out = []
    length = 0
    while length < size:
        rec = {
            "id": int(rng.integers(1_000_000)),
            "status": words[int(rng.integers(len(words)))],
            "price": round(float(rng.random() * 100), 2),
            "tags": [words[int(i)] for i in rng.integers(len(words), size=3)],
        }
        text = json.dumps(rec)
        out.append(text)
        length += len(text) + 1
    return ("[" + ",".join(out) + "]").encode()[:size]


def compression_table(
    connection: PlainConnection,
    *,
    sizes: Sequence[int] = (64, 512, 4096, 32_768, 262_144),
    kinds: Sequence[str] = ("json", "random"),
    codecs: Sequence[str] | None = None,
    repeats: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """For every value size, kind and codec: ``MEMORY USAGE`` of the raw and the
    compressed value stored in Redis, and the client CPU to compress and decompress it.

    Columns: ``kind, size, codec, raw_bytes, stored_bytes, saved_bytes, saved_share,
    compress_us, decompress_us`` (CPU medians over ``repeats``).
    """
    rows = []
    raw_key, comp_key = mkey("compress", "raw"), mkey("compress", "packed")
    for kind in kinds:
        for size in sizes:
            value = sample_value(kind, size, seed=seed)
            connection.set(raw_key, value)
            raw_bytes = int(connection.memory_usage(raw_key, samples=0))
            for name in codecs or list(CODECS):
                pack, unpack = CODECS[name]
                ctimes, dtimes = [], []
                for _ in range(repeats):
                    t = time.process_time_ns()
                    packed = pack(value)
                    ctimes.append(time.process_time_ns() - t)
                    t = time.process_time_ns()
                    unpack(packed)
                    dtimes.append(time.process_time_ns() - t)
                connection.set(comp_key, packed)
                stored = int(connection.memory_usage(comp_key, samples=0))
                rows.append(
                    {
                        "kind": kind,
                        "size": size,
                        "codec": name,
                        "raw_bytes": raw_bytes,
                        "stored_bytes": stored,
                        "saved_bytes": raw_bytes - stored,
                        "saved_share": (raw_bytes - stored) / raw_bytes,
                        "compress_us": float(np.median(ctimes)) / 1e3,
                        "decompress_us": float(np.median(dtimes)) / 1e3,
                    }
                )
    connection.delete(raw_key, comp_key)
    return pd.DataFrame(rows)


def key_length_cost(
    connection: PlainConnection,
    *,
    n_keys: int = 20_000,
    lengths: Sequence[int] = (16, 32, 64, 128, 256),
    value: bytes = b"1",
) -> pd.DataFrame:
    """``used_memory`` per key for ``n_keys`` keys whose names are ``length`` bytes long."""
    rows = []
    for length in lengths:
        flush_sync(connection)
        before = used_memory(connection)
        pipe = connection.pipeline(transaction=False)
        for i in range(n_keys):
            base = mkey("kl", i)
            pipe.set(base + ":" + "k" * max(0, length - len(base) - 1), value)
            if i % 2000 == 1999:
                pipe.execute()
        pipe.execute()
        rows.append(
            {"key_length": length, "bytes_per_key": (used_memory(connection) - before) / n_keys}
        )
    flush_sync(connection)
    return pd.DataFrame(rows)


def bucketed_vs_plain(
    connection: PlainConnection,
    *,
    n_items: int = 50_000,
    bucket_size: int = 100,
    value: bytes = b"12345678",
) -> dict[str, float | str]:
    """The same ``n_items`` small values as plain keys and as hash fields in buckets of
    ``bucket_size`` (``item:<id // size>`` field ``<id % size>``, the memory-optimization
    page's scheme). Returns bytes per item for each and the ratio; also each bucket's
    encoding (a listpack while ``bucket_size`` is under ``hash-max-listpack-entries``)."""
    flush_sync(connection)
    before = used_memory(connection)
    pipe = connection.pipeline(transaction=False)
    for i in range(n_items):
        pipe.set(mkey("item", i), value)
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()
    plain = (used_memory(connection) - before) / n_items
    flush_sync(connection)
    before = used_memory(connection)
    pipe = connection.pipeline(transaction=False)
    for i in range(n_items):
        pipe.hset(mkey("bucket", i // bucket_size), str(i % bucket_size), value)
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()
    bucketed = (used_memory(connection) - before) / n_items
    enc = connection.object("encoding", mkey("bucket", 0))
    flush_sync(connection)
    return {
        "plain_bytes_per_item": plain,
        "bucketed_bytes_per_item": bucketed,
        "ratio": plain / bucketed,
        "bucket_encoding": enc.decode() if isinstance(enc, bytes) else str(enc),
    }
