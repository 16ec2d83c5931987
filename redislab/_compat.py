"""Old module paths (before the lab / kit / themes layout) keep importing.

``import redislab.measure`` and ``from redislab.hashing import key_slot`` load the module
at its new place and register it under the old name too. New code uses the new paths
(``docs/DESIGN.md`` has the table).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

MOVED = {
    "servers": "lab.servers",
    "process": "lab.process",
    "ports": "lab.ports",
    "config": "lab.config",
    "topology": "lab.topology",
    "tls": "lab.tls",
    "registry": "lab.registry",
    "node": "lab.node",
    "formation": "lab.formation",
    "compose": "lab.compose",
    "measure": "kit.measure",
    "features": "kit.features",
    "workload": "kit.workload",
    "hashing": "cluster.hashing",
    "faults": "_faults_compat",
}
"""Old module name under ``redislab`` -> its new place under ``redislab``."""


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        return None


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> ModuleSpec | None:
        prefix, _, name = fullname.partition(".")
        if prefix != "redislab" or name not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(f"redislab.{MOVED[name]}"))


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
