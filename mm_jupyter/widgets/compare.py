"""``Compare``: 2–5 versions (or executions) side by side, as ``queries.compare`` computes it for
every face — configs (differences highlighted), final metrics (the best in bold, none on a tie),
overlaid training curves, per-slice metrics of the evaluations and, for two evaluations on one test
set, the per-slice deltas with their intervals (or why there are none)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as w

from ..errors import MMError
from ..executions import FINISHED
from ..queries import compare as core
from ..queries.executions import of_versions
from .chart import MetricsChart
from .common import adapter_task, error_box, fmt_value, one_line, open_store
from .live import HUB
from .slices import HEADLINE, slice_metrics

TABLE = ("<table style='border-collapse:collapse;font-size:12px'>{head}{body}</table>")
CELL = "padding:3px 8px;border-bottom:1px solid #eee;text-align:left"
DIFF = "background:#fff3cd;font-weight:600"
NOTE = "color:#555;font-size:12px;font-style:italic"


def html_table(columns: list[str], rows: list[tuple[str, list[str], bool]]) -> str:
    """A small HTML table; a row flagged True is highlighted (values that differ)."""
    heads = "".join(f"<th style='{CELL}'>{html.escape(c)}</th>" for c in columns)
    head = f"<tr><th style='{CELL}'></th>{heads}</tr>"
    body = "".join(
        f"<tr style='{DIFF if flag else ''}'><td style='{CELL}'>{html.escape(name)}</td>"
        + "".join(f"<td style='{CELL}'>{cell}</td>" for cell in cells) + "</tr>"
        for name, cells, flag in rows)
    return TABLE.format(head=head, body=body)


def _cell(value: Any, best: bool) -> str:
    text = html.escape(fmt_value(value))
    return f"<b>{text}</b>" if best else text


def _interval(ci: Any) -> str:
    return f"[{fmt_value(ci[0])}, {fmt_value(ci[1])}]" if ci else "-"


class Compare(w.VBox):
    """2–5 versions or executions (``e-…``) side by side, from ``queries.compare``. ``slice_by`` picks
    the slice fields of evaluations whose results hold no slices (default: text metadata fields)."""

    poll_interval = 2.0

    def __init__(self, snapshot_ids: Sequence[str] | str, *, slice_by: str | Sequence[str] | None = None,
                 home: str | None = None, live: bool = True):
        super().__init__()
        self.error = ""
        self.slice_by = [slice_by] if isinstance(slice_by, str) else (list(slice_by) if slice_by else None)
        self.refs = [snapshot_ids] if isinstance(snapshot_ids, str) else list(snapshot_ids)
        self._signature: tuple = ()
        self._slices: dict[str, dict] = {}
        self.cols: list[core.Column] = []
        try:
            self.store = open_store(home)
            self.cols = core.columns(self.store, self.refs)
        except MMError as exc:
            self.error = one_line(exc)
            self.children = [error_box(self.error)]
            return
        self.notes_html, self.config_html, self.metrics_html = w.HTML(), w.HTML(), w.HTML()
        self.slices_html, self.deltas_html = w.HTML(), w.HTML()
        self.slice_metric = w.Dropdown(description="slice metric", layout=w.Layout(width="260px"))
        self.slice_metric.observe(lambda _c: self._draw_slices(), names="value")
        self.chart_box = w.VBox()
        self.chart: MetricsChart | None = None
        self.children = [self.notes_html, w.HTML("<h4>Configuration</h4>"), self.config_html,
                         w.HTML("<h4>Final metrics</h4>"), self.metrics_html,
                         w.HTML("<h4>Training curves</h4>"), self.chart_box,
                         w.HTML("<h4>Per-slice metrics</h4>"), self.slice_metric, self.slices_html,
                         w.HTML("<h4>Slice deltas</h4>"), self.deltas_html]
        self._draw_config()
        if self.poll() and live:
            HUB.add(self)

    @property
    def snapshots(self) -> list[dict]:
        return [c.version for c in self.cols]

    @property
    def columns(self) -> list[str]:
        return [c.label for c in self.cols]

    # -- sections --

    def config_rows(self) -> list[tuple[str, list[Any], bool]]:
        """``(field, values per column, differs)`` for every compared field (``queries.compare.config``)."""
        return [(r["key"], r["values"], r["differs"]) for r in core.config(self.store, self.cols)]

    def _draw_config(self) -> None:
        rows = [(r["key"], ["<i>absent</i>" if gone else html.escape(fmt_value(v))
                            for v, gone in zip(r["values"], r["absent"], strict=True)], r["differs"])
                for r in core.config(self.store, self.cols)]
        self.config_html.value = html_table(self.columns, rows)
        notes = core.compare_notes(self.cols)
        self.notes_html.value = "".join(f"<div style='{NOTE}'>{html.escape(n)}</div>" for n in notes)

    def final_metrics(self) -> dict[str, list[float | None]]:
        """``{metric: [last value per column]}``: training metrics, then ``evaluate/`` ones."""
        return {r["metric"]: r["values"] for r in core.final(self.store, self.cols)}

    def _draw_metrics(self) -> None:
        rows = [(r["metric"], [_cell(v, j == r["best"]) for j, v in enumerate(r["values"])], False)
                for r in core.final(self.store, self.cols)]
        self.metrics_html.value = html_table(self.columns, rows) if rows else "<i>no metrics yet</i>"

    def _draw_chart(self) -> None:
        runs = [c.train["id"] for c in self.cols if c.train is not None]
        if not runs or (self.chart is not None and list(self.chart.executions) == runs):
            return
        if self.chart is not None:
            self.chart.close()
        self.chart = MetricsChart(runs, home=str(self.store.home))
        self.chart_box.children = [self.chart]

    def _compute_slices(self) -> None:
        for c in self.cols:
            exe = c.evaluation
            if exe is None or exe["id"] in self._slices:
                continue
            task = adapter_task(c.model["adapter"])
            try:
                self._slices[exe["id"]] = {"values": slice_metrics(self.store, exe, task, self.slice_by)}
            except (MMError, ValueError, OSError) as exc:
                self._slices[exe["id"]] = {"values": {}, "error": one_line(exc)}
        keys = list(dict.fromkeys(k for s in self._slices.values() for v in s["values"].values() for k in v))
        tasks = {adapter_task(c.model["adapter"]) for c in self.cols}
        preferred = [k for t in tasks for k in HEADLINE.get(t or "", ()) if k in keys]
        options = list(dict.fromkeys(preferred + keys))
        if options != list(self.slice_metric.options):
            current = self.slice_metric.value
            self.slice_metric.options = options
            self.slice_metric.value = current if current in options else (options[0] if options else None)
        self._draw_slices()

    def slice_table(self) -> dict[str, list[float | None]]:
        """``{slice: [value of the chosen slice metric per column]}`` (the columns' evaluations)."""
        metric = self.slice_metric.value
        out: dict[str, list[float | None]] = {}
        for i, c in enumerate(self.cols):
            entry = self._slices.get(c.evaluation["id"]) if c.evaluation else None
            for name, values in (entry or {}).get("values", {}).items():
                out.setdefault(name, [None] * len(self.cols))[i] = values.get(metric)
        return out

    def _draw_slices(self) -> None:
        errors = [e["error"] for e in self._slices.values() if e.get("error")]
        table = self.slice_table()
        if not table:
            text = "; ".join(errors) or "no evaluation results yet"
            self.slices_html.value = f"<i>{html.escape(text)}</i>"
            self.slice_metric.layout.display = "none"
            return
        self.slice_metric.layout.display = None
        metric = self.slice_metric.value or ""
        rows = []
        for name, values in table.items():
            best = core.best_index(metric, values)
            rows.append((name, [_cell(v, j == best) for j, v in enumerate(values)], False))
        self.slices_html.value = html_table(self.columns, rows)

    def _draw_deltas(self) -> None:
        deltas, reason = core.slices(self.store, self.cols)
        if deltas is None:
            self.deltas_html.value = f"<i>{html.escape(reason or '')}</i>"
            return
        a, b = (self.columns[i] for i in deltas["columns"])
        metric = deltas["main_metric"] if deltas["main_metric"] in deltas["metrics"] else deltas["metrics"][0]
        head = [f"{metric}: {a}", f"{metric}: {b}", f"delta ({b} − {a})", "95% interval of the delta"]
        rows = []
        for r in [{"name": "whole test set", **deltas["whole"]}, *deltas["rows"]]:
            p = r["metrics"][metric]
            mark = " ⚑" if p["significant"] else ""
            rows.append((r["name"], [html.escape(fmt_value(p["values"][0])), html.escape(fmt_value(p["values"][1])),
                                     html.escape(fmt_value(p["delta"]) + mark), html.escape(_interval(p["delta_ci"]))],
                         False))
        self.deltas_html.value = html_table(head, rows)

    # -- live --

    def poll(self) -> bool:
        """Redraw everything when an execution of these versions changes (metrics while one runs)."""
        rows = of_versions(self.store, [c.version["id"] for c in self.cols])
        signature = tuple(rows)
        if signature != self._signature:
            self._signature = signature
            try:
                self.cols = core.columns(self.store, self.refs)  # a newer training or evaluation
            except MMError as exc:
                self.notes_html.value = f"<div style='{NOTE}'>{html.escape(one_line(exc))}</div>"
                return True
            self._draw_config()
            self._draw_metrics()
            self._draw_chart()
            self._compute_slices()
            self._draw_deltas()
        elif any(status not in FINISHED for _, status in rows):
            self._draw_metrics()
        return True

    def close(self) -> None:
        HUB.discard(self)
        if self.chart is not None:
            self.chart.close()
        super().close()
