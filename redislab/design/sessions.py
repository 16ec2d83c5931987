"""A session store: one hash per session, sliding expiry, and a per-user index.

Keys carry the user id as a hash tag, so one user's sessions and their index live in
one slot (a cluster can log a user out everywhere in one transaction):

- ``redislab:sessions:s:{alice}:<sid>``: a hash (``user``, ``created``, app fields);
- ``redislab:sessions:user:{alice}``: the set of alice's session ids.

Every read or write of a session pushes its expiry forward (sliding expiry). Expired
sessions leave their id in the index; :meth:`SessionStore.sessions_of` drops those
lazily, so the index is never trusted without checking.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis

from ..errors import DesignError
from ..keys import SESSIONS, key
from ..kit.lua import script
from ..kit.measure import summarize
from ..replies import text
from ..types import Connection

__all__ = ["SessionStats", "SessionStore", "login_load", "memory_per_session"]

UPDATE_LUA = """
-- Update fields of a session only if it still exists, and slide its expiry.
-- KEYS[1] the session hash; ARGV[1] TTL (s), ARGV[2..] field, value, field, value...
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""


class SessionStore:
    """Sessions as hashes with a sliding TTL and a per-user index (see module doc)."""

    def __init__(
        self, connection: Connection, *, ttl_s: int = 1800, seed: int | None = None
    ) -> None:
        if ttl_s <= 0:
            raise DesignError(f"a session store needs a positive TTL, got {ttl_s}")
        self.connection = connection
        self.ttl_s = int(ttl_s)
        self._rng = random.Random(seed) if seed is not None else random.SystemRandom()
        self._update = script(connection, UPDATE_LUA)

    # ------------------------------------------------------------------ keys
    @staticmethod
    def user_of(sid: str) -> str:
        """The user a session id belongs to (ids are ``<user>.<random>``)."""
        user, sep, _ = sid.rpartition(".")
        if not sep or not user:
            raise DesignError(f"not a session id of this store: {sid!r}")
        return user

    def session_key(self, sid: str) -> str:
        return key(SESSIONS, "s", f"{{{self.user_of(sid)}}}", sid)

    def index_key(self, user: str) -> str:
        return key(SESSIONS, "user", f"{{{user}}}")

    # ------------------------------------------------------------- operations
    def create(self, user: str, data: Mapping[str, Any] | None = None) -> str:
        """A new session for ``user`` (hash + index entry, one transaction); its id."""
        if "." in user or "{" in user or "}" in user:
            raise DesignError(f"user ids must not contain '.', '{{' or '}}': {user!r}")
        sid = f"{user}.{self._rng.getrandbits(96):024x}"
        fields = {
            "user": user,
            "created": f"{time.time():.3f}",
            **{k: str(v) for k, v in (data or {}).items()},
        }
        pipe = self.connection.pipeline(transaction=True)
        pipe.hset(self.session_key(sid), mapping=fields)
        pipe.expire(self.session_key(sid), self.ttl_s)
        pipe.sadd(self.index_key(user), sid)
        pipe.expire(self.index_key(user), self.ttl_s)
        pipe.execute()
        return sid

    def get(self, sid: str, *, touch: bool = True) -> dict[str, str] | None:
        """The session's fields (``None`` if expired or unknown); slides its expiry."""
        pipe = self.connection.pipeline(transaction=True)
        pipe.hgetall(self.session_key(sid))
        if touch:
            pipe.expire(self.session_key(sid), self.ttl_s)
            pipe.expire(self.index_key(self.user_of(sid)), self.ttl_s)
        raw = pipe.execute()[0]
        if not raw:
            return None
        return {text(k): text(v) for k, v in raw.items()}

    def update(self, sid: str, **fields: Any) -> bool:
        """Set fields of a live session (never resurrects an expired one)."""
        if not fields:
            return self.get(sid) is not None
        args: list[Any] = [self.ttl_s]
        for k, v in fields.items():
            args += [k, str(v)]
        return bool(self._update(keys=[self.session_key(sid)], args=args))

    def destroy(self, sid: str) -> bool:
        """Log one session out."""
        pipe = self.connection.pipeline(transaction=True)
        pipe.delete(self.session_key(sid))
        pipe.srem(self.index_key(self.user_of(sid)), sid)
        return bool(pipe.execute()[0])

    def destroy_all(self, user: str) -> int:
        """Log ``user`` out everywhere; how many live sessions were deleted.

        ``WATCH`` on the index makes it atomic against a concurrent login: a session
        created meanwhile makes the transaction retry, so it is deleted too.
        """
        index = self.index_key(user)
        with self.connection.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(index)
                    sids = [text(s) for s in pipe.smembers(index)]
                    pipe.multi()
                    pipe.delete(*[self.session_key(s) for s in sids], index)
                    return max(0, int(pipe.execute()[0]) - (1 if sids else 0))
                except redis.WatchError:
                    continue

    def sessions_of(self, user: str) -> list[str]:
        """``user``'s live session ids; ids of expired sessions are removed from the index."""
        index = self.index_key(user)
        sids = sorted(text(s) for s in self.connection.smembers(index))
        if not sids:
            return []
        pipe = self.connection.pipeline(transaction=False)
        for s in sids:
            pipe.exists(self.session_key(s))
        alive = pipe.execute()
        dead = [s for s, a in zip(sids, alive, strict=True) if not a]
        if dead:
            self.connection.srem(index, *dead)
        return [s for s, a in zip(sids, alive, strict=True) if a]


# ----------------------------------------------------------------- measurements
def memory_per_session(
    store: SessionStore, *, sessions: int, fields: int = 5, value_bytes: int = 20, seed: int = 0
) -> dict[str, float | str]:
    """Bytes per session measured with ``MEMORY USAGE`` (hash + its share of the index)."""
    rng = random.Random(seed)
    users = max(1, sessions // 2)
    sids = []
    for i in range(sessions):
        data = {f"f{j}": "x" * value_bytes for j in range(fields)}
        sids.append(store.create(f"mem{i % users}", data))
    conn = store.connection
    sample = rng.sample(sids, min(200, len(sids)))
    hashes = [int(conn.memory_usage(store.session_key(s), samples=0) or 0) for s in sample]
    pipe = conn.pipeline(transaction=False)
    for u in range(users):
        pipe.memory_usage(store.index_key(f"mem{u}"), samples=0)
    index_total = sum(int(v or 0) for v in pipe.execute())
    per_hash = sum(hashes) / len(hashes)
    per_index = index_total / sessions
    encoding = text(conn.object("encoding", store.session_key(sample[0])))
    return {"sessions": sessions, "fields": fields + 2, "hash_bytes": per_hash,
            "index_bytes_per_session": per_index, "bytes_per_session": per_hash + per_index,
            "encoding": encoding}  # fmt: skip


@dataclass
class SessionStats:
    """A login load: request latency, sessions created, live sessions counted after."""

    logins: int
    reads: int
    latency_ms: dict[str, float]
    live_sessions: int
    seconds: float

    @property
    def requests_per_s(self) -> float:
        return (self.logins + self.reads) / self.seconds


def login_load(
    store: SessionStore, *, users: int, logins: int, reads_per_login: int = 4, seed: int = 0
) -> SessionStats:
    """``logins`` logins of random users, each followed by ``reads_per_login`` requests."""
    rng = random.Random(seed)
    samples: list[float] = []
    start = time.perf_counter()
    created: list[str] = []
    for _ in range(logins):
        t0 = time.perf_counter()
        sid = store.create(f"u{rng.randrange(users)}", {"cart": 0})
        samples.append(time.perf_counter() - t0)
        created.append(sid)
        for i in range(reads_per_login):
            t0 = time.perf_counter()
            if i % 2:
                store.update(sid, cart=i)
            else:
                store.get(sid)
            samples.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    live = sum(1 for s in created if store.get(s, touch=False) is not None)
    return SessionStats(
        logins=logins,
        reads=logins * reads_per_login,
        latency_ms=summarize(samples),
        live_sessions=live,
        seconds=elapsed,
    )
