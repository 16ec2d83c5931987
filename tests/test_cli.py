"""The redislab command line."""

from __future__ import annotations

import os
import subprocess
import sys

from redislab.lab.servers import available_servers


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "redislab", *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_servers_table():
    res = run("servers")
    assert res.returncode == 0
    for s in available_servers():
        assert str(s.version) in res.stdout and str(s.path) in res.stdout
    assert "REDISLAB_SERVER" in res.stdout


def test_up_rejects_unknown_topology():
    res = run("up", "galaxy")
    assert res.returncode != 0 and "invalid choice" in res.stderr


def test_up_reports_rejected_option(isolated_home):
    res = run(
        "up",
        "standalone",
        "--config",
        "maxmemory-policy=bogus",
        env={"REDISLAB_HOME": str(isolated_home)},
    )
    assert res.returncode == 1
    assert "maxmemory-policy" in res.stderr and "bogus" in res.stderr
    assert "Traceback" not in res.stderr


def test_status_and_logs_with_nothing_running(isolated_home):
    env = {"REDISLAB_HOME": str(isolated_home)}
    assert "no labs running" in run("status", env=env).stdout
    res = run("logs", "primary", env=env)
    assert res.returncode == 1 and "no node 'primary'" in res.stderr


def test_down_all_with_nothing_running(isolated_home):
    assert run("down", "--all", env={"REDISLAB_HOME": str(isolated_home)}).returncode == 0


def test_certs_writes_a_chain_that_verifies_and_never_overwrites(tmp_path):
    from cryptography import x509

    res = run("certs", str(tmp_path / "tls"), "--days", "10")
    assert res.returncode == 0, res.stderr
    d = tmp_path / "tls"
    ca = x509.load_pem_x509_certificate((d / "ca.crt").read_bytes())
    server = x509.load_pem_x509_certificate((d / "server.crt").read_bytes())
    server.verify_directly_issued_by(ca)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    lifetime = server.not_valid_after_utc - server.not_valid_before_utc
    assert 10 <= lifetime.days <= 11
    assert (d / "server.key").stat().st_mode & 0o777 == 0o600
    before = (d / "ca.crt").read_bytes()
    again = run("certs", str(d))
    assert again.returncode == 1 and "--force" in again.stdout
    assert (d / "ca.crt").read_bytes() == before
    assert run("certs", str(d), "--force").returncode == 0
    assert (d / "ca.crt").read_bytes() != before


def test_a_cli_failure_is_one_line_and_a_nonzero_exit(tmp_path, capsys):
    from redislab.cli import main

    assert main(["compose", "-o", str(tmp_path / "missing" / "dir" / "file.yml")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No such file or directory" in err


def test_servers_says_when_redislab_server_names_nothing(monkeypatch, capsys):
    from redislab.cli import main

    monkeypatch.setenv("REDISLAB_SERVER", "/no/such/redis-server")
    assert main(["servers"]) == 0
    out = capsys.readouterr().out
    assert "REDISLAB_SERVER='/no/such/redis-server' names no usable server" in out
    assert "*" not in out.split("\n\n", 1)[1].split("Choose")[0]  # no default marked
