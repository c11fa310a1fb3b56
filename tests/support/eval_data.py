"""Evaluate executions with real results, made without training: a shapes dataset registered in a real
store, seeded synthetic predictions scored by ``evaluation.evaluate_predictions`` and written by
``evaluation.write_artifacts`` into the execution's folder (as ``runtime.evaluate`` does), plus its
``predictions.jsonl``. Used by the evaluation view's REST and browser tests."""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict
from pathlib import Path

from mm_jupyter.evaluation import evaluate_predictions, write_artifacts
from mm_jupyter.items import Prediction

BAD_GROUP = "g00"  # the group whose predictions are made worse (a slice flagged significantly worse)


def shapes_dataset(store, folder: Path, *, flavour: str = "detect", n: int = 60, groups: int = 4,
                   name: str = "shapes", size: int = 64) -> dict:
    """A shapes test set of ``n`` images with a ``group`` metadata field (``g00``..), registered."""
    from mm_jupyter.datasets import register_dataset
    from mm_jupyter.shapes import generate_shapes

    data = generate_shapes(folder, flavour=flavour, n_train=0, n_val=0, n_test=n, size=size, seed=0)
    lines = [json.loads(line) for line in (data / "metadata.jsonl").read_text().splitlines()]
    for i, meta in enumerate(lines):
        meta["group"] = f"g{i % groups:02d}"
    (data / "metadata.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))
    return register_dataset(store, data, name=name)


def detections(items, seed: int = 0) -> list[Prediction]:
    """Predictions near the ground truth: most boxes found (jittered), some missed, some false
    positives; items of ``BAD_GROUP`` much worse."""
    rng = random.Random(seed)
    out = []
    for it in items:
        ann = it.annotations or {}
        bad = (it.metadata or {}).get("group") == BAD_GROUP
        boxes, scores, labels = [], [], []
        for box, label in zip(ann.get("boxes", []), ann.get("labels", []), strict=True):
            if rng.random() < (0.6 if bad else 0.1):
                continue
            j = [rng.uniform(-2, 2) for _ in range(4)]
            boxes.append([box[0] + j[0], box[1] + j[1], box[2] + j[2], box[3] + j[3]])
            labels.append(label if rng.random() > (0.3 if bad else 0.05) else (label + 1) % 3)
            scores.append(rng.uniform(0.5, 1.0))
        if rng.random() < (0.8 if bad else 0.2):
            x, y = rng.uniform(0, 40), rng.uniform(0, 40)
            boxes.append([x, y, x + 12, y + 12])
            labels.append(rng.randrange(3))
            scores.append(rng.uniform(0.3, 0.9))
        out.append(Prediction(item_id=it.id, boxes=boxes, scores=scores, labels=labels))
    return out


def classifications(items, seed: int = 0) -> list[Prediction]:
    """Class predictions with probs: 85% right (40% in ``BAD_GROUP``)."""
    rng = random.Random(seed)
    out = []
    for it in items:
        truth = (it.annotations or {})["label"]
        bad = (it.metadata or {}).get("group") == BAD_GROUP
        label = truth if rng.random() < (0.4 if bad else 0.85) else (truth + rng.randrange(1, 3)) % 3
        probs = [0.1, 0.1, 0.1]
        probs[label] = 0.8
        out.append(Prediction(item_id=it.id, label=label, probs=probs))
    return out


def add_intervals(results: dict, seed: int = 0) -> dict:
    """Bootstrap-shaped intervals (``ci``, ``bootstrap``; per slice ``ci``, ``delta``, ``delta_ci``,
    ``worse``) where the results have none (the evaluation's own bootstrap gives them where it
    runs): the shape the evaluation gives them."""
    if results.get("ci"):
        return results
    rng = random.Random(seed)
    metrics = [m for m in ("mAP50-95", "mAP50", "mAP75", "precision", "recall", "accuracy", "macro_f1")
               if isinstance(results.get(m), float)]
    results["ci"] = {m: [results[m] - 0.03, results[m] + 0.03] for m in metrics}
    results["bootstrap"] = {"replicates": 200, "seed": seed, "level": 0.95}
    for row in (results.get("slices") or {}).values():
        row.setdefault("n", row.get("n_images"))
        values = {m: row.get(m) for m in metrics}
        half = {m: 0.05 + 0.05 * rng.random() for m in metrics}
        row["ci"] = {m: None if v is None else [v - half[m], v + half[m]] for m, v in values.items()}
        row["delta"] = {m: None if v is None else v - results[m] for m, v in values.items()}
        row["delta_ci"] = {m: None if d is None else [d - half[m], d + half[m]] for m, d in row["delta"].items()}
        row["worse"] = [m for m, ci in row["delta_ci"].items() if ci is not None and ci[1] < 0]
    return results


def evaluation_execution(store, dataset: dict, snapshot_id: str, *, task: str = "detect",
                         slice_by: list[str] | None = None, intervals: bool = True, seed: int = 0,
                         status: str = "success", write: bool = True, selection: dict | None = None,
                         params: dict | None = None) -> dict:
    """An evaluate execution of ``snapshot_id`` on the dataset's test items (``selection``, default
    the items tagged test), with its artifacts; ``params`` are added to its recorded parameters."""
    from mm_jupyter.queries.items import select_items

    snap = store.get("snapshots", snapshot_id)
    selection = selection or {"tag": "test"}
    exe = store.insert("executions", {
        "kind": "evaluate", "snapshot_id": snap["id"], "model_id": snap["model_id"], "service": "svc",
        "status": status, "progress": 100.0 if status == "success" else 40.0, "attempts": 1,
        "started_at": time.time(), "ended_at": time.time() if status != "in-progress" else None,
        "params": {"dataset_id": dataset["id"], "test_selection": selection, "labels": dataset["labels"],
                   "slice_by": slice_by, **(params or {})},
        "name": f"evaluate {snap['name']} ({task})"})
    if not write:
        return exe
    items = select_items(store, dataset["id"], selection)
    preds = detections(items, seed) if task == "detect" else classifications(items, seed)
    results = evaluate_predictions(task, items, preds, dataset["labels"], slice_by=slice_by)
    if intervals:
        add_intervals(results, seed)
    else:  # as an evaluation computed without a bootstrap (or before intervals existed) stores it
        results.pop("ci", None)
        results.pop("bootstrap", None)
        for row in (results.get("slices") or {}).values():
            for key in ("ci", "delta", "delta_ci", "worse"):
                row.pop(key, None)
    folder = store.execution_dir(exe)
    write_artifacts(results, folder)
    (folder / "predictions.jsonl").write_text("".join(json.dumps(asdict(p)) + "\n" for p in preds))
    return exe
