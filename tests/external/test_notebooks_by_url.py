"""The notebooks against a server they did not start, reached only through its URL.

``make test-external``: a lab started by ``redislab up`` (a separate process, as a
foreign server would be) is seeded with keys that are not ours; the whole notebook
collection then runs under nbval with ``REDISLAB_URL`` pointing at it. Notebooks that
need a local lab are skipped with their reason, the others run, their ``%%local_lab``
cells print why they skip, and afterwards the server holds exactly what it held before:
its own keys untouched, none of ours left, its configuration unchanged.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest
import redis
from nbclient import NotebookClient

from redislab.kit.notebook import SKIP_MARK
from redislab.lab.ports import release_port, reserve_port

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
BIN = Path(sys.executable).parent


def _meta(path: Path) -> object:
    return json.loads(path.read_text())["metadata"]["redislab"]["needs_local_lab"]


@pytest.fixture(scope="module")
def foreign_server():
    """A standalone server started by the CLI in its own process; yields its URL."""
    port = reserve_port()
    release_port(port)  # `redislab up --port` takes it itself
    up = subprocess.run([str(BIN / "redislab"), "up", "standalone", "--port", str(port)],
                        capture_output=True, text=True, timeout=120)  # fmt: skip
    assert up.returncode == 0, up.stdout + up.stderr
    name = re.search(r"redislab down (\S+)", up.stdout).group(1)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        subprocess.run([str(BIN / "redislab"), "down", name], capture_output=True, timeout=60)


def _snapshot(url: str) -> tuple[dict[str, str], dict[str, str]]:
    with redis.Redis.from_url(url, decode_responses=True) as r:
        keys = {k: r.dump(k).hex() for k in r.scan_iter(count=1000)}  # type: ignore[union-attr]
        config = r.config_get("*")
    return keys, config


def test_the_collection_against_a_url(foreign_server: str, tmp_path: Path) -> None:
    with redis.Redis.from_url(foreign_server, decode_responses=True) as owner:
        owner.mset({f"shop:product:{i}": f"price {i}" for i in range(200)})
        owner.hset("shop:user:1", mapping={"name": "Ada", "plan": "pro"})
        owner.zadd("shop:top", {"a": 1, "b": 2})
    keys_before, config_before = _snapshot(foreign_server)
    junit = tmp_path / "junit.xml"
    env = {**os.environ, "REDISLAB_URL": foreign_server,
           "REDISLAB_CLAIMS_DIR": str(tmp_path / "claims")}  # fmt: skip
    run = subprocess.run(
        [str(BIN / "pytest"), "-p", "no:cacheprovider", "--nbval-lax", "-q", "-rs",
         f"--junitxml={junit}", *map(str, NOTEBOOKS)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-6000:]
    ran: dict[str, int] = {}
    skipped: dict[str, set[str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        nb = case.get("classname", "").removeprefix("notebooks.").removesuffix(".ipynb")
        skip = case.find("skipped")
        if skip is not None:
            skipped.setdefault(nb, set()).add(skip.get("message", ""))
        else:
            ran[nb] = ran.get(nb, 0) + 1
    for path in NOTEBOOKS:
        meta = _meta(path)
        if meta:
            assert path.stem not in ran, f"{path.stem} needs a local lab but ran"
            assert skipped[path.stem] == {f"needs a local lab: {meta}"}, skipped.get(path.stem)
        else:
            assert ran.get(path.stem, 0) > 3 and path.stem not in skipped, path.stem
    assert sum(1 for p in NOTEBOOKS if not _meta(p)) >= 4
    keys_after, config_after = _snapshot(foreign_server)
    assert keys_after == keys_before, "the notebooks left keys behind or changed the server's own"
    assert config_after == config_before, "the server's configuration changed"


def test_local_only_sections_say_why_they_skip(foreign_server: str) -> None:
    path = ROOT / "notebooks" / "09.01-monitoring-toolkit.ipynb"
    nb = nbformat.read(path, as_version=4)
    os.environ["REDISLAB_URL"] = foreign_server
    try:
        NotebookClient(
            nb, timeout=300, resources={"metadata": {"path": str(path.parent)}}
        ).execute()
    finally:
        del os.environ["REDISLAB_URL"]
    marked = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%local_lab")]
    assert marked
    for cell in marked:
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        reason = cell.source.splitlines()[0].removeprefix("%%local_lab").strip()
        assert text.startswith(SKIP_MARK) and reason in text, (cell.source[:80], text)
