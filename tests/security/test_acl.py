from __future__ import annotations

import pytest

from redislab import security as S
from redislab.errors import SecurityError
from redislab.kit import wait_until


def test_rules_render_hashes_never_passwords():
    role = S.Role(
        "r", keys=("a:*",), read_keys=("b:*",), channels=("c:*",), commands=("-@all", "+get")
    )
    args = S.render_setuser(role, passwords=["secret-password-123"])
    assert args[:3] == ["ACL", "SETUSER", "r"]
    assert "secret-password-123" not in " ".join(args)
    assert f"#{S.password_hash('secret-password-123')}" in args
    assert args.index("resetchannels") < args.index("&c:*")
    assert "%R~b:*" in args and "~a:*" in args


def test_features_missing_raise_typed_errors():
    no = S.AclFeatures(read_write_keys=False, selectors=False)
    with pytest.raises(SecurityError):
        S.Role("r", read_keys=("x",)).rules(features=no)
    with pytest.raises(SecurityError):
        S.Role("r", selectors=(("~x", "+get"),)).rules(features=no)


def test_acl_file_loads_and_matches_the_spec(lab_factory, tmp_path):
    lab = lab_factory("standalone")
    c = lab.client()
    feats = S.acl_features(c)
    assert feats.read_write_keys and feats.selectors  # every engine we support is 7.0+
    roles = S.default_roles(selectors=feats.selectors)
    pw = {r.name: [S.generate_password()] for r in roles}
    path = S.write_acl_file(tmp_path / "users.acl", S.render_acl_file(roles, pw, features=feats))
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert not any(p[0] in path.read_text() for p in pw.values())
    lab.primary.restart(config={"aclfile": f'"{path}"'}, wait=False)  # default user off now
    admin = lab.primary.client(username="admin", password=pw["admin"][0])
    wait_until(admin.ping, timeout=15, what="the node to load the ACL file")
    diff = S.acl_diff(admin, roles, pw)
    assert set(diff["status"]) == {"same"}, diff


def test_diff_sees_drift_missing_and_extra_users(roles_lab):
    lab, roles, pw, feats = roles_lab
    admin = lab.client()
    assert set(S.acl_diff(admin, roles, pw)["status"]) == {"same"}
    admin.execute_command("ACL", "SETUSER", "worker", "+keys")
    admin.execute_command("ACL", "SETUSER", "intruder", "on", ">x", "+@all")
    try:
        diff = S.acl_diff(admin, roles, pw).set_index("user")
        assert diff.loc["worker", "status"] == "changed"
        assert "+keys" in diff.loc["worker", "only_server"]
        assert diff.loc["intruder", "status"] == "extra"
        missing = S.acl_diff(admin, [*roles, S.Role("ghost")], pw).set_index("user")
        assert missing.loc["ghost", "status"] == "missing"
    finally:
        admin.execute_command("ACL", "DELUSER", "intruder")
        S.apply_roles(admin, [r for r in roles if r.name == "worker"], pw, features=feats)


def test_roles_grant_no_script_management_and_no_config_get():
    roles = {r.name: r for r in S.default_roles()}
    for name in ("app", "analyst"):  # both have +@write, which holds FUNCTION FLUSH
        assert "-function" in roles[name].commands and "+@scripting" not in roles[name].commands
    assert {"+eval", "+evalsha", "+fcall"} <= set(roles["app"].commands)
    assert not any("config" in c for c in roles["operator"].commands)  # CONFIG GET requirepass
