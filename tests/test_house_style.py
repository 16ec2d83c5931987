"""One of each, enforced mechanically: ruff's banned-API rule fails on a planted copy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ruff(source: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    planted = ROOT / "redislab" / f"_planted_{tmp.name}.py"
    planted.write_text(source)
    try:
        return subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--no-cache", str(planted)],
            cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip
    finally:
        planted.unlink()


def test_a_hand_built_no_retry_is_refused(tmp_path: Path) -> None:
    out = _ruff("from redis.backoff import NoBackoff\n\nprint(NoBackoff)\n", tmp_path)
    assert out.returncode == 1 and "TID251" in out.stdout and "no_retry" in out.stdout


def test_the_one_home_of_no_retry_passes(tmp_path: Path) -> None:
    out = _ruff("from redislab.kit import no_retry\n\nprint(no_retry())\n", tmp_path)
    assert out.returncode == 0, out.stdout
