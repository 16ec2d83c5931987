"""Security: authentication, ACL roles as code, the attack matrix, audit, TLS, data protection.

Notebooks 07.01-07.03. Modules by concern:

- :mod:`.auth`: generated passwords (:func:`generate_password`, shown through
  :func:`mask`), ``#<sha256>`` hashes, and what a server answers at login
  (:func:`auth_outcomes` over a raw RESP connection: ``NOAUTH``, ``WRONGPASS``);
- :mod:`.acl`: :class:`Role` specs rendered to ``ACL SETUSER`` and an ACL file,
  applied, and diffed against ``ACL LIST`` (:func:`acl_diff`);
- :mod:`.matrix`: every user against every operation (:func:`run_matrix`), the
  intended policy written out by hand, ``ACL DRYRUN``'s prediction;
- :mod:`.audit`: ``ACL LOG`` as a DataFrame (:func:`acl_log`, :func:`attempts`);
- :mod:`.network`: what protected mode refuses (:func:`probe_sources`);
- :mod:`.tls`: a PKI with good and bad certificates, runtime TLS, each failure's
  error (:func:`tls_cases`), TLS replication, the cost of TLS (:func:`tls_cost`);
- :mod:`.links`: replication and the cluster bus of ``tls=True`` labs seen from
  outside (:func:`replication_without_tls`, :func:`bus_probe`);
- :mod:`.protect`: client-side field encryption, masking, sealed RDB backups;
- :mod:`.review`: a configuration review of any server (``python -m
  redislab.security.review URL``);
- :mod:`.rotation`: rotating a leaked password under load (:func:`rotate_password`).
"""

from __future__ import annotations

from .acl import (
    AclFeatures,
    Role,
    acl_diff,
    acl_features,
    apply_roles,
    default_roles,
    render_acl_file,
    render_setuser,
    write_acl_file,
)
from .audit import acl_log, attempts, reset_acl_log
from .auth import AuthOutcome, RawConnection, auth_outcomes, generate_password, mask, password_hash
from .links import (
    BusProbe,
    bus_port,
    bus_probe,
    keys_by_node,
    plaintext_ping,
    replication_without_tls,
)
from .matrix import OPERATIONS, Operation, dryrun_matrix, intended_policy, run_matrix
from .network import local_addresses, ping_from, probe_sources
from .protect import (
    FieldCipher,
    SealedBackup,
    dataset_digest,
    encrypt_backup,
    encryption_cost,
    mask_fields,
    restore_backup,
)
from .review import Finding, findings_table, review, review_url
from .rotation import RotationRun, rotate_password, rotation_table
from .tls import (
    PKI,
    TLSCase,
    enable_tls,
    make_pki,
    replica_links,
    replicate_over_tls,
    require_tls,
    tls_cases,
    tls_client,
    tls_connect_pairs,
    tls_cost,
    use_server_certificate,
)

__all__ = [
    "OPERATIONS",
    "PKI",
    "AclFeatures",
    "AuthOutcome",
    "BusProbe",
    "FieldCipher",
    "Finding",
    "Operation",
    "RawConnection",
    "Role",
    "RotationRun",
    "SealedBackup",
    "TLSCase",
    "acl_diff",
    "acl_features",
    "acl_log",
    "apply_roles",
    "attempts",
    "auth_outcomes",
    "bus_port",
    "bus_probe",
    "dataset_digest",
    "default_roles",
    "dryrun_matrix",
    "enable_tls",
    "encrypt_backup",
    "encryption_cost",
    "findings_table",
    "generate_password",
    "intended_policy",
    "keys_by_node",
    "local_addresses",
    "make_pki",
    "mask",
    "mask_fields",
    "password_hash",
    "ping_from",
    "plaintext_ping",
    "probe_sources",
    "render_acl_file",
    "render_setuser",
    "replica_links",
    "replicate_over_tls",
    "replication_without_tls",
    "require_tls",
    "reset_acl_log",
    "restore_backup",
    "review",
    "review_url",
    "rotate_password",
    "rotation_table",
    "run_matrix",
    "tls_cases",
    "tls_client",
    "tls_connect_pairs",
    "tls_cost",
    "use_server_certificate",
    "write_acl_file",
]
