"""From an adapter's predictions to the task's metrics: COCO-exact detection or classification, overall,
per slice of the items (one matching pass), per item (to find the worst ones), plus the adapter's own
metric functions; and the seeded, stratified sample evaluated during training (``sample_items``).

Classification averages: the whole set's macro precision/recall/F1 average over every label of the
dataset; a slice's macro averages over the labels present in that slice (its true or predicted labels),
so a slice whose items are all predicted right has macro-F1 1.0. ``top1_accuracy`` is always given,
``top3_accuracy`` / ``top5_accuracy`` when the dataset has more than 3 / 5 classes and the adapter gives
``Prediction.probs``.

Confidence intervals: the headline metrics get percentile 95% intervals from a seeded bootstrap over the
items, computed with the metrics in one pass (``ci``, ``bootstrap``); each slice gets ``n`` (its items),
its own ``ci``, ``delta`` (slice - whole set) with ``delta_ci`` (paired: both from the same draws) and
``worse``, the metrics whose ``delta_ci`` lies entirely below 0 (see :mod:`mm_jupyter.metrics.bootstrap`)."""

from __future__ import annotations

import json
import math
import numbers
import random
from collections import Counter
from collections.abc import Callable, Hashable
from pathlib import Path

from .errors import InvalidInput
from .items import Item, Prediction
from .metrics.bootstrap import DEFAULT_REPLICATES

MetricFn = Callable[[list[Item], list[Prediction], list[str]], float]
NOT_SLICED = ("width", "height")
TOP_K = (1, 3, 5)
NO_BOXES = "no boxes"


def sample_items(items: list[Item], n: int | None, seed: int, task: str) -> list[Item]:
    """A seeded sample of ``n`` items stratified by class, in item-id order (``n`` None or at least
    ``len(items)``: every item).

    Strata: an item's class label (classification; items without a label form one stratum) or its
    dominant box label, the most frequent one, ties to the smaller label (detection; items without boxes
    form one stratum). Allocation is proportional to the strata's sizes (largest remainders, ties by the seed),
    with at least one item per stratum when ``n`` allows; when ``n`` is below the number of strata,
    ``n`` strata are drawn with probability proportional to their size, one item each. Within a stratum
    the items are drawn uniformly. The same items, ``n``, ``seed`` and ``task`` give the same sample,
    whatever the order of ``items``.
    """
    if task not in ("detect", "classify"):
        raise InvalidInput(f"unknown task {task!r} (detect or classify)")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise InvalidInput(f"sample size must be None or a positive int, got {n!r}")
    ordered = sorted(items, key=lambda it: it.id)
    if n is None or n >= len(ordered):
        return ordered
    strata: dict[tuple, list[Item]] = {}
    for item in ordered:
        strata.setdefault(_stratum(item, task), []).append(item)
    keys = sorted(strata, key=repr)
    rng = random.Random(seed)
    counts = _allocate([len(strata[k]) for k in keys], n, rng)
    chosen = [it for k, c in zip(keys, counts, strict=True) if c for it in rng.sample(strata[k], c)]
    return sorted(chosen, key=lambda it: it.id)


def _stratum(item: Item, task: str) -> tuple:
    ann = item.annotations or {}
    if task == "classify":
        label = ann.get("label")
        return (0, label) if isinstance(label, Hashable) and label is not None else (1, "no label")
    labels = [lab for lab in ann.get("labels") or [] if isinstance(lab, Hashable)]
    if not labels:
        return (1, NO_BOXES)
    counts = Counter(labels)
    top = max(counts.values())
    return (0, min((lab for lab, c in counts.items() if c == top), key=lambda lab: (repr(type(lab)), lab)))


def _allocate(sizes: list[int], n: int, rng: random.Random) -> list[int]:
    """Items to draw per stratum: ``n`` in all, proportional to ``sizes``, each at least 1 if ``n`` allows."""
    total, k = sum(sizes), len(sizes)
    tie = [rng.random() for _ in sizes]
    if n < k:  # weighted draw of n strata without replacement (Efraimidis-Spirakis keys)
        order = sorted(range(k), key=lambda j: tie[j] ** (1.0 / sizes[j]), reverse=True)
        picked = set(order[:n])
        return [1 if j in picked else 0 for j in range(k)]
    quota = [n * size / total for size in sizes]
    alloc = [min(size, max(1, math.floor(q))) for size, q in zip(sizes, quota, strict=True)]
    while sum(alloc) < n:
        j = max((j for j in range(k) if alloc[j] < sizes[j]), key=lambda j: (quota[j] - alloc[j], tie[j]))
        alloc[j] += 1
    while sum(alloc) > n:
        j = max((j for j in range(k) if alloc[j] > 1), key=lambda j: (alloc[j] - quota[j], tie[j]))
        alloc[j] -= 1
    return alloc


def coco_ground_truth(items: list[Item], labels: list[str]) -> dict:
    """COCO-format ground truth of detection items (image ids are item ids, boxes xywh pixels)."""
    images, annotations = [], []
    for item in items:
        meta = item.metadata or {}
        images.append({"id": item.id, "file_name": item.name or item.path,
                       "width": meta.get("width", 0), "height": meta.get("height", 0)})
        ann = item.annotations or {}
        crowd = ann.get("iscrowd") or [0] * len(ann.get("boxes", []))
        for box, label, iscrowd in zip(ann.get("boxes", []), ann.get("labels", []), crowd, strict=True):
            x1, y1, x2, y2 = box
            annotations.append({"id": len(annotations) + 1, "image_id": item.id, "category_id": int(label),
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                                "iscrowd": int(iscrowd)})
    categories = [{"id": i, "name": name} for i, name in enumerate(labels)]
    return {"images": images, "annotations": annotations, "categories": categories}


def coco_detections(predictions: list[Prediction]) -> list[dict]:
    return [
        {"image_id": p.item_id, "category_id": int(label), "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)}
        for p in predictions
        for (x1, y1, x2, y2), score, label in zip(p.boxes, p.scores, p.labels, strict=True)
    ]


def default_slice_fields(items: list[Item]) -> list[str]:
    """``dir``, ``tag`` and every user metadata field of the items."""
    fields = {key for item in items for key in (item.metadata or {}) if key not in NOT_SLICED}
    return ["dir", "tag", *(f"metadata.{k}" for k in sorted(fields))]


def item_slices(items: list[Item], slice_by: list[str] | None) -> dict[str, list[int]]:
    """Slice name → item ids (``slice_by`` None: the default fields; ``[]``: no slices)."""
    from .metrics.slices import build_slices

    fields = default_slice_fields(items) if slice_by is None else slice_by
    if not fields:
        return {}
    records = [{"id": it.id, "dir": it.dir, "tags": it.tags, "name": it.name, "metadata": it.metadata or {}}
               for it in items]
    return build_slices(records, fields)


def evaluate_predictions(task: str, items: list[Item], predictions: list[Prediction], labels: list[str],
                         metric_functions: dict[str, MetricFn] | None = None,
                         slice_by: list[str] | None = None, bootstrap: int = DEFAULT_REPLICATES,
                         seed: int = 0) -> dict:
    """Metrics of ``predictions`` against the items' annotations, overall and per slice.

    Top-level numbers are what gets logged as metric rows; ``slices`` maps slice name to the same
    metrics on that slice's items (plus ``n``, ``ci``, ``delta``, ``delta_ci``, ``worse``); ``items`` has
    one record per item (for finding the worst ones); ``ci`` and ``bootstrap`` hold the headline
    metrics' intervals from ``bootstrap`` replicates drawn with ``seed`` (0 replicates: none).
    Classification: see :func:`classification_results` (top-k accuracies; a slice's macro-F1 averages
    the labels present in the slice, the whole set's every label).
    """
    slices = item_slices(items, slice_by)
    if task == "detect":
        results = _detection(items, predictions, labels, slices, bootstrap, seed)
    elif task == "classify":
        results = classification_results(items, predictions, labels, slices, bootstrap, seed)
    else:
        raise InvalidInput(f"unknown task {task!r} (detect or classify)")
    for name, fn in (metric_functions or {}).items():
        results[name] = float(fn(items, predictions, labels))
    return results


_DETECTION_KEYS = {"mAP50-95": "map50_95", "mAP50": "map50", "mAP75": "map75", "precision": "precision",
                   "recall": "recall"}


def _renamed(r: dict, names: dict[str, str]) -> dict:
    """The comparison entries of a metrics result (``ci``, ``delta``, ``delta_ci``, ``worse``) with
    their metric names mapped by ``names`` (theirs -> ours); those ``r`` lacks are left out."""
    out: dict = {key: {names.get(m, m): v for m, v in r[key].items()}
                 for key in ("ci", "delta", "delta_ci") if key in r}
    if "worse" in r:
        out["worse"] = [names.get(m, m) for m in r["worse"]]
    return out


def _detection(items: list[Item], predictions: list[Prediction], labels: list[str],
               slices: dict[str, list[int]], bootstrap: int = 0, seed: int = 0) -> dict:
    from .metrics.confusion import detection_confusion
    from .metrics.detection import coco_evaluate

    res = coco_evaluate(coco_ground_truth(items, labels), coco_detections(predictions), slices=slices or None,
                        bootstrap=bootstrap, seed=seed)
    names = {theirs: ours for ours, theirs in _DETECTION_KEYS.items()}

    def pick(r: dict) -> dict:
        values = {ours: r.get(theirs) for ours, theirs in _DETECTION_KEYS.items()}
        return values | {"n_images": r.get("n_images")}

    out = {k: (v if v is not None else float("nan")) for k, v in pick(res).items() if k != "n_images"}
    per_image = res.get("per_image") or {}
    by_item = {p.item_id: p for p in predictions}
    matrix, matrix_labels, pairs = detection_confusion(
        ((it.id, it.annotations or {}, by_item.get(it.id)) for it in items), labels, res.get("conf_threshold"))
    out.update(
        metric_source="COCO (mm_jupyter.metrics, maxDets=100)", conf_threshold=res.get("conf_threshold"),
        per_class=res["per_class"], pr_curve=res.get("pr_curve"),
        confusion_matrix=matrix, confusion_labels=matrix_labels,
        **(_renamed(res, names) if bootstrap else {}),
        slices={name: pick(r) | {"n": r["n_images"]} | (_renamed(r, names) if bootstrap else {})
                for name, r in (res.get("slices") or {}).items()},
        items=[{"item_id": it.id, "name": it.name, "dir": it.dir, "tags": it.tags,
                "n_gt": len((it.annotations or {}).get("boxes", [])), **per_image.get(it.id, {}),
                "confusion": pairs.get(it.id, [])}
               for it in items],
    )
    if "bootstrap" in res:
        out["bootstrap"] = res["bootstrap"]
    return out


def classification_results(items: list[Item], predictions: list[Prediction], labels: list[str],
                           slices: dict[str, list[int]] | None = None, bootstrap: int = 0,
                           seed: int = 0) -> dict:
    """Classification metrics of ``predictions`` against the items' ``{"label": int}``.

    Top level: ``accuracy``; ``top1_accuracy`` always, ``top3_accuracy`` / ``top5_accuracy`` when there
    are more than 3 / 5 labels and the predictions carry ``probs`` (one per label; top-1 then ranks the
    probs, ties as scikit-learn breaks them; without probs it is the accuracy of the predicted labels);
    ``macro_f1`` averaging **every** label of ``labels`` and ``weighted_f1``; ``per_class``,
    ``confusion_matrix``, ``labels``. ``slices`` ({name: item ids}) gives ``slices: {name: {accuracy,
    macro_f1, top-k, n}}`` where a slice's macro-F1 averages only the labels **present in the slice**
    (among its true or predicted labels): a slice with every item right has macro-F1 1.0, whatever the
    other labels. With ``bootstrap`` replicates (0: none, the default here; :func:`evaluate_predictions`
    asks for them) each slice also has ``ci``, ``delta``, ``delta_ci`` and ``worse``, and the top level
    ``ci`` and ``bootstrap``. ``items``: one record per predicted item. Raises ``InvalidInput``
    (one line) for a prediction of an unknown item, a missing or out-of-range label, or probs of the
    wrong length.
    """
    from .metrics.classification import classification_metrics

    truth = {item.id: (item.annotations or {}).get("label") for item in items}
    given = [int(v) for v in [*truth.values(), *(p.label for p in predictions)] if _is_int(v)]
    widest = max((len(p.probs) for p in predictions if p.probs), default=0)
    names = list(labels) or [str(i) for i in range(max(1 + max(given, default=0), widest))]
    for p in predictions:
        if p.item_id not in truth:
            raise InvalidInput(f"prediction for item {p.item_id!r}, which is not among the evaluated items")
        for what, value in (("item", truth[p.item_id]), ("prediction for item", p.label)):
            if not _is_int(value) or not 0 <= value < len(names):
                raise InvalidInput(f"{what} {p.item_id!r} has label {value!r}, expected an int in 0..{len(names) - 1}")
    scores = None
    if any(p.probs for p in predictions):
        bad = next((p for p in predictions if len(p.probs or []) != len(names)), None)
        if bad is not None:
            raise InvalidInput(f"prediction for item {bad.item_id!r} has {len(bad.probs or [])} probs, "
                               f"expected {len(names)} (one per label, or none on every prediction)")
        scores = [[float(v) for v in p.probs] for p in predictions]
    top_k = tuple(k for k in TOP_K if k == 1 or len(names) > k) if scores is not None else ()
    row_of = {p.item_id: i for i, p in enumerate(predictions)}
    y_true = [names[int(truth[p.item_id])] for p in predictions]
    y_pred = [names[int(p.label)] for p in predictions]
    row_slices = {name: [row_of[i] for i in ids if i in row_of] for name, ids in (slices or {}).items()}
    res = classification_metrics(y_true, y_pred, labels=names, scores=scores, top_k=top_k,
                                 slices=row_slices or None, bootstrap=bootstrap, seed=seed)

    def top(r: dict) -> dict:
        if scores is None:
            return {"top1_accuracy": r["accuracy"]}
        return {f"top{k}_accuracy": r[f"top{k}_accuracy"] for k in top_k}

    def compared(r: dict) -> dict:
        if not bootstrap:  # the plain numbers only (the widgets' recomputation reads them)
            return {}
        out = _renamed(r, {})
        if scores is None:  # top-1 is the accuracy: the same interval and comparison
            for key in ("ci", "delta", "delta_ci"):
                if key in out:
                    out[key]["top1_accuracy"] = out[key]["accuracy"]
            if "accuracy" in out.get("worse", []):
                out["worse"].append("top1_accuracy")
        return out

    by_item = {p.item_id: p for p in predictions}
    return {
        "accuracy": res["accuracy"], **top(res), "macro_f1": res["macro"]["f1"],
        "weighted_f1": res["weighted"]["f1"],
        "per_class": res["per_class"], "confusion_matrix": res["confusion_matrix"], "labels": names,
        **compared(res), **({"bootstrap": res["bootstrap"]} if "bootstrap" in res else {}),
        "slices": {name: {"accuracy": r["accuracy"], "macro_f1": (r["macro"] or {}).get("f1"), **top(r),
                          "n": len(row_slices[name]), **compared(r)}
                   for name, r in (res.get("slices") or {}).items()},
        "items": [{"item_id": it.id, "name": it.name, "dir": it.dir, "tags": it.tags,
                   "true": names[int(truth[it.id])], "pred": names[int(by_item[it.id].label)],
                   "correct": bool(by_item[it.id].label == truth[it.id]),
                   "confidence": float(max(by_item[it.id].probs)) if by_item[it.id].probs else None}
                  for it in items if it.id in by_item],
    }


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def write_artifacts(results: dict, folder: Path) -> dict[str, Path]:
    """Write ``results.json``, ``slices.csv`` (see :func:`slice_rows`) and ``items.jsonl`` (per-item
    records) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"results": folder / "results.json", "slices": folder / "slices.csv", "items": folder / "items.jsonl"}
    summary = {k: v for k, v in results.items() if k != "items"}
    paths["results"].write_text(json.dumps(summary, indent=1, default=str))
    rows = results.get("slices") or {}
    paths["slices"].write_text("\n".join(",".join(line) for line in slice_rows(rows)) + "\n")
    with open(paths["items"], "w") as fh:
        for record in results.get("items") or []:
            fh.write(json.dumps(record, default=str) + "\n")
    return paths


def slice_rows(slices: dict[str, dict]) -> list[list[str]]:
    """The per-slice table as CSV cells, a header first: ``slice``, the scalar entries (sorted), then per
    metric with an interval ``<metric>_lo``, ``<metric>_hi``, ``<metric>_delta``, ``<metric>_delta_lo``,
    ``<metric>_delta_hi``, and ``worse`` (the metrics significantly worse than the whole set, ``;``-joined).
    Empty cells for missing values."""
    scalars = sorted({k for r in slices.values() for k, v in r.items()
                      if v is None or isinstance(v, int | float) and not isinstance(v, bool)})
    metrics = list(dict.fromkeys(m for r in slices.values()
                                 for m in {**(r.get("delta") or {}), **(r.get("ci") or {})}))
    has_worse = any("worse" in r for r in slices.values())

    def cell(v: object) -> str:
        return "" if v is None else f"{v}"

    parts = ("lo", "hi", "delta", "delta_lo", "delta_hi")
    header = ["slice", *scalars, *(f"{m}_{part}" for m in metrics for part in parts),
              *(["worse"] if has_worse else [])]
    lines = [header]
    for name, r in slices.items():
        line = [json.dumps(name), *(cell(r.get(c)) for c in scalars)]
        for m in metrics:
            ci = (r.get("ci") or {}).get(m) or [None, None]
            dci = (r.get("delta_ci") or {}).get(m) or [None, None]
            line += [cell(ci[0]), cell(ci[1]), cell((r.get("delta") or {}).get(m)), cell(dci[0]), cell(dci[1])]
        if has_worse:
            line.append(";".join(r.get("worse") or []))
        lines.append(line)
    return lines


def load_results(folder: Path) -> dict:
    """The stored results of an evaluate execution (its folder), with the per-item records."""
    results = json.loads((folder / "results.json").read_text())
    items_path = folder / "items.jsonl"
    results["items"] = [json.loads(line) for line in items_path.read_text().splitlines()] if items_path.exists() else []
    return results
