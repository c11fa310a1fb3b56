"""``MetricsChart``: bqplot line charts of executions' metrics, updating live while they run."""

from __future__ import annotations

import html
from collections.abc import Sequence

import bqplot as bq
import ipywidgets as w
import numpy as np

from ..downsample import MAX_POINTS, downsample
from ..errors import InvalidInput, MMError, NotFound
from ..executions import FINISHED, Kind
from ..queries.executions import latest, statuses
from ..store import Store
from .common import adapter_task, error_box, inline_error, one_line, open_store
from .live import HUB
from .series import READ_BATCH, X_AXES, ExecutionSeries

DEFAULT_PANELS = {
    "detect": ("box_loss", "cls_loss", "dfl_loss", "precision", "recall", "mAP50", "mAP50-95"),
    "classify": ("loss", "accuracy"),
}
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
          "#bcbd22", "#17becf")
MARKER_BELOW = 40  # lines with fewer points also draw their points


def resolve_executions(store: Store, refs: str | Sequence[str]) -> list[dict]:
    """Execution rows for ids/names of executions or snapshots (a snapshot: its latest training)."""
    refs = [refs] if isinstance(refs, str) else list(refs)
    if not refs:
        raise InvalidInput("give at least one execution or snapshot id")
    out: dict[str, dict] = {}
    for ref in refs:
        exe = _execution(store, ref)
        out[exe["id"]] = exe
    return list(out.values())


def _execution(store: Store, ref: str) -> dict:
    try:
        return store.get("executions", ref)
    except NotFound:
        pass
    try:
        snap = store.get("snapshots", ref)
    except NotFound:
        raise NotFound(f"unknown execution or snapshot {ref!r}") from None
    run = latest(store, snap["id"], Kind.TRAIN)
    if run is None:
        raise InvalidInput(f"snapshot {snap['id']} ({snap['name']}) has no training execution yet")
    return run


def y_tick_format(lo: float, hi: float, ticks: int = 20) -> str:
    """A d3 format for y ticks between ``lo`` and ``hi`` with enough significant digits that
    neighbouring ticks never print the same label, for up to ``ticks`` ticks at 1/2/5 steps (bqplot
    picks the count from the figure's size; ``~`` drops the digits a tick does not need)."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return ".3~g"
    step = nice_step(lo, hi, ticks)
    magnitude = np.floor(np.log10(max(abs(lo), abs(hi), step)))
    digits = int(magnitude - np.floor(np.log10(step))) + 2
    return f".{min(max(digits, 2), 15)}~g"


def integer_ticks(lo: float, hi: float, ticks: int = 8) -> np.ndarray | None:
    """Whole-number tick values over ``[lo, hi]`` (steps and epochs count whole things), about
    ``ticks`` of them; None when the range is not finite."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    step = max(1, int(np.ceil(nice_step(lo, hi, ticks)))) if hi > lo else 1
    return np.arange(np.floor(lo / step) * step, hi + step, step)


def nice_step(lo: float, hi: float, ticks: int = 5) -> float:
    """The 1/2/5 × 10^k tick step d3 picks for about ``ticks`` ticks over ``[lo, hi]``."""
    raw = (hi - lo) / max(ticks, 1)
    power = 10.0 ** np.floor(np.log10(raw))
    error = raw / power
    return float(power * (10 if error >= 7.07 else 5 if error >= 3.16 else 2 if error >= 1.41 else 1))


def label(exe: dict) -> str:
    return f"{exe['name'].removeprefix('train ')} ({exe['id']})"


def legend_html(executions: list[dict]) -> str:
    """One colour swatch and label per execution (the same colours in every panel)."""
    return " ".join(
        f'<span style="margin-right:12px;font-size:12px;white-space:nowrap"><span style="display:inline-block;'
        f'width:16px;height:3px;vertical-align:middle;background:{COLORS[i % len(COLORS)]}"></span> '
        f"{html.escape(label(exe))}</span>" for i, exe in enumerate(executions))


class Panel:
    """One bqplot figure (one metric) with one line per execution."""

    def __init__(self, metric: str, executions: list[dict], x: str):
        self.metric = metric
        self.sx, self.sy = bq.LinearScale(), bq.LinearScale()
        self.lines: dict[str, bq.Lines] = {}
        for i, exe in enumerate(executions):
            self.lines[exe["id"]] = bq.Lines(
                x=np.empty(0), y=np.empty(0), scales={"x": self.sx, "y": self.sy},
                colors=[COLORS[i % len(COLORS)]], labels=[label(exe)], stroke_width=2, marker_size=16,
            )
        self.x_axis = bq.Axis(scale=self.sx, label=X_AXES[x], grid_lines="dashed")
        self.y_axis = bq.Axis(scale=self.sy, side="left", tick_format=".3~g", grid_lines="dashed")
        self.figure = bq.Figure(
            marks=list(self.lines.values()), axes=[self.x_axis, self.y_axis], title=metric,
            animation_duration=0,
            fig_margin={"top": 40, "bottom": 40, "left": 55, "right": 15},
            layout=w.Layout(height="260px", width="auto", min_width="260px"),
        )

    def _range(self, axis: str) -> tuple[float, float] | None:
        """The smallest and largest finite ``x`` or ``y`` over every line; None when there is none."""
        values = [np.asarray(getattr(line, axis), dtype=np.float64) for line in self.lines.values()]
        finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.empty(0)
        return (float(finite.min()), float(finite.max())) if finite.size else None

    def fit_x(self, x: str) -> None:
        """Whole-number ticks on a step or epoch axis; the scale's own ticks for time."""
        span = None if x == "time" else self._range("x")
        if span is None:
            self.x_axis.tick_values = None
            self.x_axis.tick_format = None
            return
        self.x_axis.tick_values = integer_ticks(*span)
        self.x_axis.tick_format = "d"

    def fit_y(self) -> None:
        """Tick labels with the digits the lines' range needs; a flat line gets a small range around it."""
        span = self._range("y")
        if span is None:
            return
        lo, hi = span
        pad = max(abs(lo) * 0.05, 1e-3) if hi <= lo else None
        with self.sy.hold_sync():
            self.sy.min, self.sy.max = (lo - pad, hi + pad) if pad else (None, None)
        self.y_axis.tick_format = y_tick_format(lo - pad, hi + pad) if pad else y_tick_format(lo, hi)


class MetricsChart(w.VBox):
    """Line charts of metrics (one per metric, one line per execution), live while training.

    ``MetricsChart(ids, metrics=None, x="step")``: ``ids`` are execution or snapshot ids (a snapshot
    stands for its latest training). ``metrics`` defaults to the task's panels (detection: losses,
    precision, recall, mAP50, mAP50-95; classification: loss, accuracy; else every metric seen).
    ``x`` is ``step``, ``epoch`` or ``time`` (seconds since the execution's first point). New points
    are read from the store (``id > last seen``) at most twice a second, each line keeps at most
    ``max_points`` points (min/max buckets), and polling stops once every execution has ended.
    """

    poll_interval = 0.5

    def __init__(self, execution_or_snapshot_ids: str | Sequence[str], metrics: Sequence[str] | None = None,
                 *, x: str = "step", max_points: int = MAX_POINTS, columns: int = 2,
                 home: str | None = None, live: bool = True):
        super().__init__()
        self.error = ""
        self.live = False
        self.max_points = max_points
        self.panels: dict[str, Panel] = {}
        self.series: dict[str, ExecutionSeries] = {}
        self._done: set[str] = set()
        try:
            if x not in X_AXES:
                raise InvalidInput(f"x must be one of {', '.join(X_AXES)}, got {x!r}")
            self.store = open_store(home)
            self.executions = {e["id"]: e for e in resolve_executions(self.store, execution_or_snapshot_ids)}
        except MMError as exc:
            self.error = one_line(exc)
            self.children = [error_box(self.error)]
            return
        self._dynamic = metrics is None and not self._default_metrics()
        names = list(metrics) if metrics is not None else list(self._default_metrics())
        self.series = {eid: ExecutionSeries(self.store, eid) for eid in self.executions}
        self.x_select = w.Dropdown(options=[("step", "step"), ("epoch", "epoch"), ("wall time", "time")],
                                   value=x, description="x axis", layout=w.Layout(width="200px"))
        self.status = w.HTML()
        self.grid = w.GridBox(layout=w.Layout(grid_template_columns=f"repeat({columns}, minmax(0, 1fr))",
                                              width="100%"))
        for name in names:
            self._add_panel(name)
        self.x_select.observe(lambda _change: self.redraw(), names="value")
        self.legend = w.HTML(legend_html(list(self.executions.values())))
        self.children = [w.HBox([self.x_select, self.status], layout=w.Layout(align_items="center")),
                         self.legend, self.grid]
        self.live = self.poll()
        if live and self.live:
            HUB.add(self)

    # -- reading and drawing --

    def _default_metrics(self) -> tuple[str, ...]:
        tasks = []
        for exe in self.executions.values():
            model = self.store.first("models", id=exe["model_id"])
            task = adapter_task(model["adapter"]) if model else None
            if task not in tasks:
                tasks.append(task)
        names = [m for t in tasks for m in DEFAULT_PANELS.get(t, ())]
        return tuple(dict.fromkeys(names)) if None not in tasks else ()

    def _add_panel(self, name: str) -> Panel:
        panel = self.panels[name] = Panel(name, list(self.executions.values()), self.x_select.value)
        self.grid.children = [*self.grid.children, panel.figure]
        return panel

    def poll(self) -> bool:
        """Read new points and status changes; redraw the lines that grew. False once all ended."""
        try:
            return self._poll()
        except Exception as exc:  # shown in the chart; the next poll tries again
            self.status.value = inline_error(f"cannot read the store: {one_line(exc)}")
            return True

    def _poll(self) -> bool:
        pending = [eid for eid in self.series if eid not in self._done]
        if not pending:
            return False
        state = statuses(self.store, pending)
        for eid in pending:
            before = self.series[eid].last_id
            grown = self.series[eid].read()
            for name in grown:
                if name not in self.panels and self._dynamic:
                    self._add_panel(name)
                if name in self.panels:
                    self._draw(name, eid)
            status = state.get(eid, "removed")
            self.executions[eid]["status"] = status
            full_batch = self.series[eid].last_id - before >= READ_BATCH
            if (status in FINISHED or status == "removed") and not full_batch:
                self._done.add(eid)
        self.live = len(self._done) < len(self.series)
        self._show_status()
        return self.live

    def _draw(self, name: str, eid: str) -> None:
        xs, ys = downsample(*self.series[eid].xy(name, self.x_select.value), self.max_points)
        mark = self.panels[name].lines[eid]
        with mark.hold_sync():
            mark.x, mark.y = xs, ys
            mark.marker = "circle" if len(xs) < MARKER_BELOW else None
        self.panels[name].fit_x(self.x_select.value)
        self.panels[name].fit_y()

    def redraw(self) -> None:
        """Redraw every line (after a change of the x axis)."""
        for panel in self.panels.values():
            panel.x_axis.label = X_AXES[self.x_select.value]
            for eid in panel.lines:
                self._draw(panel.metric, eid)

    def _show_status(self) -> None:
        points = sum(c.size for s in self.series.values() for c in s.columns.values())
        state = "● live" if self.live else "ended"
        color = "#2e7d32" if self.live else "#666"
        runs = ", ".join(f"{html.escape(e['id'])}: {html.escape(e['status'])}" for e in self.executions.values())
        self.status.value = (f'<span style="color:{color};font-size:12px">{state} · {points:,} points · '
                             f"{runs}</span>")

    # -- for tests and scripts --

    def data(self, metric: str, execution_id: str) -> tuple[np.ndarray, np.ndarray]:
        """The (downsampled) x and y of one line as the chart's model holds them."""
        mark = self.panels[metric].lines[execution_id]
        return np.asarray(mark.x, dtype=np.float64), np.asarray(mark.y, dtype=np.float64)

    def close(self) -> None:
        HUB.discard(self)
        for panel in self.panels.values():
            panel.figure.close()
        super().close()
