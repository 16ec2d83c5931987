from __future__ import annotations

import os

import pytest

from redislab import security as S
from redislab.errors import TamperedBackup


def test_field_cipher_hides_fields_in_redis(standalone_lab):
    c = standalone_lab.client()
    cipher = S.FieldCipher(S.FieldCipher.new_key(), ["card"])
    record = {"name": "ada", "card": "4111111111111111"}
    cipher.hset(c, "ada", record)
    stored = c.hgetall("redislab:vault:ada")
    assert stored["name"] == "ada" and "4111" not in stored["card"]
    assert cipher.hgetall(c, "ada") == record
    assert S.mask_fields(record, ["card"]) == {"name": "ada", "card": "41***"}
    cost = S.encryption_cost(c, cipher, n=200)
    assert (
        cost.loc["encrypted", "bytes per record (MEMORY USAGE)"]
        > cost.loc["plain", "bytes per record (MEMORY USAGE)"]
    )


def test_sealed_backup_restores_and_refuses_tampering(lab_factory, tmp_path):
    src = lab_factory("standalone")
    c = src.client()
    for i in range(300):
        c.hset(f"redislab:vault:r{i}", mapping={"a": i, "b": "x" * i})
        c.rpush("redislab:vault:list", i)
    secret = os.urandom(32)
    backup = S.encrypt_backup(c, secret, tmp_path / "dump.enc")
    assert b"redislab:vault" not in backup.path.read_bytes()
    fresh = lab_factory("standalone")
    assert S.restore_backup(backup.path, secret, fresh.primary) == (backup.keys, backup.digest)
    blob = bytearray(backup.path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    (tmp_path / "bad.enc").write_bytes(bytes(blob))
    with pytest.raises(TamperedBackup):
        S.restore_backup(tmp_path / "bad.enc", secret, fresh.primary)
    with pytest.raises(TamperedBackup):
        S.restore_backup(backup.path, os.urandom(32), fresh.primary)
    assert fresh.client().dbsize() == backup.keys  # refused before touching the node
