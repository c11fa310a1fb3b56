"""What runs in a prediction's kernel: a version's adapter with its weights loaded, turning image
files into prediction records, and the load check of weights trained elsewhere.

Records (the contract of ``mm predict``, ``mm.predict`` and REST predict), one per image:

- detection: ``{"image": NAME, "task": "detection", "width": W, "height": H,
  "boxes": [{"label": "circle", "score": 0.93, "box": [x1, y1, x2, y2]}, ...]}`` (pixels, best first)
- classification: ``{"image": NAME, "task": "classification", "label": "circle", "score": 0.97,
  "top_k": [{"label": "circle", "score": 0.97}, ...]}`` (at most ``top_k`` classes, best first)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .adapter import BaseModelAdapter
from .artifact_root import local_copy
from .errors import InvalidInput
from .hashing import checked_weights
from .imagefiles import image_size
from .items import Item, Prediction
from .registry import kernel_adapter_class, version_model
from .store import Store

TOP_K = 5


class Predictor:
    """A version's adapter, weights loaded and checked against the version's recorded hash."""

    def __init__(self, adapter: BaseModelAdapter, labels: list[str], snapshot_id: str):
        self.adapter = adapter
        self.labels = labels
        self.snapshot_id = snapshot_id

    @classmethod
    def open(cls, home: str, snapshot_id: str) -> Predictor:
        """Load version ``snapshot_id`` of the store at ``home`` (``InvalidInput`` when it has no weights
        or they changed since they were recorded)."""
        store = Store(home, create=False)
        try:
            snap = store.get("snapshots", snapshot_id)
            model = store.get("models", snap["model_id"])
        finally:
            store.close()
        if not snap.get("weights_uri"):
            raise InvalidInput(f"version {snap['id']} ({snap['name']}) has no weights: train it or add pre-trained "
                               "weights first")
        # weights at a URL (s3://…) are used through a local copy, cached by their hash
        folder = local_copy(snap["weights_uri"], snap.get("weights_hash"), Path(home) / "cache" / "weights")
        checked_weights(folder, snap.get("weights_hash"), f"version {snap['id']}")
        labels = snap["labels"] or model["labels"] or []
        code = version_model(snap, model)  # the code the version was trained with
        adapter = kernel_adapter_class(code["adapter"], code.get("codebase"))(config=snap["config"], labels=labels)
        adapter.load(str(folder))
        return cls(adapter, list(adapter.labels or labels), snap["id"])

    def predict_files(self, paths: list[str], names: list[str] | None = None, top_k: int = TOP_K) -> list[dict]:
        """One record per image file (see the module's docstring)."""
        names = names or [Path(p).name for p in paths]
        items = [Item(id=i, path=str(p), name=n) for i, (p, n) in enumerate(zip(paths, names, strict=True))]
        predictions = self.adapter.predict(items) if items else []
        return [self.record(item, pred, top_k) for item, pred in zip(items, predictions, strict=True)]

    def _label(self, index: int) -> str:
        return self.labels[index] if 0 <= index < len(self.labels) else str(index)

    def record(self, item: Item, pred: Prediction, top_k: int = TOP_K) -> dict[str, Any]:
        """The record of one image's prediction."""
        if self.adapter.task == "classify" or (pred.label is not None and not pred.boxes):
            probs = list(pred.probs or [])
            if not probs and pred.label is not None:
                probs = [1.0 if i == pred.label else 0.0 for i in range(max(len(self.labels), pred.label + 1))]
            order = sorted(range(len(probs)), key=lambda i: -probs[i])[:max(1, top_k)]
            best = pred.label if pred.label is not None else (order[0] if order else -1)
            return {"image": item.name, "task": "classification", "label": self._label(best),
                    "score": float(probs[best]) if 0 <= best < len(probs) else None,
                    "top_k": [{"label": self._label(i), "score": float(probs[i])} for i in order]}
        width, height = image_size(item.path)
        order = sorted(range(len(pred.scores)), key=lambda i: -pred.scores[i])
        return {"image": item.name, "task": "detection", "width": width, "height": height,
                "boxes": [{"label": self._label(int(pred.labels[i])), "score": float(pred.scores[i]),
                           "box": [round(float(v), 2) for v in pred.boxes[i]]} for i in order]}


def import_weights(adapter_ref: str, config: dict, labels: list[str], source: str, dest: str,
                   codebase: dict | None = None) -> dict:
    """Load weights trained elsewhere through the adapter (the check that they are this model's) and
    save them in the adapter's own layout into ``dest``; returns the labels they carry."""
    path = Path(source)
    if not path.exists():
        raise InvalidInput(f"weights {source!r} do not exist")
    adapter = kernel_adapter_class(adapter_ref, codebase)(config=config, labels=labels)
    try:
        adapter.load(str(path))
    except InvalidInput:
        raise
    except Exception as exc:  # each framework raises its own kinds for a file it cannot read
        raise InvalidInput(f"the {adapter_ref} adapter cannot load {source!r}: {type(exc).__name__}: "
                           f"{str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}") from None
    Path(dest).mkdir(parents=True, exist_ok=True)  # as a training's save gets it
    adapter.save(dest)
    return {"labels": list(adapter.labels or labels), "task": adapter.task}
