"""Performance from Python, measured: round trips, connections, atomicity, the network.

- :mod:`.bench`: the small benchmark toolkit (ops/s from timed loops, interleaved
  comparisons, sweeps, threaded workers, a PING probe);
- :mod:`.pipelining`: throughput against batch size, server reads per command;
- :mod:`.connections`: pools, per-operation connects, pool size against threads,
  ``max_connections`` exhaustion, ``redis.asyncio``, hiredis on/off, RESP2/RESP3;
- :mod:`.atomicity`: one read-modify-write as WATCH/MULTI/EXEC, Lua and a function;
- :mod:`.network`: TCP_NODELAY and keepalive on the client, ``tcp-keepalive`` on the server;
- :mod:`.ceiling`: ``redis-benchmark`` on the same server, a profile of one redis-py call;
- :mod:`.slow`: big keys and slow commands seen by a probe client, persistence spikes;
- :mod:`.scaling`: one read workload from client processes (:mod:`.processes`) against
  a standalone server, replicas and the cluster (:mod:`.plans`, :mod:`.placement`), with
  each server's own GET count and CPU time.

Every result is relative: a ratio against a baseline measured in the same run.
"""

from __future__ import annotations

from ..errors import PerformanceError
from ..kit.bench import LatencyProbe, Rate, compare, concurrent_rate, median_ratio, rate, sweep
from .atomicity import (
    METHODS,
    contention_round,
    contention_run,
    contention_sweep,
    has_functions,
    load_functions,
)
from .ceiling import (
    PROFILE_CATEGORIES,
    benchmark_tool,
    ceiling_round,
    profile_calls,
    redis_benchmark,
)
from .connections import (
    PARSERS,
    PythonPackerConnection,
    async_concurrency_sweep,
    client,
    connections_received,
    new_connection_per_op,
    parser_paths,
    pool_exhaustion,
    pool_round,
    pool_thread_sweep,
)
from .network import (
    NagleConnection,
    NaglePythonConnection,
    nodelay_comparison,
    server_keepalive,
    socket_options,
)
from .pipelining import (
    BATCH_SIZES,
    batch_sweep,
    pipeline_call,
    pipelining_round,
    single_calls,
    stops_paying,
    syscalls_per_command,
    transaction_comparison,
)
from .placement import (
    placement,
    replica_reads,
    replica_refuses_write,
    wait_replicas,
    wrong_node_replies,
)
from .plans import Endpoint, Plan, Workload, cluster_plan, replicas_plan, standalone_plan
from .processes import ClientProcesses, server_counters
from .scaling import ScalingRuns, scale_out
from .slow import (
    big_set,
    command_usec,
    fill_keys,
    free_round,
    latency_events,
    probe_during,
    probe_table,
    scan_all,
    sscan_all,
    walk_round,
)

__all__ = [
    "BATCH_SIZES",
    "METHODS",
    "PARSERS",
    "PROFILE_CATEGORIES",
    "ClientProcesses",
    "Endpoint",
    "LatencyProbe",
    "NagleConnection",
    "NaglePythonConnection",
    "PerformanceError",
    "Plan",
    "PythonPackerConnection",
    "Rate",
    "ScalingRuns",
    "Workload",
    "async_concurrency_sweep",
    "batch_sweep",
    "benchmark_tool",
    "big_set",
    "ceiling_round",
    "client",
    "cluster_plan",
    "command_usec",
    "compare",
    "concurrent_rate",
    "connections_received",
    "contention_round",
    "contention_run",
    "contention_sweep",
    "fill_keys",
    "free_round",
    "has_functions",
    "latency_events",
    "load_functions",
    "median_ratio",
    "new_connection_per_op",
    "nodelay_comparison",
    "parser_paths",
    "pipeline_call",
    "pipelining_round",
    "placement",
    "pool_exhaustion",
    "pool_round",
    "pool_thread_sweep",
    "probe_during",
    "probe_table",
    "profile_calls",
    "rate",
    "redis_benchmark",
    "replica_reads",
    "replica_refuses_write",
    "replicas_plan",
    "scale_out",
    "scan_all",
    "server_counters",
    "server_keepalive",
    "single_calls",
    "socket_options",
    "sscan_all",
    "standalone_plan",
    "stops_paying",
    "sweep",
    "syscalls_per_command",
    "transaction_comparison",
    "wait_replicas",
    "walk_round",
    "wrong_node_replies",
]
