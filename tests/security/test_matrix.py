from __future__ import annotations

from redislab import security as S


def test_matrix_equals_policy_and_dryrun_and_acl_log(roles_lab):
    lab, roles, pw, feats = roles_lab
    admin = lab.client()
    S.reset_acl_log(admin)
    users = [r.name for r in roles]
    dry = S.dryrun_matrix(admin, users)
    assert S.attempts(S.acl_log(admin)) == 0  # DRYRUN is not logged
    clients = {u: lab.primary.client(username=u, password=pw[u][0]) for u in users}
    outcome, detail = S.run_matrix(clients, admin=admin)
    policy = S.intended_policy(selectors=feats.selectors)
    cells = [(op, u) for op in outcome.index for u in outcome.columns]
    assert (outcome == policy).all().all(), outcome[outcome != policy]
    # scripts yes, server-wide script management no (FUNCTION FLUSH is in @write too)
    for op in ("FUNCTION FLUSH", "SCRIPT FLUSH", "CONFIG GET requirepass"):
        assert [u for u in users if outcome.loc[op, u] == "allowed"] == ["admin"], op
    assert detail.loc["CONFIG GET requirepass", "admin"] == "(a value, not shown)"
    denied = outcome == "denied"
    assert all(detail.loc[c].startswith("NOPERM") for c in cells if outcome.loc[c] == "denied")
    assert not any(detail.loc[c].startswith("NOPERM") for c in cells if outcome.loc[c] != "denied")
    assert all(dry.loc[c] == outcome.loc[c] for c in cells if outcome.loc[c] != "blocked")
    log = S.acl_log(admin)
    assert S.attempts(log) == int(denied.sum().sum())
    assert set(log["reason"]) <= {"command", "key", "channel"}
    assert "redislab-matrix-probe" not in " ".join(admin.execute_command("ACL", "USERS"))
    for c in clients.values():
        c.close()


def test_attempts_counts_auth_failures(roles_lab):
    lab, *_ = roles_lab
    admin = lab.client()
    S.reset_acl_log(admin)
    n = lab.primary
    with S.RawConnection(n.host, n.port, tls=lab.tls) as conn:
        for _ in range(3):
            assert conn.command("AUTH", "app", "wrong").startswith("-WRONGPASS")
    log = S.acl_log(admin)
    assert S.attempts(log, "auth") == 3
    assert list(log["username"]) == ["app"]
