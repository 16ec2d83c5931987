"""One user object stored three ways (JSON string, hash, one key per field, plus native JSON
where the server has it), and the closing storage comparison on a seeded user dataset.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from ..errors import StructureError
from ..keys import PROFILE, key
from ..kit.features import has_command
from ..kit.measure import summarize, time_calls, wire_cost
from ..types import Connection
from ._common import _script

LAYOUTS = ("json", "hash", "keys", "native_json")

# KEYS[1]: a key holding a JSON object serialized as a string
# ARGV[1]: the field to set; ARGV[2]: its new value, JSON-encoded
# Returns 1 when the document existed and was rewritten, 0 when the key is missing.
JSON_SET_FIELD = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local doc = cjson.decode(raw)
doc[ARGV[1]] = cjson.decode(ARGV[2])
redis.call('SET', KEYS[1], cjson.encode(doc), 'KEEPTTL')
return 1
"""


def layouts_available(connection: Connection) -> list[str]:
    """The storage layouts this server supports (``native_json`` needs ``JSON.SET``)."""
    out = ["json", "hash", "keys"]
    if has_command(connection, "JSON.SET"):
        out.append("native_json")
    return out


def profile_key(layout: str, uid: int | str, field: str | None = None) -> str:
    """Key of a user's document (or, for the ``keys`` layout, of one of its fields)."""
    if layout not in LAYOUTS:
        raise StructureError(f"unknown layout {layout!r}; use one of {LAYOUTS}")
    if layout == "keys":
        if field is None:
            raise StructureError("the 'keys' layout stores one key per field: name the field")
        return key(PROFILE, layout, uid, field)
    return key(PROFILE, layout, uid)


def flatten_profile(profile: Mapping[str, Any]) -> dict[str, str]:
    """Field -> string, as a hash or one-key-per-field stores it (lists comma-joined)."""
    return {
        f: ",".join(map(str, v)) if isinstance(v, list | tuple) else str(v)
        for f, v in profile.items()
    }


def save_profile(
    connection: Connection,
    layout: str,
    uid: int | str,
    profile: Mapping[str, Any],
    *,
    pipeline: Any = None,
) -> None:
    """Write a whole user document in ``layout`` (one command, or ``MSET`` for ``keys``)."""
    target = pipeline if pipeline is not None else connection
    if layout == "json":
        target.set(profile_key(layout, uid), json.dumps(profile, separators=(",", ":")))
    elif layout == "hash":
        target.hset(profile_key(layout, uid), mapping=flatten_profile(profile))
    elif layout == "keys":
        target.mset({profile_key(layout, uid, f): v for f, v in flatten_profile(profile).items()})
    elif layout == "native_json":
        target.execute_command("JSON.SET", profile_key(layout, uid), "$", json.dumps(profile))
    else:
        raise StructureError(f"unknown layout {layout!r}")


def load_profile(
    connection: Connection, layout: str, uid: int | str, fields: Sequence[str]
) -> dict[str, Any]:
    """Read a whole user document back (JSON layouts keep types; hash/keys return strings)."""
    if layout == "json":
        raw = connection.get(profile_key(layout, uid))
        return json.loads(raw) if raw is not None else {}
    if layout == "hash":
        return connection.hgetall(profile_key(layout, uid))
    if layout == "keys":
        values = connection.mget([profile_key(layout, uid, f) for f in fields])
        return {f: v for f, v in zip(fields, values, strict=True) if v is not None}
    if layout == "native_json":
        raw = connection.execute_command("JSON.GET", profile_key(layout, uid))
        return json.loads(raw) if raw is not None else {}
    raise StructureError(f"unknown layout {layout!r}")


def read_field(connection: Connection, layout: str, uid: int | str, field: str) -> Any:
    """Read one field. A JSON string must be fetched and parsed whole."""
    if layout == "json":
        raw = connection.get(profile_key(layout, uid))
        return json.loads(raw).get(field) if raw is not None else None
    if layout == "hash":
        return connection.hget(profile_key(layout, uid), field)
    if layout == "keys":
        return connection.get(profile_key(layout, uid, field))
    if layout == "native_json":
        raw = connection.execute_command("JSON.GET", profile_key(layout, uid), f"$.{field}")
        return json.loads(raw)[0] if raw else None
    raise StructureError(f"unknown layout {layout!r}")


def write_field(
    connection: Connection,
    layout: str,
    uid: int | str,
    field: str,
    value: Any,
    *,
    json_update: str = "watch",
) -> None:
    """Set one field, safely under concurrent writers.

    For the ``json`` layout, ``json_update="watch"`` does an optimistic
    read-modify-write (``WATCH``/``GET``, edit in Python, ``MULTI``/``SET``/``EXEC``,
    retried on conflict); ``"lua"`` edits server-side in one round trip with
    :data:`JSON_SET_FIELD`. The other layouts write the field alone.
    """
    if layout == "json":
        k = profile_key(layout, uid)
        if json_update == "lua":
            _script(connection, "json_set_field", JSON_SET_FIELD)(
                keys=[k], args=[field, json.dumps(value)], client=connection
            )
            return
        if json_update != "watch":
            raise StructureError(f"json_update must be 'watch' or 'lua', not {json_update!r}")
        connection.transaction(
            lambda pipe: _json_rmw(pipe, k, field, value), k, value_from_callable=False
        )
    elif layout == "hash":
        connection.hset(profile_key(layout, uid), field, str(value))
    elif layout == "keys":
        connection.set(profile_key(layout, uid, field), str(value))
    elif layout == "native_json":
        connection.execute_command(
            "JSON.SET", profile_key(layout, uid), f"$.{field}", json.dumps(value)
        )
    else:
        raise StructureError(f"unknown layout {layout!r}")


def _json_rmw(pipe: Any, k: str, field: str, value: Any) -> None:
    raw = pipe.get(k)  # immediate: the pipeline is WATCHing k
    doc = json.loads(raw) if raw is not None else {}
    doc[field] = value
    pipe.multi()
    pipe.set(k, json.dumps(doc, separators=(",", ":")), keepttl=True)


# --------------------------------------------------------------------------- which structure?

_COUNTRIES = ("FR", "DE", "US", "GB", "ES", "IT", "NL", "BR", "IN", "JP")
_TAGS = ("sports", "music", "tech", "travel", "food", "books", "games", "film", "art", "news")
_PLANS = ("free", "pro", "team")
_SYLL = ("ka", "lo", "mi", "ra", "to", "ne", "su", "vi", "an", "el", "or", "is")


def make_users(n: int, *, seed: int) -> list[dict[str, Any]]:
    """``n`` seeded user profiles: 10 fields, tags as a list, a score and timestamps."""
    rng = random.Random(seed)
    users = []
    for uid in range(n):
        first = "".join(rng.choice(_SYLL) for _ in range(rng.randint(2, 3))).title()
        last = "".join(rng.choice(_SYLL) for _ in range(rng.randint(2, 4))).title()
        signup = 1_600_000_000 + rng.randrange(100_000_000)
        users.append(
            {"id": uid, "name": f"{first} {last}",
             "email": f"{first}.{last}{uid}@example.com".lower(),
             "country": rng.choice(_COUNTRIES), "plan": rng.choice(_PLANS),
             "age": rng.randint(16, 80), "score": rng.randint(0, 100_000),
             "tags": rng.sample(_TAGS, rng.randint(1, 4)),
             "signup_ts": signup, "last_login_ts": signup + rng.randrange(30_000_000)}
        )  # fmt: skip
    return users


def _used_memory(connection: Connection) -> int:
    return int(connection.info("memory")["used_memory"])


def storage_comparison(
    connection: Connection,
    users: Sequence[Mapping[str, Any]],
    *,
    layouts: Sequence[str] | None = None,
    sample: int = 300,
    seed: int = 0,
    field: str = "score",
) -> pd.DataFrame:
    """Store ``users`` in each layout; measure memory, latency and wire cost per access.

    Memory per user: ``memory_per_user_B`` sums ``MEMORY USAGE`` over every key of
    ``sample`` users (value, key name and entry overhead; independent of what else is
    stored); ``used_memory_delta_B`` is how much ``used_memory`` grew per user while
    loading the layout (also counts the keyspace table growing, so it depends on how
    many keys were there before). Latencies are p50/p95 over ``sample`` seeded users,
    one call at a time; wire costs come from :func:`wire_cost`. One row per
    (layout, operation).
    """
    layouts = list(layouts or layouts_available(connection))
    fields = list(users[0].keys())
    rng = random.Random(seed)
    ids = [rng.randrange(len(users)) for _ in range(sample)]
    rows = []
    for layout in layouts:
        before = _used_memory(connection)
        pipe = connection.pipeline(transaction=False)
        for i, u in enumerate(users):
            save_profile(connection, layout, u["id"], u, pipeline=pipe)
            if i % 500 == 499:
                pipe.execute()
        pipe.execute()
        delta = (_used_memory(connection) - before) / len(users)
        n_keys = len(fields) if layout == "keys" else 1
        for i in ids:
            for f in fields if layout == "keys" else [None]:
                pipe.memory_usage(profile_key(layout, i, f), samples=0)
        mem = sum(pipe.execute()) / len(ids)

        def cycle(op: Callable[[int], Any]) -> Callable[[], Any]:
            it = iter(ids * 3)
            return lambda: op(next(it))

        ops: list[tuple[str, Callable[[int], Any]]] = [
            ("write whole", lambda i, L=layout: save_profile(connection, L, i, users[i])),
            ("read whole", lambda i, L=layout: load_profile(connection, L, i, fields)),
            ("read field", lambda i, L=layout: read_field(connection, L, i, field)),
            ("write field", lambda i, L=layout: write_field(connection, L, i, field, i)),
        ]
        if layout == "json":
            ops.append(
                ("write field (Lua)",
                 lambda i: write_field(connection, "json", i, field, i, json_update="lua"))
            )  # fmt: skip
        for op_name, op in ops:
            lat = summarize(time_calls(cycle(op), n=sample, warmup=10), unit="us")
            wire = wire_cost(connection, cycle(op), n=min(sample, 100))
            rows.append(
                {"layout": layout, "operation": op_name, "memory_per_user_B": mem,
                 "used_memory_delta_B": delta, "keys_per_user": n_keys,
                 "p50_us": lat["p50_us"], "p95_us": lat["p95_us"],
                 "commands_per_op": wire["commands"], "bytes_in_per_op": wire["bytes_in"],
                 "bytes_out_per_op": wire["bytes_out"]}
            )  # fmt: skip
    return pd.DataFrame(rows)


def decision_table(df: pd.DataFrame) -> pd.DataFrame:
    """From :func:`storage_comparison`: per criterion, each layout's value and the winner."""
    mem = df.groupby("layout")["memory_per_user_B"].first()
    crit: dict[str, pd.Series] = {"memory per user (B)": mem}
    for op in ("write whole", "read whole", "read field", "write field"):
        crit[f"{op} p50 (us)"] = df[df["operation"] == op].set_index("layout")["p50_us"]
        crit[f"{op} bytes on the wire"] = (
            df[df["operation"] == op]
            .set_index("layout")[["bytes_in_per_op", "bytes_out_per_op"]]
            .sum(axis=1)
        )
    table = pd.DataFrame(crit).T
    table["best"] = table.idxmin(axis=1)
    return table
