"""``Compare``: snapshots side by side — configs (differences highlighted), final metrics, overlaid
training curves and, when evaluations exist, per-slice metrics."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as w

from ..errors import InvalidInput, MMError
from ..executions import FINISHED
from ..queries.executions import last_values, latest, of_versions
from .chart import MetricsChart
from .common import adapter_task, error_box, fmt_value, one_line, open_store
from .live import HUB
from .slices import HEADLINE, slice_metrics

TABLE = ("<table style='border-collapse:collapse;font-size:12px'>{head}{body}</table>")
CELL = "padding:3px 8px;border-bottom:1px solid #eee;text-align:left"
DIFF = "background:#fff3cd;font-weight:600"


def html_table(columns: list[str], rows: list[tuple[str, list[str], bool]]) -> str:
    """A small HTML table; a row flagged True is highlighted (values that differ)."""
    heads = "".join(f"<th style='{CELL}'>{html.escape(c)}</th>" for c in columns)
    head = f"<tr><th style='{CELL}'></th>{heads}</tr>"
    body = "".join(
        f"<tr style='{DIFF if flag else ''}'><td style='{CELL}'>{html.escape(name)}</td>"
        + "".join(f"<td style='{CELL}'>{cell}</td>" for cell in cells) + "</tr>"
        for name, cells, flag in rows)
    return TABLE.format(head=head, body=body)


def _best(name: str, values: list[float | None]) -> int | None:
    """The index of the best value (lowest for losses, else highest); None when fewer than two
    values or when the best is tied (equal as shown: no column wins a tie)."""
    nums = [(v, i) for i, v in enumerate(values) if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(nums) < 2:
        return None
    lower = "loss" in name.lower()
    value, index = min(nums) if lower else max(nums)
    shown = fmt_value(value)
    return None if sum(fmt_value(v) == shown for v, _ in nums) > 1 else index


def _cell(value: Any, best: bool) -> str:
    text = html.escape(fmt_value(value))
    return f"<b>{text}</b>" if best else text


class Compare(w.VBox):
    """Snapshots side by side. ``slice_by`` picks the slice fields (default: text metadata fields)."""

    poll_interval = 2.0

    def __init__(self, snapshot_ids: Sequence[str], *, slice_by: str | Sequence[str] | None = None,
                 home: str | None = None, live: bool = True):
        super().__init__()
        self.error = ""
        self.slice_by = [slice_by] if isinstance(slice_by, str) else (list(slice_by) if slice_by else None)
        self._signature: tuple = ()
        self._slices: dict[str, dict] = {}
        try:
            self.store = open_store(home)
            ids = [snapshot_ids] if isinstance(snapshot_ids, str) else list(snapshot_ids)
            if not ids:
                raise InvalidInput("give at least one snapshot id")
            self.snapshots = [self.store.get("snapshots", s) for s in ids]
        except MMError as exc:
            self.error = one_line(exc)
            self.children = [error_box(self.error)]
            return
        self.models = {m["id"]: m for m in (self.store.get("models", s["model_id"]) for s in self.snapshots)}
        self.config_html, self.metrics_html, self.slices_html = w.HTML(), w.HTML(), w.HTML()
        self.slice_metric = w.Dropdown(description="slice metric", layout=w.Layout(width="260px"))
        self.slice_metric.observe(lambda _c: self._draw_slices(), names="value")
        self.chart_box = w.VBox()
        self.chart: MetricsChart | None = None
        self.children = [w.HTML("<h4>Configuration</h4>"), self.config_html,
                         w.HTML("<h4>Final metrics</h4>"), self.metrics_html,
                         w.HTML("<h4>Training curves</h4>"), self.chart_box,
                         w.HTML("<h4>Per-slice metrics</h4>"), self.slice_metric, self.slices_html]
        self._draw_config()
        if self.poll() and live:
            HUB.add(self)

    @property
    def columns(self) -> list[str]:
        return [f"{s['name']} ({s['id']})" for s in self.snapshots]

    # -- sections --

    def config_rows(self) -> list[tuple[str, list[Any], bool]]:
        """``(field, values per snapshot, differs)`` for the snapshots' settings and config keys."""
        snaps = [self.store.get("snapshots", s["id"]) for s in self.snapshots]
        fields: list[tuple[str, list[Any]]] = [
            ("model", [self.models[s["model_id"]]["name"] for s in snaps]),
            ("dataset", [s["dataset_id"] for s in snaps]),
            ("train subset", [(s["filters"] or {}).get("train") for s in snaps]),
            ("validation subset", [(s["filters"] or {}).get("validation") for s in snaps]),
            ("labels", [s["labels"] for s in snaps]),
            ("parent", [s["parent_id"] for s in snaps]),
            ("status", [s["status"] for s in snaps]),
        ]
        keys = list(dict.fromkeys(k for s in snaps for k in (s["config"] or {})))
        fields += [(f"config.{k}", [(s["config"] or {}).get(k) for s in snaps]) for k in keys]
        return [(name, values, any(v != values[0] for v in values)) for name, values in fields]

    def _draw_config(self) -> None:
        rows = [(n, [html.escape(fmt_value(v)) for v in values], diff) for n, values, diff in self.config_rows()]
        self.config_html.value = html_table(self.columns, rows)

    def _latest(self, snapshot_id: str, kind: str, success: bool = False) -> dict | None:
        return latest(self.store, snapshot_id, kind, success=success)

    def final_metrics(self) -> dict[str, list[float | None]]:
        """``{metric: [last value per snapshot]}`` of the latest training (and ``evaluate/`` evaluation)."""
        out: dict[str, list[float | None]] = {}
        for i, snap in enumerate(self.snapshots):
            for kind, prefix in (("train", ""), ("evaluate", "evaluate/")):
                exe = self._latest(snap["id"], kind, success=kind == "evaluate")
                if exe is None:
                    continue
                for name, value in last_values(self.store, exe["id"]).items():
                    out.setdefault(prefix + name, [None] * len(self.snapshots))[i] = value
        return dict(sorted(out.items(), key=lambda kv: (kv[0].startswith("evaluate/"), kv[0])))

    def _draw_metrics(self) -> None:
        rows = []
        for name, values in self.final_metrics().items():
            best = _best(name, values)
            cells = [_cell(v, j == best) for j, v in enumerate(values)]
            rows.append((name, cells, False))
        self.metrics_html.value = html_table(self.columns, rows) if rows else "<i>no metrics yet</i>"

    def _draw_chart(self) -> None:
        runs = [e["id"] for s in self.snapshots if (e := self._latest(s["id"], "train"))]
        if not runs or (self.chart is not None and list(self.chart.executions) == runs):
            return
        if self.chart is not None:
            self.chart.close()
        self.chart = MetricsChart(runs, home=str(self.store.home))
        self.chart_box.children = [self.chart]

    def _compute_slices(self) -> None:
        for snap in self.snapshots:
            exe = self._latest(snap["id"], "evaluate", success=True)
            if exe is None or exe["id"] in self._slices:
                continue
            task = adapter_task(self.models[snap["model_id"]]["adapter"])
            try:
                self._slices[exe["id"]] = {"snapshot": snap["id"],
                                           "values": slice_metrics(self.store, exe, task, self.slice_by)}
            except (MMError, ValueError, OSError) as exc:
                self._slices[exe["id"]] = {"snapshot": snap["id"], "values": {}, "error": one_line(exc)}
        keys = list(dict.fromkeys(k for s in self._slices.values() for v in s["values"].values() for k in v))
        tasks = {adapter_task(m["adapter"]) for m in self.models.values()}
        preferred = [k for t in tasks for k in HEADLINE.get(t or "", ()) if k in keys]
        options = list(dict.fromkeys(preferred + keys))
        if options != list(self.slice_metric.options):
            current = self.slice_metric.value
            self.slice_metric.options = options
            self.slice_metric.value = current if current in options else (options[0] if options else None)
        self._draw_slices()

    def slice_table(self) -> dict[str, list[float | None]]:
        """``{slice: [value of the chosen slice metric per snapshot]}`` (latest successful evaluations)."""
        metric = self.slice_metric.value
        out: dict[str, list[float | None]] = {}
        for i, snap in enumerate(self.snapshots):
            for entry in self._slices.values():
                if entry["snapshot"] != snap["id"]:
                    continue
                for name, values in entry["values"].items():
                    out.setdefault(name, [None] * len(self.snapshots))[i] = values.get(metric)
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
        rows = []
        for name, values in table.items():
            best = _best(self.slice_metric.value or "", values)
            cells = [_cell(v, j == best) for j, v in enumerate(values)]
            rows.append((name, cells, False))
        self.slices_html.value = html_table(self.columns, rows)

    # -- live --

    def poll(self) -> bool:
        """Redraw the metrics, chart and slices when an execution of these snapshots changes."""
        rows = of_versions(self.store, [s["id"] for s in self.snapshots])
        signature = tuple(rows)
        if signature != self._signature:
            self._signature = signature
            self._draw_config()
            self._draw_metrics()
            self._draw_chart()
            self._compute_slices()
        elif any(status not in FINISHED for _, status in rows):
            self._draw_metrics()
        return True

    def close(self) -> None:
        HUB.discard(self)
        if self.chart is not None:
            self.chart.close()
        super().close()
