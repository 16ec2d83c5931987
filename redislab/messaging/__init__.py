"""Messaging over Redis: pub/sub, keyspace notifications, streams, queues; guarantees measured.

- :mod:`.pubsub`: :class:`Subscriber`, broadcast, pattern routing, sharded channels,
  what a subscriber misses while away, the slow subscriber the server disconnects.
- :mod:`.notifications`: when the ``expired`` keyspace event fires.
- :mod:`.streams`: :class:`StreamWorker` (consumer groups, ``XAUTOCLAIM`` retries,
  dead letters, reconnects, Ctrl-C), trimming, replay, time ranges.
- :mod:`.queues`: :class:`ReliableQueue`, blocking consumers, :class:`PriorityQueue`,
  :class:`DelayedQueue`, request-response (:class:`RpcServer`, :func:`request`).
- :mod:`.routing`: one producer's events routed by pattern channels or a stream per
  type (:class:`Route`, :class:`TypeStreamConsumer`), lost and duplicated counted.
- :mod:`.jobs`: rq beside the hand-built queue.
- :mod:`.processes` and :mod:`.experiments`: worker processes killed mid-work, and the
  comparisons notebook 03 runs.
"""

from __future__ import annotations

from ..errors import MalformedMessage, MessagingError, RequestTimeout
from .experiments import (
    compare_transports,
    guarantees_table,
    queue_crash,
    rq_crash,
    rq_vs_reliable,
    storage_probe,
    stream_crash,
)
from .jobs import queue_for, record
from .notifications import (
    delays_frame,
    expired_event_delays,
    keyspace_events,
    notifications_default,
)
from .processes import WorkerProcess, spawn, spawn_together
from .pubsub import (
    Subscriber,
    broadcast,
    cross_database,
    double_delivery,
    late_subscriber,
    missed_while_away,
    pattern_routing,
    sharded_placement,
    slow_subscriber,
)
from .queues import (
    DelayedQueue,
    PriorityQueue,
    ReliableQueue,
    RpcServer,
    blocked_order,
    request,
    run_schedule,
    spread,
)
from .routing import (
    EVENT_TYPES,
    REGIONS,
    Route,
    TypeStreamConsumer,
    default_routes,
    make_events,
    publish_to_channels,
    publish_to_streams,
    pubsub_routing,
    routing_compare,
    stream_routing,
)
from .streams import (
    StreamWorker,
    WorkerStats,
    bare_loop,
    decode_json,
    id_order_enforced,
    pending_summary,
    produce,
    replay,
    time_window,
    trim_costs,
)

__all__ = [
    "EVENT_TYPES",
    "REGIONS",
    "DelayedQueue",
    "MalformedMessage",
    "MessagingError",
    "PriorityQueue",
    "ReliableQueue",
    "RequestTimeout",
    "Route",
    "RpcServer",
    "StreamWorker",
    "Subscriber",
    "TypeStreamConsumer",
    "WorkerProcess",
    "WorkerStats",
    "bare_loop",
    "blocked_order",
    "broadcast",
    "compare_transports",
    "cross_database",
    "decode_json",
    "default_routes",
    "delays_frame",
    "double_delivery",
    "expired_event_delays",
    "guarantees_table",
    "id_order_enforced",
    "keyspace_events",
    "late_subscriber",
    "make_events",
    "missed_while_away",
    "notifications_default",
    "pattern_routing",
    "pending_summary",
    "produce",
    "publish_to_channels",
    "publish_to_streams",
    "pubsub_routing",
    "queue_crash",
    "queue_for",
    "record",
    "replay",
    "request",
    "routing_compare",
    "rq_crash",
    "rq_vs_reliable",
    "run_schedule",
    "sharded_placement",
    "slow_subscriber",
    "spawn",
    "spawn_together",
    "spread",
    "storage_probe",
    "stream_crash",
    "stream_routing",
    "time_window",
    "trim_costs",
]
