"""Pub/Sub: broadcast, pattern routing, sharded channels, and what at-most-once costs.

Pub/Sub delivers a message to the clients subscribed *at the moment it is published*
and keeps nothing (https://redis.io/docs/latest/develop/interact/pubsub/). Every
function here measures one consequence of that on a live server:

- :class:`Subscriber`: a subscriber thread on its own connection that records what it got.
- :func:`broadcast`: N subscribers, M messages, per-subscriber counts and latency.
- :func:`pattern_routing`, :func:`double_delivery`, :func:`cross_database`.
- :func:`missed_while_away`: a subscriber away for a while misses exactly what was
  published meanwhile.
- :func:`slow_subscriber`: a subscriber that stops reading is disconnected once its
  output buffer passes ``client-output-buffer-limit pubsub``.
- :func:`sharded_placement`: ``SSUBSCRIBE`` lives on the node that owns the channel's slot.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import redis

from ..errors import MessagingError
from ..kit.connections import clone
from ..kit.measure import summarize
from ..lab.waits import wait_until
from ..types import PlainConnection

__all__ = [
    "Subscriber",
    "broadcast",
    "cross_database",
    "double_delivery",
    "late_subscriber",
    "missed_while_away",
    "pattern_routing",
    "sharded_placement",
    "slow_subscriber",
]


@dataclass
class Received:
    """One message as a subscriber got it."""

    channel: str
    pattern: str | None
    data: str
    at: float  # perf_counter() when it was read


@dataclass
class Subscriber:
    """A subscriber on its own connection, reading in a background thread.

    ``Subscriber(connection, channels=["news"], patterns=["orders.*"]).start()``;
    :attr:`messages` fills as messages arrive; :meth:`stop` unsubscribes and closes.
    """

    connection: PlainConnection
    channels: Sequence[str] = ()
    patterns: Sequence[str] = ()
    name: str = "sub"
    messages: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._client = clone(self.connection, decode_responses=True)
        self._pubsub = self._client.pubsub()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._confirmed = 0

    def start(self, timeout: float = 5.0) -> Subscriber:
        """Subscribe, wait until the server confirmed every subscription, start reading."""
        if self.channels:
            self._pubsub.subscribe(*self.channels)
        if self.patterns:
            self._pubsub.psubscribe(*self.patterns)
        wanted = len(self.channels) + len(self.patterns)
        deadline = time.monotonic() + timeout
        while self._confirmed < wanted:
            if time.monotonic() > deadline:
                raise MessagingError(f"{self.name}: subscriptions not confirmed in {timeout}s")
            msg = self._pubsub.get_message(timeout=0.1)
            if msg and msg["type"] in ("subscribe", "psubscribe"):
                self._confirmed += 1
        self._thread = threading.Thread(target=self._run, name=f"redislab-{self.name}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self._pubsub.get_message(timeout=0.05)
            except (redis.ConnectionError, ValueError, AttributeError):
                return
            if msg and msg["type"] in ("message", "pmessage"):
                self.messages.append(
                    Received(msg["channel"], msg.get("pattern"), msg["data"], time.perf_counter())
                )

    def stop(self) -> None:
        """Stop reading, unsubscribe and close the connection."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        try:
            self._pubsub.close()
        finally:
            self._client.close()

    def __enter__(self) -> Subscriber:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_received(subs: Sequence[Subscriber], expected: int, timeout: float) -> bool:
    try:
        wait_until(lambda: all(len(s.messages) >= expected for s in subs), timeout=timeout)
        return True
    except Exception:
        return False


def broadcast(
    connection: PlainConnection,
    *,
    subscribers: int = 10,
    messages: int = 1000,
    payload_bytes: int = 64,
    channel: str = "redislab.broadcast",
    seed: int = 0,
    timeout: float = 20.0,
) -> dict[str, Any]:
    """Publish ``messages`` to ``subscribers`` subscribers of one channel; count and time it.

    Returns ``{"per_subscriber": DataFrame (received, missing, in_order), "receivers":
    sum of PUBLISH replies, "latency": summarize() of publish→read, "seconds"}``.
    Each payload carries its sequence number and send time, padded with seeded bytes.
    """
    rng = random.Random(seed)
    pad = "".join(rng.choice("abcdefghij") for _ in range(max(0, payload_bytes - 24)))
    subs = [Subscriber(connection, channels=[channel], name=f"sub-{i}") for i in range(subscribers)]
    try:
        for s in subs:
            s.start()
        receivers = 0
        t0 = time.perf_counter()
        pipe = connection.pipeline(transaction=False)
        for i in range(messages):
            pipe.publish(channel, f"{i}|{time.perf_counter():.6f}|{pad}")
            if len(pipe) >= 50:
                receivers += sum(pipe.execute())
        if len(pipe):
            receivers += sum(pipe.execute())
        _wait_received(subs, messages, timeout)
        seconds = time.perf_counter() - t0
    finally:
        for s in subs:
            s.stop()
    rows: list[dict[str, Any]] = []
    lat: list[float] = []
    for s in subs:
        seqs = [int(m.data.split("|", 1)[0]) for m in s.messages]
        rows.append(
            {
                "subscriber": s.name,
                "received": len(seqs),
                "missing": messages - len(set(seqs)),
                "in_order": seqs == sorted(seqs),
            }
        )
        lat.extend(m.at - float(m.data.split("|", 2)[1]) for m in s.messages)
    return {
        "per_subscriber": pd.DataFrame(rows).set_index("subscriber"),
        "receivers": receivers,
        "latency": summarize(lat),
        "seconds": seconds,
        "messages": messages,
        "subscribers": subscribers,
    }


def pattern_routing(
    connection: PlainConnection,
    *,
    routes: Mapping[str, Sequence[str]],
    events: Sequence[str],
    timeout: float = 5.0,
) -> pd.DataFrame:
    """One subscriber per route (``name -> glob patterns``); publish one message per event channel.

    Returns a DataFrame indexed by channel, one column per route: how many messages that
    route's subscriber got on that channel.
    """
    marker = "redislab.routing.end"
    subs = {
        name: Subscriber(connection, channels=[marker], patterns=list(p), name=name)
        for name, p in routes.items()
    }
    try:
        for s in subs.values():
            s.start()
        for ch in events:
            connection.publish(ch, ch)
        connection.publish(marker, "end")  # every route sees it after everything before it
        wait_until(
            lambda: all(any(m.channel == marker for m in s.messages) for s in subs.values()),
            timeout=timeout,
        )
    finally:
        for s in subs.values():
            s.stop()
    table = pd.DataFrame(0, index=sorted(set(events)), columns=list(subs))
    for name, s in subs.items():
        for m in s.messages:
            if m.channel != marker:
                table.loc[m.channel, name] += 1
    table.index.name = "channel"
    return table


def double_delivery(connection: PlainConnection, *, timeout: float = 5.0) -> dict[str, int]:
    """One client subscribed to ``orders.eu`` and to patterns ``orders.*`` and ``*.eu``.

    Returns how many copies of a single message to ``orders.eu`` it received, and
    what ``PUBLISH`` answered (the number of deliveries, not of clients).
    """
    sub = Subscriber(connection, channels=["orders.eu"], patterns=["orders.*", "*.eu"]).start()
    try:
        answered = int(connection.publish("orders.eu", "one message"))
        try:
            wait_until(lambda: len(sub.messages) >= 3, timeout=timeout)
        except Exception:
            pass
        time.sleep(0.05)
    finally:
        sub.stop()
    return {"published": 1, "publish_reply": answered, "copies_received": len(sub.messages)}


def cross_database(connection: PlainConnection, *, timeout: float = 5.0) -> dict[str, int]:
    """A subscriber connected to db 0 and a publisher on db 5: does the message arrive?"""
    sub = Subscriber(clone(connection, db=0), channels=["redislab.db"]).start()
    publisher = clone(connection, db=5)
    try:
        answered = int(publisher.publish("redislab.db", "from db 5"))
        try:
            wait_until(lambda: len(sub.messages) >= 1, timeout=timeout)
        except Exception:
            pass
    finally:
        sub.stop()
        publisher.close()
    return {"subscriber_db": 0, "publisher_db": 5, "publish_reply": answered,
            "received": len(sub.messages)}  # fmt: skip


def missed_while_away(
    connection: PlainConnection,
    *,
    before: int = 100,
    during: int = 137,
    after: int = 100,
    channel: str = "redislab.away",
    timeout: float = 10.0,
) -> dict[str, Any]:
    """A subscriber gets ``before`` messages, disconnects, ``during`` are published, it
    reconnects and ``after`` more are published. Returns what it received and missed."""
    got: list[int] = []
    sub = Subscriber(connection, channels=[channel], name="away").start()
    for i in range(before):
        connection.publish(channel, str(i))
    wait_until(lambda: len(sub.messages) >= before, timeout=timeout)
    got += [int(m.data) for m in sub.messages]
    sub.stop()  # the connection is closed: the server forgets the subscription
    wait_until(lambda: connection.pubsub_numsub(channel)[0][1] == 0, timeout=timeout)
    published_to_nobody = 0
    for i in range(before, before + during):
        published_to_nobody += int(connection.publish(channel, str(i)) == 0)
    sub = Subscriber(connection, channels=[channel], name="back").start()
    for i in range(before + during, before + during + after):
        connection.publish(channel, str(i))
    try:
        wait_until(lambda: len(sub.messages) >= after, timeout=timeout)
    finally:
        sub.stop()
    got += [int(m.data) for m in sub.messages]
    total = before + during + after
    missed = sorted(set(range(total)) - set(got))
    return {
        "published": total,
        "received": len(got),
        "missed": len(missed),
        "published_while_away": during,
        "publish_reply_0": published_to_nobody,
        "missed_are_the_away_ones": missed == list(range(before, before + during)),
    }


def late_subscriber(
    connection: PlainConnection, channel: str, *, timeout: float = 10.0
) -> dict[str, Any]:
    """Subscribe to ``channel`` now and count what arrives before a marker published after.

    Pub/Sub keeps nothing, so messages published to ``channel`` before this call should
    not reach the new subscriber: ``earlier`` counts those that did (0 expected). The
    marker, published once the subscription is confirmed, ends the wait deterministically
    (no "nothing came within a timeout"): ``marker_received`` says it arrived.
    """
    marker = f"marker-{time.perf_counter_ns()}"
    sub = Subscriber(connection, channels=[channel], name="late").start()
    try:
        connection.publish(channel, marker)
        try:
            wait_until(lambda: any(m.data == marker for m in sub.messages), timeout=timeout)
        except Exception:
            return {"earlier": len(sub.messages), "marker_received": False}
        data = [m.data for m in sub.messages]
    finally:
        sub.stop()
    return {"earlier": data.index(marker), "marker_received": True}


def _buffer_limit_disconnections(connection: PlainConnection) -> int | None:
    value = connection.info("stats").get("client_output_buffer_limit_disconnections")
    return None if value is None else int(value)


def slow_subscriber(
    connection: PlainConnection,
    *,
    limit: str = "pubsub 1mb 0 0",
    message_bytes: int = 4096,
    max_bytes: int = 64 * 1024 * 1024,
    log_path: str | Path | None = None,
    channel: str = "redislab.slow",
) -> dict[str, Any]:
    """A subscriber that never reads; publish until the server drops it.

    Sets ``client-output-buffer-limit`` to ``limit`` for the experiment (restored after),
    subscribes on a raw socket with a small receive buffer and never reads from it, and
    publishes ``message_bytes`` messages until ``PUBLISH`` answers 0 (nobody is subscribed
    any more) or ``max_bytes`` were sent. Returns what was sent, the buffer-limit
    disconnection counter before and after (``INFO stats``, where the server has it),
    and the server log line that says why (if ``log_path`` is given).
    """
    previous = connection.config_get("client-output-buffer-limit")["client-output-buffer-limit"]
    kw = connection.connection_pool.connection_kwargs
    before = _buffer_limit_disconnections(connection)
    log_start = Path(log_path).stat().st_size if log_path else 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sent = published = 0
    payload = "x" * message_bytes
    try:
        connection.config_set("client-output-buffer-limit", limit)
        sock.connect((kw.get("host", "127.0.0.1"), int(kw.get("port", 6379))))
        sock.sendall(f"SUBSCRIBE {channel}\r\n".encode())
        sock.recv(1024)  # the subscribe confirmation; after this, never read again
        wait_until(lambda: connection.pubsub_numsub(channel)[0][1] == 1, timeout=5)
        while sent < max_bytes:
            receivers = int(connection.publish(channel, payload))
            published += 1
            if receivers == 0:
                break
            sent += message_bytes
    finally:
        connection.config_set("client-output-buffer-limit", previous)
        sock.close()
    after = _buffer_limit_disconnections(connection)
    reason = ""
    if log_path:
        with open(log_path, errors="replace") as fh:
            fh.seek(log_start)
            lines = [ln.strip() for ln in fh if "output buffer" in ln]
        reason = lines[-1] if lines else ""
    return {
        "limit": limit,
        "bytes_published_while_subscribed": sent,
        "messages_published": published,
        "dropped": published > 0 and sent < max_bytes,
        "disconnections_before": before,
        "disconnections_after": after,
        "server_log": reason,
    }


def sharded_placement(
    nodes: Mapping[str, PlainConnection],
    *,
    channels: Sequence[str],
    timeout: float = 5.0,
) -> pd.DataFrame:
    """``SSUBSCRIBE`` each channel on the node that owns its slot; ask every node who has it.

    ``nodes`` maps a name to a client of each cluster primary. For every channel the
    row shows its slot, the owner (from ``CLUSTER SHARDS``/``KEYSLOT`` on the live
    cluster), on which nodes ``PUBSUB SHARDNUMSUB`` counts the subscriber, what
    ``SPUBLISH`` on a non-owner answers, and whether a message ``SPUBLISH``-ed on the
    owner reached the subscriber.
    """
    any_node = next(iter(nodes.values()))
    rows = []
    for ch in channels:
        slot = int(any_node.execute_command("CLUSTER", "KEYSLOT", ch))
        owner = next(n for n, c in nodes.items() if any(s <= slot <= e for s, e in
                                                          _own_slot_ranges(c)))  # fmt: skip
        client = clone(nodes[owner], decode_responses=True)
        ps = client.pubsub()
        try:
            ps.ssubscribe(ch)
            confirmed = None
            deadline = time.monotonic() + timeout
            while confirmed is None and time.monotonic() < deadline:
                confirmed = ps.get_message(timeout=0.1)
            if confirmed is None or confirmed["type"] != "ssubscribe":
                raise MessagingError(f"SSUBSCRIBE {ch} on {owner} not confirmed: {confirmed!r}")
            counted_on = [
                n for n, c in nodes.items()
                if int(c.execute_command("PUBSUB", "SHARDNUMSUB", ch)[1]) > 0
            ]  # fmt: skip
            other = next(n for n in nodes if n != owner)
            try:
                nodes[other].execute_command("SPUBLISH", ch, "wrong node")
                elsewhere, redirect = "accepted", ""
            except redis.ResponseError as exc:
                # redis-py turns "-MOVED <slot> <host:port>" into MovedError("<slot> <host:port>")
                moved = type(exc).__name__ == "MovedError" or str(exc).startswith("MOVED")
                elsewhere = "MOVED" if moved else str(exc)
                redirect = str(exc).split()[-1]
            reply = int(nodes[owner].execute_command("SPUBLISH", ch, "hello"))
            got = None
            deadline = time.monotonic() + timeout
            while got is None and time.monotonic() < deadline:
                msg = ps.get_message(timeout=0.1)
                if msg and msg["type"] == "smessage":
                    got = msg["data"]
        finally:
            ps.close()
            client.close()
        rows.append({"channel": ch, "slot": slot, "owner": owner,
                     "shardnumsub_on": ",".join(counted_on),
                     "spublish_elsewhere": elsewhere, "redirected_to": redirect,
                     "owner_address": _address(nodes[owner]), "spublish_reply": reply,
                     "received": got == "hello"})  # fmt: skip
    return pd.DataFrame(rows).set_index("channel")


def _own_slot_ranges(client: PlainConnection) -> list[tuple[int, int]]:
    """The slot ranges the node behind ``client`` serves (``CLUSTER NODES`` ``myself``)."""
    text = client.execute_command("CLUSTER", "NODES")
    if isinstance(text, bytes):
        text = text.decode()
    if isinstance(text, dict):  # redis-py may parse it
        for info in text.values():
            if "myself" in info.get("flags", ""):
                return [tuple(int(x) for x in s) for s in info.get("slots", [])]
        return []
    for line in str(text).splitlines():
        parts = line.split()
        if "myself" in parts[2]:
            ranges = []
            for s in parts[8:]:
                if s.startswith("["):
                    continue
                a, _, b = s.partition("-")
                ranges.append((int(a), int(b or a)))
            return ranges
    return []


def _address(client: PlainConnection) -> str:
    kw = client.connection_pool.connection_kwargs
    return f"{kw.get('host')}:{kw.get('port')}"
