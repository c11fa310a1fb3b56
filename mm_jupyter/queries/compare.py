"""The one comparison of 2–5 versions or executions, for every face (the sidebar's Compare panel,
``GET compare``, the ``Compare`` widget).

**Columns.** Each ref is a version (id, name or id beginning) or an execution (``e-…``). A version
stands for its latest successful training (curves, final training metrics) and its latest
successful evaluation (evaluation metrics, slices); a training execution stands for itself, an
evaluation execution too. Fewer than 2 or more than 5 refs, or one column given twice, is
``InvalidInput``; an unknown ref is ``NotFound``.

**Curves** (``curves``): one line per column per metric of the columns' trainings (latest attempt),
aligned by epoch when every point of that metric carries an epoch and no column has two points at
one epoch, else by step (a point without one: its position); ``x`` says which. At most
``MAX_POINTS`` points a line (each bucket's lowest and highest kept).

**Final metrics** (``final``): the last value of each metric per column (evaluation metrics as
``evaluate/<name>``), with ``best``: the index of the lowest value for losses (a name holding
``loss``), of the highest otherwise; None when fewer than two values, for counts and settings that
rank nothing (``NOT_RANKED``), or when the best value is tied as shown (``shown``: 4 significant
digits, what every face prints). ``best_index`` is that rule for any row of numbers.

**Config** (``config``: every field with ``differs``; ``config_diff``: only those that differ): the
versions' model, dataset, subsets, labels, parent and config keys, and the evaluations' test set; a
key a column lacks is ``absent`` there (not the same as a null value). Versions of different models
are compared (curves, metrics and config side by side) with a note saying so.

**Slice deltas** (``slices``): only between exactly two evaluations of one model on the same test set
(same dataset, same test selection, and the same dataset content hash when both recorded one);
otherwise None with ``slices_reason``, one sentence. Per slice and metric: both values, ``delta``
(second column minus first) and ``delta_ci``, an approximate 95% interval of the difference from the
two evaluations' own intervals by the MOVER rule (Zou & Donner 2008): with values v1, v2 and
intervals (l1, u1), (l2, u2), ``[d - sqrt((v2 - l2)^2 + (u1 - v1)^2), d + sqrt((u2 - v2)^2 +
(v1 - l1)^2)]``; for symmetric intervals that is d ± sqrt(h1² + h2²) (the half-widths combined under
normality). It treats the two evaluations as independent; on the same items their errors are usually
positively correlated, so the interval is on the wide (conservative) side. ``significant``: the
interval excludes 0. No interval where either evaluation has none (results without a bootstrap).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import Any

import numpy as np

from ..checks import finite_number, finite_or_none
from ..downsample import MAX_POINTS, minmax_indices
from ..errors import InvalidInput, NotFound
from ..executions import Kind
from ..store import Store
from ..textfmt import clip
from . import evaluations
from .executions import LATEST, last_values, latest, resolve_id

MIN_REFS, MAX_REFS = 2, 5
MAX_READ = 500_000
EVAL_PREFIX = "evaluate/"
NOT_RANKED = frozenset({"epoch", "step", "lr", "conf_threshold", "n", "n_images", "n_gt", "n_det", "n_items",
                        "weights_hash"})


@dataclass
class Column:
    """One compared thing: what it stands for and the executions it reads."""

    ref: str
    kind: str                      # "version" | "execution"
    version: dict
    model: dict
    execution: dict | None         # the execution given (kind "execution")
    train: dict | None             # the training it reads (curves, training metrics)
    evaluation: dict | None        # the evaluation it reads (evaluation metrics, slices)
    label: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.execution["id"] if self.execution else self.version["id"])

    def as_dict(self) -> dict:
        exe = self.execution
        return {"ref": self.ref, "kind": self.kind, "label": self.label,
                "execution_kind": exe["kind"] if exe else None, "execution_id": exe["id"] if exe else None,
                "model_id": self.model["id"], "model_name": self.model["name"], "adapter": self.model.get("adapter"),
                "version_id": self.version["id"], "version_name": self.version["name"],
                "train_execution_id": self.train["id"] if self.train else None,
                "evaluate_execution_id": self.evaluation["id"] if self.evaluation else None,
                "status": exe["status"] if exe else self.version["status"]}


# --- the rule for "best" ----------------------------------------------------------------------------


def shown(value: Any) -> str:
    """A value as every face prints it in a comparison: 4 significant digits ('' for none)."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else ""
    return str(value)


def lower_is_better(name: str) -> bool:
    """Losses are better low; every other metric high."""
    return "loss" in name.lower()


def ranked(name: str) -> bool:
    """Whether a metric ranks columns at all (counts and settings such as ``n_images`` or ``lr`` do not)."""
    base = name.removeprefix(EVAL_PREFIX).lower()
    return base not in NOT_RANKED and not base.startswith("lr/")


def best_index(name: str, values: list[Any]) -> int | None:
    """The index of the best value of metric ``name`` (lowest for losses, else highest); None when
    fewer than two values are numbers, when the metric ranks nothing, or when the best is tied as
    shown (no column wins a tie)."""
    nums = [(v, i) for i, v in enumerate(values) if finite_number(v)]
    if len(nums) < 2 or not ranked(name):
        return None
    value, index = min(nums) if lower_is_better(name) else max(nums, key=lambda p: (p[0], -p[1]))
    text = shown(value)
    return None if sum(shown(v) == text for v, _ in nums) > 1 else index


# --- columns ----------------------------------------------------------------------------------------


def columns(store: Store, refs: list[str] | tuple[str, ...] | str) -> list[Column]:
    """The columns of ``refs`` (see the module's docstring), checked."""
    refs = [refs] if isinstance(refs, str) else list(refs or [])
    if not MIN_REFS <= len(refs) <= MAX_REFS:
        raise InvalidInput(f"compare needs {MIN_REFS} to {MAX_REFS} versions or executions, got {len(refs)}")
    out: list[Column] = []
    seen: dict[tuple[str, str], str] = {}
    for raw in refs:
        ref = raw.strip() if isinstance(raw, str) else ""
        if not ref:
            raise InvalidInput("a compared ref is empty: give a version (id or name) or an execution id (e-…)")
        column = _column(store, ref)
        if column.key in seen:
            what = "execution" if column.kind == "execution" else "version"
            raise InvalidInput(f"{what} {column.key[1]} is given twice ({seen[column.key]!r} and {ref!r}): "
                               "compare different ones")
        seen[column.key] = ref
        out.append(column)
    _label(out)
    return out


def _column(store: Store, ref: str) -> Column:
    exe = None
    if ref.startswith("e-"):
        try:
            exe = store.get("executions", resolve_id(store, ref))
        except NotFound as exc:
            if "ambiguous" in str(exc):
                raise
            if store.first("snapshots", name=ref) is None:
                raise NotFound(f"unknown execution {ref!r}") from None
    if exe is not None:
        version = store.get("snapshots", exe["snapshot_id"])
        model = store.get("models", exe["model_id"])
        train = exe if exe["kind"] == Kind.TRAIN else None
        evaluation = exe if exe["kind"] == Kind.EVALUATE else None
        return Column(ref, "execution", version, model, exe, train, evaluation)
    try:
        version = store.get("snapshots", ref)
    except NotFound as exc:
        raise NotFound(str(exc) if "ambiguous" in str(exc) else f"unknown version or execution {ref!r}") from None
    model = store.get("models", version["model_id"])
    return Column(ref, "version", version, model, None, latest(store, version["id"], Kind.TRAIN, success=True),
                  latest(store, version["id"], Kind.EVALUATE, success=True))


def _label(cols: list[Column]) -> None:
    """Each column's short name (the version's or the execution's), with its id where two would match."""
    for c in cols:
        c.label = c.execution["name"] if c.execution else c.version["name"]
    names = [c.label for c in cols]
    for c in cols:
        if names.count(c.label) > 1:
            c.label = f"{c.label} ({c.key[1]})"


def compare_notes(cols: list[Column]) -> list[str]:
    """What a reader should know about the columns: different models, a version without a training or
    evaluation yet."""
    notes = []
    models = list(dict.fromkeys(c.model["name"] for c in cols))
    if len({c.model["id"] for c in cols}) > 1:
        notes.append(f"these are versions of different models ({', '.join(models)}): their curves, metrics and "
                     "configurations are shown side by side, per-slice deltas are not computed")
    for c in cols:
        if c.kind != "version":
            continue
        missing = [what for what, exe in (("training", c.train), ("evaluation", c.evaluation)) if exe is None]
        if missing:
            notes.append(f"{c.label} has no successful {' or '.join(missing)} yet")
    return notes


# --- final metrics ----------------------------------------------------------------------------------


def final(store: Store, cols: list[Column]) -> list[dict]:
    """Rows ``{metric, values, shown, best, lower_is_better}``: training metrics, then evaluation ones."""
    table: dict[str, list[Any]] = {}
    for i, c in enumerate(cols):
        for exe, prefix in ((c.train, ""), (c.evaluation, EVAL_PREFIX)):
            if exe is None:
                continue
            for name, value in last_values(store, exe["id"]).items():
                table.setdefault(prefix + name, [None] * len(cols))[i] = finite_or_none(value)
    names = sorted(table, key=lambda n: (n.startswith(EVAL_PREFIX), n.lower()))
    return [{"metric": n, "values": table[n], "shown": [shown(v) for v in table[n]], "best": best_index(n, table[n]),
             "lower_is_better": lower_is_better(n), "ranked": ranked(n)} for n in names]


# --- curves -----------------------------------------------------------------------------------------


# an execution's finite points of its latest attempt (the rule of ``executions.metrics_since``), by name
POINTS = (f"SELECT name, step, epoch, value FROM metrics WHERE execution_id = ? AND attempt = {LATEST} "
          "AND abs(value) <= 1.7976931348623157e308 ORDER BY name, id LIMIT ?")


def curves(store: Store, cols: list[Column]) -> dict[str, dict]:
    """``{metric: {x: "epoch"|"step", series: [{column, points: [[x, value], ...]}]}}``."""
    by_metric: dict[str, dict[int, list[tuple]]] = {}
    for i, c in enumerate(cols):
        if c.train is None:
            continue
        rows = store.conn.execute(POINTS, [c.train["id"], c.train["id"], MAX_READ])
        for name, group in groupby(rows, key=itemgetter(0)):
            by_metric.setdefault(name, {})[i] = [row[1:] for row in group]
    out = {}
    for name in sorted(by_metric, key=str.lower):
        per_column = by_metric[name]
        axis = "epoch" if _by_epoch(per_column.values()) else "step"
        series = []
        for i, points in sorted(per_column.items()):
            if axis == "epoch":
                xy = [[epoch, value] for _, epoch, value in points]
            else:
                xy = [[k if step is None else step, value] for k, (step, _, value) in enumerate(points)]
            xy.sort(key=lambda pair: pair[0])
            series.append({"column": i, "points": thin(xy)})
        out[name] = {"x": axis, "series": series}
    return out


def _by_epoch(per_column: Any) -> bool:
    """Whether every point of every line carries an epoch, one point an epoch."""
    for points in per_column:
        epochs = [epoch for _, epoch, _ in points]
        if None in epochs or len(set(epochs)) != len(epochs):
            return False
    return True


def thin(points: list[list[float]], limit: int = MAX_POINTS) -> list[list[float]]:
    """At most ``limit`` points of a line sorted by x: the first, the last and each bucket's lowest and
    highest (``downsample.minmax_indices``, the widget chart's rule; the values are finite)."""
    if len(points) <= limit:
        return points
    keep = minmax_indices(np.array([value for _, value in points], dtype=np.float64), limit)
    return [points[k] for k in keep.tolist()]


# --- config -----------------------------------------------------------------------------------------


def _fields(store: Store, c: Column) -> dict[str, Any]:
    """The compared fields of one column (a missing key is simply not in the dict)."""
    snap = c.version
    filters = snap.get("filters") or {}
    fields: dict[str, Any] = {"model": c.model["name"], "adapter": c.model.get("adapter"),
                              "dataset": _dataset_name(store, snap.get("dataset_id")),
                              "train subset": filters.get("train"), "validation subset": filters.get("validation"),
                              "labels": snap.get("labels"), "parent": snap.get("parent_id")}
    fields.update({f"config.{k}": v for k, v in (snap.get("config") or {}).items()})
    if c.evaluation is not None:
        params = c.evaluation.get("params") or {}
        fields["test dataset"] = _dataset_name(store, params.get("dataset_id"))
        fields["test subset"] = params.get("test_selection")
    return fields


def _dataset_name(store: Store, dataset_id: str | None) -> str | None:
    if not dataset_id:
        return None
    row = store.first("datasets", id=dataset_id)
    return row["name"] if row else dataset_id


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def config(store: Store, cols: list[Column]) -> list[dict]:
    """Rows ``{key, values, absent, differs}`` for every compared field (``absent[i]``: column i lacks it)."""
    per_column = [_fields(store, c) for c in cols]
    keys = list(dict.fromkeys(k for f in per_column for k in f))
    fixed = [k for k in keys if not k.startswith("config.") and not k.startswith("test ")]
    keys = fixed + sorted(k for k in keys if k.startswith("config.")) + [k for k in keys if k.startswith("test ")]
    rows = []
    for key in keys:
        absent = [key not in f for f in per_column]
        values = [f.get(key) for f in per_column]
        cells = [("absent",) if a else ("value", v) for a, v in zip(absent, values, strict=True)]
        differs = any(not _same(cells[0], cell) for cell in cells[1:])
        rows.append({"key": key, "values": values, "absent": absent, "differs": differs})
    return rows


# --- slice deltas -----------------------------------------------------------------------------------


def _refusal(store: Store, cols: list[Column]) -> str | None:
    """Why the columns' slices cannot be compared (None when they can)."""
    evals = [c.evaluation for c in cols if c.evaluation is not None]
    if len({c.model["id"] for c in cols}) > 1:
        names = ", ".join(dict.fromkeys(c.model["name"] for c in cols))
        return (f"these are versions of different models ({names}): per-slice deltas compare versions of one "
                "model on one test set")
    if len(evals) != 2:
        return f"per-slice deltas need exactly two evaluations, and these columns have {len(evals)}"
    a, b = evals
    if a["id"] == b["id"]:
        return f"both columns stand for the same evaluation ({a['id']}): there is nothing to subtract"
    pa, pb = a.get("params") or {}, b.get("params") or {}
    if pa.get("dataset_id") != pb.get("dataset_id"):
        return (f"the two evaluations used different test sets: dataset {_dataset_name(store, pa.get('dataset_id'))} "
                f"and dataset {_dataset_name(store, pb.get('dataset_id'))}")
    if not _same(pa.get("test_selection"), pb.get("test_selection")):
        return (f"the two evaluations used different test sets: test subset {_brief(pa.get('test_selection'))} and "
                f"{_brief(pb.get('test_selection'))}")
    ha, hb = pa.get("dataset_hash"), pb.get("dataset_hash")
    if ha and hb and ha != hb:
        return (f"the two evaluations used different test sets: the content of dataset "
                f"{_dataset_name(store, pa.get('dataset_id'))} changed between them ({ha[:12]} and {hb[:12]})")
    return None


def _brief(value: Any) -> str:
    return clip(json.dumps(value, sort_keys=True, default=str), 120)


def delta_interval(values: tuple[float, float], cis: tuple[Any, Any]) -> list[float] | None:
    """An approximate 95% interval of ``values[1] - values[0]`` from the two values' own intervals (the
    MOVER rule, see the module's docstring); None where either interval is missing."""
    (v1, v2), (c1, c2) = values, cis
    if evaluations.interval(c1) is None or evaluations.interval(c2) is None:
        return None
    (l1, u1), (l2, u2) = c1, c2
    d = v2 - v1
    low = d - math.sqrt(max(0.0, v2 - l2) ** 2 + max(0.0, u1 - v1) ** 2)
    high = d + math.sqrt(max(0.0, u2 - v2) ** 2 + max(0.0, v1 - l1) ** 2)
    return [low, high]


def _pair(metric: str, v: tuple[Any, Any], ci: tuple[Any, Any]) -> dict:
    both = finite_number(v[0]) and finite_number(v[1])
    delta = v[1] - v[0] if both else None
    interval = delta_interval((v[0], v[1]), ci) if both else None
    return {"values": list(v), "ci": list(ci), "delta": delta, "delta_ci": interval,
            "significant": bool(interval and (interval[0] > 0 or interval[1] < 0))}


def slices(store: Store, cols: list[Column]) -> tuple[dict | None, str | None]:
    """``(slice deltas, None)`` or ``(None, why not)`` (see the module's docstring)."""
    why = _refusal(store, cols)
    if why:
        return None, why
    pair = [(i, c.evaluation) for i, c in enumerate(cols) if c.evaluation is not None]
    summaries = [evaluations.summary(store, exe["id"]) for _, exe in pair]
    for (_, exe), s in zip(pair, summaries, strict=True):
        if s["state"] != "ready":
            return None, f"evaluation {exe['id']} has no results to compare: {s['message']}"
        if not s.get("slices"):
            return None, f"evaluation {exe['id']} has no per-slice results (it was run without slices)"
    first, second = summaries
    metrics = [m for m in first["slice_metrics"] if m in second["slice_metrics"]]
    other = {r["name"]: r for r in second["slices"]}
    common = [r for r in first["slices"] if r["name"] in other]
    if not common or not metrics:
        return None, "the two evaluations share no slice and metric (they were sliced by different fields)"
    whole_a = {m["name"]: m for m in first["metrics"]}
    whole_b = {m["name"]: m for m in second["metrics"]}
    whole = {m: _pair(m, ((whole_a.get(m) or {}).get("value"), (whole_b.get(m) or {}).get("value")),
                      ((whole_a.get(m) or {}).get("ci"), (whole_b.get(m) or {}).get("ci"))) for m in metrics}
    rows = []
    for r in common:
        o = other[r["name"]]
        rows.append({"name": r["name"], "field": r["field"], "n": [r["n"], o["n"]],
                     "metrics": {m: _pair(m, (r["values"].get(m), o["values"].get(m)),
                                          (r["ci"].get(m), o["ci"].get(m))) for m in metrics}})
    unmatched = len(first["slices"]) + len(second["slices"]) - 2 * len(common)
    return {"columns": [i for i, _ in pair], "evaluations": [exe["id"] for _, exe in pair],
            "task": first["task"], "metrics": metrics, "main_metric": first["main_metric"],
            "whole": {"n": [first["n_items"], second["n_items"]], "metrics": whole}, "rows": rows,
            "unmatched": unmatched,
            "intervals": any(p["delta_ci"] for r in rows for p in r["metrics"].values())}, None


# --- the comparison ---------------------------------------------------------------------------------


def compare(store: Store, refs: list[str] | tuple[str, ...] | str, *, with_curves: bool = True) -> dict:
    """The comparison of ``refs`` (see the module's docstring) as a JSON-able dict."""
    cols = columns(store, refs)
    deltas, reason = slices(store, cols)
    rows = config(store, cols)
    return {"columns": [c.as_dict() for c in cols], "notes": compare_notes(cols),
            "curves": curves(store, cols) if with_curves else {}, "final": final(store, cols),
            "config": rows, "config_diff": [r for r in rows if r["differs"]],
            "slices": deltas, "slices_reason": reason}
