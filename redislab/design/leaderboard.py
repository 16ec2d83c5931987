"""A leaderboard on sorted sets: top-N, rank, neighbours, merged boards, growth.

Redis orders equal scores by member, lexicographically, so ties are already broken
deterministically; ``tie_break="first"`` instead ranks the player who reached a score
first above later ones (the score carries a fraction that shrinks with time).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import DesignError
from ..keys import LEADERBOARD, key
from ..kit.counters import command_stats
from ..kit.measure import progress
from ..replies import text
from ..types import Connection

__all__ = [
    "GrowthFit",
    "Leaderboard",
    "fill_board",
    "fit_log_growth",
    "paired_usec_per_call",
    "round_trip_ms",
    "server_usec_per_call",
]

_EPOCH_SPAN = 2**31  # seconds the "first" tie-break fraction covers


class Leaderboard:
    """One board (a sorted set, highest score first)."""

    TIE_BREAKS = ("lex", "first")

    def __init__(self, connection: Connection, name: str, *, tie_break: str = "lex") -> None:
        if tie_break not in self.TIE_BREAKS:
            raise DesignError(f"tie_break must be one of {self.TIE_BREAKS}, got {tie_break!r}")
        self.connection = connection
        self.name = name
        self.tie_break = tie_break
        self.key = key(LEADERBOARD, name)

    def _encode(self, score: int, at: float | None) -> float:
        if self.tie_break == "lex":
            return float(score)
        if at is None:
            raise DesignError("tie_break='first' needs the time a score was reached (at=)")
        # integer score plus a fraction in (0, 1) that is larger for earlier times
        return int(score) + (1 - (at % _EPOCH_SPAN) / _EPOCH_SPAN) * 0.999

    def submit(self, player: str, score: int, *, at: float | None = None) -> None:
        """Record ``player``'s score (replaces the old one)."""
        self.connection.zadd(self.key, {player: self._encode(score, at)})

    def add(self, player: str, points: int) -> float:
        """Add points (``ZINCRBY``); only for ``tie_break='lex'``."""
        if self.tie_break != "lex":
            raise DesignError("ZINCRBY would break the 'first' encoding; use submit()")
        return float(self.connection.zincrby(self.key, points, player))

    def top(self, n: int = 10) -> list[tuple[str, int]]:
        """The first ``n`` (player, score), best first."""
        rows = self.connection.zrevrange(self.key, 0, n - 1, withscores=True)
        return [(text(m), math.floor(s)) for m, s in rows]

    def rank(self, player: str) -> int | None:
        """0-based rank (best = 0), ``None`` if absent."""
        r = self.connection.zrevrank(self.key, player)
        return None if r is None else int(r)

    def around(self, player: str, k: int = 2) -> list[tuple[int, str, int]]:
        """``player`` and up to ``k`` neighbours each side as (rank, player, score)."""
        r = self.rank(player)
        if r is None:
            return []
        lo = max(0, r - k)
        rows = self.connection.zrevrange(self.key, lo, r + k, withscores=True)
        return [(lo + i, text(m), math.floor(s)) for i, (m, s) in enumerate(rows)]

    def size(self) -> int:
        return int(self.connection.zcard(self.key))

    @classmethod
    def merge(
        cls,
        connection: Connection,
        name: str,
        boards: Sequence[Leaderboard],
        *,
        weights: Sequence[float] | None = None,
        aggregate: str = "SUM",
    ) -> Leaderboard:
        """A board ``name`` = ``ZUNIONSTORE`` of ``boards`` (e.g. days into a week)."""
        dest = cls(connection, name)
        keys = [b.key for b in boards]
        if weights is not None:
            connection.zunionstore(
                dest.key, dict(zip(keys, weights, strict=True)), aggregate=aggregate
            )
        else:
            connection.zunionstore(dest.key, keys, aggregate=aggregate)
        return dest


def fill_board(
    board: Leaderboard, *, players: int, seed: int, batch: int = 5000, show: bool = True
) -> None:
    """``players`` players ``p0..`` with seeded scores 0..10^6 (pipelined ``ZADD``)."""
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 1_000_000, size=players)
    bar = progress(total=players, desc=f"filling {board.name}", enabled=show)
    for start in range(0, players, batch):
        chunk = {f"p{i}": int(scores[i]) for i in range(start, min(players, start + batch))}
        board.connection.zadd(board.key, chunk)
        bar.update(len(chunk))
    bar.close()


def server_usec_per_call(
    connection: Connection,
    board: Leaderboard,
    *,
    command: str = "zrevrank",
    calls: int = 200,
    repeats: int = 15,
    seed: int = 0,
) -> float:
    """Server-side microseconds per call (``INFO commandstats``) of ``ZREVRANK`` or a top-10.

    ``CONFIG RESETSTAT`` first, then ``calls`` pipelined calls on random players, so
    the round trip does not drown the command's own cost; the least of ``repeats``
    short batches (a shared machine preempts the server now and then, which only
    adds time; a short batch is more likely to run unpreempted).
    """
    return min(_usec_once(connection, board, command, calls, seed + i) for i in range(repeats))


def paired_usec_per_call(
    connection: Connection,
    large: Leaderboard,
    small: Leaderboard,
    *,
    command: str = "zrevrank",
    batches: int = 12,
    calls: int = 200,
    seed: int = 0,
) -> tuple[list[float], list[float]]:
    """One round of paired server-side timings: ``(large_usec, small_usec)``, one pair per batch.

    Each pair is a batch of ``calls`` pipelined ``command`` calls on the large board right
    next to one on the small board (the order alternates), each read from ``INFO
    commandstats`` after ``CONFIG RESETSTAT``: the machine's noise at that moment is shared
    by both, so their ratio is what the board's size costs. For
    :func:`redislab.kit.evidence.compare` with ``paired=True``.
    """
    big_usec: list[float] = []
    small_usec: list[float] = []
    for i in range(batches):
        order = [(large, big_usec), (small, small_usec)]
        for board, out in order if i % 2 == 0 else order[::-1]:
            out.append(_usec_once(connection, board, command, calls, seed + i))
    return big_usec, small_usec


def round_trip_ms(connection: Connection, *, n: int = 50) -> float:
    """The median wall-clock milliseconds of ``n`` PINGs from this client (one round trip each)."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        connection.ping()
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def _usec_once(
    connection: Connection, board: Leaderboard, command: str, calls: int, seed: int
) -> float:
    rng = random.Random(seed)
    n = board.size()
    connection.config_resetstat()
    pipe = connection.pipeline(transaction=False)
    for _ in range(calls):
        if command == "zrevrank":
            pipe.zrevrank(board.key, f"p{rng.randrange(n)}")
        elif command == "zrevrange":
            r = rng.randrange(n)
            pipe.zrevrange(board.key, r, r + 9)
        else:
            raise DesignError(f"unknown command {command!r}")
    pipe.execute()
    return command_stats(connection)[command]["usec_per_call"]


@dataclass
class GrowthFit:
    """``usec = a + b * log2(size)`` fitted, and a linear fit for comparison."""

    a: float
    b: float
    r2_log: float
    r2_linear: float

    def predict(self, size: float) -> float:
        return self.a + self.b * math.log2(size)


def fit_log_growth(sizes: Sequence[float], usec: Sequence[float]) -> GrowthFit:
    """Least-squares fits of cost against log2(size) and against size."""
    x = np.log2(np.asarray(sizes, dtype=float))
    y = np.asarray(usec, dtype=float)

    def r2(xv: np.ndarray) -> tuple[float, float, float]:
        b, a = np.polyfit(xv, y, 1)
        pred = a + b * xv
        ss = float(((y - y.mean()) ** 2).sum()) or 1e-12
        return float(a), float(b), 1 - float(((y - pred) ** 2).sum()) / ss

    a, b, r_log = r2(x)
    _, _, r_lin = r2(np.asarray(sizes, dtype=float))
    return GrowthFit(a=a, b=b, r2_log=r_log, r2_linear=r_lin)
