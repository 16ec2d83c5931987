"""A throw-away certificate authority for a lab: CA, server and client certificates.

Server certificates carry subjectAltName ``DNS:localhost, IP:127.0.0.1`` because
redis-py checks the hostname by default (Redis's own test certificates lack it).
EC P-256 keys: generated in milliseconds, accepted by every TLS build of Redis.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TLSFiles", "make_tls_files", "tls_directives"]


@dataclass(frozen=True)
class TLSFiles:
    """Paths of the PEM files a lab's servers and clients use."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def client_kwargs(self) -> dict[str, object]:
        """Keyword arguments for ``redis.Redis`` to connect with mutual TLS."""
        return {
            "ssl": True,
            "ssl_ca_certs": str(self.ca_cert),
            "ssl_certfile": str(self.client_cert),
            "ssl_keyfile": str(self.client_key),
        }


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "redislab"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    *,
    usage: x509.ObjectIdentifier,
    san: bool,
    valid_days: int,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(ca_key, hashes.SHA256())


def make_tls_files(directory: Path, *, valid_days: int = 30) -> TLSFiles:
    """Create a CA and a server and a client certificate under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("redislab lab CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TLSFiles(
        ca_cert=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
    )
    pem = serialization.Encoding.PEM
    files.ca_cert.write_bytes(ca_cert.public_bytes(pem))
    server_key = ec.generate_private_key(ec.SECP256R1())
    client_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _issue(
        "localhost",
        server_key,
        ca_key,
        ca_name,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        san=True,
        valid_days=valid_days,
    )
    client_cert = _issue(
        "redislab client",
        client_key,
        ca_key,
        ca_name,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        san=False,
        valid_days=valid_days,
    )
    files.server_cert.write_bytes(server_cert.public_bytes(pem))
    files.client_cert.write_bytes(client_cert.public_bytes(pem))
    _write_key(server_key, files.server_key)
    _write_key(client_key, files.client_key)
    return files


def tls_directives(tls: TLSFiles, *, cluster: bool = False) -> dict[str, object]:
    """TLS on every link of a node: its listener (mutual TLS), its outgoing links
    (``tls-client-cert-file``: the certificate it presents as a client, since the
    server certificate is for server authentication only), replication and, in a
    cluster, the cluster bus. ``port 0`` / ``tls-port`` come from the node itself.
    """
    directives: dict[str, object] = {
        "tls-cert-file": f'"{tls.server_cert}"',
        "tls-key-file": f'"{tls.server_key}"',
        "tls-ca-cert-file": f'"{tls.ca_cert}"',
        "tls-auth-clients": "yes",
        "tls-client-cert-file": f'"{tls.client_cert}"',
        "tls-client-key-file": f'"{tls.client_key}"',
        "tls-replication": "yes",
    }
    if cluster:
        directives["tls-cluster"] = "yes"
    return directives
