"""The package's public surface: every exported name resolves; pattern modules load lazily."""

from __future__ import annotations

import subprocess
import sys

import redislab


def test_every_exported_name_resolves():
    for name in redislab.__all__:
        assert getattr(redislab, name) is not None, name


def test_pattern_modules_load_on_first_use():
    code = (
        "import sys, redislab; "
        "print(any(m in sys.modules for m in ('redislab.cache', 'redislab.faults'))); "
        "redislab.cache; print('redislab.cache' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_version_is_the_installed_one():
    from importlib.metadata import version

    assert redislab.__version__ == version("redislab")
