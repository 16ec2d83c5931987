"""The service through a Sentinel failover: the primary SIGKILLed under load.

:func:`failover_run` / :func:`failover` drive the load on the Sentinel lab while the
primary is killed, with the fault, the promotion Sentinel announced and the moment the
service read Redis again on one :class:`~redislab.kit.Timeline`; :func:`plot_failover`.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ...kit.loads import sync_replicas
from ...kit.measure import progress
from ...kit.timeline import Timeline, no_retry, wait_for
from ...replication import (
    sentinel_epoch,
    sentinel_primary,
    single_failover,
    wait_sentinel_new_primary,
)
from .catalogue import (
    CatalogueDatabase,
    CatalogueService,
    request_mix,
)
from .load import (
    LoadResult,
    ServiceLoad,
)

__all__ = [
    "ServiceFailover",
    "failover",
    "failover_run",
    "plot_failover",
]


@dataclass
class ServiceFailover:
    """The service's view of a Sentinel failover (see :func:`failover_run`)."""

    load: LoadResult
    old_primary: str
    """``host:port`` Sentinel named before the kill."""
    new_primary: str
    """``host:port`` a majority of Sentinels named after it."""
    served_port: int
    """Port of the server the service's client talks to after the run (``INFO server``)."""
    served_role: str
    """``ROLE`` of that server."""
    keys_before: int
    """Keys on the old primary just before the kill (``DBSIZE``)."""
    keys_promoted: int
    """Keys on the promoted replica when Sentinel named it."""
    stale_products: int
    """Products the service answered with an older version than the database's, after."""
    untouched_hits: int
    """Hits of the user cache from the kill to the end: entries no write of the run touches."""
    untouched_misses: int
    """Misses of the user cache from the kill to the end (a cold promoted replica: one per
    user read; the replicated cache: none). Reads its breaker sent to the database are
    fallbacks, in neither count."""
    down_after_s: float
    failover_timeout_s: float
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def events(self) -> dict[str, float]:
        """``fault``, ``promoted``, ``cache back`` (seconds on the run's timeline)."""
        return self.load.events

    def phases(self, *, settle: float = 0.1) -> pd.DataFrame:
        """:meth:`LoadResult.window` before the kill, during the outage, and after.

        The outage is from the kill to ``cache back`` (the first read Redis answered
        again); "after" starts ``settle`` seconds later.
        """
        ev = self.events
        rows = {
            "before": self.load.window(None, ev["fault"]),
            "outage": self.load.window(ev["fault"], ev["cache back"]),
            "after": self.load.window(ev["cache back"] + settle, None),
        }
        return pd.DataFrame(rows).T

    def outage_s(self) -> float:
        """Seconds from the kill until the service read from Redis again."""
        return self.events["cache back"] - self.events["fault"]


def _cache_back(result: LoadResult, since: float, *, settle: float = 0.05) -> float | None:
    """The first sample time after ``since`` at which the hit counter rose again.

    The baseline is the counter ``settle`` seconds after ``since``: a request whose GET
    was answered just before the kill may count its hit a moment after it.
    """
    s = result.samples
    base = s[s["t"] >= since + settle]
    if base.empty:
        return None
    rose = base[base["hits"] > base["hits"].iloc[0]]
    return None if rose.empty else float(rose["t"].iloc[0])


def failover_run(
    lab: Any,
    *,
    db: CatalogueDatabase,
    rate: float = 400.0,
    workers: int = 4,
    before: float = 1.0,
    after: float = 1.5,
    ttl: float = 300.0,
    cooldown: float = 0.25,
    client_timeout: float = 0.1,
    seed: int = 42,
    timeout: float = 20.0,
    show_progress: bool = True,
) -> ServiceFailover:
    """SIGKILL the primary of a Sentinel lab while the cached service takes requests.

    The service's client comes from ``Sentinel.master_for`` with a short socket
    timeout (``client_timeout``) and no retries, so a dead primary costs one quick
    error, then ``cooldown`` seconds served from the database. The cache is warmed and
    replicated (``WAIT``) first. Events on the timeline: ``fault`` (the kill),
    ``promoted`` (a majority of Sentinels name another primary), ``cache back`` (the
    first read Redis answered after the kill, from the sampled hit counter).

    ``details["failovers"]`` is the rise of the Sentinels' config epoch: one per
    failover (:func:`failover` repeats a run that caused two).
    """
    sentinel = lab.sentinel_client(socket_timeout=0.2)
    client = sentinel.master_for(
        lab.master_name,
        socket_timeout=client_timeout,
        socket_connect_timeout=client_timeout,
        retry=no_retry(),
        decode_responses=True,
    )
    sentinels = [s.client(socket_timeout=0.5) for s in lab.sentinels if s.alive]
    try:
        with lab.sentinels[0].client() as s0:
            m = s0.sentinel_master(lab.master_name)
        service = CatalogueService(db, client, ttl=ttl, cooldown=cooldown, seed=seed)
        service.warm(show_progress=show_progress)
        users = service.users.stats if service.users is not None else None
        old = lab.primary
        old_addr = sentinel_primary(sentinels[0], lab.master_name)
        control = old.client()
        sync_replicas(control)
        epoch = sentinel_epoch(lab)
        n = int(rate * (before + timeout + after + 5))
        requests = request_mix(
            n,
            n_products=db.count(),
            n_users=db.user_count(),
            n_categories=db.n_categories,
            seed=seed,
        )
        timeline = Timeline()
        load = ServiceLoad(service, requests, rate=rate, workers=workers, timeline=timeline)
        bar = progress(total=4, desc="failover", enabled=show_progress)
        load.start()
        try:
            time.sleep(before)
            keys_before = int(control.dbsize())
            control.close()
            users0 = (users.hits, users.misses) if users is not None else (0, 0)
            old.kill()
            t_fault = timeline.mark("fault")
            bar.update(1)
            new_addr = wait_sentinel_new_primary(
                sentinels, lab.master_name, old_addr, timeout=timeout
            )
            timeline.mark("promoted")
            bar.update(1)
            new_node = next(nd for nd in lab.data_nodes if nd.address == new_addr)
            with new_node.client() as nc:
                keys_promoted = int(nc.dbsize())
            hits = service.counters()["hits"]
            wait_for(
                lambda: service.counters()["hits"] > hits,
                timeout=timeout,
                what="the service reading Redis again",
            )
            bar.update(1)
            time.sleep(after)
        finally:
            result = load.stop()
        users1 = (users.hits, users.misses) if users is not None else (0, 0)
        back = _cache_back(result, t_fault)
        result.events["cache back"] = back if back is not None else math.nan
        bar.update(1)
        bar.close()
        served_port = int(client.info("server")["tcp_port"])
        served_role = str(client.execute_command("ROLE")[0])
        versions = db.versions()
        stale = 0
        for pid, version in versions.items():
            row = service.get_product(pid)
            stale += row is None or int(row["version"]) < version
        return ServiceFailover(
            load=result,
            old_primary=old_addr or old.address,
            new_primary=new_addr,
            served_port=served_port,
            served_role=served_role,
            keys_before=keys_before,
            keys_promoted=keys_promoted,
            stale_products=stale,
            untouched_hits=users1[0] - users0[0],
            untouched_misses=users1[1] - users0[1],
            down_after_s=int(m["down-after-milliseconds"]) / 1000,
            failover_timeout_s=int(m["failover-timeout"]) / 1000,
            details={
                "failovers": sentinel_epoch(lab) - epoch,
                "engine": lab.server.label,
                "old_node": old.name,
                "new_node": new_node.name,
                "pending_invalidations": service.pending_invalidations(),
                "counters": service.counters(),
            },
        )
    finally:
        for c in (client, *sentinels):
            with contextlib.suppress(Exception):
                c.close()


def failover(lab: Any, *, db: CatalogueDatabase, attempts: int = 3, **kwargs: Any) -> Any:
    """:func:`failover_run`, repeated on a fresh lab like ``lab`` if it caused two failovers.

    (With the lab's 1 s ``down-after-milliseconds`` a second failover can follow the
    first: see :mod:`redislab.replication`'s Sentinel notes.) Returns a
    :class:`ServiceFailover`; ``details["attempts"]`` says how many runs it took.
    """
    return single_failover(failover_run, lab, attempts=attempts, db=db, **kwargs)


def plot_failover(run: ServiceFailover, *, width: float = 0.1, title: str | None = None) -> Any:
    """One figure, four panels over time: latency, errors, DB load, hit ratio, with events."""
    import matplotlib.pyplot as plt

    iv = run.load.intervals(width)
    t = iv.index.to_numpy()
    fig, axes = plt.subplots(4, 1, figsize=(9, 8), sharex=True)
    ax = axes[0]
    ax.plot(t, iv["p50_ms"], label="p50")
    ax.plot(t, iv["p99_ms"], label="p99")
    ax.set_yscale("log")
    ax.set_ylabel("latency ms")
    ax.legend(loc="upper right")
    ax = axes[1]
    ax.bar(t, iv["requests"], width=width, align="edge", alpha=0.4, label="requests")
    ax.bar(t, iv["errors"], width=width, align="edge", color="red", label="errors")
    ax.set_ylabel(f"per {width:g} s")
    ax.legend(loc="upper right")
    axes[2].plot(t, iv["db_per_request"], color="tab:brown")
    axes[2].set_ylabel("DB queries\nper request")
    axes[3].plot(t, iv["hit_ratio"], color="tab:green")
    axes[3].set_ylabel("reads Redis\nanswered")
    axes[3].set_ylim(-0.05, 1.05)
    axes[3].set_xlabel("seconds")
    styles = {
        "fault": ("red", "-", "primary killed"),
        "promoted": ("black", "--", "Sentinel promoted"),
        "cache back": ("tab:green", ":", "Redis again"),
    }
    for name, (color, ls, label) in styles.items():
        x = run.events.get(name)
        if x is None or math.isnan(x):
            continue
        for a in axes:
            a.axvline(x, color=color, ls=ls, lw=1, label=label if a is axes[3] else None)
    axes[3].legend(loc="lower left", fontsize=8)
    errors = int(iv["errors"].sum())
    axes[1].set_title(f"errors users saw: {errors}", fontsize=9, loc="left")
    fig.suptitle(title or f"The service through a Sentinel failover ({run.details.get('engine')})")
    fig.tight_layout()
    return fig
