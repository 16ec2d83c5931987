"""The pytest plugin (``pytest11`` entry point) is loaded into every pytest run of an
environment where redislab is installed: it must act only on tests that use its fixtures
or its own ``redislab_``-prefixed markers, never on another project's tests.

Each test runs a real ``python -m pytest`` in a temporary project outside this
repository (so this project's conftest and ini settings play no part), with the plugin
loaded from its entry point as it is for any other project.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from redislab.lab.servers import available_servers

FOREIGN = """
import pytest

@pytest.mark.tls
def test_marked_tls_by_its_own_project():
    assert True

def test_without_markers():
    assert True
"""

INI = """[pytest]
addopts = -p no:cacheprovider --strict-markers
markers =
    tls: this project's own TLS tests
"""


def _run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "REDISLAB_"))}
    environ.update(env)
    environ["REDISLAB_HOME"] = str(project / ".redislab-home")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", *args],
        cwd=project, env=environ, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def foreign(tmp_path: Path) -> Path:
    """A project that never uses redislab: a ``tls``-marked test and an unmarked one."""
    (tmp_path / "pytest.ini").write_text(INI)
    (tmp_path / "test_foreign.py").write_text(FOREIGN)
    return tmp_path


def _no_tls_engine() -> str | None:
    return next((s.source for s in available_servers() if not s.tls), None)


def _plugin_loaded(out: str) -> bool:
    plugins = next((ln for ln in out.splitlines() if ln.startswith("plugins:")), "")
    return "redislab" in plugins


def test_another_projects_tls_test_runs_on_a_server_without_tls(foreign: Path) -> None:
    engine = _no_tls_engine()
    if engine is None:
        pytest.skip("every engine found here has TLS; nothing would skip")
    res = _run(foreign, REDISLAB_SERVER=engine)
    out = res.stdout + res.stderr
    assert _plugin_loaded(out), out  # the entry point did load the plugin
    assert res.returncode == 0, out
    assert "2 passed" in out and "skipped" not in out and "TLS support" not in out, out


def test_another_projects_tests_pass_when_no_server_is_found(foreign: Path) -> None:
    # no redis-server on PATH and a REDISLAB_SERVER that names nothing: find_server() fails
    empty = foreign / "empty-bin"
    empty.mkdir()
    res = _run(foreign, PATH=str(empty), REDISLAB_SERVER=str(foreign / "no-such-server"))
    out = res.stdout + res.stderr
    assert _plugin_loaded(out), out
    assert res.returncode == 0, out
    assert "2 passed" in out and "ServerNotFound" not in out and " error" not in out, out


def test_redislab_tls_marker_skips_on_a_server_without_tls(foreign: Path) -> None:
    engine = _no_tls_engine()
    if engine is None:
        pytest.skip("every engine found here has TLS")
    (foreign / "test_ours.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.redislab_tls\n"
        "def test_needs_tls():\n    assert False, 'ran on a server without TLS'\n\n"
        "@pytest.mark.tls\n"
        "def test_old_marker_with_a_redislab_fixture(redislab_server):\n"
        "    assert False, 'ran on a server without TLS'\n"
    )
    res = _run(foreign, "-W", "default::DeprecationWarning", REDISLAB_SERVER=engine)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "2 passed, 2 skipped" in out and "has no TLS support" in out, out
    # the old marker still works on a redislab test, and says what to write instead
    assert "redislab_tls" in out and "DeprecationWarning" in out, out


def test_the_plugin_registers_only_prefixed_markers(foreign: Path) -> None:
    res = _run(foreign, "--markers")
    ours = [ln for ln in res.stdout.splitlines() if "redislab" in ln.lower()]
    assert ours and all(ln.startswith("@pytest.mark.redislab_") for ln in ours), res.stdout
