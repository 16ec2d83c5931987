"""Redis Cluster administration: slot maps, live slot migration, redirects, scaling out.

- :func:`cluster_nodes` / :func:`slot_map`: ``CLUSTER NODES`` and ``CLUSTER SLOTS`` as
  DataFrames; :func:`plot_slot_map` draws who owns which slots.
- :class:`ClusterRouter`: a deliberately small cluster client that follows ``MOVED``
  and ``ASK`` itself and counts them, so a notebook can show what a cluster client
  does during a migration (redis-py's ``RedisCluster`` does the same, silently).
- :func:`begin_slot_migration`, :func:`move_slot_keys`, :func:`end_slot_migration`:
  the live-resharding steps of the cluster spec (``SETSLOT IMPORTING/MIGRATING``,
  ``GETKEYSINSLOT`` + ``MIGRATE``, ``SETSLOT NODE``); :func:`migrate_slots` runs them,
  pipelined per chunk of slots; :func:`reshard_under_load` runs them while a
  :class:`redislab.kit.WriteLoad` writes to the moving slots.
- :func:`add_shard` (a primary and its replica via ``lab.add_node()``) and
  :func:`rebalance` (even out slots across primaries).
- :func:`migrate_slots_atomic`: Valkey 9's ``CLUSTER MIGRATESLOTS`` (feature-detect
  with :func:`supports_atomic_migration`).

Functions take explicit connections: a ``redis.Redis`` to one node for admin
commands (``node.client()``).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import redis
from redis.cluster import RedisCluster
from redis.exceptions import AskError, ConnectionError, MovedError, TimeoutError, TryAgainError

from ..errors import ClusterError, UsageError
from ..keys import CLUSTER, key
from ..kit.features import has_command
from ..kit.measure import progress as progress_bar
from ..lab.formation import node_id
from ..lab.slots import slot_ranges
from ..replies import text
from .hashing import SLOTS, key_slot, tag_for_slot

if TYPE_CHECKING:
    import matplotlib.axes

    from ..lab.lab import Lab
    from ..lab.node import Node

__all__ = [
    "ClusterError",
    "ClusterRouter",
    "MigrationReport",
    "ReshardReport",
    "ScaleOutReport",
    "add_shard",
    "begin_slot_migration",
    "cluster_nodes",
    "end_slot_migration",
    "key_locations",
    "lab_names",
    "migrate_slots",
    "migrate_slots_atomic",
    "move_slot_keys",
    "node_id",
    "plot_slot_map",
    "rebalance",
    "reshard_under_load",
    "scale_out_moves",
    "server_key_slots",
    "slot_keys",
    "slot_map",
    "slot_owners",
    "supports_atomic_migration",
]

PATTERN = CLUSTER


def _plain(connection: redis.Redis | RedisCluster) -> redis.Redis:
    """A ``redis.Redis`` for admin commands (a ``RedisCluster``'s default node for a cluster)."""
    if isinstance(connection, RedisCluster):
        return connection.get_default_node().redis_connection
    return connection


def _address(connection: redis.Redis) -> str:
    kw = connection.connection_pool.connection_kwargs
    return f"{kw['host']}:{int(kw['port'])}"


# --------------------------------------------------------------- inspection
def _parse_slot_ranges(fields: Iterable[str]) -> list[tuple[int, int]]:
    out = []
    for f in fields:
        if f.startswith("["):  # [slot->-id] migrating / [slot-<-id] importing markers
            continue
        lo, _, hi = f.partition("-")
        out.append((int(lo), int(hi or lo)))
    return out


def cluster_nodes(connection: redis.Redis | RedisCluster) -> pd.DataFrame:
    """``CLUSTER NODES`` as seen by one node, one row per node.

    Columns: ``id``, ``address`` (``host:port``), ``role`` (``primary``/``replica``),
    ``master_id`` (a replica's primary, else ``None``), ``flags``, ``failed`` (flag
    ``fail``), ``pfail`` (``fail?``), ``myself``, ``epoch``, ``link``, ``slots``
    (count) and ``slot_ranges`` (list of ``(first, last)``).
    """
    conn = _plain(connection)
    raw = conn.execute_command("CLUSTER", "NODES")
    if isinstance(raw, dict):  # some redis-py versions parse it; ask again for the text
        raw = conn.execute_command("CLUSTER NODES", NEVER_DECODE=True)
    rows = []
    for line in text(raw).strip().splitlines():
        parts = line.split()
        nid, addr, flags, master, _ping, _pong, epoch, link = parts[:8]
        flag_set = set(flags.split(","))
        ranges = _parse_slot_ranges(parts[8:])
        rows.append(
            {
                "id": nid,
                "address": addr.split("@")[0].split(",")[0],
                "role": "primary" if "master" in flag_set else "replica",
                "master_id": None if master == "-" else master,
                "flags": flags,
                "failed": "fail" in flag_set,
                "pfail": "fail?" in flag_set,
                "myself": "myself" in flag_set,
                "epoch": int(epoch),
                "link": link,
                "slots": sum(hi - lo + 1 for lo, hi in ranges),
                "slot_ranges": ranges,
            }
        )
    return pd.DataFrame(rows)


def slot_map(
    connection: redis.Redis | RedisCluster, names: dict[str, str] | None = None
) -> pd.DataFrame:
    """``CLUSTER SLOTS``: one row per contiguous range, sorted by first slot.

    Columns: ``first``, ``last``, ``slots``, ``primary`` (address), ``owner`` (the
    lab's node name if ``names`` maps addresses to names, else the address),
    ``replicas`` (addresses).
    """
    rows = []
    for r in slot_ranges(_plain(connection)):
        addr = f"{r.primary[0]}:{r.primary[1]}"
        rows.append(
            {
                "first": r.first,
                "last": r.last,
                "slots": r.slots,
                "primary": addr,
                "owner": (names or {}).get(addr, addr),
                "replicas": [f"{h}:{p}" for h, p in r.replicas],
            }
        )
    df = pd.DataFrame(rows, columns=["first", "last", "slots", "primary", "owner", "replicas"])
    return df.sort_values("first", ignore_index=True)


def slot_owners(connection: redis.Redis | RedisCluster) -> np.ndarray:
    """An array of 16384 owner addresses (``None`` for an unassigned slot)."""
    owners = np.full(SLOTS, None, dtype=object)
    for row in slot_map(connection).itertuples():
        owners[row.first : row.last + 1] = row.primary
    return owners


def lab_names(lab: Lab) -> dict[str, str]:
    """``{address: node name}`` for every data node of ``lab`` (labels for slot maps)."""
    return {n.address: n.name for n in lab.data_nodes}


def plot_slot_map(
    maps: dict[str, pd.DataFrame],
    ax: matplotlib.axes.Axes | None = None,
    *,
    title: str = "Which primary owns which hash slots",
) -> matplotlib.axes.Axes:
    """One horizontal bar per slot map (``{"before": df1, "after": df2}``), coloured by owner."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.6 + 0.6 * len(maps)))
    owners = sorted({o for df in maps.values() for o in df["owner"]})
    colour = {o: f"C{i % 10}" for i, o in enumerate(owners)}
    labels = list(maps)
    for y, label in enumerate(labels):
        df = maps[label]
        ax.broken_barh(
            list(zip(df["first"], df["slots"], strict=True)),
            (y - 0.4, 0.8),
            facecolors=[colour[o] for o in df["owner"]],
        )
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, SLOTS)
    ax.set_xlabel("hash slot")
    ax.set_title(title)
    ax.legend(
        handles=[Patch(color=colour[o], label=o) for o in owners],
        fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5),
    )  # fmt: skip
    return ax


def server_key_slots(connection: redis.Redis, keys: Sequence[str | bytes]) -> list[int]:
    """``CLUSTER KEYSLOT`` for every key, asked from the server in one pipeline."""
    pipe = _plain(connection).pipeline(transaction=False)
    for k in keys:
        pipe.execute_command("CLUSTER", "KEYSLOT", k)
    return [int(s) for s in pipe.execute()]


def slot_keys(slots: Iterable[int], per_slot: int, *, name: str = "slot") -> list[str]:
    """``per_slot`` keys in each of ``slots`` via hash tags: ``redislab:cluster:<name>:{tag}:i``."""
    return [key(PATTERN, name, f"{{{tag_for_slot(s)}}}", i) for s in slots for i in range(per_slot)]


# ---------------------------------------------------------------- routing
class ClusterRouter:
    """A minimal cluster client that follows redirects itself and counts them.

    It keeps a slot -> node table from ``CLUSTER SLOTS``. On ``-MOVED slot addr``
    it updates the table and retries there (the slot has a new owner). On
    ``-ASK slot addr`` it sends ``ASKING`` then the command to ``addr`` once,
    *without* updating the table (the slot is being migrated; only this key has
    moved). On ``TRYAGAIN`` it waits 10 ms. On a connection error it re-reads the
    slot table. ``counts`` holds the numbers.

    Args:
        connection: a ``redis.Redis`` to any node; its keyword arguments are reused
            for the connections the router opens.
        max_redirects: give up after this many redirects for one command.
    """

    def __init__(self, connection: redis.Redis, *, max_redirects: int = 16) -> None:
        pool = connection.connection_pool
        kw = dict(pool.connection_kwargs)
        self._seed = f"{kw.pop('host')}:{int(kw.pop('port'))}"
        self._connection_class = pool.connection_class
        self._kwargs = kw
        self.max_redirects = max_redirects
        self.counts: dict[str, int] = {"moved": 0, "ask": 0, "tryagain": 0, "refresh": 0}
        self._conns: dict[str, redis.Redis] = {}
        self._table = np.full(SLOTS, self._seed, dtype=object)
        self.refresh()

    def _conn(self, addr: str) -> redis.Redis:
        c = self._conns.get(addr)
        if c is None:
            host, port = addr.rsplit(":", 1)
            pool = redis.ConnectionPool(
                connection_class=self._connection_class, host=host, port=int(port), **self._kwargs
            )
            c = redis.Redis(connection_pool=pool)
            self._conns[addr] = c
        return c

    def refresh(self) -> None:
        """Reload the slot table from the first node that answers."""
        for addr in [self._seed, *self._conns]:
            with contextlib.suppress(ConnectionError, TimeoutError):
                owners = slot_owners(self._conn(addr))
                self._table = np.where(owners == None, self._seed, owners)  # noqa: E711
                self.counts["refresh"] += 1
                return
        raise ClusterError("no cluster node answered CLUSTER SLOTS")

    def owner(self, k: str | bytes) -> str:
        """The address the router currently sends ``k`` to."""
        return str(self._table[key_slot(k)])

    def execute(self, k: str | bytes, *args: Any) -> Any:
        """Run ``args`` (a single-key command on ``k``) on the node that serves ``k``."""
        addr = self.owner(k)
        asking = False
        for _ in range(self.max_redirects):
            conn = self._conn(addr)
            try:
                if asking:
                    pipe = conn.pipeline(transaction=False)
                    pipe.execute_command("ASKING")
                    pipe.execute_command(*args)
                    return pipe.execute()[1]
                return conn.execute_command(*args)
            except MovedError as exc:  # MovedError subclasses AskError: test it first
                self.counts["moved"] += 1
                addr = f"{exc.host}:{exc.port}"
                self._table[exc.slot_id] = addr
                asking = False
            except AskError as exc:
                self.counts["ask"] += 1
                addr = f"{exc.host}:{exc.port}"
                asking = True
            except TryAgainError:
                self.counts["tryagain"] += 1
                time.sleep(0.01)
            except (ConnectionError, TimeoutError):
                self.refresh()
                addr = self.owner(k)
                asking = False
        raise ClusterError(f"more than {self.max_redirects} redirects for {args[0]} {k!r}")

    def set(self, k: str, value: Any) -> Any:
        """``SET k value``."""
        return self.execute(k, "SET", k, value)

    def get(self, k: str) -> Any:
        """``GET k``."""
        return self.execute(k, "GET", k)

    def close(self) -> None:
        """Close every connection the router opened."""
        for c in self._conns.values():
            c.close()
        self._conns.clear()

    def __repr__(self) -> str:
        return f"<ClusterRouter {len(self._conns)} connections, {self.counts}>"


# -------------------------------------------------------------- migration
def begin_slot_migration(source: redis.Redis, target: redis.Redis, slots: Sequence[int]) -> None:
    """``SETSLOT IMPORTING`` on the target, then ``SETSLOT MIGRATING`` on the source.

    From now on the source answers ``-ASK`` for keys of these slots it no longer
    has, and the target serves them to clients that send ``ASKING`` first.
    """
    src_id, dst_id = node_id(source), node_id(target)
    pipe = target.pipeline(transaction=False)
    for s in slots:
        pipe.execute_command("CLUSTER", "SETSLOT", s, "IMPORTING", src_id)
    pipe.execute()
    pipe = source.pipeline(transaction=False)
    for s in slots:
        pipe.execute_command("CLUSTER", "SETSLOT", s, "MIGRATING", dst_id)
    pipe.execute()


def move_slot_keys(
    source: redis.Redis,
    target: redis.Redis,
    slot: int,
    *,
    batch: int = 100,
    limit: int | None = None,
    timeout_ms: int = 5000,
) -> int:
    """Move the keys of ``slot`` with ``GETKEYSINSLOT`` + ``MIGRATE ... KEYS``; return how many.

    ``limit`` stops after that many keys (to leave a slot half-migrated on purpose).
    """
    host, port = _address(target).rsplit(":", 1)
    moved = 0
    while limit is None or moved < limit:
        count = batch if limit is None else min(batch, limit - moved)
        keys = source.execute_command("CLUSTER", "GETKEYSINSLOT", slot, count)
        if not keys:
            break
        source.execute_command("MIGRATE", host, int(port), "", 0, timeout_ms, "KEYS", *keys)
        moved += len(keys)
    return moved


def end_slot_migration(
    source: redis.Redis,
    target: redis.Redis,
    slots: Sequence[int],
    *,
    others: Sequence[redis.Redis] = (),
) -> None:
    """``SETSLOT <slot> NODE <target>`` on the target first, then the source and ``others``.

    The target bumps its config epoch and the new owner spreads by gossip; telling
    the other primaries directly saves them a round of ``MOVED``.
    """
    dst_id = node_id(target)
    for conn in (target, source, *others):
        pipe = conn.pipeline(transaction=False)
        for s in slots:
            pipe.execute_command("CLUSTER", "SETSLOT", s, "NODE", dst_id)
        pipe.execute()


@dataclass
class MigrationReport:
    """What :func:`migrate_slots` did."""

    slots: int
    keys: int
    seconds: float


def migrate_slots(
    source: redis.Redis,
    target: redis.Redis,
    slots: Sequence[int],
    *,
    others: Sequence[redis.Redis] = (),
    chunk: int = 64,
    batch: int = 100,
    progress: bool = False,
) -> MigrationReport:
    """Move ``slots`` (and their keys) from ``source`` to ``target`` while the cluster serves.

    Slots go in chunks of ``chunk``: begin (pipelined), move each slot's keys,
    end (pipelined). ``others`` are the remaining primaries, told the new owner.
    ``progress`` shows a bar over the slots.
    """
    t0 = time.perf_counter()
    keys = 0
    slots = list(slots)
    desc = f"slots {_address(source)} -> {_address(target)}"
    with progress_bar(total=len(slots), desc=desc, enabled=progress) as bar:
        for i in range(0, len(slots), chunk):
            part = slots[i : i + chunk]
            begin_slot_migration(source, target, part)
            for s in part:
                keys += move_slot_keys(source, target, s, batch=batch)
            end_slot_migration(source, target, part, others=others)
            bar.update(len(part))
    return MigrationReport(len(slots), keys, time.perf_counter() - t0)


@dataclass
class ReshardReport:
    """The result of :func:`reshard_under_load`.

    Attributes:
        migration: slots and keys moved, and how long it took.
        redirects: the load's ``moved``/``ask``/``tryagain`` counts (and slot-table refreshes).
        load: the load's summary (attempts, failed, acknowledged...).
        lost: acknowledged writes that are gone (:func:`redislab.kit.lost_writes`).
        missing_keys: prepared keys not found anywhere afterwards.
        keys: the prepared keys (in the moved slots).
    """

    migration: MigrationReport
    redirects: dict[str, int]
    load: dict[str, Any]
    lost: pd.DataFrame
    missing_keys: int
    keys: list[str]

    def table(self) -> pd.DataFrame:
        """Everything in one row (for a notebook)."""
        row = {
            "slots moved": self.migration.slots,
            "keys moved": self.migration.keys,
            "migration s": round(self.migration.seconds, 3),
            "writes": self.load["attempts"],
            "failed": self.load["failed"],
            **{f"{k} redirects" if k != "refresh" else "slot table reloads": v
               for k, v in self.redirects.items()},
            "lost acked writes": len(self.lost),
            "missing keys": self.missing_keys,
        }  # fmt: skip
        return pd.DataFrame([row])


def reshard_under_load(
    lab: Lab,
    source: Node,
    target: Node,
    slots: Sequence[int],
    *,
    keys_per_slot: int = 20,
    rate: float | None = None,
    chunk: int = 8,
    batch: int = 5,
    seed: int = 42,
) -> ReshardReport:
    """Fill ``slots`` with keys, then migrate them while a load overwrites those keys.

    The load goes through a :class:`ClusterRouter` (so redirects are counted) and
    writes the prepared keys in a seeded random order, at ``rate`` per second
    (``None``: as fast as it can). Small ``chunk``/``batch`` keep slots half-migrated
    longer, so that the load meets ``ASK`` redirects.
    """
    from ..kit.loads import WriteLoad, lost_writes

    keys = slot_keys(slots, keys_per_slot, name="reshard")
    random.Random(seed).shuffle(keys)
    with lab.client() as rc:
        rc.mset_nonatomic({k: 0 for k in keys})
    others = [n.client() for n in lab.primaries if n not in (source, target) and n.alive]
    src, dst = source.client(), target.client()
    router = ClusterRouter(src)
    load = WriteLoad(router, name="reshard", keys=keys, rate=rate)
    try:
        load.start()
        time.sleep(0.2)
        report = migrate_slots(src, dst, slots, others=others, chunk=chunk, batch=batch)
        time.sleep(0.3)
    finally:
        load.stop()
        router.close()
    with lab.client() as rc:
        lost = lost_writes(rc, load)
        missing = sum(v is None for v in rc.mget_nonatomic(keys))
    for c in (src, dst, *others):
        c.close()
    return ReshardReport(report, dict(router.counts), load.summary(), lost, missing, keys)


# ------------------------------------------------------------- scaling out
def _wait(pred: Any, timeout: float, what: str) -> None:
    from ..kit.timeline import wait_for

    wait_for(pred, timeout=timeout, what=what)


def add_shard(
    lab: Lab, *, replica: bool = True, index: int | None = None, timeout: float = 10.0
) -> tuple[Node, Node | None]:
    """Start a new primary (and a replica of it) and join them to the running cluster.

    ``CLUSTER MEET`` from an existing node introduces them; once every node knows
    them, the replica gets ``CLUSTER REPLICATE``. The new primary owns no slots
    yet: call :func:`rebalance`. Returns ``(primary, replica)``.
    """
    i = index or 1 + max(
        int(n.name.rsplit("-", 1)[1]) for n in lab.data_nodes if n.name.rsplit("-", 1)[1].isdigit()
    )
    new_primary = lab.add_node(f"primary-{i}")
    new_replica = lab.add_node(f"replica-{i}") if replica else None
    fresh = [n for n in (new_primary, new_replica) if n is not None]
    ids = {}
    for n in fresh:
        with n.client() as c:
            ids[n.name] = node_id(c)
    existing = [n for n in lab.data_nodes if n.alive and n not in fresh]
    with existing[0].client() as c:
        for n in fresh:
            c.execute_command("CLUSTER", "MEET", n.host, n.port)

    def everyone_knows() -> bool:
        for n in [*existing, *fresh]:
            with n.client(socket_timeout=1) as c:
                table = cluster_nodes(c)
            if (
                not set(ids.values()) <= set(table["id"])
                or table["flags"].str.contains("handshake").any()
            ):
                return False
        return True

    _wait(everyone_knows, timeout, "every node knowing the new nodes")
    if new_replica is not None:
        with new_replica.client() as c:
            _wait(
                lambda: c.execute_command("CLUSTER", "REPLICATE", ids[new_primary.name]),
                timeout,
                "CLUSTER REPLICATE",
            )

            def synced() -> bool:
                return c.info("replication").get("master_link_status") == "up"

            _wait(synced, timeout, f"{new_replica.name} in sync")
    lab.wait_ready(timeout=timeout)  # re-reads roles: lab.primaries now lists the new primary only
    return new_primary, new_replica


def rebalance(
    primaries: Sequence[redis.Redis],
    *,
    method: str = "auto",
    chunk: int = 256,
    batch: int = 100,
    timeout: float = 10.0,
    progress: bool = False,
) -> pd.DataFrame:
    """Even out slots across ``primaries`` (connections to every primary, new ones included).

    Each primary's target is ``16384 / N`` (the first ``16384 % N`` get one more).
    Donors give the top of their slot ranges to the primaries below target.

    Args:
        method: ``legacy`` (:func:`migrate_slots`: SETSLOT + MIGRATE), ``atomic``
            (:func:`migrate_slots_atomic`, Valkey 9+) or ``auto`` (atomic where the
            server has it). Valkey 8+ makes every ``SETSLOT`` wait for the replicas
            (~5-10 ms each here), so a legacy rebalance of thousands of slots takes
            minutes there; the atomic path takes well under a second.
        progress: a bar over the slots of each legacy move.

    Returns:
        One row per move: source, target, slots, keys (legacy only), seconds, method.
    """
    if method not in ("auto", "legacy", "atomic"):
        raise UsageError("method must be 'auto', 'legacy' or 'atomic'")
    if method == "auto":
        method = "atomic" if all(supports_atomic_migration(c) for c in primaries) else "legacy"
    for c in primaries:
        if c.execute_command("ROLE")[0] != "master":
            raise ClusterError(f"{_address(c)} is not a primary; rebalance takes primaries only")
    addrs = [_address(c) for c in primaries]
    by_addr = dict(zip(addrs, primaries, strict=True))
    owners = slot_owners(primaries[0])
    n = len(primaries)
    targets = {a: SLOTS // n + (1 if i < SLOTS % n else 0) for i, a in enumerate(addrs)}
    owned = {a: list(np.flatnonzero(owners == a)) for a in addrs}
    surplus = {a: len(owned[a]) - targets[a] for a in addrs}
    donors = [a for a in addrs if surplus[a] > 0]
    takers = [a for a in addrs if surplus[a] < 0]
    moves = []
    for taker in takers:
        need = -surplus[taker]
        for donor in donors:
            if need == 0:
                break
            give = min(surplus[donor], need)
            if give <= 0:
                continue
            slots = [int(s) for s in owned[donor][-give:]]
            owned[donor] = owned[donor][:-give]
            surplus[donor] -= give
            need -= give
            others = [c for a, c in by_addr.items() if a not in (donor, taker)]
            if method == "atomic":
                secs = migrate_slots_atomic(by_addr[donor], by_addr[taker], slots, timeout=timeout)
                keys: int | None = None
            else:
                rep = migrate_slots(
                    by_addr[donor], by_addr[taker], slots, others=others, chunk=chunk,
                    batch=batch, progress=progress,
                )  # fmt: skip
                secs, keys = rep.seconds, rep.keys
            moves.append(
                {"source": donor, "target": taker, "slots": len(slots), "keys": keys,
                 "seconds": secs, "method": method}
            )  # fmt: skip
    return pd.DataFrame(moves, columns=["source", "target", "slots", "keys", "seconds", "method"])


def key_locations(lab: Lab, keys: Sequence[str]) -> dict[str, str]:
    """Where each of ``keys`` lives: the address of the primary that holds it.

    Asks every live primary which of the keys it has (``EXISTS`` per key, pipelined), so
    this reads the servers, not a slot table. A key found nowhere is absent from the
    result.
    """
    where: dict[str, str] = {}
    for node in lab.primaries:
        with node.client() as c:
            pipe = c.pipeline(transaction=False)
            for k in keys:
                pipe.exists(k)
            for k, found in zip(keys, pipe.execute(raise_on_error=False), strict=True):
                if found == 1:
                    where[k] = node.address
    return where


def key_holders(lab: Lab, keys: Sequence[str]) -> dict[str, list[str]]:
    """Every live primary that holds each of ``keys`` (``EXISTS``, pipelined per primary).

    Like :func:`key_locations`, but keeps all holders: a key stored twice shows two.
    """
    held: dict[str, list[str]] = {k: [] for k in keys}
    for node in lab.primaries:
        with node.client() as c:
            pipe = c.pipeline(transaction=False)
            for k in keys:
                pipe.exists(k)
            for k, found in zip(keys, pipe.execute(raise_on_error=False), strict=True):
                if found == 1:
                    held[k].append(node.address)
    return held


@dataclass
class ScaleOutReport:
    """Keys moved by adding a shard to a running cluster (:func:`scale_out_moves`)."""

    keys: int
    moved: int
    moved_to_new: int
    predicted_moved: int
    missing_after: int
    primaries_before: int
    new_primary: str
    moves: pd.DataFrame
    on_several_after: int = 0
    off_slot_owner_after: int = 0

    @property
    def fraction(self) -> float:
        return self.moved / self.keys if self.keys else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "keys": self.keys,
            "moved": self.moved,
            "moved_fraction": self.fraction,
            "moved_to_new": self.moved_to_new,
            "predicted_from_slot_maps": self.predicted_moved,
            "missing_after": self.missing_after,
            "on_several_after": self.on_several_after,
            "off_slot_owner_after": self.off_slot_owner_after,
            "ideal_fraction": 1 / (self.primaries_before + 1),
        }


def scale_out_moves(
    lab: Lab, keys: Sequence[str], *, progress: bool = False, timeout: float = 10.0
) -> ScaleOutReport:
    """Write ``keys``, add a shard (:func:`add_shard`), :func:`rebalance`, and count moves.

    Each key's node is read from the servers before and after (:func:`key_locations`,
    :func:`key_holders`): after, how many keys more than one primary holds
    (``on_several_after``) and how many are not on their slot's owner in ``CLUSTER SLOTS``
    (``off_slot_owner_after``).
    ``predicted_moved`` is what the slot maps predict: the keys whose slot
    (``CRC16 mod 16384``) changed owner between ``CLUSTER SLOTS`` before and after.
    """
    rc = lab.client()
    for start in range(0, len(keys), 500):
        rc.mset_nonatomic({k: "1" for k in keys[start : start + 500]})
    primaries_before = len(lab.primaries)
    with lab.primaries[0].client() as c:
        owners_before = slot_owners(c)
    before = key_locations(lab, keys)
    new_primary, _ = add_shard(lab, timeout=timeout)
    moves = rebalance([p.client() for p in lab.primaries], progress=progress, timeout=timeout)
    with lab.primaries[0].client() as c:
        owners_after = slot_owners(c)
    holders = key_holders(lab, keys)
    after = {k: h[0] for k, h in holders.items() if h}
    slots = [key_slot(k) for k in keys]
    predicted = sum(owners_before[s] != owners_after[s] for s in slots)
    moved = [k for k in keys if k in before and k in after and before[k] != after[k]]
    return ScaleOutReport(
        keys=len(keys),
        moved=len(moved),
        moved_to_new=sum(after[k] == new_primary.address for k in moved),
        predicted_moved=int(predicted),
        missing_after=sum(k not in after for k in keys),
        primaries_before=primaries_before,
        new_primary=new_primary.address,
        moves=moves,
        on_several_after=sum(len(h) > 1 for h in holders.values()),
        off_slot_owner_after=sum(
            bool(holders[k]) and owners_after[s] not in holders[k]
            for k, s in zip(keys, slots, strict=True)
        ),
    )


# ---------------------------------------------------------- atomic (Valkey 9)
def supports_atomic_migration(connection: redis.Redis) -> bool:
    """True if the server has Valkey 9's ``CLUSTER MIGRATESLOTS`` (atomic slot migration)."""
    return has_command(_plain(connection), "CLUSTER|MIGRATESLOTS")


def _ranges(slots: Sequence[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s in sorted(slots):
        if out and out[-1][1] == s - 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


def migrate_slots_atomic(
    source: redis.Redis, target: redis.Redis, slots: Sequence[int], *, timeout: float = 10.0
) -> float:
    """Move ``slots`` with ``CLUSTER MIGRATESLOTS``, wait until the target owns them; seconds.

    The source streams the slots' data to the target and hands ownership over in
    one step: clients see no ``ASK`` (valkey.io, "Atomic slot migration").
    """
    if not supports_atomic_migration(source):
        raise ClusterError("this server has no CLUSTER MIGRATESLOTS (Valkey 9.0+)")
    dst_id = node_id(target)
    dst_addr = _address(target)
    args: list[Any] = ["CLUSTER", "MIGRATESLOTS", "SLOTSRANGE"]
    for lo, hi in _ranges(slots):
        args += [lo, hi]
    args += ["NODE", dst_id]
    t0 = time.perf_counter()
    source.execute_command(*args)

    def owned() -> bool:
        owners = slot_owners(source)
        return all(owners[s] == dst_addr for s in slots)

    _wait(owned, timeout, "atomic slot migration to finish")
    return time.perf_counter() - t0
