from __future__ import annotations

from redislab import security as S


def test_protected_mode_denies_non_loopback_sources(lab_factory):
    candidates = ["127.0.0.2", *S.local_addresses()]
    lab = lab_factory(
        "standalone", config={"bind": " ".join(["127.0.0.1", *candidates]), "protected-mode": "yes"}
    )
    frame = S.probe_sources(lab.primary.port, ["127.0.0.1", *candidates])
    codes = dict(zip(frame["source"], frame["code"], strict=True))
    assert frame.loc[frame["code"] == "DENIED", "closed"].all()  # refused, then disconnected
    assert codes["127.0.0.1"] == "PONG"
    assert set(codes.values()) <= {"PONG", "DENIED"}
    if (
        lab.server.version.major == 7
        and lab.server.version.minor == 0
        and lab.server.engine == "redis"
    ):
        assert codes["127.0.0.2"] == "DENIED"  # 7.0 accepts exactly 127.0.0.1 and ::1
    lab.client().execute_command("ACL", "SETUSER", "default", ">a-password-now")
    after = S.probe_sources(lab.primary.port, candidates)
    assert set(after["code"]) <= {"NOAUTH"}, after  # a password lifts protected mode
