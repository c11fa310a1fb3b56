"""From an adapter's predictions to the task's metrics (COCO-exact detection, classification)."""

from __future__ import annotations

from .adapter import Item, Prediction
from .errors import InvalidInput


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


def evaluate_predictions(task: str, items: list[Item], predictions: list[Prediction],
                         labels: list[str]) -> dict:
    """Metrics of ``predictions`` against the items' annotations; scalar entries are what gets logged."""
    if task == "detect":
        from .metrics.detection import coco_evaluate

        res = coco_evaluate(coco_ground_truth(items, labels), coco_detections(predictions))
        return {"mAP50-95": res["map50_95"], "mAP50": res["map50"], "mAP75": res["map75"],
                "precision": res["precision"], "recall": res["recall"], "per_class": res["per_class"],
                "metric_source": "COCO (mm_jupyter.metrics, maxDets=100)"}
    if task == "classify":
        from .metrics.classification import classification_metrics

        truth = {item.id: (item.annotations or {}).get("label") for item in items}
        names = list(labels) or [str(i) for i in range(1 + max(truth.values(), default=0))]
        y_true = [names[truth[p.item_id]] for p in predictions]
        y_pred = [names[p.label] for p in predictions]
        res = classification_metrics(y_true, y_pred, labels=names)
        return {"accuracy": res["accuracy"], "macro_f1": res["macro"]["f1"],
                "weighted_f1": res["weighted"]["f1"], "per_class": res["per_class"],
                "confusion_matrix": res["confusion_matrix"]}
    raise InvalidInput(f"unknown task {task!r} (detect or classify)")
