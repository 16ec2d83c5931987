"""redislab.kit.claims and the claims report (redislab.report)."""

from __future__ import annotations

import json

import pytest

from redislab.errors import ClaimError
from redislab.kit import claims as C
from redislab.report import build_report


def test_a_claim_that_holds_is_recorded_with_engine_and_notebook(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REDISLAB_CLAIMS_DIR", str(tmp_path))
    monkeypatch.setenv("REDISLAB_NOTEBOOK", "99-test")
    c = C.claim(
        "INCR is atomic",
        source="https://redis.io/docs/latest/commands/incr/",
        measured={"lost": 0, "final": 1200},
        expect="lost == 0 and final == 1200",
    )
    assert c.held and c.notebook == "99-test" and c.engine in ("redis", "valkey")
    files = list(tmp_path.glob("*/99-test.jsonl"))
    assert len(files) == 1
    rec = json.loads(files[0].read_text().splitlines()[-1])
    assert rec["measured"] == {"lost": 0, "final": 1200} and rec["held"] is True


def test_a_claim_that_fails_says_what_where_and_why(monkeypatch) -> None:
    monkeypatch.delenv("REDISLAB_CLAIMS_DIR", raising=False)
    with pytest.raises(AssertionError) as info:
        C.claim("noeviction answers OOM", source="redis.conf (maxmemory-policy)",
                measured={"oom_errors": 0}, expect="oom_errors > 0")  # fmt: skip
    text = str(info.value)
    assert "noeviction answers OOM" in text and "oom_errors = 0" in text and "redis.conf" in text
    assert C.LEDGER[-1].held is False


def test_malformed_claims_are_claim_errors() -> None:
    with pytest.raises(ClaimError):
        C.claim("x", source="", measured=1, holds=True)
    with pytest.raises(ClaimError):
        C.claim("x", source="s", measured=1)
    with pytest.raises(ClaimError, match="cannot evaluate"):
        C.claim("x", source="s", measured={"a": 1}, expect="b > 0")


def test_holds_and_numpy_values_and_the_table(monkeypatch) -> None:
    np = pytest.importorskip("numpy")
    monkeypatch.delenv("REDISLAB_CLAIMS_DIR", raising=False)
    c = C.claim("ratio", source="s", measured={"r": np.float64(2.5)}, holds=True, quiet=True)
    assert c.held and C._jsonable(c.measured) == {"r": 2.5}
    df = C.claims_table([c])
    assert list(df["text"]) == ["ratio"] and bool(df["held"].iloc[0])


def test_report_has_one_row_per_claim_and_a_column_per_engine(tmp_path) -> None:
    for engine, held in (("redis-7.0.15", True), ("valkey-9.1.2", False)):
        d = tmp_path / engine
        d.mkdir()
        rec = {"text": "t", "source": "https://redis.io/x", "measured": {"v": 1}, "expect": "v",
               "held": held, "notebook": "01-x", "engine": engine.split("-")[0],
               "version": engine.split("-")[1], "extra": {}}  # fmt: skip
        (d / "01-x.jsonl").write_text(json.dumps(rec) + "\n")
    csv, page, total = build_report(tmp_path)
    assert total == 1
    html = page.read_text()
    assert "Redis 7.0.15" in html and "Valkey 9.1.2" in html and "FAILED" in html
    assert "0 held on every engine" in html
    assert len(csv.read_text().strip().splitlines()) == 3  # header + one row per engine


def test_expect_comprehensions_see_the_measured_names(monkeypatch) -> None:
    monkeypatch.delenv("REDISLAB_CLAIMS_DIR", raising=False)
    c = C.claim("pairs", source="s", measured={"a": [1, 2], "b": [1, 3], "limit": 2},
                expect="all(x <= y <= limit + 1 for x, y in zip(a, b))", quiet=True)  # fmt: skip
    assert c.held
