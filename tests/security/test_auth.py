from __future__ import annotations

import pytest

from redislab import security as S
from redislab.errors import SecurityError


def test_generated_passwords_are_long_random_and_masked():
    a, b = S.generate_password(), S.generate_password()
    assert a != b and len(a) == 64 and int(a, 16) >= 0
    masked = S.mask(a)
    assert a not in masked and a[4:12] not in masked and "64 chars" in masked
    with pytest.raises(SecurityError):
        S.generate_password(8)


def test_password_hash_is_what_the_server_stores(standalone_lab):
    c = standalone_lab.client()
    pw = S.generate_password()
    c.execute_command("ACL", "SETUSER", "hashcheck", "on", f">{pw}")
    try:
        line = next(x for x in c.execute_command("ACL", "LIST") if " hashcheck " in x)
        assert f"#{S.password_hash(pw)}" in line and pw not in line
    finally:
        c.execute_command("ACL", "DELUSER", "hashcheck")


def test_auth_outcomes_show_noauth_wrongpass_and_success(roles_lab):
    lab, _, passwords, _ = roles_lab
    n = lab.primary
    frame = S.auth_outcomes(
        n.host, n.port, username="app", password=passwords["app"][0], tls=lab.tls
    )
    assert list(frame["code"]) == ["NOAUTH", "NOAUTH", "NOAUTH", "OK"]
    assert frame["auth_reply"][1].startswith("-WRONGPASS")
    assert frame["auth_reply"][3] == "OK"
    assert (
        not frame.astype(str).apply(lambda col: col.str.contains(passwords["app"][0])).any().any()
    )


def test_raw_connection_reads_every_reply_type(standalone_lab):
    n = standalone_lab.primary
    with S.RawConnection(n.host, n.port) as conn:
        assert conn.command("SET", "raw:k", "v") == "OK"
        assert conn.command("GET", "raw:k") == b"v"
        assert conn.command("GET", "raw:missing") is None
        assert conn.command("INCR", "raw:n") == 1
        assert conn.command("MGET", "raw:k", "raw:missing") == [b"v", None]
        assert conn.command("NOSUCHCOMMAND").startswith("-ERR")
