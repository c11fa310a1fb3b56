"""From an adapter's predictions to the task's metrics: COCO-exact detection or classification, overall,
per slice of the items (one matching pass), per item (to find the worst ones), plus the adapter's own
metric functions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .errors import InvalidInput
from .items import Item, Prediction

MetricFn = Callable[[list[Item], list[Prediction], list[str]], float]
NOT_SLICED = ("width", "height")


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
                         slice_by: list[str] | None = None) -> dict:
    """Metrics of ``predictions`` against the items' annotations, overall and per slice.

    Top-level numbers are what gets logged as metric rows; ``slices`` maps slice name to the same
    metrics on that slice's items; ``items`` has one record per item (for finding the worst ones).
    """
    slices = item_slices(items, slice_by)
    if task == "detect":
        results = _detection(items, predictions, labels, slices)
    elif task == "classify":
        results = _classification(items, predictions, labels, slices)
    else:
        raise InvalidInput(f"unknown task {task!r} (detect or classify)")
    for name, fn in (metric_functions or {}).items():
        results[name] = float(fn(items, predictions, labels))
    return results


def _detection(items: list[Item], predictions: list[Prediction], labels: list[str],
               slices: dict[str, list[int]]) -> dict:
    from .metrics.detection import coco_evaluate

    res = coco_evaluate(coco_ground_truth(items, labels), coco_detections(predictions), slices=slices or None)
    keys = {"mAP50-95": "map50_95", "mAP50": "map50", "mAP75": "map75", "precision": "precision",
            "recall": "recall"}

    def pick(r: dict) -> dict:
        return {ours: r.get(theirs) for ours, theirs in keys.items()} | {"n_images": r.get("n_images")}

    out = {k: (v if v is not None else float("nan")) for k, v in pick(res).items() if k != "n_images"}
    per_image = res.get("per_image") or {}
    out.update(
        metric_source="COCO (mm_jupyter.metrics, maxDets=100)", conf_threshold=res.get("conf_threshold"),
        per_class=res["per_class"], pr_curve=res.get("pr_curve"),
        slices={name: pick(r) for name, r in (res.get("slices") or {}).items()},
        items=[{"item_id": it.id, "name": it.name, "dir": it.dir, "tags": it.tags,
                "n_gt": len((it.annotations or {}).get("boxes", [])), **per_image.get(it.id, {})}
               for it in items],
    )
    return out


def _classification(items: list[Item], predictions: list[Prediction], labels: list[str],
                    slices: dict[str, list[int]]) -> dict:
    from .metrics.classification import classification_metrics

    truth = {item.id: (item.annotations or {}).get("label") for item in items}
    names = list(labels) or [str(i) for i in range(1 + max(truth.values(), default=0))]
    row_of = {p.item_id: i for i, p in enumerate(predictions)}
    y_true = [names[truth[p.item_id]] for p in predictions]
    y_pred = [names[p.label] for p in predictions]
    row_slices = {name: [row_of[i] for i in ids if i in row_of] for name, ids in slices.items()}
    res = classification_metrics(y_true, y_pred, labels=names, slices=row_slices or None)
    by_item = {p.item_id: p for p in predictions}
    return {
        "accuracy": res["accuracy"], "macro_f1": res["macro"]["f1"], "weighted_f1": res["weighted"]["f1"],
        "per_class": res["per_class"], "confusion_matrix": res["confusion_matrix"], "labels": names,
        "slices": {name: {"accuracy": r["accuracy"], "macro_f1": r["macro"]["f1"], "n": len(row_slices[name])}
                   for name, r in (res.get("slices") or {}).items()},
        "items": [{"item_id": it.id, "name": it.name, "dir": it.dir, "tags": it.tags,
                   "true": names[truth[it.id]], "pred": names[by_item[it.id].label],
                   "correct": by_item[it.id].label == truth[it.id],
                   "confidence": max(by_item[it.id].probs) if by_item[it.id].probs else None}
                  for it in items if it.id in by_item],
    }


def write_artifacts(results: dict, folder: Path) -> dict[str, Path]:
    """Write ``results.json``, ``slices.csv`` and ``items.jsonl`` (per-item records) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"results": folder / "results.json", "slices": folder / "slices.csv", "items": folder / "items.jsonl"}
    summary = {k: v for k, v in results.items() if k != "items"}
    paths["results"].write_text(json.dumps(summary, indent=1, default=str))
    rows = results.get("slices") or {}
    columns = sorted({k for r in rows.values() for k in r})
    lines = [",".join(["slice", *columns])]
    lines += [",".join([json.dumps(name), *("" if r.get(c) is None else f"{r[c]}" for c in columns)])
              for name, r in rows.items()]
    paths["slices"].write_text("\n".join(lines) + "\n")
    with open(paths["items"], "w") as fh:
        for record in results.get("items") or []:
            fh.write(json.dumps(record, default=str) + "\n")
    return paths


def load_results(folder: Path) -> dict:
    """The stored results of an evaluate execution (its folder), with the per-item records."""
    results = json.loads((folder / "results.json").read_text())
    items_path = folder / "items.jsonl"
    results["items"] = [json.loads(line) for line in items_path.read_text().splitlines()] if items_path.exists() else []
    return results
