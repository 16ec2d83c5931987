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
        "print(any(m in sys.modules for m in ('redislab.cache', 'redislab.design'))); "
        "redislab.cache; print('redislab.cache' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_version_is_the_installed_one():
    from importlib.metadata import version

    assert redislab.__version__ == version("redislab")


def test_import_redislab_is_light():
    code = "import sys, redislab; print(sorted(m for m in ('numpy', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_there_are_no_old_module_paths():
    """The layout of three layers is the only one: no aliases for a package never released."""
    import importlib

    import pytest

    for old in ("hashing", "measure", "workload", "faults", "servers", "registry"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"redislab.{old}")
