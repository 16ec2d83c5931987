"""A secure lab with the role model applied, shared by the security tests."""

from __future__ import annotations

import pytest

from redislab import security as S


@pytest.fixture(scope="module")
def roles_lab(secure_lab):
    """``(lab, roles, passwords, features)`` with :func:`default_roles` applied."""
    admin = secure_lab.client()
    feats = S.acl_features(admin)
    roles = S.default_roles(selectors=feats.selectors)
    passwords = {r.name: [S.generate_password()] for r in roles if r.name != "admin"}
    passwords["admin"] = [secure_lab.credentials["admin"]]
    S.apply_roles(admin, roles, passwords, features=feats)
    yield secure_lab, roles, passwords, feats
    admin.close()
