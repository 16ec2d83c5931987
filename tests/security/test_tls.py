from __future__ import annotations

import pytest

from redislab import security as S
from redislab.errors import SecurityError
from redislab.kit import wait_until
from redislab.lab.ports import release_port, reserve_port


def test_require_tls_names_the_reason():
    S.require_tls(True, "redis")
    with pytest.raises(SecurityError, match="without TLS"):
        S.require_tls(False, "valkey")


@pytest.mark.redislab_tls
def test_each_bad_connection_fails_with_its_own_reason(lab_factory, tmp_path):
    lab = lab_factory("standalone")
    c = lab.client()
    pki = S.make_pki(tmp_path / "pki")
    port = reserve_port()
    try:
        S.enable_tls(c, pki, port)
        cases = S.tls_cases(c, pki, port).set_index("case")
        assert cases.loc["mutual TLS, verified", "connected"]
        assert cases.loc["no client certificate, tls-auth-clients optional", "connected"]
        reasons = cases.loc[~cases["connected"], "reason"]
        assert reasons["server certificate expired"] == "certificate expired"
        assert reasons["server certificate for another host"] == "hostname mismatch"
        assert reasons["client trusts another CA"] == "unknown CA"
        assert reasons["no client certificate"] == "client certificate required"
        assert reasons["expired client certificate"] == "client certificate expired"
        assert reasons["client certificate from another CA"] == "client certificate from unknown CA"
        assert "not TLS" in reasons["plaintext client on the TLS port"]
        assert c.config_get("tls-cert-file")["tls-cert-file"] == str(pki.cert("server"))
        cost = S.tls_cost(
            lambda: lab.primary.client(),
            lambda: S.tls_client(
                port, ca=pki.cert("ca"), cert=pki.cert("client"), key=pki.key("client")
            ),
            requests=300,
            connects=3,
            rounds=1,
            handshake=(lab.primary.port, port, pki),
        )
        assert set(cost.index) == {"plain", "tls"}
        assert cost.loc["tls", "connect + PING, raw socket (ms)"] > 0
        tls_s, plain_s = S.tls_connect_pairs(lab.primary.port, port, pki, n=4)
        assert len(tls_s) == len(plain_s) == 4 and min(tls_s + plain_s) > 0
    finally:
        release_port(port)


@pytest.mark.redislab_tls
def test_replication_over_tls(lab_factory, tmp_path):
    primary, replica = lab_factory("standalone"), lab_factory("standalone")
    pki = S.make_pki(tmp_path / "pki")
    p_port, r_port = reserve_port(), reserve_port()
    try:
        pc, rc = primary.client(), replica.client()
        S.enable_tls(pc, pki, p_port)
        pc.set("redislab:app:tls", "yes")
        S.replicate_over_tls(rc, pki, primary_port=p_port, replica_tls_port=r_port)
        wait_until(lambda: rc.get("redislab:app:tls") == "yes", timeout=15, what="TLS replication")
        links = S.replica_links(pc)
        assert list(links["local_port"]) == [p_port]
    finally:
        release_port(p_port)
        release_port(r_port)
