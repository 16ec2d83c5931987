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
import hashlib
import os
import secrets
import shutil
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel

from ..errors import LabNotFound, RedislabError, StartupTimeout, TopologyError
from . import formation
from .config import persistence_directives
from .node import Node, PortInUse
from .process import PDEATHSIG_SUPPORTED
from .registry import cleanup_stale, labs_dir, live_pids, read_record, write_record
from .servers import ServerInfo, find_server, server_info
from .tls import TLSFiles, make_tls_files
from .topology import SENTINEL_SETTINGS, Topology, get_topology
from .waits import wait_until

__all__ = ["BOOTSTRAPS", "Lab"]

BOOTSTRAPS = ("fast", "naive")

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
        self._stopped = False
        self.created = time.time()
        self.startup_seconds: float | None = None

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
        """
        topo = get_topology(topology)
        persist = persistence or "none"
        persistence_directives(persist)  # validates the name early
        if bootstrap not in BOOTSTRAPS:
            raise TopologyError(f"unknown bootstrap {bootstrap!r}; valid: {', '.join(BOOTSTRAPS)}")
        if sentinel and not topo.sentinels:
            raise TopologyError(f"sentinel= settings need the sentinel topology, not {topo.name!r}")
        unknown = sorted(set(sentinel or {}) - set(SENTINEL_SETTINGS))
        if unknown:
            raise TopologyError(
                f"unknown sentinel setting(s) {', '.join(unknown)}; "
                f"valid: {', '.join(SENTINEL_SETTINGS)}"
            )
        info = find_server(server)
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
    def _data_sections(self, *, cluster: bool) -> list[tuple[str, dict[str, object]]]:
        defaults: dict[str, object] = {
            "repl-diskless-sync-delay": 0,
            "repl-diskless-load": "on-empty-db",
        }
        if self.server.supports_debug_setting:
            defaults["enable-debug-command"] = "local"
        persist: dict[str, object] = dict(persistence_directives(self.persistence))
        persist["dbfilename"] = "dump.rdb"
        sections: list[tuple[str, dict[str, object]]] = [
            ("lab defaults", defaults),
            (f"persistence: {self.persistence}", persist),
        ]
        if cluster:
            sections.append(
                (
                    "cluster",
                    {
                        "cluster-enabled": "yes",
                        "cluster-config-file": "nodes.conf",
                        "cluster-node-timeout": self.topology.cluster_node_timeout,
                    },
                )
            )
        if self.topology.secure:
            sec: dict[str, object] = {"aclfile": f'"{self.workdir / "users.acl"}"'}
            if self.tls is not None:
                sec.update(
                    {
                        "tls-cert-file": f'"{self.tls.server_cert}"',
                        "tls-key-file": f'"{self.tls.server_key}"',
                        "tls-ca-cert-file": f'"{self.tls.ca_cert}"',
                        "tls-auth-clients": "yes",
                    }
                )
            sections.append(("security", sec))
        if self.config:
            overrides = {k: v for k, v in self.config.items()}
            keys = {k.lower() for k in overrides}
            sections = [
                (title, {k: v for k, v in d.items() if k.lower() not in keys})
                for title, d in sections
            ]
            sections.append(("your overrides (config=...)", overrides))
        return sections

    def _new_data_node(self, name: str, role: str, *, cluster: bool) -> Node:
        user = "admin" if self.topology.secure else None
        node = Node(
            name=name,
            role=role,
            server=self.server,
            directory=self.workdir / name,
            sections=self._data_sections(cluster=cluster),
            cluster=cluster,
            tls=self.tls,
            username=user,
            password=self.credentials.get("admin") if user else None,
            die_with_parent=not self.detached,
            title=(
                f'redislab node "{name}" ({role}) of lab "{self.name}", '
                f"topology {self.topology.name}"
            ),
        )
        return node

    def _setup_security(self) -> None:
        self.credentials = {"admin": secrets.token_hex(32), "app": secrets.token_hex(32)}

        def sha(pw: str) -> str:
            return hashlib.sha256(pw.encode()).hexdigest()

        # ACL files allow no comments. Passwords are stored as SHA-256 (#...), never in
        # clear; the plain passwords are in lab.json (mode 0600) and lab.credentials.
        acl = [
            "user default off resetchannels -@all",
            f"user admin on #{sha(self.credentials['admin'])} ~* &* +@all",
            f"user app on #{sha(self.credentials['app'])} resetchannels ~app:* &app:* "
            "-@all +@read +@write +@connection -@dangerous",
        ]
        (self.workdir / "users.acl").write_text("\n".join(acl) + "\n")
        if self.server.tls:
            self.tls = make_tls_files(self.workdir / "tls")

    # ------------------------------------------------------------ bring up
    def _bring_up(self, *, bootstrap: str, timeout: float) -> None:
        topo = self.topology
        deadline = time.monotonic() + timeout
        if topo.secure:
            self._setup_security()
        data = [self._new_data_node(s.name, s.role, cluster=topo.cluster) for s in topo.nodes]
        self.nodes = list(data)
        for s in topo.nodes:
            self._roles[s.name] = s.role
        naive_replicaof = bootstrap == "naive" and not topo.cluster
        if naive_replicaof:
            # Textbook way (and docker compose's): all processes start together and the
            # replicas carry `replicaof` in their config from the start.
            from .ports import reserve_port

            primary = data[0]
            primary.port = reserve_port()
            primary._reserved = True
            for node, spec in zip(data, topo.nodes, strict=True):
                if spec.role == "replica":
                    node.sections = [
                        *node.sections,
                        ("replication", {"replicaof": f"{primary.host} {primary.port}"}),
                    ]
        self._spawn_all([n for n in data if n.pid is None])
        self._save_record()
        if topo.cluster:
            if bootstrap == "naive":
                formation.form_cluster_naive(self, deadline)
            else:
                formation.form_cluster(self, deadline)
        elif not naive_replicaof:
            with self._fast_cron([self.node(s.name) for s in topo.primaries]):
                for node, spec in zip(data, topo.nodes, strict=True):
                    if spec.replica_of:
                        self._replicate(node, self.node(spec.replica_of))
                self._wait_replicas(deadline)
        self._wait_replicas(deadline)
        if topo.cluster:
            formation.wait_cluster_ok(self, deadline)
        if topo.sentinels:
            formation.start_sentinels(self, naive=bootstrap == "naive", deadline=deadline)

    @contextlib.contextmanager
    def _fast_cron(self, primaries: list[Node], hz: int = 100) -> Iterator[None]:
        """Run the primaries' cron at ``hz`` during the replicas' first sync, then restore it.

        A primary reaps the child that streamed a snapshot, and only then streams writes
        to the replica, in its cron: every 100 ms at the default ``hz 10``. Measured on
        Redis 7.0.15 and Valkey 9.1: replicated lab ready in 0.24 s without, ~0.14 s with.
        Every node ends with its configured ``hz``.
        """
        saved = {}
        for n in primaries:
            saved[n.name] = n.control.config_get("hz")["hz"]
            n.control.config_set("hz", hz)
        try:
            yield
        finally:
            for n in primaries:
                if n.alive:
                    with contextlib.suppress(redis.RedisError, OSError):
                        n.control.config_set("hz", saved[n.name])

    def _spawn_all(self, nodes: list[Node]) -> None:
        """Start processes together, then wait for each: startup costs max(), not sum()."""
        for n in nodes:
            n.spawn()
        for n in nodes:
            try:
                n.wait_ready()
            except PortInUse:
                n._forget_port()
                n.config_path.unlink(missing_ok=True)
                n.start()

    def _remaining(self, deadline: float) -> float:
        return max(0.1, deadline - time.monotonic())

    def _replicate(self, replica: Node, primary: Node) -> None:
        """REPLICAOF once it answers (18 ms to sync instead of ~1 s with the config line)."""
        with replica.client() as c:
            c.replicaof(primary.host, primary.port)
        with replica.config_path.open("a") as fh:
            fh.write(
                "\n# --- replication (sent as REPLICAOF at start, kept here for restarts)\n"
                f"replicaof {primary.host} {primary.port}\n"
            )

    def _wait_replicas(self, deadline: float) -> None:
        """Every live replica in sync, *and* its primary streaming to it.

        ``master_link_status:up`` on the replica is not enough: after a diskless full
        sync the primary keeps the replica in ``wait_bgsave`` until it has reaped the
        child that streamed the snapshot (its cron, every 100 ms at ``hz 10``), and only
        then sends it new writes. So readiness also waits for ``state=online`` in the
        primary's ``INFO replication``.
        """
        by_port = {n.port: n for n in self.data_nodes}
        for node in self.nodes:
            if self._roles.get(node.name) == "replica" and node.alive:
                self._wait_link_up(node, deadline)
                primary = by_port.get(int(node.info("replication").get("master_port", 0)))
                if primary is not None and primary.alive:
                    self._wait_online(primary, node, deadline)

    def _wait_online(self, primary: Node, replica: Node, deadline: float) -> None:
        def online() -> bool:
            info = primary.info("replication")
            for i in range(int(info.get("connected_slaves", 0))):
                entry = info.get(f"slave{i}", {})
                if int(entry.get("port", -1)) == replica.port:
                    return entry.get("state") == "online"
            return False

        wait_until(
            online,
            timeout=self._remaining(deadline),
            interval=0.002,
            what=f"{primary.name} streaming to {replica.name}",
        )

    def _wait_link_up(self, node: Node, deadline: float) -> None:
        def up() -> bool:
            node._raise_if_dead()
            return node.info("replication").get("master_link_status") == "up"

        try:
            wait_until(up, timeout=self._remaining(deadline), what=f"{node.name} in sync")
        except TimeoutError as exc:
            raise StartupTimeout(
                f"{exc}\nLast log lines of {node.name}:\n{node.log_tail(10)}"
            ) from None

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
        raise KeyError(
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
        """
        if self.topology.cluster:
            alive = [n for n in self.data_nodes if n.alive]
            kw = alive[0].client_kwargs(**kwargs)
            kw.pop("host")
            kw.pop("port")
            return RedisCluster(startup_nodes=[ClusterNode(n.host, n.port) for n in alive], **kw)
        return self.primary.client(**kwargs)

    def sentinel_client(self, **kwargs: Any) -> Sentinel:
        """redis-py ``Sentinel`` over this lab's sentinels.

        Use ``sentinel.master_for(lab.master_name)`` for a client that follows failovers.
        """
        if not self.sentinels:
            raise TopologyError(f"lab {self.name} ({self.topology.name}) has no sentinels")
        kw: dict[str, Any] = {"socket_timeout": 0.5, "decode_responses": True}
        kw.update(kwargs)
        return Sentinel([(s.host, s.port) for s in self.sentinels], **kw)

    # ------------------------------------------------------------- readiness
    def _refresh_roles(self) -> None:
        """Re-read every data node's role; a dead node's role becomes ``down``."""
        for n in self.data_nodes:
            if n.alive:
                with contextlib.suppress(redis.RedisError, OSError):
                    self._roles[n.name] = n.current_role()
            else:
                self._roles[n.name] = "down"

    def wait_ready(self, timeout: float = 30.0) -> Lab:
        """Wait until the topology is healthy on its *current* roles (after a failover).

        Dead nodes are left out. Sentinel: the sentinels agree on a primary, every
        live data node is its replica and in sync. Cluster: ``cluster_state:ok`` on
        every live node, replicas in sync. Updates :attr:`primary` / :attr:`replicas`.
        """
        deadline = time.monotonic() + timeout
        for n in self.nodes:
            if n.alive:
                n.wait_ready(self._remaining(deadline))
        topo = self.topology
        while True:
            if topo.sentinels:
                formation.wait_sentinel_primary(self, deadline)
            self._refresh_roles()
            if topo.cluster:
                formation.wait_cluster_ok(self, deadline)
                self._refresh_roles()
            self._wait_replicas(deadline)
            if not topo.sentinels:
                break
            formation.wait_sentinels(self, deadline)
            # A failover may have moved on meanwhile (a second election under load):
            # done only when the sentinels still name the primary we settled on.
            named = self.sentinels_primary_port()
            self._refresh_roles()
            if named is not None and self.primaries and self.primary.port == named:
                break
            if time.monotonic() > deadline:
                raise StartupTimeout(f"sentinels of {self.name} did not settle on a primary")
        self._save_record()
        return self

    def sentinels_primary_port(self) -> int | None:
        """The primary's port if every live sentinel names the same one, else None."""
        ports = set()
        for s in self.sentinels:
            if s.alive:
                with s.client(socket_timeout=1) as c:
                    addr = c.sentinel_get_master_addr_by_name(self.topology.master_name)
                ports.add(int(addr[1]) if addr else None)
        return ports.pop() if len(ports) == 1 else None

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
        node = self._new_data_node(name, "primary", cluster=self.topology.cluster)
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
                "server": str(self.server.path),
                "server_source": self.server.source,
                "persistence": self.persistence,
                "config": {k: str(v) for k, v in self.config.items()},
                "sentinel_settings": self.sentinel_settings,
                "owner_pid": os.getpid(),
                "created": self.created,
                "detached": self.detached,
                "workdir": str(self.workdir),
                "startup_seconds": self.startup_seconds,
                "credentials": self.credentials,
                "tls_dir": str(self.tls.ca_cert.parent) if self.tls else None,
                "nodes": [
                    {**n.to_record(), "current_role": self._roles.get(n.name)} for n in self.nodes
                ],
            },
        )

    @classmethod
    def attach(cls, name: str | None = None) -> Lab:
        """Connect to a running lab, e.g. one started by ``redislab up``.

        ``name`` may be left out when exactly one lab runs. :meth:`stop` on an
        attached lab leaves it running unless ``force=True``.
        """
        records = {}
        for d in labs_dir().iterdir():
            rec = read_record(d) if d.is_dir() else None
            if rec and live_pids(rec):
                records[rec["name"]] = (d, rec)
        if name is None:
            if len(records) != 1:
                raise LabNotFound(
                    f"{len(records)} labs are running ({', '.join(records) or 'none'}); name one"
                )
            name = next(iter(records))
        if name not in records:
            raise LabNotFound(
                f"no running lab called {name!r}; running: {', '.join(records) or 'none'} "
                "(start one with `redislab up TOPOLOGY`)"
            )
        record_dir, rec = records[name]
        lab = cls(
            name=rec["name"],
            topology=get_topology(rec["topology"]),
            server=server_info(rec["server"], rec.get("server_source", "path")),
            workdir=Path(rec["workdir"]),
            record_dir=record_dir,
            persistence=rec.get("persistence", "none"),
            config=rec.get("config", {}),
            owned=False,
            detached=bool(rec.get("detached")),
        )
        lab.created = rec.get("created", lab.created)
        lab.sentinel_settings.update(rec.get("sentinel_settings") or {})
        lab.credentials = rec.get("credentials") or {}
        if rec.get("tls_dir"):
            d = Path(rec["tls_dir"])
            lab.tls = TLSFiles(
                d / "ca.crt", d / "server.crt", d / "server.key", d / "client.crt", d / "client.key"
            )
        secure = lab.topology.secure
        for nr in rec["nodes"]:
            node = Node(
                name=nr["name"],
                role=nr["role"],
                server=lab.server,
                directory=Path(nr["dir"]),
                port=nr["port"],
                cluster=nr.get("cluster", False),
                tls=lab.tls if nr["role"] != "sentinel" else None,
                username="admin" if secure and nr["role"] != "sentinel" else None,
                password=lab.credentials.get("admin")
                if secure and nr["role"] != "sentinel"
                else None,
                die_with_parent=False,
                pid=nr["pid"],
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
        if not self.owned and not force:
            self._stopped = True
            return
        self._stopped = True
        import signal

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


__all__ += ["PDEATHSIG_SUPPORTED"]
