from __future__ import annotations

from redislab import security as S


def test_review_tells_standalone_from_secure(standalone_lab, roles_lab):
    plain = {f.check for f in S.review(standalone_lab.client(), cache=True)}
    assert "default user enabled without password" in plain
    assert "no maxmemory for a cache" in plain
    lab, *_ = roles_lab
    secure = {f.check for f in S.review(lab.client())}
    assert "default user enabled without password" not in secure
    assert not any(c.startswith("dangerous commands open") for c in secure)
    if lab.server.tls:
        assert "TLS off" not in secure
    assert S.findings_table(S.review(lab.client())).columns.tolist() == [
        "severity",
        "check",
        "detail",
        "fix",
    ]


def test_review_flags_dangerous_commands_for_a_non_admin(standalone_lab):
    c = standalone_lab.client()
    c.execute_command("ACL", "SETUSER", "sloppy", "on", ">pw", "~*", "+@all")
    try:
        found = [f for f in S.review(c) if f.check == "dangerous commands open to 'sloppy'"]
        assert found and "flushall" in found[0].detail
    finally:
        c.execute_command("ACL", "DELUSER", "sloppy")


def test_review_command_line(standalone_lab, capsys):
    n = standalone_lab.primary
    from redislab.security.review import main

    assert main([f"redis://{n.host}:{n.port}/0"]) == 1  # default user open: high
    assert "default user enabled without password" in capsys.readouterr().out


def test_review_command_line_takes_the_password_from_env_or_file(
    standalone_lab, capsys, monkeypatch, tmp_path
):
    n = standalone_lab.primary
    from redislab.security.review import main

    c = standalone_lab.client()
    c.execute_command("ACL", "SETUSER", "reviewer", "on", ">s3cret-pw", "~*", "+@all")
    try:
        url = f"redis://{n.host}:{n.port}/0"
        monkeypatch.setenv("REDISCLI_AUTH", "s3cret-pw")
        main([url, "--user", "reviewer"])
        out = capsys.readouterr()
        assert "findings" in out.out or "[" in out.out
        assert "warning" not in out.err
        monkeypatch.delenv("REDISCLI_AUTH")
        secret = tmp_path / "pw"
        secret.write_text("s3cret-pw\n")
        secret.chmod(0o600)
        main([url, "--user", "reviewer", "--password-file", str(secret)])
        assert "[" in capsys.readouterr().out
        main([f"redis://reviewer:s3cret-pw@{n.host}:{n.port}/0"])
        assert "visible to other local users" in capsys.readouterr().err
    finally:
        c.execute_command("ACL", "DELUSER", "reviewer")
