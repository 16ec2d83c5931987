from __future__ import annotations

import pytest
import redis

from redislab import security as S


def test_two_password_rotation_loses_nothing_naive_does(roles_lab):
    lab, _, pw, _ = roles_lab
    admin = lab.client()
    kw = lab.primary.client_kwargs()
    safe = S.rotate_password(admin, kw, user="app", old_password=pw["app"][0])
    assert safe.requests > 0 and safe.failed == 0, safe.failures
    old = safe.new_password
    naive = S.rotate_password(admin, kw, user="app", old_password=old, strategy="naive")
    assert naive.failed > 0 and all(f[2] == "old" for f in naive.failures)
    pw["app"] = [naive.new_password]
    with pytest.raises(redis.AuthenticationError):
        lab.primary.client(username="app", password=old).ping()
    assert lab.primary.client(username="app", password=naive.new_password).ping()
    table = str(S.rotation_table([safe, naive]).to_dict())
    assert old not in table and naive.new_password not in table
