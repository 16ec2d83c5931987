"""Generated configs, persistence presets, in-place overrides, TLS material."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509

from redislab.errors import TopologyError
from redislab.lab.config import PERSISTENCE, apply_overrides, persistence_directives, render_config
from redislab.lab.tls import make_tls_files


def test_render_is_commented_and_quotes_empty_values():
    text = render_config(
        [("persistence", {"save": "", "appendonly": "no"}), ("network", {"bind": "127.0.0.1"})],
        title="t",
        server_label="Redis 7.0.15",
    )
    assert 'save ""' in text and "appendonly no" in text
    assert "# RDB save points" in text and "# --- persistence" in text


def test_persistence_names():
    assert set(PERSISTENCE) == {"none", "rdb", "aof-always", "aof-everysec", "aof-no", "hybrid"}
    assert persistence_directives(None) == PERSISTENCE["none"]
    with pytest.raises(TopologyError, match="aof-always"):
        persistence_directives("fsync-sometimes")


def test_overrides_replace_lines_and_keep_server_edits(tmp_path):
    conf = tmp_path / "redis.conf"
    conf.write_text("# comment\nmaxmemory 1mb\nreplicaof 127.0.0.1 7000\n")
    apply_overrides(conf, {"maxmemory": "2mb", "maxmemory-policy": "allkeys-lru"})
    text = conf.read_text()
    assert "maxmemory 1mb" not in text and "maxmemory 2mb" in text
    assert "replicaof 127.0.0.1 7000" in text and "# comment" in text


def test_tls_certificates(tmp_path):
    files = make_tls_files(tmp_path)
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert server.issuer == ca.subject
    assert oct(files.server_key.stat().st_mode)[-3:] == "600"
    assert files.client_kwargs()["ssl"] is True
