"""The confusion matrix of a detector: which class each ground-truth box was found as.

Per image, the predictions scoring at least ``conf`` are taken in descending score order; each is
matched to the not yet matched ground-truth box it overlaps most, of any class, when that IoU is at
least ``iou`` (0.5). A match counts in the cell (true class, predicted class) — off the diagonal
when the detector found the object but named it wrongly; a prediction left unmatched counts in
(background, predicted class), a ground-truth box left unmatched in (true class, background).
Crowd boxes are left out. (Ultralytics' matrix is built the same way at IoU 0.45; the counts are
boxes, not images.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

BACKGROUND = "(background)"


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (n×4, xyxy) with every box of ``b`` (m×4)."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def image_pairs(gt_boxes: Sequence[Sequence[float]], gt_labels: Sequence[int],
                boxes: Sequence[Sequence[float]], scores: Sequence[float], labels: Sequence[int],
                conf: float, iou: float = 0.5) -> list[tuple[int | None, int | None]]:
    """One image's (true class, predicted class) pairs; None stands for the background."""
    keep = [i for i, s in enumerate(scores) if s >= conf]
    keep.sort(key=lambda i: -scores[i])
    gt = np.asarray(gt_boxes, dtype=float).reshape(-1, 4)
    pred = np.asarray([boxes[i] for i in keep], dtype=float).reshape(-1, 4)
    overlaps = box_iou(pred, gt)
    free = np.ones(len(gt), dtype=bool)
    pairs: list[tuple[int | None, int | None]] = []
    for row, i in enumerate(keep):
        candidates = np.where(free, overlaps[row], -1.0) if len(gt) else overlaps[row]
        best = int(np.argmax(candidates)) if len(gt) else -1
        if best < 0 or candidates[best] < iou:
            pairs.append((None, int(labels[i])))
        else:  # the first of equally overlapping boxes
            free[best] = False
            pairs.append((int(gt_labels[best]), int(labels[i])))
    pairs.extend((int(gt_labels[j]), None) for j in np.flatnonzero(free))
    return pairs


def confusion_matrix(pairs: Iterable[tuple[int | None, int | None]], n_classes: int) -> list[list[int]]:
    """Counts of ``pairs`` as an (n+1)×(n+1) matrix, rows true, columns predicted, the background last."""
    matrix = [[0] * (n_classes + 1) for _ in range(n_classes + 1)]
    for true, pred in pairs:
        row = n_classes if true is None or not 0 <= true < n_classes else true
        col = n_classes if pred is None or not 0 <= pred < n_classes else pred
        matrix[row][col] += 1
    return matrix


def detection_confusion(images: Iterable[tuple[int, dict, object]], labels: Sequence[str], conf: float | None,
                        iou: float = 0.5) -> tuple[list[list[int]], list[str], dict[int, list[list[str]]]]:
    """The matrix over ``(item id, annotations, prediction)`` triples (crowd boxes left out; no
    prediction counted when ``conf`` is None), its axis labels (``labels`` then the background) and
    each item's (true, predicted) label-name pairs."""
    names = [*map(str, labels), BACKGROUND]
    threshold = float("inf") if conf is None else conf
    per_item: dict[int, list[list[str]]] = {}
    every: list[tuple[int | None, int | None]] = []
    for item_id, ann, pred in images:
        crowd = ann.get("iscrowd") or [0] * len(ann.get("boxes", []))
        kept = [(box, label) for box, label, c in zip(ann.get("boxes", []), ann.get("labels", []), crowd, strict=True)
                if not c]
        pairs = image_pairs([b for b, _ in kept], [lab for _, lab in kept],
                            getattr(pred, "boxes", None) or [], getattr(pred, "scores", None) or [],
                            getattr(pred, "labels", None) or [], threshold, iou)
        every.extend(pairs)
        per_item[item_id] = [[_name(names, t), _name(names, p)] for t, p in pairs]
    return confusion_matrix(every, len(labels)), names, per_item


def _name(names: list[str], index: int | None) -> str:
    return names[-1] if index is None or not 0 <= index < len(names) - 1 else names[index]
