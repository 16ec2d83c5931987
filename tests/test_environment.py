"""The locked environment and the zero-install runtimes (Binder, devcontainer).

No Docker runs here, so Binder's and Codespaces' images are not built by the tests: what
is checked is that their files are valid, that they call the one set-up script `make`
uses (so they get exactly the lock), and that the lock agrees with pyproject.toml.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _uv() -> str:
    for candidate in (ROOT / ".uv" / "bin" / "uv", Path(sys.prefix) / "bin" / "uv"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("uv")
    if not found:
        pytest.skip("no uv here (scripts/setup installs it into .uv/)")
    return found


def test_the_lock_agrees_with_pyproject() -> None:
    out = subprocess.run([_uv(), "lock", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_the_lock_pins_the_tools_and_covers_the_supported_machines() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    pinned = {p["name"]: p["version"] for p in lock["package"] if "version" in p}
    for tool in ("ruff", "mypy", "pytest", "nbval", "jupyterlab", "redis", "pandas", "uv"):
        assert tool in pinned, f"{tool} is not in uv.lock"
    required_uv = PYPROJECT["tool"]["uv"]["required-version"].removeprefix("==")
    assert pinned["uv"] == required_uv  # the bootstrap's uv is the locked one
    envs = " ".join(PYPROJECT["tool"]["uv"]["environments"])
    for machine in ("x86_64", "aarch64", "arm64"):
        assert machine in envs
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    assert "python_version < '3.14'" in envs


def test_make_binder_and_the_devcontainer_run_the_same_setup() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\$\(STAMP\): uv\.lock pyproject\.toml scripts/setup$", makefile, re.M)
    assert "scripts/setup" in makefile
    setup = (ROOT / "scripts" / "setup").read_text()
    assert "uv sync --locked" in setup and "UV_PYTHON_DOWNLOADS=never" in setup
    subprocess.run(["sh", "-n", str(ROOT / "scripts" / "setup")], check=True)
    post_build = ROOT / "binder" / "postBuild"
    assert post_build.stat().st_mode & 0o111, "binder/postBuild must be executable"
    subprocess.run(["sh", "-n", str(post_build)], check=True)
    assert "scripts/setup" in post_build.read_text()
    apt = (ROOT / "binder" / "apt.txt").read_text().split()
    assert {"redis-server", "redis-sentinel", "redis-tools"} <= set(apt)
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.1[123]", runtime)
    dev = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())
    assert dev["postCreateCommand"].endswith("scripts/setup")
    assert "redis-server" in dev["postCreateCommand"]
    assert re.search(r"python:\S*3\.1[123]", dev["image"])


def test_ci_runs_the_readme_test_command_and_lint() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test\n" in ci and "make lint" in ci
    lint = makefile_target("lint")
    assert "uv lock --check" in lint


def makefile_target(name: str) -> str:
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{name}:.*?\n((?:\t.*\n)+)", text, re.M)
    assert match, f"no {name} target"
    return match.group(1)
