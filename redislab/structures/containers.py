"""Lists, sets, sorted sets and streams: queue, feed, tag, leaderboard and time-index helpers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pandas as pd

from ..errors import StructureError
from ..keys import TAGS, key
from ..types import Connection
from ._common import memory_usage

# --------------------------------------------------------------------------- lists


def feed_push(
    connection: Connection, key_: str, item: str, *, cap: int, pipeline: Any = None
) -> None:
    """Prepend ``item`` and keep only the newest ``cap`` (``LPUSH`` + ``LTRIM`` in MULTI)."""
    pipe = pipeline if pipeline is not None else connection.pipeline(transaction=True)
    pipe.lpush(key_, item)
    pipe.ltrim(key_, 0, cap - 1)
    if pipeline is None:
        pipe.execute()


def claim(connection: Connection, queue: str, processing: str) -> str | None:
    """Reliable-queue take: ``LMOVE queue processing RIGHT LEFT`` (atomic; FIFO with LPUSH)."""
    return connection.lmove(queue, processing, "RIGHT", "LEFT")


def recover_processing(connection: Connection, processing: str, queue: str) -> int:
    """After a consumer crash, put every un-acknowledged item back at the queue's head.

    The newest claim is moved first, so the oldest ends up next in line: the original
    order is kept.
    """
    moved = 0
    while connection.lmove(processing, queue, "LEFT", "RIGHT") is not None:
        moved += 1
    return moved


def measure_wakeup(
    wait: Callable[[], Any], wake: Callable[[], Any], *, delay_s: float
) -> dict[str, Any]:
    """Run blocking ``wait()`` here while another thread calls ``wake()`` after ``delay_s``.

    Returns the result of ``wait()``, the seconds it blocked, and how long after
    ``wake()`` was *sent* the waiter returned (``wakeup_ms``: one trip to the server and
    back, since the waiter can return before the waker has its own reply).
    """
    sent_at: list[float] = []
    errors: list[BaseException] = []

    def waker() -> None:
        time.sleep(delay_s)
        sent_at.append(time.perf_counter())
        try:
            wake()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=waker, daemon=True)
    start = time.perf_counter()
    t.start()
    result = wait()
    end = time.perf_counter()
    t.join()
    if errors:
        raise errors[0]
    return {
        "result": result,
        "blocked_s": end - start,
        "wakeup_ms": (end - sent_at[0]) * 1e3 if sent_at else float("nan"),
    }


def blocking_pop_timeout(connection: Connection, key_: str, *, timeout_s: float) -> dict[str, Any]:
    """``BRPOP`` on an empty list: returns None after ``timeout_s`` (fractional since 6.0)."""
    connection.delete(key_)
    start = time.perf_counter()
    reply = connection.brpop([key_], timeout=timeout_s)
    return {"result": reply, "blocked_s": time.perf_counter() - start, "timeout_s": timeout_s}


# --------------------------------------------------------------------------- sets


def tag_item(
    connection: Connection, item: str, tags: Sequence[str], *, pipeline: Any = None
) -> None:
    """Index ``item`` under each tag (``SADD tag-set item``) and keep its own tag set."""
    pipe = pipeline if pipeline is not None else connection.pipeline(transaction=False)
    for t in tags:
        pipe.sadd(key(TAGS, "tag", t), item)
    if tags:
        pipe.sadd(key(TAGS, "item", item), *tags)
    if pipeline is None:
        pipe.execute()


def tag_query(
    connection: Connection,
    *,
    all_of: Sequence[str] = (),
    any_of: Sequence[str] = (),
    none_of: Sequence[str] = (),
) -> set[str]:
    """Items with every tag in ``all_of``, at least one of ``any_of`` and none of ``none_of``.

    Runs server-side in one MULTI with ``SINTERSTORE`` / ``SUNIONSTORE`` / ``SDIFF`` on
    temporary keys that are deleted in the same transaction.
    """
    if not all_of and not any_of:
        raise StructureError("tag_query needs all_of or any_of")
    tk = lambda t: key(TAGS, "tag", t)  # noqa: E731
    tmp_all = key(TAGS, "tmp", "all", threading.get_ident())
    tmp_any = key(TAGS, "tmp", "any", threading.get_ident())
    pipe = connection.pipeline(transaction=True)
    sources = []
    if all_of:
        pipe.sinterstore(tmp_all, [tk(t) for t in all_of])
        sources.append(tmp_all)
    if any_of:
        pipe.sunionstore(tmp_any, [tk(t) for t in any_of])
        sources.append(tmp_any)
    if len(sources) == 2:
        pipe.sinterstore(tmp_all, sources)
    base = tmp_all if all_of else tmp_any
    pipe.sdiff([base, *[tk(t) for t in none_of]])
    pipe.delete(tmp_all, tmp_any)
    return set(pipe.execute()[-2])


# --------------------------------------------------------------------------- sorted sets


def leaderboard_add(
    connection: Connection, board: str, player: str, points: float, *, pipeline: Any = None
) -> Any:
    """``ZINCRBY board points player``: add points (creates the player at 0)."""
    return (pipeline if pipeline is not None else connection).zincrby(board, points, player)


def top_n(connection: Connection, board: str, n: int) -> list[tuple[str, float]]:
    """The ``n`` best ``(player, score)``, highest first (equal scores: reverse lexical)."""
    return connection.zrange(board, 0, n - 1, desc=True, withscores=True)


def neighbours(
    connection: Connection, board: str, player: str, *, k: int = 2
) -> list[tuple[int, str, float]]:
    """``(rank, player, score)`` for the ``k`` players above and below ``player``.

    Ranks are 0-based, highest score first (``ZREVRANK``).
    """
    rank = connection.zrevrank(board, player)
    if rank is None:
        return []
    lo = max(0, rank - k)
    entries = connection.zrange(board, lo, rank + k, desc=True, withscores=True)
    return [(lo + i, m, s) for i, (m, s) in enumerate(entries)]


def page_by_score(
    connection: Connection, index: str, lo: float | str, hi: float | str, *, page_size: int
) -> Iterator[list[tuple[str, float]]]:
    """Pages of ``ZRANGE index lo hi BYSCORE LIMIT offset page_size WITHSCORES``."""
    offset = 0
    while True:
        page = connection.zrange(
            index, lo, hi, byscore=True, offset=offset, num=page_size, withscores=True
        )
        if not page:
            return
        yield page
        offset += len(page)


def autocomplete(connection: Connection, index: str, prefix: str, *, limit: int = 10) -> list[str]:
    """Members of an equal-score sorted set starting with ``prefix`` (``BYLEX`` range)."""
    return connection.zrange(index, f"[{prefix}", f"[{prefix}\xff", bylex=True, offset=0, num=limit)


def priority_push(
    connection: Connection, queue: str, items: Mapping[str, float], *, pipeline: Any = None
) -> Any:
    """Add jobs with their priority (lower score = more urgent)."""
    return (pipeline if pipeline is not None else connection).zadd(queue, dict(items))


def priority_pop(connection: Connection, queue: str, count: int = 1) -> list[tuple[str, float]]:
    """Take the ``count`` most urgent jobs atomically (``ZPOPMIN``)."""
    return connection.zpopmin(queue, count)


# --------------------------------------------------------------------------- streams


def parse_stream_id(entry_id: str) -> tuple[int, int]:
    """``"1700000000000-3"`` -> ``(1700000000000, 3)``."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)


def stream_burst(connection: Connection, key_: str, n: int, *, pipeline: Any = None) -> list[str]:
    """``XADD key * ...`` ``n`` times in one pipeline; return the server-assigned IDs.

    With ``pipeline=`` the commands are only queued and the IDs come back from the
    caller's ``execute()`` (this returns ``[]``).
    """
    pipe = pipeline if pipeline is not None else connection.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(key_, {"seq": i})
    return pipe.execute() if pipeline is None else []


def trim_experiment(connection: Connection, key_: str, *, n: int, maxlen: int) -> pd.DataFrame:
    """Append ``n`` entries with ``MAXLEN maxlen`` exact and ``MAXLEN ~ maxlen``; compare."""
    rows = []
    for approximate in (False, True):
        k = key_ + (":approx" if approximate else ":exact")
        connection.delete(k)
        pipe = connection.pipeline(transaction=False)
        for i in range(n):
            pipe.xadd(k, {"i": i}, maxlen=maxlen, approximate=approximate)
        pipe.execute()
        first = connection.xrange(k, count=1)[0][1]["i"]
        rows.append(
            {"trim": "MAXLEN ~" if approximate else "MAXLEN =", "appended": n, "maxlen": maxlen,
             "length": connection.xlen(k), "oldest_kept": int(first),
             "memory_bytes": memory_usage(connection, k)}
        )  # fmt: skip
        connection.delete(k)
    return pd.DataFrame(rows).set_index("trim")
