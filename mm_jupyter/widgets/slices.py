"""Per-slice metrics of an evaluation execution: from its ``results.json`` when it holds slices,
else recomputed from its ``predictions.jsonl`` and the test items' fields."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ..items import Prediction
from ..queries.evaluations import slice_values
from ..queries.items import select_items
from ..store import Store

HEADLINE = {"detect": ("mAP50-95", "map50_95", "mAP50", "map50", "precision", "recall"),
            "classify": ("accuracy", "macro_f1")}
MAX_DISTINCT = 12


def auto_slice_fields(items: list[dict]) -> list[str]:
    """Metadata fields with text values and 2..12 distinct values (e.g. lighting); else ``dir``."""
    values: dict[str, set] = {}
    for item in items:
        for key, value in (item.get("metadata") or {}).items():
            if isinstance(value, str):
                values.setdefault(key, set()).add(value)
    fields = [f"metadata.{k}" for k, v in sorted(values.items()) if 2 <= len(v) <= MAX_DISTINCT]
    return fields or ["dir"]


def slice_metrics(store: Store, execution: dict, task: str | None,
                  slice_by: list[str] | None = None) -> dict[str, dict[str, float | None]]:
    """``{slice name: {metric: value}}`` for one successful evaluation execution ({} if none apply)."""
    stored = slice_values(store, execution)  # the one read of an evaluation's results
    if stored:
        return stored
    folder = store.execution_dir(execution)
    preds_path = folder / "predictions.jsonl"
    params = execution.get("params") or {}
    if task not in HEADLINE or not preds_path.is_file() or not params.get("dataset_id"):
        return {}
    items = select_items(store, params["dataset_id"], params.get("test_selection") or {})
    item_dicts = [asdict(i) for i in items]
    from ..metrics import build_slices

    slices = build_slices(item_dicts, slice_by or auto_slice_fields(item_dicts))
    preds = _predictions(preds_path)
    labels = params.get("labels") or []
    if task == "detect":
        from ..evaluation import coco_detections, coco_ground_truth
        from ..metrics import coco_evaluate

        res = coco_evaluate(coco_ground_truth(items, labels), coco_detections(preds), slices=slices,
                            bootstrap=0)
        return {name: _headline(r) for name, r in res["slices"].items()}
    from ..evaluation import classification_results

    # the same rule as results.json (a slice's macro-F1 over the labels present in it; top-k when the
    # predictions carry probs); items without a label and predictions without a class are left out
    truth = {i.id: (i.annotations or {}).get("label") for i in items}
    preds = [p for p in preds if truth.get(p.item_id) is not None and p.label is not None]
    res = classification_results(items, preds, labels, slices)
    return res["slices"]


def _headline(res: dict) -> dict[str, float | None]:
    """The numeric entries of one slice's results (``macro_f1`` added from ``macro`` when missing)."""
    out = {k: v for k, v in res.items() if (isinstance(v, int | float) and not isinstance(v, bool)) or v is None}
    if isinstance(res.get("macro"), dict) and "macro_f1" not in out:
        out["macro_f1"] = res["macro"].get("f1")
    return out


def _predictions(path: Path) -> list[Prediction]:
    with open(path) as fh:
        return [Prediction(**json.loads(line)) for line in fh if line.strip()]
