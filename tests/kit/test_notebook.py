"""The ``%%local_lab`` cell magic, in a real IPython shell."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from redislab.kit.notebook import SKIP_MARK, local_lab, skip_reason


@pytest.fixture
def shell() -> InteractiveShell:
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "redislab")
    yield sh
    InteractiveShell.clear_instance()


def test_without_a_url_the_cell_runs(shell, monkeypatch, capsys) -> None:
    monkeypatch.delenv("REDISLAB_URL", raising=False)
    assert skip_reason("it kills things") is None
    result = shell.run_cell("%%local_lab it kills things\nran = 40 + 2\nprint('body ran')")
    assert result.success and shell.user_ns["ran"] == 42
    assert "body ran" in capsys.readouterr().out


def test_a_failing_body_fails_the_cell(shell, monkeypatch) -> None:
    monkeypatch.delenv("REDISLAB_URL", raising=False)
    result = shell.run_cell("%%local_lab reason\n1 / 0")
    assert not result.success
    with pytest.raises(ZeroDivisionError):
        local_lab("reason", "1 / 0", shell=shell)


def test_with_a_url_the_cell_is_skipped_with_its_reason(shell, monkeypatch, capsys) -> None:
    monkeypatch.setenv("REDISLAB_URL", "redis://127.0.0.1:1")
    shell.user_ns.pop("ran", None)
    result = shell.run_cell("%%local_lab it restarts the server\nran = True")
    out = capsys.readouterr().out
    assert result.success and "ran" not in shell.user_ns
    assert out.startswith(SKIP_MARK) and "it restarts the server" in out
