"""Geo: seeded points, ``GEODIST`` / ``GEOSEARCH`` checked against a haversine in numpy."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..types import Connection

EARTH_RADIUS_M = 6372797.560856  # the sphere Redis measures on (src/geohash_helper.c)


def haversine_m(
    lon1: Any, lat1: Any, lon2: Any, lat2: Any, *, radius_m: float = EARTH_RADIUS_M
) -> np.ndarray:
    """Great-circle distance in metres on a sphere (vectorised)."""
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(v, dtype=float)) for v in (lon1, lat1, lon2, lat2)
    )
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * radius_m * np.arcsin(np.sqrt(a))


def random_points(
    n: int, *, center: tuple[float, float], spread_km: float, seed: int
) -> pd.DataFrame:
    """``n`` seeded points (member, lon, lat) scattered around ``center`` (lon, lat)."""
    rng = np.random.default_rng(seed)
    dlat = spread_km / 111.0
    dlon = dlat / math.cos(math.radians(center[1]))
    return pd.DataFrame(
        {"member": [f"place:{i}" for i in range(n)],
         "lon": center[0] + rng.uniform(-dlon, dlon, n),
         "lat": center[1] + rng.uniform(-dlat, dlat, n)}
    )  # fmt: skip


def geo_load(
    connection: Connection, key_: str, points: pd.DataFrame, *, pipeline: Any = None
) -> None:
    """``GEOADD`` every point, 500 per command."""
    target = pipeline if pipeline is not None else connection.pipeline(transaction=False)
    for start in range(0, len(points), 500):
        part = points.iloc[start : start + 500]
        flat: list[Any] = []
        for m, lon, lat in zip(part["member"], part["lon"], part["lat"], strict=True):
            flat += [lon, lat, m]
        target.geoadd(key_, flat)
    if pipeline is None:
        target.execute()


def geo_distance_check(
    connection: Connection, key_: str, points: pd.DataFrame, origin: str
) -> pd.DataFrame:
    """``GEODIST origin m`` for every member vs haversine on the coordinates we stored."""
    o = points.set_index("member").loc[origin]
    pipe = connection.pipeline(transaction=False)
    for m in points["member"]:
        pipe.geodist(key_, origin, m, unit="m")
    redis_m = np.array(pipe.execute(), dtype=float)
    hav = haversine_m(o["lon"], o["lat"], points["lon"], points["lat"])
    return pd.DataFrame(
        {"member": points["member"], "redis_m": redis_m, "haversine_m": hav,
         "abs_diff_m": np.abs(redis_m - hav)}
    )  # fmt: skip


def geo_radius_check(
    connection: Connection,
    key_: str,
    points: pd.DataFrame,
    center: tuple[float, float],
    radius_m: float,
) -> dict[str, Any]:
    """``GEOSEARCH FROMLONLAT BYRADIUS`` vs a haversine filter; disagreements and their margin.

    ``margin_m`` is how far each disagreeing point lies from the circle's edge.
    """
    got = set(connection.geosearch(key_, longitude=center[0], latitude=center[1],
                                   radius=radius_m, unit="m"))  # fmt: skip
    d = haversine_m(center[0], center[1], points["lon"], points["lat"])
    want = set(points["member"][d <= radius_m])
    diff = got ^ want
    margin = np.abs(d[points["member"].isin(diff).to_numpy()] - radius_m)
    return {"redis": len(got), "python": len(want), "disagree": len(diff),
            "max_margin_m": float(margin.max()) if len(margin) else 0.0}  # fmt: skip


def geo_box_check(
    connection: Connection,
    key_: str,
    points: pd.DataFrame,
    center: tuple[float, float],
    width_m: float,
    height_m: float,
) -> dict[str, Any]:
    """``GEOSEARCH BYBOX`` vs Python: |north-south distance| <= h/2 and east-west <= w/2.

    The east-west distance is measured along the point's own latitude, as Redis does.
    """
    got = set(connection.geosearch(key_, longitude=center[0], latitude=center[1],
                                   width=width_m, height=height_m, unit="m"))  # fmt: skip
    lon, lat = points["lon"].to_numpy(), points["lat"].to_numpy()
    ns = haversine_m(center[0], center[1], center[0], lat)
    ew = haversine_m(center[0], lat, lon, lat)
    inside = (ns <= height_m / 2) & (ew <= width_m / 2)
    want = set(points["member"][inside])
    diff = got ^ want
    mask = points["member"].isin(diff).to_numpy()
    margin = np.minimum(np.abs(ns[mask] - height_m / 2), np.abs(ew[mask] - width_m / 2))
    return {"redis": len(got), "python": len(want), "disagree": len(diff),
            "max_margin_m": float(margin.max()) if len(margin) else 0.0}  # fmt: skip
