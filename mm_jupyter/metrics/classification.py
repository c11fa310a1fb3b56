"""Classification metrics (numpy only): accuracy, per-class P/R/F1, averages, top-k, confusion, slices,
and bootstrap confidence intervals.

Macro averages: over every label for the whole set, over the labels present in the slice (true or
predicted) for a slice."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from . import MetricsInputError
from . import bootstrap as _boot


def _as_1d(values: Sequence, what: str) -> np.ndarray:
    if isinstance(values, (str, bytes)):
        raise MetricsInputError(f"{what} must be a sequence of labels, not a string")
    arr = values if isinstance(values, np.ndarray) else np.asarray(list(values), dtype=object)
    if arr.ndim != 1:
        raise MetricsInputError(f"{what} must be one-dimensional, got shape {arr.shape}")
    return arr


def _encode(arr: np.ndarray, index: dict, what: str) -> np.ndarray:
    uniq, inverse = np.unique(arr, return_inverse=True) if arr.dtype != object else _unique_objects(arr)
    codes = np.empty(len(uniq), dtype=np.int64)
    for j, v in enumerate(uniq.tolist() if isinstance(uniq, np.ndarray) else uniq):
        if v not in index:
            raise MetricsInputError(f"{what} has label {v!r}, which is not in labels")
        codes[j] = index[v]
    return codes[inverse.ravel()]


def _unique_objects(arr: np.ndarray) -> tuple[list, np.ndarray]:
    first: dict = {}
    try:
        inverse = np.fromiter((first.setdefault(v, len(first)) for v in arr.tolist()), np.int64, len(arr))
    except TypeError as exc:
        raise MetricsInputError(f"labels must be hashable: {exc}") from None
    return list(first), inverse


def _default_labels(y_true: np.ndarray, y_pred: np.ndarray) -> list:
    try:
        values = list(dict.fromkeys([*y_true.tolist(), *y_pred.tolist()]))
    except TypeError as exc:
        raise MetricsInputError(f"labels must be hashable: {exc}") from None
    try:
        return sorted(values)
    except TypeError:
        raise MetricsInputError("labels of mixed types cannot be ordered; pass labels=") from None


def _prf(cm: np.ndarray) -> dict[str, np.ndarray]:
    tp = np.diag(cm).astype(np.float64)
    support, predicted = cm.sum(1).astype(np.float64), cm.sum(0).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / denom, 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def _top_k_hits(scores: np.ndarray, true: np.ndarray, k: int) -> np.ndarray:
    """Per row, whether its true label is among its ``k`` best scores."""
    if k >= scores.shape[1]:
        return np.ones(len(true), dtype=bool)
    ranked = np.argsort(scores, axis=1, kind="mergesort")[:, ::-1][:, :k]  # ties as scikit-learn breaks them
    return (ranked == true[:, None]).any(1)


def _top_k(scores: np.ndarray, true: np.ndarray, k: int) -> float:
    return 1.0 if k >= scores.shape[1] else float(_top_k_hits(scores, true, k).mean())


def _metrics(true: np.ndarray, pred: np.ndarray, labels: list, scores: np.ndarray | None,
             top_k: Sequence[int], macro_over: str = "all") -> dict[str, Any]:
    """The metrics of one set of rows; ``macro_over="present"`` averages the macro over the labels
    that occur among these rows' true or predicted labels, ``"all"`` over every label."""
    n_labels, n = len(labels), len(true)
    cm = np.bincount(true * n_labels + pred, minlength=n_labels * n_labels).reshape(n_labels, n_labels)
    out: dict[str, Any] = {"n": int(n), "labels": list(labels), "confusion_matrix": cm.tolist()}
    if n == 0:
        out.update(accuracy=None, macro=None, weighted=None,
                   per_class={lab: {"precision": None, "recall": None, "f1": None, "support": 0} for lab in labels})
        out.update({f"top{k}_accuracy": None for k in (top_k if scores is not None else ())})
        return out
    m = _prf(cm)
    support = m["support"]
    out["accuracy"] = float(np.trace(cm) / n)
    out["per_class"] = {lab: {"precision": float(m["precision"][j]), "recall": float(m["recall"][j]),
                              "f1": float(m["f1"][j]), "support": int(support[j])} for j, lab in enumerate(labels)}
    keep = (support > 0) | (cm.sum(0) > 0) if macro_over == "present" else np.ones(n_labels, dtype=bool)
    out["macro"] = {key: float(m[key][keep].mean()) for key in ("precision", "recall", "f1")}
    out["weighted"] = {key: float((m[key] * support).sum() / support.sum()) for key in ("precision", "recall", "f1")}
    if scores is not None:
        out.update({f"top{k}_accuracy": _top_k(scores, true, k) for k in top_k})
    return out


def _rows(slices: Any, n: int) -> dict[Hashable, np.ndarray]:
    if not isinstance(slices, Mapping):
        raise MetricsInputError(f"slices must be a dict of name -> list of row indices, got {type(slices).__name__}")
    out = {}
    for name, rows in slices.items():
        if isinstance(rows, (str, bytes)) or not isinstance(rows, Iterable):
            raise MetricsInputError(f"slice {name!r} must be a list of row indices, got {type(rows).__name__}")
        arr = np.asarray(list(rows))
        if arr.size and (arr.ndim != 1 or arr.dtype.kind not in "iu"):
            raise MetricsInputError(f"slice {name!r} must hold integer row indices, got {arr[:3].tolist()!r}")
        arr = arr.astype(np.int64) if arr.size else np.zeros(0, dtype=np.int64)
        bad = arr[(arr < 0) | (arr >= n)]
        if bad.size:
            raise MetricsInputError(f"slice {name!r} has row index {int(bad[0])} outside 0..{n - 1}")
        out[name] = np.unique(arr)
    return out


def classification_metrics(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None,
                           scores: Any = None, top_k: Sequence[int] = (1, 5),
                           slices: Mapping[Hashable, Sequence[int]] | None = None,
                           slice_macro: str = "present", bootstrap: int = _boot.DEFAULT_REPLICATES,
                           seed: int = 0) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support, macro and weighted averages and the confusion matrix.

    ``labels`` fixes the class order (default: sorted union of ``y_true`` and ``y_pred``); a label outside
    it is an error. Precision/recall/F1 of a class with no predictions/support is 0 (scikit-learn's
    ``zero_division`` result); the whole set's macro averages every label of ``labels``, weighted uses
    support. ``confusion_matrix[i][j]`` counts true ``labels[i]`` predicted as ``labels[j]``. With ``scores`` (N x C, column j scoring
    ``labels[j]``), ``top{k}_accuracy`` for each k in ``top_k`` (1.0 when k >= C), ties broken as
    scikit-learn's ``top_k_accuracy_score``. ``slices`` ({name: [row indices]}) adds ``slices: {name:
    {same keys}}``; an empty slice has None metrics. A slice's macro precision/recall/F1 average the
    labels **present in the slice** (occurring among its rows' true or predicted labels: scikit-learn
    with ``labels=`` those labels), so a slice whose rows are all right has macro-F1 1.0;
    ``slice_macro="all"`` averages every label instead. A slice's ``per_class`` still lists every label.
    Each slice also gets ``delta`` ({metric: slice - whole set} for accuracy, macro_f1 and the top-k).
    With ``bootstrap`` replicates (0: none), rows are resampled with replacement (seeded by ``seed``):
    ``ci`` {metric: [lo, hi]} (percentile 95% intervals of accuracy, ``macro_f1``, each
    ``top{k}_accuracy``), ``bootstrap`` {replicates, seed, level}, and per slice ``ci``, ``delta_ci`` and
    ``worse`` (see :func:`mm_jupyter.metrics.bootstrap.attach`): each replicate's metrics equal those of
    the rows repeated as often as drawn, a slice's replicate being the whole set's restricted to its rows.
    Raises :class:`MetricsInputError` on bad input.
    """
    replicates = _boot.check(bootstrap, seed)
    y_true, y_pred = _as_1d(y_true, "y_true"), _as_1d(y_pred, "y_pred")
    n = len(y_true)
    if n != len(y_pred):
        raise MetricsInputError(f"y_true has {n} rows but y_pred has {len(y_pred)}")
    if n == 0:
        raise MetricsInputError("no rows to evaluate (y_true is empty)")
    labels = _default_labels(y_true, y_pred) if labels is None else \
        [v.item() if isinstance(v, np.generic) else v for v in labels]
    if not labels or len(set(labels)) != len(labels):
        raise MetricsInputError(f"labels must be non-empty and unique, got {labels[:10]!r}")
    index = {lab: j for j, lab in enumerate(labels)}
    true, pred = _encode(y_true, index, "y_true"), _encode(y_pred, index, "y_pred")
    score_arr = None
    if scores is not None:
        score_arr = np.asarray(scores, dtype=np.float64)
        if score_arr.shape != (n, len(labels)):
            raise MetricsInputError(f"scores must have shape ({n}, {len(labels)}) (rows x labels), got {score_arr.shape}")
        if not np.isfinite(score_arr).all():
            raise MetricsInputError("scores contain non-finite values")
        if any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 for k in top_k):
            raise MetricsInputError(f"top_k must hold positive integers, got {list(top_k)!r}")
    if slice_macro not in ("present", "all"):
        raise MetricsInputError(f"slice_macro must be 'present' or 'all', got {slice_macro!r}")
    parts = _rows(slices, n) if slices is not None else None
    result = _metrics(true, pred, labels, score_arr, top_k)
    if parts is not None:
        result["slices"] = {name: _metrics(true[rows], pred[rows], labels,
                                           None if score_arr is None else score_arr[rows], top_k,
                                           macro_over=slice_macro)
                            for name, rows in parts.items()}
    if replicates or parts is not None:
        hits = {k: _top_k_hits(score_arr, true, k) for k in top_k} if score_arr is not None else {}
        sets = [np.arange(n), *(parts or {}).values()]
        reps = None
        if replicates:
            weights = _boot.multiplicities(n, replicates, seed)
            reps = _replicates(weights, true, pred, len(labels), hits, sets, slice_macro)
        rows = [result, *(result.get("slices") or {}).values()]
        points = {"accuracy": [r["accuracy"] for r in rows],
                  "macro_f1": [r["macro"]["f1"] if r["macro"] else None for r in rows],
                  **{f"top{k}_accuracy": [r[f"top{k}_accuracy"] for r in rows] for k in hits}}
        _boot.attach(result, list(parts or {}), points, reps, replicates, seed)
    return result


def _replicates(weights: np.ndarray, true: np.ndarray, pred: np.ndarray, n_labels: int,
                hits: Mapping[int, np.ndarray], sets: list[np.ndarray], slice_macro: str
                ) -> dict[str, np.ndarray]:
    """Accuracy, macro-F1 and top-k of each replicate (rows of ``weights``) and set of rows (the whole
    set first, whose macro averages every label): {metric: (B, sets)}, NaN for a set empty in a replicate."""
    rows = np.concatenate(sets)
    step = max(1, (1 << 22) // max(1, len(rows)))  # replicates at a time (bounds memory)
    parts = [_replicate_block(weights[r0:r0 + step], true, pred, n_labels, hits, sets, rows, slice_macro)
             for r0 in range(0, len(weights), step)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _replicate_block(weights: np.ndarray, true: np.ndarray, pred: np.ndarray, n_labels: int,
                     hits: Mapping[int, np.ndarray], sets: list[np.ndarray], rows: np.ndarray,
                     slice_macro: str) -> dict[str, np.ndarray]:
    n_rep, S, L = len(weights), len(sets), n_labels
    sizes = np.array([len(r) for r in sets])
    set_of = np.repeat(np.arange(S), sizes)
    first, nonempty = np.r_[0, np.cumsum(sizes)[:-1]], sizes > 0
    w = weights[:, rows].astype(np.float64)  # (B, P): each set's rows side by side
    correct = (true == pred)[rows]

    def per_set(x: np.ndarray) -> np.ndarray:
        out = np.zeros((n_rep, S))
        if len(rows):
            out[:, nonempty] = np.add.reduceat(x, first[nonempty], axis=1)
        return out

    total = per_set(w)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {"accuracy": per_set(w * correct) / total}
        out.update({f"top{k}_accuracy": per_set(w * h[rows]) / total for k, h in hits.items()})
    # weighted confusion counts per (replicate, set, label): support, predicted, true positives
    key = (np.arange(n_rep)[:, None] * S + set_of[None, :]) * L
    support, predicted, tp = (
        np.bincount((key + labels[None, :]).ravel(), weights=vals.ravel(), minlength=n_rep * S * L)
        .reshape(n_rep, S, L)
        for labels, vals in ((true[rows], w), (pred[rows], w), (true[rows], w * correct)))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / denom, 0.0)
        keep = (support > 0) | (predicted > 0)  # a slice's labels present among its rows
        keep[:, 0] = True  # the whole set: every label
        if slice_macro == "all":
            keep[:] = True
        macro = (f1 * keep).sum(2) / keep.sum(2)
    out["macro_f1"] = np.where(total > 0, macro, np.nan)
    return out
