"""One server process: its directory, config, log, readiness and faults.

A :class:`Node` is shaped like mirakuru's executors: a context manager whose
``start()`` returns it once it answers PING, with explicit argv, a per-node log,
a readiness check polled until a timeout and typed errors.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil
import redis

from ..errors import ConfigError, NodeDied, StartupTimeout
from .config import Section, apply_overrides, render_config
from .ports import release_port, reserve_port, transfer_ports
from .process import spawn
from .retries import no_retry
from .servers import ServerInfo
from .tls import TLSFiles

__all__ = ["Node", "PortInUse"]

HOST = "127.0.0.1"


def _driver_info() -> Any:
    """Name clients ``redis-py(redislab_vX)`` and spare redis-py a metadata lookup per client.

    redis-py >= 7 resolves its own version with ``importlib.metadata`` for every
    client it creates (milliseconds each); giving it the version avoids that.
    """
    try:
        from redis.driver_info import DriverInfo
    except ImportError:  # redis-py < 7: nothing to do
        return None
    from .._version import __version__

    return DriverInfo(name="redis-py", lib_version=redis.__version__).add_upstream_driver(
        "redislab", __version__
    )


_DRIVER_INFO = _driver_info()


class PortInUse(NodeDied):
    """The node could not bind its port (someone took it between check and bind)."""


def _clean(text: str) -> str:
    return text.strip().strip("'\"")


class Node:
    """A ``redis-server`` (or sentinel) process owned, or attached to, by a lab.

    Args:
        name: unique within the lab (``primary``, ``replica-1``, ``sentinel-2``...).
        role: the role it is started in: ``primary``, ``replica`` or ``sentinel``.
        server: the binary to run.
        directory: its own directory (config, log, data).
        sections: config sections to render (``port``/``dir``/``logfile`` are added).
        port: a fixed port, or None to reserve a free one (retried if taken at bind).
        cluster: reserve the cluster bus port (data + 10000) as well.
        tls: TLS files when the node listens on TLS only.
        username / password: credentials its clients use (secure labs).
        die_with_parent: SIGKILL the process when this Python process dies.
    """

    def __init__(
        self,
        *,
        name: str,
        role: str,
        server: ServerInfo,
        directory: Path,
        sections: Sequence[Section] | None = None,
        port: int | None = None,
        cluster: bool = False,
        tls: TLSFiles | None = None,
        username: str | None = None,
        password: str | None = None,
        die_with_parent: bool = True,
        title: str = "",
        pid: int | None = None,
    ) -> None:
        self.name = name
        self.role = role
        self.server = server
        self.dir = Path(directory)
        self.sections: list[Section] = list(sections or [])
        self.cluster = cluster
        self.tls = tls
        self.username = username
        self.password = password
        self.die_with_parent = die_with_parent
        self.title = title or f'redislab node "{name}"'
        self.host = HOST
        self._fixed_port = port is not None
        self.port: int = port or 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._attached_pid = pid
        self._reserved = False
        self._control: redis.Redis | None = None

    # ------------------------------------------------------------------ files
    @property
    def config_path(self) -> Path:
        """The generated ``redis.conf`` (``sentinel.conf`` for a sentinel)."""
        return self.dir / ("sentinel.conf" if self.role == "sentinel" else "redis.conf")

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.dir / "server.log"

    @property
    def console_path(self) -> Path:
        """stdout+stderr of the process (config errors land here, before the log opens)."""
        return self.dir / "console.log"

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id, or None before start."""
        if self._proc is not None:
            return self._proc.pid
        return self._attached_pid

    def __repr__(self) -> str:
        state = "alive" if self.alive else "stopped"
        return f"<Node {self.name} {self.role} {self.address} pid={self.pid} {state}>"

    # -------------------------------------------------------------- lifecycle
    def _render(self) -> None:
        net: dict[str, object] = {"bind": HOST}
        if self.tls is not None:
            net["port"] = 0
            net["tls-port"] = self.port
        else:
            net["port"] = self.port
        base: dict[str, object] = {
            "daemonize": "no",
            "dir": f'"{self.dir}"',
            "logfile": f'"{self.log_path}"',
        }
        sections: list[Section] = [("network", net), ("process and files", base), *self.sections]
        self.config_path.write_text(
            render_config(sections, title=self.title, server_label=self.server.label)
        )

    def _argv(self) -> list[str]:
        argv = [str(self.server.path), str(self.config_path)]
        if self.role == "sentinel":
            argv.append("--sentinel")
        return argv

    def spawn(self) -> Node:
        """Write the config (first start only) and start the process; do not wait."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = reserve_port(bus=self.cluster)
            self._reserved = True
        if not self.config_path.exists():
            self._render()
        self._launch()
        return self

    def _launch(self) -> None:
        self.console_path.write_bytes(b"")
        self._proc = spawn(
            self._argv(),
            cwd=self.dir,
            output=self.console_path,
            die_with_parent=self.die_with_parent,
        )
        self._attached_pid = None
        if self._reserved:
            transfer_ports([self.port], self._proc.pid)  # the reservation lives as long as it

    def start(self, timeout: float = 15.0) -> Node:
        """Start and wait until it answers PING; retries on another port if its port was taken."""
        for attempt in range(5):
            self.spawn()
            try:
                return self.wait_ready(timeout)
            except PortInUse:
                if self._fixed_port or attempt == 4:
                    raise
                self._forget_port()
                self.config_path.unlink(missing_ok=True)
        raise AssertionError("unreachable")

    def _forget_port(self) -> None:
        if self._reserved:
            release_port(self.port)
        self._reserved = False
        self.port = 0

    def __enter__(self) -> Node:
        if self.pid is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------- readiness
    def client_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for a redis-py client to this node."""
        kw: dict[str, Any] = {"host": self.host, "port": self.port, "decode_responses": True}
        if _DRIVER_INFO is not None:
            kw["driver_info"] = _DRIVER_INFO
        if self.tls is not None:
            kw.update(self.tls.client_kwargs())
        if self.password is not None:
            kw["username"] = self.username
            kw["password"] = self.password
        kw.update(overrides)
        return kw

    def client(self, **kwargs: Any) -> redis.Redis:
        """A ``redis.Redis`` to this node (``decode_responses=True`` unless given)."""
        return redis.Redis(**self.client_kwargs(**kwargs))

    def wait_ready(self, timeout: float = 15.0) -> Node:
        """Poll until the process answers PING (``-LOADING`` means not yet).

        Raises :class:`NodeDied` (or :class:`ConfigError`, :class:`PortInUse`) quoting
        the log if the process exits, :class:`StartupTimeout` after ``timeout``.
        """
        deadline = time.monotonic() + timeout
        # No client-side retries: this loop is the retry. redis-py's default (10 tries,
        # backoff up to 1 s) turned a node that died in 20 ms into a 3 s wait.
        probe = redis.Redis(
            **self.client_kwargs(
                socket_connect_timeout=0.5,
                socket_timeout=1.0,
                decode_responses=True,
                retry=no_retry(),
            )
        )
        delay = 0.002
        try:
            while True:
                self._raise_if_dead()
                try:
                    if probe.ping():
                        return self
                except redis.BusyLoadingError:
                    pass
                except (redis.ConnectionError, redis.TimeoutError, OSError):
                    pass
                if time.monotonic() > deadline:
                    raise StartupTimeout(
                        f"{self.name} ({self.address}) did not answer PING within {timeout:.0f} s."
                        f"\nLast log lines:\n{self.log_tail(15)}"
                    )
                time.sleep(delay)
                delay = min(delay * 1.5, 0.01)  # a refused connect costs microseconds
        finally:
            probe.close()

    def _raise_if_dead(self) -> None:
        if self._proc is None or self._proc.poll() is None:
            return
        code = self._proc.returncode
        console = self._read(self.console_path)
        log = self._read(self.log_path)
        text = console + "\n" + log
        tail = "\n".join(text.strip().splitlines()[-15:])
        if "FATAL CONFIG FILE ERROR" in console:
            raise ConfigError(self._config_error_message(console))
        if (
            "Address already in use" in text
            or "Could not create server TCP listening socket" in text
        ):
            raise PortInUse(f"{self.name}: port {self.port} was taken:\n{tail}")
        raise NodeDied(
            f"{self.name} ({self.address}) exited with code {code} while starting.\n"
            f"Last lines of {self.console_path.name} and {self.log_path.name}:\n{tail}"
        )

    def _config_error_message(self, console: str) -> str:
        lines = console.splitlines()
        offending = ""
        reason = ""
        line_no = ""
        for i, line in enumerate(lines):
            if line.startswith(">>>"):
                offending = _clean(line[3:].strip())
            m = re.search(r"at line (\d+)", line)
            if m:
                line_no = m.group(1)
                if i + 2 < len(lines):
                    reason = lines[i + 2].strip() if lines[i + 2].startswith(">>>") is False else ""
        if not reason:
            tail = [ln for ln in lines if ln.strip() and not ln.startswith(("***", ">>>"))]
            reason = tail[-1].strip() if tail else ""
        option = offending.split(" ", 1)[0] if offending else "?"
        return (
            f"{self.server.label} rejected the option {option!r} of {self.name} "
            f"({self.config_path}, line {line_no or '?'}):\n"
            f"  >>> {offending}\n  {reason}"
        )

    @staticmethod
    def _read(path: Path) -> str:
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n: int = 20) -> str:
        """The last ``n`` lines of the server log."""
        return "\n".join(self._read(self.log_path).splitlines()[-n:])

    # ------------------------------------------------------------- inspection
    @property
    def alive(self) -> bool:
        """True while the process exists (a paused process is alive)."""
        if self._proc is not None:
            return self._proc.poll() is None
        pid = self._attached_pid
        if not pid:
            return False
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    @property
    def control(self) -> redis.Redis:
        """A cached client for redislab's own questions (INFO, ROLE): one connection, reused."""
        if self._control is None:
            self._control = self.client(socket_timeout=5, socket_connect_timeout=2)
        return self._control

    def _drop_control(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None

    def info(self, section: str | None = None) -> dict[str, Any]:
        """``INFO [section]`` as a dict."""
        c = self.control
        return c.info(section) if section else c.info()

    def current_role(self) -> str:
        """``primary``, ``replica`` or ``sentinel``, asked from the server now."""
        role = str(self.control.execute_command("ROLE")[0])
        return {"master": "primary", "slave": "replica"}.get(role, role)

    # ----------------------------------------------------------------- faults
    def _signal(self, sig: signal.Signals) -> None:
        pid = self.pid
        if pid is None:
            raise NodeDied(f"{self.name} was never started")
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save; data files stay as they were."""
        self._signal(signal.SIGKILL)
        self._reap(5.0)
        self._drop_control()

    def pause(self) -> None:
        """SIGSTOP: the process holds its port but answers nothing (a partition)."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        self._signal(signal.SIGCONT)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Redis saves if persistence says so), SIGKILL after ``timeout``."""
        if self.pid is not None and self.alive:
            self._signal(signal.SIGCONT)
            self._signal(signal.SIGTERM)
            if not self._reap(timeout):
                self._signal(signal.SIGKILL)
                self._reap(5.0)
        self._drop_control()
        if self._reserved:
            release_port(self.port)

    def _reap(self, timeout: float) -> bool:
        if self._proc is not None:
            try:
                self._proc.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        pid = self._attached_pid
        if not pid:
            return True
        try:
            psutil.Process(pid).wait(timeout)
        except psutil.NoSuchProcess:
            return True
        except psutil.TimeoutExpired:
            return False
        return True

    def restart(self, config: Mapping[str, object] | None = None, *, wait: bool = True) -> Node:
        """Stop (or reap a killed process), apply ``config`` overrides, start on the same port."""
        if self.alive:
            self.stop()
        else:
            self._reap(1.0)
        self._drop_control()
        if config:
            apply_overrides(self.config_path, config)
        self._launch()
        if wait:
            self.wait_ready()
        return self

    # ------------------------------------------------------------ persistence
    def to_record(self) -> dict[str, Any]:
        """What the lab registry stores about this node."""
        return {
            "name": self.name,
            "role": self.role,
            "port": self.port,
            "pid": self.pid,
            "dir": str(self.dir),
            "cluster": self.cluster,
        }
