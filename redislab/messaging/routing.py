"""Event-driven routing: one producer, routes by type, a filter, fan-out; two designs.

The same events and the same routing rules, carried two ways:

- **pattern channels** (Pub/Sub): the producer ``PUBLISH``-es each event to
  ``redislab.events.<type>.<region>``; each consumer ``PSUBSCRIBE``-s its route's glob
  patterns. Delivery is at-most-once and a client gets a message once per matching
  pattern (https://redis.io/docs/latest/develop/interact/pubsub/).
- **a stream per event type** (consumer groups): the producer ``XADD``-s each event to
  ``redislab:messaging:events:<type>``; each consumer is a consumer group on every type
  stream its route can match, reads them all in one ``XREADGROUP`` and applies its
  patterns and filter itself. Every group gets every entry of its streams (fan-out) and
  keeps what it has not acknowledged (https://redis.io/docs/latest/develop/data-types/streams/).

:func:`routing_compare` runs both with one consumer restarted in the middle (for streams:
a clean stop, and a crash that leaves its last batch unacknowledged) and counts, event by
event, what each consumer lost and handled twice.

- :class:`Route`: a consumer's glob patterns over ``<type>.<region>`` and an optional filter.
- :class:`TypeStreamConsumer`: a consumer group over several type streams.
- :func:`make_events`, :func:`publish_to_channels`, :func:`publish_to_streams`,
  :func:`pubsub_routing`, :func:`stream_routing`, :func:`routing_compare`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import pandas as pd
import redis

from ..errors import MessagingError
from ..keys import MESSAGING, key
from ..lab.waits import wait_until
from ..replies import text
from ..types import PlainConnection
from .pubsub import Subscriber
from .streams import decode_json

__all__ = [
    "EVENT_TYPES",
    "REGIONS",
    "Route",
    "TypeStreamConsumer",
    "default_routes",
    "make_events",
    "publish_to_channels",
    "publish_to_streams",
    "pubsub_routing",
    "routing_compare",
    "stream_routing",
]

EVENT_TYPES = ("order.created", "order.paid", "order.shipped", "payment.failed", "user.signup")
"""The event types :func:`make_events` draws from (one stream each in the stream design)."""
REGIONS = ("eu", "us")
"""The regions :func:`make_events` draws from (the last part of a channel name)."""

CHANNEL_PREFIX = "redislab.events"
MARKER_PREFIX = "redislab.routing.marker"  # outside every route's patterns


@dataclass(frozen=True)
class Route:
    """A consumer's routing rule: glob ``patterns`` over ``<type>.<region>`` (any may match)
    and an optional ``where(event) -> bool`` filter applied by the consumer.

    ``Route("fraud", ("order.paid.*",), where=lambda e: e["amount"] >= 500)``
    """

    name: str
    patterns: tuple[str, ...]
    where: Callable[[Mapping[str, Any]], bool] | None = None

    def routes(self, event: Mapping[str, Any]) -> bool:
        """Whether one of the patterns matches the event's ``<type>.<region>``."""
        name = f"{event['type']}.{event['region']}"
        return any(fnmatchcase(name, p) for p in self.patterns)

    def accepts(self, event: Mapping[str, Any]) -> bool:
        """Routed here and passing the filter: what this consumer should handle."""
        return self.routes(event) and (self.where is None or bool(self.where(event)))

    def streams(
        self, types: Iterable[str] = EVENT_TYPES, regions: Iterable[str] = REGIONS
    ) -> list[str]:
        """The type streams this route needs: those with a ``<type>.<region>`` it matches."""
        regions = tuple(regions)
        return [
            stream_for(t)
            for t in types
            if any(fnmatchcase(f"{t}.{r}", p) for p in self.patterns for r in regions)
        ]


def _large(event: Mapping[str, Any]) -> bool:
    return int(event["amount"]) >= 500


def default_routes() -> list[Route]:
    """Four consumers of one producer's events, each showing one thing:

    - ``billing``: paid orders and failed payments (routing by type; the one restarted);
    - ``analytics``: every order event (fan-out: ``order.paid`` also goes to billing);
    - ``fraud``: paid orders of 500 or more (a filter on the payload);
    - ``eu-audit``: everything from the EU, and every payment (overlapping patterns:
      an EU payment matches both).
    """
    return [
        Route("billing", ("order.paid.*", "payment.*")),
        Route("analytics", ("order.*",)),
        Route("fraud", ("order.paid.*",), where=_large),
        Route("eu-audit", ("*.eu", "payment.*")),
    ]


def make_events(n: int, *, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` seeded events ``{"seq", "type", "region", "amount"}``, ``seq`` = 0..n-1."""
    rng = random.Random(seed)
    return [
        {"seq": i, "type": rng.choice(EVENT_TYPES), "region": rng.choice(REGIONS),
         "amount": rng.randrange(1, 1000)}
        for i in range(n)
    ]  # fmt: skip


def channel_for(event: Mapping[str, Any]) -> str:
    """The Pub/Sub channel of an event: ``redislab.events.<type>.<region>``."""
    return f"{CHANNEL_PREFIX}.{event['type']}.{event['region']}"


def stream_for(event_type: str) -> str:
    """The stream of an event type: ``redislab:messaging:events:<type>``."""
    return key(MESSAGING, "events", event_type)


def publish_to_channels(
    connection: PlainConnection, events: Iterable[Mapping[str, Any]], *, batch: int = 100
) -> int:
    """``PUBLISH`` each event (JSON) to its channel, pipelined; the sum of the replies
    (how many deliveries the server made)."""
    deliveries = 0
    pipe = connection.pipeline(transaction=False)
    for e in events:
        pipe.publish(channel_for(e), json.dumps(e))
        if len(pipe) >= batch:
            deliveries += sum(pipe.execute())
    if len(pipe):
        deliveries += sum(pipe.execute())
    return deliveries


def publish_to_streams(
    connection: PlainConnection, events: Iterable[Mapping[str, Any]], *, batch: int = 100
) -> int:
    """``XADD`` each event as ``data=<json>`` to its type's stream, pipelined; how many."""
    n = 0
    pipe = connection.pipeline(transaction=False)
    for e in events:
        pipe.xadd(stream_for(str(e["type"])), {"data": json.dumps(e)})
        n += 1
        if len(pipe) >= batch:
            pipe.execute()
    if len(pipe):
        pipe.execute()
    return n


class _Crash(BaseException):
    """Stands for SIGKILL inside :meth:`TypeStreamConsumer.drain`: nothing after it runs."""


@dataclass
class TypeStreamConsumer:
    """One consumer group (named after the route) over every type stream the route needs.

    :meth:`drain` first reads the consumer's own history (``XREADGROUP ... 0``: what was
    delivered to it and never acknowledged, e.g. before a crash), then new entries
    (``>``), from all its streams in one command per batch; an entry the route does not
    accept is acknowledged without being handled. Acknowledgements of a batch go in the
    same round trip as the next read.
    """

    connection: PlainConnection
    route: Route
    consumer: str = "1"
    batch: int = 50
    types: Sequence[str] = EVENT_TYPES
    regions: Sequence[str] = REGIONS
    handled: list[int] = field(default_factory=list)  # seq of every event handled
    delivered: int = 0  # entries read, filtered out or not

    def __post_init__(self) -> None:
        self.streams = self.route.streams(self.types, self.regions)
        if not self.streams:
            raise MessagingError(f"route {self.route.name!r} matches no event type stream")

    def ensure_groups(self, start_id: str = "0") -> None:
        """Create the group on each of its streams (and the stream) if missing."""
        for s in self.streams:
            try:
                self.connection.xgroup_create(s, self.route.name, id=start_id, mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def _batch(self, ids: Mapping[str, str], acks: dict[str, list[Any]]) -> list[Any]:
        pipe = self.connection.pipeline(transaction=False)
        for s, entry_ids in acks.items():
            if entry_ids:
                pipe.xack(s, self.route.name, *entry_ids)
        pipe.xreadgroup(self.route.name, self.consumer, dict(ids), count=self.batch)
        return pipe.execute()[-1] or []

    def drain(self, *, crash_after: int | None = None) -> dict[str, int]:
        """Handle everything there is, then return; with ``crash_after``, stop dead once
        that many events were handled in this call, without acknowledging the batch in
        hand (the entries it finished stay pending, as after ``kill -9``).

        Returns ``{"handled", "history", "unacked_handled"}``: events handled, entries
        re-read from its own history, and events it had handled but not acknowledged
        when it crashed (0 without a crash)."""
        handled = history = 0
        acks: dict[str, list[Any]] = {}
        ids = {s: "0" for s in self.streams}  # own pending entries first
        finished_in_batch = 0
        try:
            while ids:
                reply = self._batch(ids, acks)
                acks, finished_in_batch = {}, 0
                reading_history = next(iter(ids.values())) != ">"
                got = {text(s): entries for s, entries in reply}
                if reading_history:
                    # a stream whose history came back empty is done with it
                    ids = {s: text(got[s][-1][0]) for s in ids if got.get(s)}
                    if not ids:
                        ids = {s: ">" for s in self.streams}
                        continue
                elif not any(got.values()):
                    break
                for s, entries in got.items():
                    for entry_id, fields in entries:
                        self.delivered += 1
                        history += reading_history
                        event = decode_json(fields)
                        if self.route.accepts(event):
                            self.handled.append(int(event["seq"]))
                            handled += 1
                            finished_in_batch += 1
                        acks.setdefault(s, []).append(entry_id)
                        if crash_after is not None and handled >= crash_after:
                            raise _Crash
            if acks:
                self._ack(acks)
        except _Crash:
            return {"handled": handled, "history": history, "unacked_handled": finished_in_batch}
        return {"handled": handled, "history": history, "unacked_handled": 0}

    def _ack(self, acks: Mapping[str, list[Any]]) -> None:
        pipe = self.connection.pipeline(transaction=False)
        for s, entry_ids in acks.items():
            if entry_ids:
                pipe.xack(s, self.route.name, *entry_ids)
        pipe.execute()


# ------------------------------------------------------------------ the experiments
def _tally(
    route: Route, events: Sequence[Mapping[str, Any]], handled: Sequence[int], away: range
) -> dict[str, Any]:
    expected = {int(e["seq"]) for e in events if route.accepts(e)}
    got = set(handled)
    return {
        "consumer": route.name,
        "expected": len(expected),
        "handled": len(handled),
        "lost": len(expected - got),
        "duplicated": len(handled) - len(got),
        "unexpected": len(got - expected),
        "expected_while_away": len({s for s in expected if s in away}),
        "lost_while_away": len({s for s in expected - got if s in away}),
    }


def _split(n: int, away: tuple[float, float]) -> tuple[int, int]:
    a, b = int(n * away[0]), int(n * away[1])
    if not 0 <= a <= b <= n:
        raise MessagingError(f"away={away!r} must be two fractions 0 <= start <= end <= 1")
    return a, b


def pubsub_routing(
    connection: PlainConnection,
    events: Sequence[Mapping[str, Any]],
    routes: Sequence[Route],
    *,
    restart: str,
    away: tuple[float, float] = (1 / 3, 2 / 3),
    timeout: float = 10.0,
) -> pd.DataFrame:
    """Pattern channels: one subscriber per route (``PSUBSCRIBE`` its patterns), the events
    published in three parts; the ``restart`` consumer unsubscribes (its connection
    closed) for the middle part, ``away`` (fractions of the events), and comes back.

    Each part ends with a marker message every subscriber must have received before the
    next step, so "away" is exactly the middle part. Returns one row per consumer:
    expected (events its route accepts), handled, lost, duplicated, and the same counted
    over the away window; ``delivered`` is the messages it received before filtering."""
    a, b = _split(len(events), away)
    names = [r.name for r in routes]
    if restart not in names:
        raise MessagingError(f"restart={restart!r} is not one of the routes {names}")

    def subscriber(route: Route) -> Subscriber:
        return Subscriber(connection, channels=[f"{MARKER_PREFIX}.{route.name}"],
                          patterns=[f"{CHANNEL_PREFIX}.{p}" for p in route.patterns],
                          name=route.name)  # fmt: skip

    def sync(subs: Mapping[str, Subscriber], mark: str) -> None:
        for name in subs:
            connection.publish(f"{MARKER_PREFIX}.{name}", mark)
        wait_until(lambda: all(any(m.data == mark for m in s.messages if m.channel.startswith(
            MARKER_PREFIX)) for s in subs.values()), timeout=timeout)  # fmt: skip

    live = {r.name: subscriber(r) for r in routes}
    gone: list[Subscriber] = []
    try:
        for s in live.values():
            s.start()
        publish_to_channels(connection, events[:a])
        sync(live, "part-1")
        gone.append(live.pop(restart))
        gone[-1].stop()  # connection closed: the server drops its subscriptions
        marker = f"{MARKER_PREFIX}.{restart}"
        wait_until(lambda: connection.pubsub_numsub(marker)[0][1] == 0, timeout=timeout)
        publish_to_channels(connection, events[a:b])
        sync(live, "part-2")
        live[restart] = subscriber(next(r for r in routes if r.name == restart)).start()
        publish_to_channels(connection, events[b:])
        sync(live, "part-3")
    finally:
        for s in live.values():
            s.stop()
        for s in gone:
            s.stop()
    received: dict[str, list[Any]] = {name: [] for name in names}
    for s in [*gone, *live.values()]:
        received[s.name] += [json.loads(m.data) for m in s.messages
                             if not m.channel.startswith(MARKER_PREFIX)]  # fmt: skip
    rows = []
    for route in routes:
        got = received[route.name]
        handled = [int(e["seq"]) for e in got if route.where is None or route.where(e)]
        rows.append({**_tally(route, events, handled, range(a, b)), "delivered": len(got)})
    return pd.DataFrame(rows).set_index("consumer")


def stream_routing(
    connection: PlainConnection,
    events: Sequence[Mapping[str, Any]],
    routes: Sequence[Route],
    *,
    restart: str,
    away: tuple[float, float] = (1 / 3, 2 / 3),
    crash: bool = False,
    batch: int = 10,
) -> pd.DataFrame:
    """A stream per event type, a consumer group per route (:class:`TypeStreamConsumer`),
    the events produced in the same three parts as :func:`pubsub_routing`.

    After each part every consumer drains its streams, except that the ``restart``
    consumer is away for the middle part: it stops after the first part, cleanly (its
    acknowledgements sent) or, with ``crash``, dead in the middle of a batch (halfway
    through what the first part routes to it, plus 7 so it is mid-batch), leaving the
    events it finished in that batch unacknowledged. It then comes back under the same
    consumer name, reads its own history first, then the rest. Returns the rows of
    :func:`pubsub_routing` plus ``unacked_at_crash`` and ``history_reread``."""
    a, b = _split(len(events), away)
    names = [r.name for r in routes]
    if restart not in names:
        raise MessagingError(f"restart={restart!r} is not one of the routes {names}")
    streams = [stream_for(t) for t in EVENT_TYPES]
    connection.delete(*streams)
    consumers = {r.name: TypeStreamConsumer(connection, r, batch=batch) for r in routes}
    for c in consumers.values():
        c.ensure_groups()
    handled: dict[str, list[int]] = {name: [] for name in names}
    crashed = {"unacked_handled": 0, "history": 0}

    def drain(names_: Iterable[str]) -> None:
        for name in names_:
            consumers[name].drain()

    publish_to_streams(connection, events[:a])
    drain(n for n in names if n != restart)
    victim = consumers[restart]
    route = victim.route
    first = sum(route.accepts(e) for e in events[:a])
    out = victim.drain(crash_after=first // 2 + 7 if crash and first // 2 + 7 < first else None)
    crashed["unacked_handled"] = out["unacked_handled"]
    handled[restart] += victim.handled
    publish_to_streams(connection, events[a:b])
    drain(n for n in names if n != restart)
    consumers[restart] = TypeStreamConsumer(connection, route, batch=batch)  # the restart
    back = consumers[restart].drain()
    crashed["history"] = back["history"]
    publish_to_streams(connection, events[b:])
    drain(names)
    rows = []
    for r in routes:
        c = consumers[r.name]
        seqs = handled[r.name] + c.handled
        delivered = c.delivered + (victim.delivered if r.name == restart else 0)
        row = {**_tally(r, events, seqs, range(a, b)), "delivered": delivered}
        row["unacked_at_crash"] = crashed["unacked_handled"] if r.name == restart else 0
        row["history_reread"] = crashed["history"] if r.name == restart else 0
        rows.append(row)
    return pd.DataFrame(rows).set_index("consumer")


def routing_compare(
    connection: PlainConnection,
    *,
    events: int = 600,
    seed: int = 0,
    routes: Sequence[Route] | None = None,
    restart: str = "billing",
) -> pd.DataFrame:
    """The same seeded events and routes under the three designs, one consumer restarted:
    ``pub/sub patterns``, ``stream per type, clean restart``, ``stream per type, crash``.

    Returns one row per (design, consumer), the columns of :func:`stream_routing`."""
    evs = make_events(events, seed=seed)
    routes = list(routes) if routes is not None else default_routes()
    frames = {
        "pub/sub patterns": pubsub_routing(connection, evs, routes, restart=restart),
        "stream per type, clean restart": stream_routing(connection, evs, routes,
                                                         restart=restart),
        "stream per type, crash": stream_routing(connection, evs, routes, restart=restart,
                                                 crash=True),
    }  # fmt: skip
    table = pd.concat(frames, names=["design"]).fillna(0)
    return table.astype({c: int for c in table.columns})
