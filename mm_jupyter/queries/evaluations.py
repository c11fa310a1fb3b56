"""The one read of an evaluation (an evaluate execution's stored results) for every face.

``summary``: the state of the evaluation (a clear message while it runs, when it failed or left no
results), its headline metrics with their confidence intervals (when the results hold them), one row per
slice (items, each metric with its interval, its difference from the whole set and that difference's
interval, the metrics flagged significantly worse), per-class numbers, PR curves (detection) and the
confusion matrix (a classification's items; a detection's boxes, see ``metrics.confusion``). ``items_page``: the evaluated items filtered by slice, by confusion
cell (true, predicted) or by class, worst first, paged, each with its ground truth and its predictions
(boxes at the results' ``conf_threshold``) and whether its image is on disk. ``image_path``: an item's
image file, only when it lies inside its dataset's root.

Slice membership comes from each per-item record's ``slices`` when it has them, else it is computed
again from the evaluated items' fields with the evaluation's ``slice_by`` (``evaluation.item_slices``).
Metric names are the results' own (``mAP50-95``); intervals keyed by the metrics package's names
(``map50_95``) are read as the same metric. Numbers that are not finite are given as None.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checks import finite_number, finite_or_none
from ..errors import InvalidInput, MMError, NotFound
from ..executions import FINISHED, Kind
from ..items import Item
from ..store import Store
from .executions import resolve_id
from .items import image_problem, select_items

HEADLINE = {"detect": ("mAP50-95", "mAP50", "mAP75", "precision", "recall", "f1"),
            "classify": ("accuracy", "macro_f1", "weighted_f1", "top1_accuracy", "top3_accuracy", "top5_accuracy")}
MAIN_METRIC = {"detect": "mAP50-95", "classify": "accuracy"}
ALIASES = {"mAP50-95": "map50_95", "mAP50": "map50", "mAP75": "map75"}
NOT_HEADLINE = {"conf_threshold", "n_images", "n_gt", "n_det", "n"}
PAGE_LIMIT = 200
CACHE_SIZE = 4
SLICE_ITEM_KEYS = ("n", "n_images")
ID_CHUNK = 500


@dataclass
class _Loaded:
    """An evaluation's stored files, parsed once (they are written once, when it ends)."""

    results: dict
    records: list[dict]
    predictions_path: Path
    _predictions: dict[int, dict] | None = None
    _membership: tuple[dict[str, set[int]] | None, str | None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def predictions(self) -> dict[int, dict]:
        with self.lock:
            if self._predictions is None:
                self._predictions = {}
                if self.predictions_path.is_file():
                    with open(self.predictions_path) as fh:
                        for line in fh:
                            if line.strip():
                                pred = json.loads(line)
                                self._predictions[pred.get("item_id")] = pred
            return self._predictions


_CACHE: OrderedDict[tuple, _Loaded] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def task_of(results: dict) -> str:
    """``detect`` or ``classify``, from what the results hold."""
    if "mAP50-95" in results or "pr_curve" in results or "conf_threshold" in results:
        return "detect"
    return "classify"


# --- the summary ------------------------------------------------------------------------------------


def summary(store: Store, ref: str) -> dict:
    """An evaluation's summary for the sidebar and the widgets (see the module's docstring).

    ``state`` is ``ready`` (results read), ``running`` (not ended yet), ``failed`` (ended without
    success) or ``missing`` (succeeded but its results cannot be read); ``message`` says why in one line
    when not ready. ``messages`` lists what is missing from a ready one (slices, intervals, images)."""
    exe = _evaluation(store, ref)
    head = {"execution_id": exe["id"], "name": exe["name"], "status": exe["status"]}
    state, message, loaded = _state(store, exe)
    if loaded is None:
        return {**head, "state": state, "message": message}
    results, params = loaded.results, exe.get("params") or {}
    task = task_of(results)
    metrics = _metric_names(results, task)
    ci = _by_metric(results.get("ci"))
    labels = _labels(store, exe, results)
    messages = []
    slices, slice_metrics = _slice_rows(results, task)
    if not slices:
        why = ("it was run with slice_by=[]" if params.get("slice_by") == [] else
               "its results hold none (evaluated before slices existed, or no item had a value to slice by)")
        messages.append(f"this evaluation has no slices: {why}")
    if not results.get("ci") and not results.get("bootstrap"):
        messages.append("no confidence intervals: these results were computed without a bootstrap, so no "
                        "slice is flagged as significantly worse")
    if not loaded.records:
        messages.append("this evaluation stored no per-item records (items.jsonl): no items to show")
    problem = _dataset_problem(store, params)
    if problem:
        messages.append(problem)
    return {
        **head, "state": state, "message": "", "task": task, "main_metric": MAIN_METRIC[task],
        "metrics": [{"name": m, "value": _num(results.get(m)), "ci": ci.get(m)} for m in metrics],
        "bootstrap": results.get("bootstrap") if isinstance(results.get("bootstrap"), dict) else None,
        "n_items": len(loaded.records), "labels": labels,
        "conf_threshold": _num(results.get("conf_threshold")),
        "slice_metrics": slice_metrics, "slices": slices, "slice_fields": sorted({s["field"] for s in slices}),
        "per_class": finite_or_none(results.get("per_class") or {}),
        "pr_curves": _curves(results.get("pr_curve")) if task == "detect" else {},
        "confusion": _confusion(results),
        "messages": messages, "slice_by": params.get("slice_by"),
    }


def slice_values(store: Store, execution: dict) -> dict[str, dict[str, float | None]]:
    """``{slice name: {metric: value}}`` as a successful evaluation's results hold them ({} when they
    hold none): the numeric entries of each slice (``macro_f1`` from ``macro`` when missing)."""
    folder = store.execution_dir(execution)
    try:
        results = _load(folder).results
    except (OSError, ValueError):
        return {}
    rows = results.get("slices")
    if not isinstance(rows, dict):
        return {}
    out = {}
    for name, res in rows.items():
        if not isinstance(res, dict):
            continue
        values = {k: v for k, v in res.items()
                  if (isinstance(v, int | float) and not isinstance(v, bool)) or v is None}
        if isinstance(res.get("macro"), dict) and "macro_f1" not in values:
            values["macro_f1"] = res["macro"].get("f1")
        out[name] = values
    return out


def slice_field(name: str) -> str:
    """The field part of a slice name: ``metadata.lighting=dark`` → ``metadata.lighting``; a crossed
    slice ``metadata.lighting=dark&tag=test`` → ``metadata.lighting*tag`` (how ``slice_by`` spells it)."""
    parts = name.split("&")
    fields = [p.partition("=")[0] for p in parts if "=" in p]
    return "*".join(fields) if fields else name


def _evaluation(store: Store, ref: str) -> dict:
    exe = store.get("executions", resolve_id(store, ref))
    if exe["kind"] != Kind.EVALUATE:
        raise InvalidInput(f"execution {exe['id']} is a {exe['kind']}, not an evaluation: it has no evaluation view")
    return exe


def _state(store: Store, exe: dict) -> tuple[str, str, _Loaded | None]:
    status = exe["status"]
    if status not in FINISHED:
        return "running", f"the evaluation has not finished ({status}): its results appear when it succeeds", None
    if status != "success":
        why = f": {exe['error']}" if exe.get("error") else ""
        return "failed", f"the evaluation ended {status}, without results{why}"[:500], None
    folder = store.execution_dir(exe)
    if not (folder / "results.json").is_file():
        return "missing", "the evaluation succeeded but left no results.json in its folder", None
    try:
        return "ready", "", _load(folder)
    except (OSError, ValueError) as exc:
        return "missing", f"results.json of this evaluation cannot be read: {type(exc).__name__}: {str(exc)[:200]}", None


def _load(folder: Path) -> _Loaded:
    """The parsed files of one evaluation folder, cached by their modification times."""
    paths = [folder / n for n in ("results.json", "items.jsonl", "predictions.jsonl")]
    key = (str(folder), *((p.stat().st_mtime_ns, p.stat().st_size) if p.exists() else None for p in paths))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    results = json.loads(paths[0].read_text())
    if not isinstance(results, dict):
        raise ValueError("results.json does not hold a JSON object")
    records: list[dict] = []
    if paths[1].exists():
        with open(paths[1]) as fh:
            records = [r for r in (json.loads(line) for line in fh if line.strip()) if isinstance(r, dict)]
    results.pop("items", None)
    loaded = _Loaded(results, records, paths[2])
    with _CACHE_LOCK:
        _CACHE[key] = loaded
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return loaded


def _num(value: Any) -> float | int | None:
    return value if finite_number(value) else None


def interval(value: Any) -> list[float] | None:
    """``[low, high]`` of a stored interval, or None when it is not two finite numbers."""
    if isinstance(value, list | tuple) and len(value) == 2 and all(finite_number(v) for v in value):
        return [float(value[0]), float(value[1])]
    return None


def _by_metric(mapping: Any, convert: Any = interval) -> dict[str, Any]:
    """A ``{metric: value}`` mapping keyed by the results' metric names (aliases read as them)."""
    if not isinstance(mapping, dict):
        return {}
    reverse = {raw: shown for shown, raw in ALIASES.items()}
    return {reverse.get(k, k): convert(v) for k, v in mapping.items()}


def _metric_names(results: dict, task: str) -> list[str]:
    first = [m for m in HEADLINE[task] if _num(results.get(m)) is not None]
    if task == "classify" and "top1_accuracy" in first and results.get("top1_accuracy") == results.get("accuracy") \
            and "top3_accuracy" not in results:
        first.remove("top1_accuracy")  # the same number as accuracy without probs
    extra = [k for k, v in results.items() if k not in first and k not in NOT_HEADLINE and k not in HEADLINE[task]
             and _num(v) is not None]
    return first + sorted(extra)


def _slice_rows(results: dict, task: str) -> tuple[list[dict], list[str]]:
    raw = results.get("slices")
    if not isinstance(raw, dict) or not raw:
        return [], []
    present = {k for r in raw.values() if isinstance(r, dict) for k, v in r.items()
               if v is None or (isinstance(v, int | float) and not isinstance(v, bool))}
    metrics = [m for m in HEADLINE[task] if m in present]
    if task == "classify" and "top1_accuracy" in metrics and "top3_accuracy" not in present:
        metrics.remove("top1_accuracy")
    reverse = {raw_name: shown for shown, raw_name in ALIASES.items()}
    rows = []
    for name, r in raw.items():
        if not isinstance(r, dict):
            continue
        values = {m: _num(r.get(m)) for m in metrics}
        delta = _by_metric(r.get("delta"), _num)
        for m in metrics:  # results without deltas: slice - whole set
            if m not in delta:
                whole = _num(results.get(m))
                delta[m] = None if values[m] is None or whole is None else values[m] - whole
        n = next((r[k] for k in SLICE_ITEM_KEYS if isinstance(r.get(k), int)), None)
        worse = r.get("worse") if isinstance(r.get("worse"), list) else []
        rows.append({"name": name, "field": slice_field(name), "n": n, "values": values,
                     "ci": _by_metric(r.get("ci")), "delta": {m: delta.get(m) for m in metrics},
                     "delta_ci": _by_metric(r.get("delta_ci")),
                     "worse": [reverse.get(m, m) for m in worse if isinstance(m, str)]})
    return rows, metrics


def _curves(raw: Any) -> dict[str, dict[str, list]]:
    if not isinstance(raw, dict):
        return {}
    out = {}
    for name, curve in raw.items():
        if isinstance(curve, dict) and isinstance(curve.get("recall"), list) and isinstance(curve.get("precision"), list):
            out[str(name)] = {"recall": finite_or_none(curve["recall"]), "precision": finite_or_none(curve["precision"])}
    return out


def _confusion(results: dict) -> dict | None:
    """The matrix with its axis labels and what it counts (a detection's: boxes, the background last —
    see ``metrics.confusion``; a classification's: items)."""
    detection = "confusion_labels" in results
    matrix, labels = results.get("confusion_matrix"), results.get("confusion_labels" if detection else "labels")
    if not isinstance(matrix, list) or not isinstance(labels, list) or len(matrix) != len(labels):
        return None
    return {"labels": [str(x) for x in labels], "matrix": finite_or_none(matrix), "unit": "boxes" if detection else "items"}


def _labels(store: Store, exe: dict, results: dict) -> list[str]:
    if isinstance(results.get("labels"), list):
        return [str(x) for x in results["labels"]]
    params = exe.get("params") or {}
    if isinstance(params.get("labels"), list) and params["labels"]:
        return [str(x) for x in params["labels"]]
    if isinstance(results.get("per_class"), dict):
        return [str(k) for k in results["per_class"]]
    return []


def _dataset(store: Store, params: dict) -> dict | None:
    try:
        return store.get("datasets", params.get("dataset_id") or "")
    except NotFound:
        return None


def _dataset_problem(store: Store, params: dict) -> str | None:
    dataset = _dataset(store, params)
    if dataset is None:
        return (f"dataset {params.get('dataset_id') or '(none)'} of this evaluation no longer exists: no images or "
                "ground truth to show")
    if not Path(dataset["root"]).is_dir():
        return f"the images of dataset {dataset['name']} are not on disk (its folder is missing)"
    return None


# --- items, worst first -------------------------------------------------------------------------------


def items_page(store: Store, ref: str, *, slice_name: str | None = None, true: str | None = None,
               pred: str | None = None, cls: str | None = None, offset: int = 0, limit: int = 24) -> dict:
    """A page of an evaluation's items, worst first, filtered by slice name, confusion cell (``true``
    and/or ``pred`` label names; for detection the images with a box in that cell) or class (``cls``: a true or predicted label, or a
    ground-truth or predicted box's label). Each item: its record (tp/fp/fn, or true/pred/correct/
    confidence), for detection ``gt_boxes`` and ``pred_boxes`` (xyxy px with label names, predictions
    scoring at least ``conf_threshold``), ``width``/``height``, ``image_url`` (relative to the API) and ``image``
    (``ok``, ``problem``: why it cannot be shown)."""
    if offset < 0 or not 1 <= limit <= PAGE_LIMIT:
        raise InvalidInput(f"offset must be >= 0 and limit 1..{PAGE_LIMIT}, got {offset} and {limit}")
    exe = _evaluation(store, ref)
    _, message, loaded = _state(store, exe)
    if loaded is None:
        raise InvalidInput(f"execution {exe['id']} has no items to show: {message}")
    results, params = loaded.results, exe.get("params") or {}
    task, labels = task_of(results), _labels(store, exe, results)
    records = loaded.records
    if slice_name:
        members = _members(store, exe, loaded, slice_name)
        records = [r for r in records if r.get("item_id") in members]
    if true is not None or pred is not None:
        confusion = _confusion(results)
        axis = confusion["labels"] if confusion else labels
        for what, value in (("true", true), ("pred", pred)):
            if value is not None and value not in axis:
                raise InvalidInput(f"{what} label {value!r} is not one of this evaluation's confusion labels")
        if task == "classify":
            records = [r for r in records if (true is None or r.get("true") == true)
                       and (pred is None or r.get("pred") == pred)]
        elif not all(isinstance(r.get("confusion"), list) for r in records):
            raise InvalidInput("this detection evaluation predates per-box confusion pairs: filter by class (cls)")
        else:  # the images holding at least one box of that cell
            records = [r for r in records if any((true is None or t == true) and (pred is None or p == pred)
                                                 for t, p in r["confusion"])]
    conf = _num(results.get("conf_threshold"))
    if cls is not None:
        if labels and cls not in labels:
            raise InvalidInput(f"class {cls!r} is not one of this evaluation's labels")
        records = _with_class(store, params, loaded, records, cls, task, labels, conf)
    ordered = sorted(records, key=_worst_first(task))
    page = ordered[offset:offset + limit]
    items = _page_items(store, exe, loaded, page, task, labels, conf)
    return {"execution_id": exe["id"], "task": task, "total": len(ordered), "offset": offset, "limit": limit,
            "filter": {"slice": slice_name, "true": true, "pred": pred, "cls": cls}, "conf_threshold": conf,
            "items": items}


def image_path(store: Store, ref: str, item_id: int) -> Path:
    """The image file of one evaluated item: it must be one of the evaluation's items and lie inside
    its dataset's root (symlinks resolved); ``NotFound`` (one line, no absolute path) otherwise."""
    exe = _evaluation(store, ref)
    _, message, loaded = _state(store, exe)
    if loaded is None:
        raise NotFound(f"execution {exe['id']} has no items: {message}")
    if not any(r.get("item_id") == item_id for r in loaded.records):
        raise NotFound(f"item {item_id} is not among the items of evaluation {exe['id']}")
    dataset = _dataset(store, exe.get("params") or {})
    if dataset is None:
        raise NotFound(f"the dataset of evaluation {exe['id']} no longer exists")
    found = _items_by_id(store, dataset["id"], [item_id]).get(item_id)
    if found is None:
        raise NotFound(f"item {item_id} is no longer in dataset {dataset['name']}")
    problem = image_problem(Path(dataset["root"]), found.path)
    if problem:
        raise NotFound(f"item {item_id}: {problem}")
    return Path(found.path).resolve()


def _members(store: Store, exe: dict, loaded: _Loaded, name: str) -> set[int]:
    if all(isinstance(r.get("slices"), list) for r in loaded.records) and loaded.records:
        members = {r.get("item_id") for r in loaded.records if name in r["slices"]}
    else:
        slices, problem = _membership(store, exe, loaded)
        if slices is None:
            raise InvalidInput(f"cannot filter by slice: {problem}")
        members = slices.get(name)
    if not members and name not in (loaded.results.get("slices") or {}):
        raise InvalidInput(f"unknown slice {name[:200]!r} (not one of this evaluation's slices)")
    return members or set()


def _membership(store: Store, exe: dict, loaded: _Loaded) -> tuple[dict[str, set[int]] | None, str | None]:
    """Slice name → item ids, computed again from the evaluated items' fields (records without
    ``slices``); (None, why) when it cannot be."""
    from ..evaluation import item_slices

    with loaded.lock:
        if loaded._membership is None:
            params = exe.get("params") or {}
            try:
                items = select_items(store, params.get("dataset_id") or "", params.get("test_selection") or {})
                ids = {r.get("item_id") for r in loaded.records}
                slices = item_slices([it for it in items if it.id in ids], params.get("slice_by"))
                loaded._membership = ({k: set(v) for k, v in slices.items()}, None)
            except (MMError, ValueError) as exc:
                loaded._membership = (None, f"the evaluated items cannot be sliced again ({str(exc)[:200]})")
        return loaded._membership


def _worst_first(task: str) -> Any:
    if task == "detect":
        def key(r: dict) -> tuple:
            fp, fn, tp = (int(r.get(k) or 0) for k in ("fp", "fn", "tp"))
            return (-(fp + fn), -fn, tp, _id_key(r))
    else:
        def key(r: dict) -> tuple:
            conf = _num(r.get("confidence"))
            conf = 0.0 if conf is None else float(conf)
            right = bool(r.get("correct"))
            return (right, conf if right else -conf, _id_key(r))  # confidently wrong first
    return key


def _id_key(r: dict) -> tuple:
    value = r.get("item_id")
    return (0, value, "") if isinstance(value, int) else (1, 0, str(value))


def _with_class(store: Store, params: dict, loaded: _Loaded, records: list[dict], cls: str, task: str,
                labels: list[str], conf: float | None) -> list[dict]:
    if task == "classify":
        return [r for r in records if cls in (r.get("true"), r.get("pred"))]
    index = labels.index(cls) if cls in labels else None
    preds = loaded.predictions()
    truth = _annotations(store, params, [r.get("item_id") for r in records])
    out = []
    for r in records:
        gt_labels = (truth.get(r.get("item_id")) or {}).get("labels") or []
        p = preds.get(r.get("item_id")) or {}
        pred_labels = [lab for lab, s in zip(p.get("labels") or [], p.get("scores") or [], strict=False)
                       if conf is None or (_num(s) is not None and s >= conf)]
        if index in gt_labels or index in pred_labels:
            out.append(r)
    return out


def _annotations(store: Store, params: dict, ids: list) -> dict[int, dict]:
    dataset = _dataset(store, params)
    if dataset is None:
        return {}
    return {i: it.annotations or {} for i, it in _items_by_id(store, dataset["id"], ids).items()}


def _items_by_id(store: Store, dataset_id: str, ids: list) -> dict[int, Item]:
    """The dataset's items of ``ids`` (looked up a few hundred at a time)."""
    wanted = [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
    out: dict[int, Item] = {}
    for start in range(0, len(wanted), ID_CHUNK):
        out.update((it.id, it) for it in select_items(store, dataset_id, None, item_ids=wanted[start:start + ID_CHUNK]))
    return out


def _page_items(store: Store, exe: dict, loaded: _Loaded, page: list[dict], task: str, labels: list[str],
                conf: float | None) -> list[dict]:
    params = exe.get("params") or {}
    dataset = _dataset(store, params)
    items = _items_by_id(store, dataset["id"], [r.get("item_id") for r in page]) if dataset else {}
    preds = loaded.predictions() if task == "detect" else {}
    root = Path(dataset["root"]) if dataset else None
    out = []
    for r in page:
        item_id = r.get("item_id")
        item = items.get(item_id)
        meta = (item.metadata or {}) if item else {}
        if dataset is None:
            problem = "its dataset no longer exists"
        elif item is None:
            problem = f"item {item_id} is no longer in dataset {dataset['name']}"
        else:
            problem = image_problem(root, item.path)
        row = {**finite_or_none({k: v for k, v in r.items() if k != "slices"}),
               "width": meta.get("width"), "height": meta.get("height"),
               "image_url": f"executions/{exe['id']}/evaluation/items/{item_id}/image",
               "image": {"ok": problem is None, "problem": problem}}
        if task == "detect":
            ann = (item.annotations or {}) if item else {}
            row["gt_boxes"] = [{"box": finite_or_none(list(b)), "label": _name(labels, lab)}
                         for b, lab in zip(ann.get("boxes") or [], ann.get("labels") or [], strict=False)]
            p = preds.get(item_id) or {}
            row["pred_boxes"] = [{"box": finite_or_none(list(b)), "label": _name(labels, lab), "score": _num(s)}
                           for b, s, lab in zip(p.get("boxes") or [], p.get("scores") or [], p.get("labels") or [],
                                                strict=False)
                           if conf is None or (_num(s) is not None and s >= conf)]
        out.append(row)
    return out


def _name(labels: list[str], label: Any) -> str:
    if isinstance(label, int) and not isinstance(label, bool) and 0 <= label < len(labels):
        return labels[label]
    return str(label)
