"""A live dashboard in JupyterLab: start/stop sampling, chosen metrics, a plot, the alerts.

``dashboard(source)`` builds it and returns a :class:`Dashboard`; display
``dash.widget`` (or the Dashboard itself) in a cell. Its structure is stable, so a
browser test can find and drive it by CSS class:

=================================== =====================================================
``.redislab-dashboard``             the whole widget (a ``VBox``)
``.redislab-dashboard-toggle``      the start/stop ``ToggleButton`` ("Start" / "Stop")
``.redislab-dashboard-metrics``     the metric picker (``SelectMultiple``)
``.redislab-dashboard-status``      a one-line status (``HTML``): state, samples, errors
``.redislab-dashboard-plot``        the plot (an ``Image`` PNG, one panel per metric,
                                    one line per node)
``.redislab-dashboard-alerts``      the alert table (``HTML``; a ``<table>`` or "no alerts")
=================================== =====================================================

While running, a refresher thread redraws every ``refresh`` seconds; everything it
touches is a widget *value* (PNG bytes, HTML text), which Jupyter syncs from any
thread. Under nbval (no browser) call :meth:`Dashboard.render` once: one static frame.
A node that dies shows as a gap in its line and a ``NodeDown`` alert.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from typing import Any

from .alerts import AlertRule, default_rules, evaluate
from .sampler import Sampler

__all__ = ["DEFAULT_METRICS", "Dashboard", "dashboard"]

DEFAULT_METRICS: tuple[str, ...] = (
    "ops_per_sec",
    "redis_memory_used_bytes",
    "redis_connected_clients",
    "hit_ratio",
)

CHOICES: tuple[str, ...] = (
    "ops_per_sec",
    "redis_memory_used_bytes",
    "memory_used_ratio",
    "hit_ratio",
    "evictions_per_sec",
    "redis_connected_clients",
    "redis_blocked_clients",
    "rejected_connections_per_sec",
    "redis_connected_slave_lag_seconds",
    "replication_lag_bytes",
    "redis_db_keys",
    "redis_mem_fragmentation_ratio",
    "slow_commands_per_sec",
    "redis_up",
)


class Dashboard:
    """The live dashboard over a :class:`Sampler` (built by :func:`dashboard`)."""

    def __init__(
        self,
        sampler: Sampler,
        *,
        metrics: Sequence[str] = DEFAULT_METRICS,
        rules: Sequence[AlertRule] | None = None,
        refresh: float = 1.0,
        window_s: float = 60.0,
    ) -> None:
        import ipywidgets as W

        self.sampler = sampler
        self.rules = list(rules) if rules is not None else default_rules()
        self.refresh = refresh
        self.window_s = window_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._render_lock = threading.Lock()
        options = list(dict.fromkeys([*CHOICES, *metrics]))
        self.toggle = W.ToggleButton(
            value=False, description="Start", icon="play", tooltip="start / stop sampling"
        )
        self.toggle.add_class("redislab-dashboard-toggle")
        self.metrics = W.SelectMultiple(
            options=options, value=tuple(metrics), rows=6, description="metrics"
        )
        self.metrics.add_class("redislab-dashboard-metrics")
        self.status = W.HTML(value="stopped")
        self.status.add_class("redislab-dashboard-status")
        self.plot = W.Image(format="png")
        self.plot.add_class("redislab-dashboard-plot")
        self.alerts = W.HTML(value="<i>no alerts</i>")
        self.alerts.add_class("redislab-dashboard-alerts")
        self.widget = W.VBox(
            [W.HBox([self.toggle, self.metrics, self.status]), self.plot, self.alerts]
        )
        self.widget.add_class("redislab-dashboard")
        self.toggle.observe(self._on_toggle, names="value")
        self.metrics.observe(lambda _: self.render(), names="value")
        self.frames_rendered = 0

    # ------------------------------------------------------------- controls
    def _on_toggle(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self.start()
        else:
            self.stop()

    def start(self) -> Dashboard:
        """Start the sampler and the refresher (what the Start button does)."""
        self.sampler.start()
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="redislab-dashboard", daemon=True
            )
            self._thread.start()
        self._set_toggle(True)
        return self

    def stop(self) -> Dashboard:
        """Stop the refresher and the sampler, then draw a last frame (the Stop button)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.refresh + 5.0)
        self.sampler.stop()
        self._set_toggle(False)
        self.render()
        return self

    def _set_toggle(self, on: bool) -> None:
        self.toggle.unobserve(self._on_toggle, names="value")
        self.toggle.value = on
        self.toggle.description = "Stop" if on else "Start"
        self.toggle.icon = "stop" if on else "play"
        self.toggle.observe(self._on_toggle, names="value")

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh):
            try:
                self.render()
            except Exception as exc:  # keep refreshing; say what went wrong
                self.status.value = f"render failed: {type(exc).__name__}: {exc}"

    # -------------------------------------------------------------- drawing
    def render(self) -> Dashboard:
        """Draw one frame now: the plot, the alert table and the status line."""
        with self._render_lock:
            frame = self.sampler.frame()
            self.plot.value = self._png(frame)
            alerts = evaluate(frame, self.rules) if not frame.empty else None
            if alerts is None or alerts.empty:
                self.alerts.value = "<i>no alerts</i>"
            else:
                cols = ["rule", "node", "severity", "state", "fired_at_s", "resolved_at_s"]
                self.alerts.value = alerts[cols].round(2).to_html(index=False, na_rep="")
            state = "running" if self.sampler.running else "stopped"
            self.status.value = (
                f"<b>{state}</b> · {len(frame)} samples · {len(self.sampler.nodes)} node(s)"
                f" · {self.sampler.errors} failed scrapes"
            )
            self.frames_rendered += 1
        return self

    def _png(self, frame: Any) -> bytes:
        from matplotlib.figure import Figure

        metrics = list(self.metrics.value) or list(DEFAULT_METRICS)
        fig = Figure(figsize=(9, 1.8 * len(metrics)), dpi=80)
        axes = fig.subplots(len(metrics), 1, sharex=True, squeeze=False)[:, 0]
        if not frame.empty:
            recent = frame[frame["elapsed_s"] >= frame["elapsed_s"].max() - self.window_s]
            for ax, metric in zip(axes, metrics, strict=True):
                if metric in recent:
                    for node, part in recent.groupby("node", sort=False):
                        ax.plot(part["elapsed_s"], part[metric], label=str(node), lw=1)
                ax.set_ylabel(metric, fontsize=7)
                ax.tick_params(labelsize=7)
            axes[0].legend(fontsize=7, loc="upper left", ncols=4)
        axes[-1].set_xlabel("seconds")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def dashboard(
    source: Sampler | Any,
    *,
    interval: float = 0.2,
    metrics: Sequence[str] = DEFAULT_METRICS,
    rules: Sequence[AlertRule] | None = None,
    refresh: float = 1.0,
) -> Dashboard:
    """Build a live dashboard over ``source`` (a :class:`Sampler`, or anything it samples).

    Returns the :class:`Dashboard` (not started): display it, click Start (or call
    :meth:`Dashboard.start`), Stop (or :meth:`Dashboard.stop`). ``dash.widget`` is the
    ipywidgets ``VBox``; its parts carry the CSS classes listed in the module docs.
    """
    sampler = source if isinstance(source, Sampler) else Sampler(source, interval=interval)
    return Dashboard(sampler, metrics=metrics, rules=rules, refresh=refresh)
