"""redislab.lab.tls: a CA and certificates that redis-py accepts for 127.0.0.1/localhost."""

from __future__ import annotations

import ipaddress
import stat

from cryptography import x509

from redislab.lab.tls import make_tls_files


def test_certificates_name_localhost_and_loopback_and_keys_are_private(tmp_path) -> None:
    files = make_tls_files(tmp_path / "tls", valid_days=3)
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    client = x509.load_pem_x509_certificate(files.client_cert.read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert server.issuer == ca.subject and client.issuer == ca.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = server.not_valid_after_utc - server.not_valid_before_utc
    assert 2 <= lifetime.days <= 4
    for key in (files.server_key, files.client_key):
        assert stat.S_IMODE(key.stat().st_mode) & 0o077 == 0
    kw = files.client_kwargs()
    assert kw["ssl_ca_certs"] == str(files.ca_cert) or kw["ssl_ca_certs"] == files.ca_cert
