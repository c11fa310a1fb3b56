"""Precision/recall curves: COCO accumulation, the ultralytics best-F1 operating point, compact PR lists."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EPS = 1e-16
_GRID = 1000


@dataclass
class OperatingPoint:
    """Precision/recall/F1 at one confidence: class means, and per class (NaN where a class has no gt)."""

    conf: float
    precision: float
    recall: float
    f1: float
    class_precision: np.ndarray
    class_recall: np.ndarray


def coco_accumulate(cat: np.ndarray, tp: np.ndarray, ignored: tuple[np.ndarray, np.ndarray], n_gt: np.ndarray,
                    rec_thrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pycocotools' ``accumulate`` for one area range and maxDets, vectorised over classes and thresholds.

    ``cat`` (D,) is each detection's class, grouped ascending and in COCO's accumulation order within a
    class (score descending, then image, then rank in the image); ``tp`` (T, D) flags detections matched
    to a non-ignored gt at each IoU threshold; ``ignored`` = (thresholds, columns) of the ignored ones
    (matched to a crowd box or out of the area range), sorted by threshold then column; ``n_gt[k]``
    counts non-ignored gts. Returns interpolated precision (T, R, K) at ``rec_thrs`` and final recall
    (T, K), with -1 for classes without gt, equal to pycocotools' ``eval["precision"|"recall"]``.
    """
    (n_thr, _), n_cls, n_rec = tp.shape, len(n_gt), len(rec_thrs)
    valid = n_gt > 0
    recall = np.full((n_thr, n_cls), -1.0)
    recall[:, valid] = 0.0
    if not cat.size:
        precision = np.full((n_thr, n_rec, n_cls), -1.0)
        precision[:, :, valid] = 0.0
        return precision, recall
    n_det = len(cat)
    starts = np.searchsorted(cat, np.arange(n_cls))
    # Only true positives matter: the interpolated precision at recall threshold r is the max precision
    # over detections with recall >= r, always reached at a true positive (precision only rises there).
    t_idx, d_idx = np.nonzero(tp)  # row-major: threshold, then accumulation order
    c = cat[d_idx]
    group = t_idx * n_cls + c  # non-decreasing
    per_group = np.bincount(group, minlength=n_thr * n_cls)
    recall[:, valid] = (per_group.reshape(n_thr, n_cls) / np.where(valid, n_gt, 1))[:, valid]
    hits = (np.arange(len(group)) - (np.cumsum(per_group) - per_group)[group] + 1).astype(np.float64)
    # detections counted so far in the class (tp + fp) = position in the class minus ignored ones before
    seen = (d_idx - starts[c] + 1).astype(np.float64)
    if len(ignored[0]):
        flat_ign = ignored[0] * n_det + ignored[1]
        first = t_idx * n_det + starts[c]
        seen -= np.searchsorted(flat_ign, first + (d_idx - starts[c])) - np.searchsorted(flat_ign, first)
    keep = valid[c]
    hits, seen, t_idx, c = hits[keep], seen[keep], t_idx[keep], c[keep]
    above = n_rec - np.searchsorted(rec_thrs, hits / n_gt[c], side="right")  # thresholds above the recall
    key = (t_idx * n_cls + c) * n_rec + above  # equal keys are contiguous
    best = np.full(n_thr * n_cls * n_rec, -np.inf)  # indexed by recall threshold, highest first
    if key.size:
        runs = np.r_[0, np.flatnonzero(np.diff(key)) + 1]
        best[key[runs]] = np.maximum.reduceat(hits / (seen + np.spacing(1)), runs)  # pycocotools' formula
    interp = np.maximum.accumulate(best.reshape(n_thr, n_cls, n_rec), axis=2)[:, :, ::-1]
    np.maximum(interp, 0.0, out=interp)  # -inf: recall threshold never reached (precisions are > 0)
    if valid.all():
        return interp.transpose(0, 2, 1), recall  # a view: no copy
    precision = np.full((n_thr, n_rec, n_cls), -1.0)
    precision[:, :, valid] = interp[:, valid, :].transpose(0, 2, 1)
    return precision, recall


def _smooth(y: np.ndarray, f: float = 0.1) -> np.ndarray:
    nf = round(len(y) * f * 2) // 2 + 1  # odd box-filter width, as ultralytics' ``smooth``
    pad = np.ones(nf // 2)
    return np.convolve(np.concatenate((pad * y[0], y, pad * y[-1])), np.ones(nf) / nf, mode="valid")


def _restart(cum: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """Running sums (last axis) restarted at each group; ``group_start`` is each column's group start."""
    before = group_start - 1
    return cum - np.where(before >= 0, cum[..., before], 0.0)


def _cumulative(cls: np.ndarray, tp: np.ndarray, n_gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per detection, ultralytics' running recall ``tp / (n_gt + eps)`` and precision ``tp / (tp + fp)``
    within its class group (``cls`` grouped ascending, ``n_gt`` per group)."""
    group_start = np.searchsorted(cls, cls)
    tpc = _restart(np.cumsum(tp, dtype=np.float64), group_start)
    seen = np.arange(1, len(cls) + 1) - group_start  # detections so far in the class: tp + fp
    with np.errstate(divide="ignore", invalid="ignore"):
        return tpc / (n_gt[cls] + _EPS), tpc / seen


def _f1(p: np.ndarray, r: np.ndarray) -> np.ndarray:
    return 2 * p * r / (p + r + _EPS)


def best_f1(cls: np.ndarray, conf: np.ndarray, tp: np.ndarray, n_gt: np.ndarray, lo: float = 0.0,
            hi: float = 1.0) -> OperatingPoint | None:
    """Ultralytics' operating point: precision/recall at the confidence of best mean F1.

    ``cls`` (class per detection, grouped ascending), ``conf`` (descending within a class) and ``tp``
    (bool) are the counted detections, ``n_gt`` (K,) the ground truths per class. As
    ``ultralytics.utils.metrics.ap_per_class`` over the classes with ground truth: per class, running
    recall ``tp/n_gt`` and precision ``tp/(tp+fp)`` are linearly interpolated (``np.interp``) over 1000
    confidences from ``lo`` to ``hi`` (0 and 1 by default), recall 0 and precision 1 above the highest
    score (0 for both when a class has no detection); F1 is averaged over classes, smoothed by a box
    filter of 10% of the grid, and its argmax picks the confidence. None without ground truth.
    """
    rows = np.flatnonzero(n_gt > 0)  # only classes with ground truth take part
    if not len(rows):
        return None
    x = np.linspace(lo, hi, _GRID)
    recall, precision = _cumulative(cls, tp, n_gt)
    r_curve, p_curve = np.zeros((len(rows), _GRID)), np.zeros((len(rows), _GRID))
    starts, ends = np.searchsorted(cls, rows).tolist(), np.searchsorted(cls, rows, side="right").tolist()
    for n, (a, b) in enumerate(zip(starts, ends, strict=True)):
        if a < b:
            r_curve[n] = np.interp(-x, -conf[a:b], recall[a:b], left=0)
            p_curve[n] = np.interp(-x, -conf[a:b], precision[a:b], left=1)
    i = int(_smooth(_f1(p_curve, r_curve).mean(0)).argmax())
    return at_confidence(cls, conf, tp, n_gt[None, :], float(x[i]))[0]


def at_confidence(cls: np.ndarray, conf: np.ndarray, tp: np.ndarray, n_gt: np.ndarray,
                  x: float) -> list[OperatingPoint | None]:
    """Precision/recall/F1 per class and their class means at confidence ``x``, for several sets at once.

    ``n_gt`` (S, K) counts the ground truths of class k in set s; detections belong to group
    ``cls = s * K + k`` (grouped ascending, ``conf`` descending within a group). Values are those of
    :func:`best_f1`'s interpolated curves at ``x`` (the same arithmetic as ``np.interp``). None for a set
    without ground truth.
    """
    n_sets, n_classes = n_gt.shape
    flat = n_gt.ravel()
    groups = np.arange(flat.size)
    recall, precision = _cumulative(cls, tp, flat)
    start, end = np.searchsorted(cls, groups), np.searchsorted(cls, groups, side="right")
    count = np.bincount(cls[conf >= x], minlength=flat.size)  # conf descending: the group's first ones
    j = np.maximum(start + count - 1, 0)
    xp, q = np.r_[-conf, 0.0, 0.0], -x  # padding keeps j + 1 in range
    between = (count > 0) & (start + count < end) & (xp[j] != q)
    values = []
    with np.errstate(all="ignore"):
        for y, left in ((recall, 0.0), (precision, 1.0)):
            yp = np.r_[y, 0.0, 0.0]
            v = np.where(count > 0, yp[j], left)
            v[between] = ((yp[j + 1] - yp[j]) / (xp[j + 1] - xp[j]) * (q - xp[j]) + yp[j])[between]
            v[start == end] = 0.0  # a class without detections
            values.append(np.where(flat > 0, v, np.nan).reshape(n_sets, n_classes))
    r, p = values
    f1 = _f1(p, r)
    out: list[OperatingPoint | None] = []
    for s in range(n_sets):
        valid = n_gt[s] > 0
        out.append(OperatingPoint(conf=x, precision=float(p[s, valid].mean()), recall=float(r[s, valid].mean()),
                                  f1=float(f1[s, valid].mean()), class_precision=p[s], class_recall=r[s])
                   if valid.any() else None)
    return out


def compact_pr(rec_thrs: np.ndarray, precision: np.ndarray, digits: int = 4) -> list[dict[str, list[float]]]:
    """COCO's interpolated PR curves (``precision`` is recall points x classes) as plain lists per class,
    each cut after the first point where precision reaches 0 (it never rises again: the tail is zeros)."""
    zero = precision <= 0
    ends = np.where(zero.any(0), zero.argmax(0) + 1, len(rec_thrs)).tolist()
    rec, prec = np.round(rec_thrs, digits).tolist(), np.round(precision.T, digits).tolist()
    return [{"recall": rec[:end], "precision": p[:end]} for end, p in zip(ends, prec, strict=True)]
