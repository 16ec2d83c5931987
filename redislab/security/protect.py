"""Data protection: fields encrypted before they reach Redis, masking for logs, encrypted backups.

Redis stores what it is given; anyone who can read the keys, a snapshot or a
replication stream reads the values. Encrypting sensitive fields in the client
(:class:`FieldCipher`, Fernet: AES-128-CBC + HMAC-SHA256) keeps them unreadable
there, at a cost in CPU and bytes measured by :func:`encryption_cost`. Backups of
an RDB snapshot are sealed with AES-256-GCM (:func:`encrypt_backup`): a changed
byte fails the authentication tag and :func:`restore_backup` refuses the file.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import TamperedBackup
from ..keys import SECURITY_VAULT, key
from ..lab.node import Node
from ..types import PlainConnection

__all__ = [
    "FieldCipher",
    "SealedBackup",
    "dataset_digest",
    "encrypt_backup",
    "encryption_cost",
    "mask_fields",
    "restore_backup",
]

BACKUP_AAD = b"redislab rdb backup v1"


class FieldCipher:
    """Encrypt chosen hash fields on the way in, decrypt them on the way out (Fernet)."""

    def __init__(self, secret: bytes, fields: Iterable[str]) -> None:
        self._fernet = Fernet(secret)
        self.fields = frozenset(fields)

    @staticmethod
    def new_key() -> bytes:
        """A fresh Fernet key (from ``os.urandom``): keep it outside Redis."""
        return Fernet.generate_key()

    def seal(self, record: Mapping[str, str]) -> dict[str, str]:
        """The record with its sensitive fields encrypted (tokens are ASCII)."""
        return {
            k: self._fernet.encrypt(v.encode()).decode() if k in self.fields else v
            for k, v in record.items()
        }

    def open(self, record: Mapping[str, str]) -> dict[str, str]:
        """The record with its sensitive fields decrypted."""
        return {
            k: self._fernet.decrypt(v.encode()).decode() if k in self.fields else v
            for k, v in record.items()
        }

    def hset(self, connection: PlainConnection, name: str, record: Mapping[str, str]) -> None:
        """``HSET`` the sealed record under ``redislab:vault:<name>``."""
        connection.hset(key(SECURITY_VAULT, name), mapping=self.seal(record))

    def hgetall(self, connection: PlainConnection, name: str) -> dict[str, str]:
        """``HGETALL`` and open."""
        return self.open(connection.hgetall(key(SECURITY_VAULT, name)))


def mask_fields(
    record: Mapping[str, str], fields: Iterable[str], *, keep: int = 2
) -> dict[str, str]:
    """A copy safe for a log line: sensitive values cut to ``keep`` characters and ``***``."""
    wanted = set(fields)
    return {k: (v[:keep] + "***" if k in wanted else v) for k, v in record.items()}


def _records(n: int, seed: int) -> list[dict[str, str]]:
    import random

    rng = random.Random(seed)
    return [
        {
            "name": f"user{i}",
            "email": f"user{i}@example.com",
            "card": "".join(rng.choice("0123456789") for _ in range(16)),
            "plan": rng.choice(["free", "pro", "team"]),
        }
        for i in range(n)
    ]


def encryption_cost(
    connection: PlainConnection, cipher: FieldCipher, *, n: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Write and read ``n`` records plain and with sensitive fields sealed: time and bytes."""
    records = _records(n, seed)
    rows = []
    for mode in ("plain", "encrypted"):
        t0 = time.perf_counter()
        pipe = connection.pipeline(transaction=False)
        for i, rec in enumerate(records):
            data = cipher.seal(rec) if mode == "encrypted" else rec
            pipe.hset(key(SECURITY_VAULT, mode, i), mapping=data)
            if i % 200 == 199:
                pipe.execute()
        pipe.execute()
        write_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        pipe = connection.pipeline(transaction=False)
        for i in range(n):
            pipe.hgetall(key(SECURITY_VAULT, mode, i))
        got = pipe.execute()
        if mode == "encrypted":
            got = [cipher.open(g) for g in got]
        read_s = time.perf_counter() - t0
        assert got[-1] == records[-1]
        size = sum(
            int(connection.memory_usage(key(SECURITY_VAULT, mode, i)) or 0) for i in range(0, n, 10)
        )
        rows.append(
            {
                "mode": mode,
                "write records/s": n / write_s,
                "read records/s": n / read_s,
                "bytes per record (MEMORY USAGE)": size / len(range(0, n, 10)),
            }
        )
    return pd.DataFrame(rows).set_index("mode")


def _queue_value(pipe: Any, name: str, kind: str) -> None:
    if kind == "string":
        pipe.get(name)
    elif kind == "hash":
        pipe.hgetall(name)
    elif kind == "list":
        pipe.lrange(name, 0, -1)
    elif kind == "set":
        pipe.smembers(name)
    elif kind == "zset":
        pipe.zrange(name, 0, -1, withscores=True)
    elif kind == "stream":
        pipe.xrange(name)
    else:
        pipe.dump(name)


def _canonical(value: object) -> object:
    if isinstance(value, dict):
        return sorted(value.items())
    if isinstance(value, set):
        return sorted(value)
    return value


def dataset_digest(connection: PlainConnection, *, batch: int = 500) -> tuple[int, str]:
    """``(key count, sha256)`` over every key's name, type and value (pipelined).

    Values, not ``DUMP`` payloads: a reloaded key may be encoded differently (a
    listpack becomes a hash table) and still hold the same data.
    """
    h = hashlib.sha256()
    names = sorted(connection.scan_iter(count=1000))
    for start in range(0, len(names), batch):
        chunk = names[start : start + batch]
        pipe = connection.pipeline(transaction=False)
        for name in chunk:
            pipe.type(name)
        kinds = [k.decode() if isinstance(k, bytes) else str(k) for k in pipe.execute()]
        pipe = connection.pipeline(transaction=False)
        for name, kind in zip(chunk, kinds, strict=True):
            _queue_value(pipe, name, kind)
        for name, kind, value in zip(chunk, kinds, pipe.execute(), strict=True):
            h.update(repr((name, kind, _canonical(value))).encode())
    return len(names), h.hexdigest()


@dataclass(frozen=True)
class SealedBackup:
    """Where an encrypted backup is, and what the dataset was when it was taken."""

    path: Path
    keys: int
    digest: str


def encrypt_backup(connection: PlainConnection, secret: bytes, destination: Path) -> SealedBackup:
    """``SAVE``, then seal the RDB file with AES-256-GCM into ``destination`` (mode 0600).

    File layout: 12-byte nonce, then ciphertext and 16-byte tag. The key stays with
    the caller: a backup on the same disk as its key protects nothing.
    """
    connection.save()
    cfg = connection.config_get("dir")
    cfg.update(connection.config_get("dbfilename"))
    rdb = Path(cfg["dir"]) / cfg["dbfilename"]
    keys, digest = dataset_digest(connection)
    nonce = os.urandom(12)
    sealed = nonce + AESGCM(secret).encrypt(nonce, rdb.read_bytes(), BACKUP_AAD)
    fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(sealed)
    return SealedBackup(destination, keys, digest)


def restore_backup(path: Path, secret: bytes, node: Node) -> tuple[int, str]:
    """Open a sealed backup and load it into ``node`` (its data is replaced).

    Raises :class:`~redislab.errors.TamperedBackup` before touching the node if the
    tag does not verify. Returns the restored ``(key count, digest)``.
    """
    blob = Path(path).read_bytes()
    try:
        plain = AESGCM(secret).decrypt(blob[:12], blob[12:], BACKUP_AAD)
    except InvalidTag:
        raise TamperedBackup(f"{path}: authentication tag does not verify; not restoring") from None
    client = node.client()
    cfg = client.config_get("dir")
    cfg.update(client.config_get("dbfilename"))
    client.close()
    node.kill()
    target = Path(cfg["dir"]) / cfg["dbfilename"]
    tmp = target.with_name(f".{target.name}.restore")
    tmp.write_bytes(plain)
    os.replace(tmp, target)
    node.restart()
    client = node.client()
    try:
        return dataset_digest(client)
    finally:
        client.close()
