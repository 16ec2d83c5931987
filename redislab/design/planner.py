"""A capacity planner: from a described workload to memory, throughput and a topology.

Nothing is a constant from a blog post: per-key memory is measured on the running
server (a sample of each key shape is written, ``INFO memory`` read before and after,
the sample deleted), and throughput per node comes from a short measured run. The
recommendation (standalone, replicated with Sentinel, or a cluster of N shards;
persistence; eviction) comes with its reasoning, line by line.

- :func:`measure_shape` / :func:`measure_throughput`: the two measurements;
- :func:`plan`: a :class:`Workload` in, a :class:`Plan` out (a plain dataclass);
- :func:`planner_widget`: the same planner as an ipywidgets form (one function,
  one stable structure: ``widget.inputs[name]`` and CSS classes ``redislab-planner-<name>``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import DesignError
from ..keys import PLANNER, key
from ..types import Connection

__all__ = [
    "KeyShape",
    "Plan",
    "Workload",
    "measure_shape",
    "measure_throughput",
    "plan",
    "planner_widget",
]

KINDS = ("string", "hash", "set", "zset", "list")
DURABILITY = ("none", "seconds", "every-write")
AVAILABILITY = ("best-effort", "failover")


@dataclass(frozen=True)
class KeyShape:
    """``count`` keys of one kind: ``fields`` members of ``value_bytes`` each (1 for a string)."""

    count: int
    kind: str = "string"
    fields: int = 1
    value_bytes: int = 100
    key_bytes: int = 24

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DesignError(f"unknown key kind {self.kind!r}; pick one of {KINDS}")
        if self.count < 0 or self.fields < 1 or self.value_bytes < 1 or self.key_bytes < 8:
            raise DesignError(
                "a key shape needs count >= 0, fields >= 1, value_bytes >= 1, "
                f"key_bytes >= 8: {self}"
            )


@dataclass(frozen=True)
class Workload:
    """What the service stores and how it uses it."""

    shapes: Sequence[KeyShape]
    reads_per_s: float = 1_000.0
    writes_per_s: float = 100.0
    durability: str = "seconds"
    """``none`` (a cache: rebuildable), ``seconds`` (lose at most ~1 s), ``every-write``."""
    availability: str = "best-effort"
    """``best-effort`` (a restart is acceptable) or ``failover`` (survive a node loss)."""
    node_memory_gb: float = 16.0
    """Memory of one node the data may use (before headroom)."""
    headroom: float = 0.5
    """Fraction of memory and throughput to keep free (growth, fork copy-on-write, peaks)."""

    def __post_init__(self) -> None:
        if self.durability not in DURABILITY:
            raise DesignError(f"durability must be one of {DURABILITY}, got {self.durability!r}")
        if self.availability not in AVAILABILITY:
            raise DesignError(
                f"availability must be one of {AVAILABILITY}, got {self.availability!r}"
            )
        if not 0 <= self.headroom < 1:
            raise DesignError(f"headroom is a fraction in [0, 1), got {self.headroom}")


@dataclass
class Plan:
    """The planner's answer: estimates, a recommendation and why."""

    memory_bytes: float
    bytes_per_key: dict[str, float]
    ops_per_s: float
    node_ops_per_s: float
    shards: int
    topology: str
    replicas_per_shard: int
    persistence: str
    eviction: str
    reasoning: list[str] = field(default_factory=list)
    engine: str = ""

    @property
    def memory_mb(self) -> float:
        return self.memory_bytes / 2**20

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def explain(self) -> str:
        return "\n".join(f"- {line}" for line in self.reasoning)


# ------------------------------------------------------------------ measurements
def _used_memory(connection: Connection) -> int:
    return int(connection.info("memory")["used_memory"])


def _shape_label(s: KeyShape) -> str:
    return f"{s.kind}×{s.fields}×{s.value_bytes}B"


def measure_shape(connection: Connection, shape: KeyShape, *, sample: int = 2000) -> float:
    """Bytes per key of ``shape`` on this server (``INFO used_memory`` delta over a sample).

    Writes ``sample`` keys of that shape under ``redislab:planner:*`` with names of
    ``shape.key_bytes`` characters (at least 20 + the digits of ``sample``; key length
    matters, and more on Redis 8, which stores the key inside its object), reads the
    delta, and deletes them.
    """
    code = KINDS.index(shape.kind)
    prefix = key(PLANNER, f"k{code}", "")  # 'redislab:planner:k0:'
    width = max(len(str(sample)), shape.key_bytes - len(prefix))
    value = "v" * shape.value_bytes
    names = [f"{prefix}{i:0{width}d}" for i in range(sample)]
    connection.delete(*names)
    before = _used_memory(connection)
    pipe = connection.pipeline(transaction=False)
    for i, name in enumerate(names):
        if shape.kind == "string":
            pipe.set(name, value)
        elif shape.kind == "hash":
            pipe.hset(name, mapping={f"f{j}": value for j in range(shape.fields)})
        elif shape.kind == "set":
            pipe.sadd(
                name,
                *[f"{j:0{shape.value_bytes}d}"[-shape.value_bytes :] for j in range(shape.fields)],
            )
        elif shape.kind == "zset":
            pipe.zadd(
                name,
                {
                    f"{j:0{shape.value_bytes}d}"[-shape.value_bytes :]: j
                    for j in range(shape.fields)
                },
            )
        else:
            pipe.rpush(name, *([value] * shape.fields))
        if i % 500 == 499:
            pipe.execute()
    pipe.execute()
    after = _used_memory(connection)
    for start in range(0, len(names), 1000):
        connection.delete(*names[start : start + 1000])
    return max(0.0, (after - before) / sample)


def measure_throughput(
    connection_factory: Any,
    *,
    seconds: float = 1.0,
    clients: int = 4,
    value_bytes: int = 100,
    read_fraction: float = 0.9,
    pipeline: int = 10,
) -> float:
    """Operations per second one node served in a short mixed GET/SET run.

    ``clients`` threads, each with its own connection, send batches of ``pipeline``
    commands for ``seconds``. A Python client on a shared machine measures the
    client as much as the server: the planner treats the figure as a floor.
    """
    value = "v" * value_bytes
    keys = [key(PLANNER, "tput", i) for i in range(1000)]
    seed_conn = connection_factory()
    seed_conn.mset({k: value for k in keys})
    counts = [0] * clients
    stop = time.perf_counter() + seconds
    reads_per_batch = round(pipeline * read_fraction)

    def worker(i: int) -> None:
        conn = connection_factory()
        n, j = 0, i
        while time.perf_counter() < stop:
            pipe = conn.pipeline(transaction=False)
            for b in range(pipeline):
                k = keys[(j + b * 37) % len(keys)]
                if b < reads_per_batch:
                    pipe.get(k)
                else:
                    pipe.set(k, value)
            pipe.execute()
            n += pipeline
            j += 1
        counts[i] = n

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    seed_conn.delete(*keys)
    return sum(counts) / elapsed


# ----------------------------------------------------------------------- planner
def plan(
    connection: Connection,
    workload: Workload,
    *,
    node_ops_per_s: float | None = None,
    connection_factory: Any = None,
    sample: int = 2000,
) -> Plan:
    """Estimate memory and throughput for ``workload`` and recommend a deployment.

    ``node_ops_per_s`` skips the throughput measurement (pass a figure measured
    earlier); otherwise it is measured with ``connection_factory`` (default: the
    threads share ``connection``, whose pool gives each its own socket).
    """
    per_key: dict[str, float] = {}
    memory = 0.0
    for s in workload.shapes:
        label = _shape_label(s)
        if label not in per_key:
            per_key[label] = measure_shape(connection, s, sample=min(sample, max(100, s.count)))
        memory += per_key[label] * s.count
    if node_ops_per_s is None:
        factory = connection_factory or _factory_like(connection)
        node_ops_per_s = measure_throughput(factory, seconds=1.0)
    ops = workload.reads_per_s + workload.writes_per_s
    usable_mem = workload.node_memory_gb * 2**30 * (1 - workload.headroom)
    usable_ops = node_ops_per_s * (1 - workload.headroom)
    by_memory = max(1, math.ceil(memory / usable_mem))
    by_ops = max(1, math.ceil(ops / usable_ops)) if usable_ops > 0 else 1
    shards = max(by_memory, by_ops)
    why = [
        f"memory: {sum(s.count for s in workload.shapes):,} keys x measured bytes per key "
        + ", ".join(f"{k} = {v:.0f} B" for k, v in per_key.items())
        + f" = {memory / 2**20:,.1f} MB; one node may use {usable_mem / 2**30:.1f} GB "
        f"({workload.node_memory_gb:g} GB less {workload.headroom:.0%} headroom) "
        f"-> {by_memory} shard(s) by memory",
        f"throughput: {ops:,.0f} ops/s asked; one node served {node_ops_per_s:,.0f} ops/s "
        f"in the quick measurement, {usable_ops:,.0f} with headroom "
        f"-> {by_ops} shard(s) by throughput",
        "the throughput figure is what this client measured on this machine (a floor: a Python "
        "client on a shared machine saturates before the server); measure with your own client "
        "and pass node_ops_per_s= to plan with that",
    ]
    replicas = 1 if workload.availability == "failover" else 0
    if shards > 1:
        topology = f"cluster, {shards} primaries" + (" with 1 replica each" if replicas else "")
        why.append(f"{shards} shards needed: Redis Cluster (hash-tag keys that must share a slot)")
        if replicas:
            why.append("failover wanted: one replica per primary; the cluster promotes it")
    elif replicas:
        topology = "replicated with Sentinel (1 primary, 2 replicas, 3 Sentinels)"
        replicas = 2
        why.append("one shard suffices and failover is wanted: a primary, replicas and 3 Sentinels")
    else:
        topology = "standalone"
        why.append("one shard suffices and a restart is acceptable: a single node")
    if workload.durability == "none":
        persistence = "none (or RDB snapshots for faster warm-up)"
        eviction = "allkeys-lfu (a cache: evict the least used keys at maxmemory)"
        why.append("durability none: the data is rebuildable; no AOF, evict under memory pressure")
    elif workload.durability == "seconds":
        persistence = "AOF appendfsync everysec (+ RDB for backups)"
        eviction = "noeviction (data, not cache: refuse writes rather than lose keys)"
        why.append(
            "lose at most about a second: appendfsync everysec; noeviction so no key is dropped"
        )
    else:
        persistence = "AOF appendfsync always (+ WAIT on replicas for critical writes)"
        eviction = "noeviction"
        why.append(
            "every write durable: appendfsync always (fsync per write batch; expect a large "
            "drop in write throughput) and WAIT for replication; even so a failover can lose "
            "writes"
        )
    if workload.writes_per_s > 0 and workload.durability != "none":
        why.append("fork for RDB/AOF rewrite copies pages being written: the headroom covers it")
    return Plan(
        memory_bytes=memory,
        bytes_per_key=per_key,
        ops_per_s=ops,
        node_ops_per_s=node_ops_per_s,
        shards=shards,
        topology=topology,
        replicas_per_shard=replicas,
        persistence=persistence,
        eviction=eviction,
        reasoning=why,
        engine=_engine_label(connection),
    )


def _engine_label(connection: Connection) -> str:
    info = connection.info("server")
    if isinstance(info, dict) and "redis_version" in info:
        name = (
            "valkey" if "valkey_version" in info or info.get("server_name") == "valkey" else "redis"
        )
        return f"{name} {info.get('valkey_version', info['redis_version'])}"
    return ""


def _factory_like(connection: Connection) -> Any:
    # a redis-py client is thread-safe: each command takes a connection from its pool
    return lambda: connection


# ------------------------------------------------------------------------ widget
def planner_widget(connection: Connection, *, node_ops_per_s: float | None = None) -> Any:
    """The planner as an ipywidgets form; returns the widget (display it).

    Structure (stable, for scripts and browser tests): a ``VBox`` whose ``inputs``
    attribute maps names to input widgets (``keys``, ``kind``, ``fields``,
    ``value_bytes``, ``reads_per_s``, ``writes_per_s``, ``durability``,
    ``availability``, ``node_memory_gb``), each with the CSS class
    ``redislab-planner-<name>``; ``button`` (class ``redislab-planner-run``) runs the
    plan; ``output`` (class ``redislab-planner-output``) shows it; ``last_plan`` holds
    the latest :class:`Plan` (one is made for the default inputs). The throughput
    figure is measured once and reused.
    """
    import ipywidgets as w

    inputs: dict[str, Any] = {
        "keys": w.IntText(value=1_000_000, description="keys"),
        "kind": w.Dropdown(options=list(KINDS), value="hash", description="kind"),
        "fields": w.IntSlider(value=8, min=1, max=512, description="fields"),
        "value_bytes": w.IntSlider(value=40, min=1, max=4096, description="value bytes"),
        "reads_per_s": w.FloatText(value=20_000, description="reads/s"),
        "writes_per_s": w.FloatText(value=2_000, description="writes/s"),
        "durability": w.Dropdown(
            options=list(DURABILITY), value="seconds", description="durability"
        ),
        "availability": w.Dropdown(
            options=list(AVAILABILITY), value="failover", description="availability"
        ),
        "node_memory_gb": w.FloatText(value=16.0, description="node GB"),
    }
    for name, widget in inputs.items():
        widget.add_class(f"redislab-planner-{name.replace('_', '-')}")
        widget.style = {"description_width": "90px"}
    button = w.Button(description="Plan", button_style="primary")
    button.add_class("redislab-planner-run")
    output = w.Output()
    output.add_class("redislab-planner-output")
    box = w.VBox(
        [
            w.HBox([w.VBox(list(inputs.values())[:5]), w.VBox(list(inputs.values())[5:])]),
            button,
            output,
        ]
    )
    box.add_class("redislab-planner")
    box.inputs = inputs
    box.button = button
    box.output = output
    box.last_plan = None
    measured: dict[str, float] = {}
    if node_ops_per_s is not None:
        measured["ops"] = node_ops_per_s

    def run(_: Any = None) -> Plan:
        v = {k: wid.value for k, wid in inputs.items()}
        workload = Workload(
            shapes=[
                KeyShape(
                    count=int(v["keys"]),
                    kind=v["kind"],
                    fields=int(v["fields"]),
                    value_bytes=int(v["value_bytes"]),
                )
            ],
            reads_per_s=float(v["reads_per_s"]),
            writes_per_s=float(v["writes_per_s"]),
            durability=v["durability"],
            availability=v["availability"],
            node_memory_gb=float(v["node_memory_gb"]),
        )
        result = plan(connection, workload, node_ops_per_s=measured.get("ops"), sample=500)
        measured["ops"] = result.node_ops_per_s
        box.last_plan = result
        output.clear_output()
        with output:
            print(f"memory   ≈ {result.memory_mb:,.1f} MB")
            print(f"topology : {result.topology}")
            print(f"persist  : {result.persistence}")
            print(f"eviction : {result.eviction}")
            print(result.explain())
        return result

    button.on_click(run)
    for widget in inputs.values():
        widget.observe(lambda change: run(), names="value")
    box.run = run
    run()  # the first plan, for the default inputs
    return box
