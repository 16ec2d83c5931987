"""The layout rule (docs/DESIGN.md), checked on the source: imports only go downward.

the bottom (errors, keys, replies, types) <- the lab <- the kit <- each theme <- design; a theme
never imports another theme; design imports only themes' packages, not their modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import redislab

PKG = Path(redislab.__file__).parent
BOTTOM = {"errors", "keys", "replies", "types", "_version"}
FACE = {
    "__init__",
    "__main__",
    "cli",
    "pytest_plugin",
    "report",
    "site",
    "soak",
}


def _layer(parts: tuple[str, ...]) -> str:
    head = parts[0]
    if head in BOTTOM:
        return "bottom"
    if head in FACE:
        return "face"
    if head in ("lab", "kit", "design"):
        return head
    return "theme"


def _imports(path: Path) -> list[tuple[str, ...]]:
    """Every redislab module ``path`` imports (resolved, as parts under redislab)."""
    rel = path.relative_to(PKG).with_suffix("")
    package = rel.parts[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                mod = (*base, *(node.module.split(".") if node.module else ()))
                if not node.module:  # from . import x
                    out += [(*base, a.name) for a in node.names]
                    continue
            elif node.module and node.module.split(".")[0] == "redislab":
                mod = tuple(node.module.split(".")[1:])
            else:
                continue
            if mod:
                out.append(mod)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "redislab" and a.name != "redislab":
                    out.append(tuple(a.name.split(".")[1:]))
    return out


ALLOWED = {
    "bottom": {"bottom"},
    "lab": {"bottom", "lab"},
    "kit": {"bottom", "lab", "kit"},
    "theme": {"bottom", "lab", "kit", "theme"},
    "design": {"bottom", "lab", "kit", "theme", "design"},
    "face": {"bottom", "lab", "kit", "theme", "design", "face"},
}


def test_imports_only_go_downward_and_themes_stay_apart():
    problems = []
    for path in sorted(PKG.rglob("*.py")):
        parts = path.relative_to(PKG).with_suffix("").parts
        me = _layer(parts)
        for target in _imports(path):
            other = _layer(target)
            where = f"{'/'.join(parts)} imports {'.'.join(target)}"
            if other not in ALLOWED[me]:
                problems.append(f"{where}: {me} may not import {other}")
            elif me == "theme" and other == "theme" and target[0] != parts[0]:
                problems.append(f"{where}: a theme never imports another theme")
            elif me == "design" and other == "theme" and len(target) > 1:
                problems.append(f"{where}: design uses a theme's public exports only")
    assert not problems, "\n".join(problems)
