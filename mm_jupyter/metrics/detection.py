"""COCO bbox evaluation equal to pycocotools, with per-class results, PR curves and image slices.

One image-level matching pass (faster-coco-eval's C++ ``evaluateImg``) serves the whole set and every
slice: a slice only re-accumulates the per-image results of its own images, which is exactly what
pycocotools computes when ``params.imgIds`` is restricted to those images.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import faster_coco_eval.faster_eval_api_cpp as _C
import numpy as np
from faster_coco_eval.core import mask as _mask
from faster_coco_eval.core.cocoeval import Params

from . import MetricsInputError
from . import bootstrap as _boot
from .curves import OperatingPoint, at_confidence, best_f1, coco_accumulate, compact_pr
from .weighted import Batch, gt_counts, replicate_aps, replicate_operating_point

_AREA_ALL = [0.0, 1e5**2]  # pycocotools' "all" area range
_PARAMS = Params(iouType="bbox")  # IoU thresholds .50:.05:.95 and 101 recall points, as pycocotools
_IOU_THRS = np.asarray(_PARAMS.iouThrs, dtype=np.float64)
_REC_THRS = np.asarray(_PARAMS.recThrs, dtype=np.float64)
_T50, _T75 = (int(np.flatnonzero(np.isclose(_IOU_THRS, v))[0]) for v in (0.5, 0.75))
if not hasattr(_C.Dataset, "append_ref"):  # pragma: no cover
    raise ImportError("mm_jupyter.metrics.detection needs faster-coco-eval >= 1.7 (C++ API with append_ref)")


def _fail(message: str) -> None:
    raise MetricsInputError(message)


@dataclass
class _Inputs:
    """Validated input as arrays (indices into the sorted image / category ids) plus the per-annotation
    records the C++ engine reads."""

    img_ids: list
    cat_keys: list
    g_img: np.ndarray
    g_cat: np.ndarray
    g_box: np.ndarray
    g_crowd: np.ndarray
    g_ignore: np.ndarray
    g_recs: list[dict]
    d_img: np.ndarray
    d_cat: np.ndarray
    d_box: np.ndarray
    d_score: np.ndarray
    d_recs: list[dict]


def _records(value: Any, what: str) -> list:
    if not isinstance(value, (list, tuple)):
        _fail(f"{what} must be a list, got {type(value).__name__}")
    return list(value)


def _column(recs: list, key: str, what: str) -> list:
    try:
        return [r[key] for r in recs]
    except (KeyError, TypeError, IndexError):
        for i, r in enumerate(recs):
            if not isinstance(r, Mapping) or key not in r:
                _fail(f"{what} #{i} has no {key!r}")
        raise


def _lookup(values: list, mapping: dict, what: str, key: str) -> np.ndarray:
    try:
        return np.fromiter((mapping[v] for v in values), np.int64, len(values))
    except (KeyError, TypeError):
        for i, v in enumerate(values):
            try:
                mapping[v]
            except (KeyError, TypeError):
                _fail(f"{what} #{i} refers to unknown {key} {v!r}")
        raise


def _floats(raw: list, what: str, key: str, shape: tuple) -> np.ndarray:
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.shape != (len(raw), *shape):
        for i, v in enumerate(raw):
            try:
                ok = np.asarray(v, dtype=np.float64).shape == shape
            except (TypeError, ValueError):
                ok = False
            if not ok:
                _fail(f"{what} #{i} has {key} {v!r}; expected {'[x, y, width, height]' if shape else 'a number'}")
        arr = np.zeros((0, *shape))
    bad = np.flatnonzero(~np.isfinite(arr).reshape(len(raw), -1).all(1)) if len(raw) else []
    if len(bad):
        _fail(f"{what} #{bad[0]} has a non-finite {key} {raw[bad[0]]!r}")
    return arr


def _boxes(recs: list, what: str) -> np.ndarray:
    raw = _column(recs, "bbox", what)
    boxes = _floats(raw, what, "bbox", (4,))
    bad = np.flatnonzero((boxes[:, 2] < 0) | (boxes[:, 3] < 0))
    if len(bad):
        _fail(f"{what} #{bad[0]} has a negative width or height in bbox {raw[bad[0]]!r}")
    return boxes


def _sorted_ids(recs: list, what: str) -> list:
    ids = _column(recs, "id", what)
    seen: set = set()
    for v in ids:
        if not isinstance(v, Hashable):
            _fail(f"{what} id {v!r} is not hashable")
        if v in seen:
            _fail(f"{what} id {v!r} is repeated")
        seen.add(v)
    try:
        return sorted(ids)
    except TypeError:
        _fail(f"{what} ids cannot be ordered (mixed types?): {ids[:5]!r}")
    raise AssertionError


def _category_keys(cats: list, cat_ids: list) -> list:
    by_id = {c["id"]: c for c in cats}
    names = [by_id[i].get("name") for i in cat_ids]
    if all(isinstance(n, str) and n for n in names) and len(set(names)) == len(names):
        return names
    return [v.item() if isinstance(v, np.generic) else v for v in cat_ids]


def _prepare(gt: Any, detections: Any, max_det: int) -> _Inputs:
    if not isinstance(gt, Mapping):
        _fail(f"gt must be a COCO dict, got {type(gt).__name__}")
    if isinstance(max_det, bool) or not isinstance(max_det, (int, np.integer)) or max_det < 1:
        _fail(f"max_det must be a positive integer, got {max_det!r}")
    images = _records(gt.get("images"), "gt['images']") if gt.get("images") is not None else []
    if not images:
        _fail("gt has no images (empty ground truth)")
    cats = _records(gt.get("categories"), "gt['categories']") if gt.get("categories") is not None else []
    if not cats:
        _fail("gt has no categories")
    if "annotations" not in gt:
        _fail("gt has no 'annotations' list")
    anns = _records(gt["annotations"], "gt['annotations']")
    dets = _records(detections, "detections")
    img_ids = _sorted_ids(images, "gt image")
    cat_ids = _sorted_ids(cats, "gt category")
    img_index = {v: i for i, v in enumerate(img_ids)}
    cat_index = {v: i for i, v in enumerate(cat_ids)}

    g_img = _lookup(_column(anns, "image_id", "annotation"), img_index, "annotation", "image_id")
    g_cat = _lookup(_column(anns, "category_id", "annotation"), cat_index, "annotation", "category_id")
    g_box = _boxes(anns, "annotation")
    raw_area = [a.get("area") for a in anns]
    g_area = g_box[:, 2] * g_box[:, 3]
    given = [i for i, v in enumerate(raw_area) if v is not None]
    if given:
        g_area[given] = _floats([raw_area[i] for i in given], "annotation", "area", ())
        neg = np.flatnonzero(g_area < 0)
        if len(neg):
            _fail(f"annotation #{neg[0]} has a negative area {raw_area[neg[0]]!r}")
    g_crowd = np.fromiter((bool(a.get("iscrowd", 0)) for a in anns), bool, len(anns))

    d_img = _lookup(_column(dets, "image_id", "detection"), img_index, "detection", "image_id")
    d_cat = _lookup(_column(dets, "category_id", "detection"), cat_index, "detection", "category_id")
    d_box = _boxes(dets, "detection")
    d_score = _floats(_column(dets, "score", "detection"), "detection", "score", ())
    d_area = d_box[:, 2] * d_box[:, 3]

    g_ignore = g_crowd | (g_area < _AREA_ALL[0]) | (g_area > _AREA_ALL[1])
    # What the C++ engine reads from each annotation (ids are 1-based positions; 0 means "unmatched").
    g_recs = [{"id": j + 1, "area": a, "iscrowd": c, "ignore": c}
              for j, (a, c) in enumerate(zip(g_area.tolist(), g_crowd.astype(int).tolist(), strict=True))]
    d_recs = [{"id": j + 1, "area": a, "score": sc}
              for j, (a, sc) in enumerate(zip(d_area.tolist(), d_score.tolist(), strict=True))]
    return _Inputs(img_ids, _category_keys(cats, cat_ids), g_img, g_cat, g_box, g_crowd, g_ignore, g_recs,
                   d_img, d_cat, d_box, d_score, d_recs)


@dataclass
class _Matching:
    """The one matching pass, per kept detection (top ``max_det`` per image and class), ordered by class,
    score (descending), image and rank in the image: the order in which COCO accumulates them."""

    n_images: int
    img: np.ndarray  # image index of each detection
    cat: np.ndarray  # category index
    score: np.ndarray
    tp: np.ndarray  # (T, D) matched to a non-ignored gt at IoU threshold t
    ign_t: np.ndarray  # ignored (matched to a crowd box / out of the area range): threshold index,
    ign_d: np.ndarray  # and column, sorted by threshold then column


def _ious(inp: _Inputs, d_top: np.ndarray) -> list:
    """IoU matrices [image][category] (rows: detections by score, columns: gts in input order), computed
    with faster-coco-eval's bbox IoU for every pair that has both; [] elsewhere."""
    n_cat = len(inp.cat_keys)
    g_order = np.lexsort((np.arange(len(inp.g_img)), inp.g_cat, inp.g_img))
    d_key, g_key = inp.d_img[d_top] * n_cat + inp.d_cat[d_top], inp.g_img[g_order] * n_cat + inp.g_cat[g_order]
    keys = np.intersect1d(d_key, g_key)
    d_lo, d_hi = np.searchsorted(d_key, keys), np.searchsorted(d_key, keys, side="right")
    g_lo, g_hi = np.searchsorted(g_key, keys), np.searchsorted(g_key, keys, side="right")
    d_box, g_box = inp.d_box[d_top], inp.g_box[g_order]
    crowd = inp.g_crowd[g_order].astype(int).tolist()
    none: list = []  # shared by every pair without both (read-only for the engine)
    ious: list = [[none] * n_cat for _ in range(len(inp.img_ids))]
    for key, a, b, c, d in zip(keys.tolist(), d_lo.tolist(), d_hi.tolist(), g_lo.tolist(), g_hi.tolist(),
                               strict=True):
        ious[key // n_cat][key % n_cat] = _mask.iou(d_box[a:b], g_box[c:d], crowd[c:d])
    return ious


def _match(inp: _Inputs, max_det: int) -> _Matching:
    """faster-coco-eval's C++ evaluateImg on every (image, category), unpacked into per-detection arrays."""
    n_img, n_cat, n = len(inp.img_ids), len(inp.cat_keys), len(inp.d_img)
    # Detections by (image, category, score desc, input order), the top max_det of each pair: exactly the
    # rows evaluateImg keeps, in its order.
    idx = np.arange(n)
    by_pair = np.lexsort((idx, -inp.d_score, inp.d_cat, inp.d_img))
    pair = inp.d_img[by_pair] * n_cat + inp.d_cat[by_pair]
    start = np.r_[0, np.flatnonzero(np.diff(pair)) + 1] if n else np.zeros(0, dtype=np.int64)
    rank = idx - np.repeat(start, np.diff(np.r_[start, n]).astype(np.int64))
    d_top = by_pair[rank < max_det]

    gt_ds, dt_ds = _C.Dataset(), _C.Dataset()
    for i, k, rec in zip((inp.g_img + 1).tolist(), (inp.g_cat + 1).tolist(), inp.g_recs, strict=True):
        gt_ds.append_ref(i, k, rec)
    for i, k, rec in zip((inp.d_img + 1).tolist(), (inp.d_cat + 1).tolist(), inp.d_recs, strict=True):
        dt_ds.append_ref(i, k, rec)
    n_thr = len(_IOU_THRS)
    evals = _C.COCOevalEvaluateImages([_AREA_ALL], max_det, _IOU_THRS.tolist(), _ious(inp, d_top), gt_ds, dt_ds,
                                      list(range(1, n_img + 1)), list(range(1, n_cat + 1)), True)
    del gt_ds, dt_ds
    inp.g_recs = inp.d_recs = []  # the engine is done with them: fewer objects for the GC to walk later

    # Unpack (pickle state: dtMatches, gtMatches, dtScores, gtIgnore, dtIgnore, matches) of each pair with
    # detections; the engine stores them threshold-major, [t * n_pair + d].
    pairs, counts = np.unique(inp.d_img[d_top] * n_cat + inp.d_cat[d_top], return_counts=True)
    matches, ignores = [], []
    for key, count in zip(pairs.tolist(), counts.tolist(), strict=True):
        state = evals[(key % n_cat) * n_img + key // n_cat].__getstate__()
        if len(state) != 6 or len(state[2]) != count:  # pragma: no cover - incompatible faster-coco-eval
            raise RuntimeError("unexpected per-image evaluation layout from faster-coco-eval")
        matches.append(state[0])
        ignores.append(state[4])
    total = n_thr * len(d_top)
    dtm = np.fromiter(itertools.chain.from_iterable(matches), np.int64, total)
    dti = np.fromiter(itertools.chain.from_iterable(ignores), bool, total)
    col_pair = np.repeat(np.arange(len(pairs)), counts)
    first = np.r_[0, np.cumsum(counts)[:-1]]
    local = np.arange(len(d_top)) - first[col_pair]
    flat = n_thr * first[col_pair] + np.arange(n_thr)[:, None] * counts[col_pair] + local  # (T, D)
    matched, ignored = dtm[flat] > 0, dti[flat]

    # Accumulation order: class, score desc, then image and rank (the stable sort over images COCO does).
    order = np.lexsort((local, inp.d_img[d_top], -inp.d_score[d_top], inp.d_cat[d_top]))
    matched, ignored, det = matched[:, order], ignored[:, order], d_top[order]
    return _Matching(n_img, inp.d_img[det], inp.d_cat[det], inp.d_score[det], matched & ~ignored,
                     *np.nonzero(ignored))


def _num(value: float) -> float | None:
    return None if value != value else value  # NaN -> None


_MAX_COLUMNS = 250_000  # detections accumulated per batch of slices (bounds memory)


def _summaries(inp: _Inputs, m: _Matching, image_sets: list[np.ndarray | None],
               weights: np.ndarray | None = None) -> tuple[list[dict], dict[str, np.ndarray] | None]:
    """Metrics for each set of image indices (sorted, unique; None: all images), accumulated in batches:
    every (set, class) is one group of a single vectorised accumulation. Precision/recall are taken at
    the whole set's best-F1 confidence. With ``weights`` (replicates x images multiplicities), also each
    headline metric per replicate and set: {metric: (replicates, sets)}, NaN where undefined."""
    K = len(inp.cat_keys)
    n_gt_all = np.bincount(inp.g_cat[~inp.g_ignore], minlength=K)
    counted = np.ones(len(m.cat), dtype=bool)  # not ignored at IoU 0.5
    counted[m.ign_d[m.ign_t == _T50]] = False
    lo, hi = float(inp.d_score.min(initial=0.0)), float(inp.d_score.max(initial=1.0))  # [0, 1] or wider
    op = best_f1(m.cat[counted], m.score[counted], m.tp[_T50][counted], n_gt_all, lo, hi)
    out: list[dict] = []
    reps: list[dict[str, np.ndarray]] = []
    batch: list[tuple[np.ndarray | None, np.ndarray]] = []
    size = 0

    def flush() -> None:
        res, rep = _summarize_batch(inp, m, batch, op, weights)
        out.extend(res)
        if rep is not None:
            reps.append(rep)

    for images in image_sets:
        if images is None:
            cols = np.arange(len(m.cat))
        else:
            member = np.zeros(m.n_images, dtype=bool)
            member[images] = True
            cols = np.flatnonzero(member[m.img])
        if batch and size + len(cols) > _MAX_COLUMNS:
            flush()
            batch, size = [], 0
        batch.append((images, cols))
        size += len(cols)
    if batch:
        flush()
    if weights is None:
        return out, None
    return out, {k: np.concatenate([r[k] for r in reps], axis=1) for k in reps[0]}


def _summarize_batch(inp: _Inputs, m: _Matching, batch: list[tuple[np.ndarray | None, np.ndarray]],
                     op: OperatingPoint | None, weights: np.ndarray | None = None
                     ) -> tuple[list[dict], dict[str, np.ndarray] | None]:
    K, S = len(inp.cat_keys), len(batch)
    n_gt, n_det = np.zeros((S, K), dtype=np.int64), np.zeros((S, K), dtype=np.int64)
    counted_gt = ~inp.g_ignore
    gt_sel = []
    for s, (images, _) in enumerate(batch):
        if images is None:
            g_sel, d_sel = counted_gt, slice(None)
        else:
            member = np.zeros(m.n_images, dtype=bool)
            member[images] = True
            g_sel, d_sel = member[inp.g_img] & counted_gt, member[inp.d_img]
        gt_sel.append(np.flatnonzero(g_sel))
        n_gt[s] = np.bincount(inp.g_cat[g_sel], minlength=K)
        n_det[s] = np.bincount(inp.d_cat[d_sel], minlength=K)
    cols = np.concatenate([c for _, c in batch])
    group = np.concatenate([m.cat[c] + s * K for s, (_, c) in enumerate(batch)])
    # ignored detections of each set, as (threshold, column in the batch)
    offsets = np.cumsum([0] + [len(c) for _, c in batch])
    ign = [(m.ign_t, m.ign_d + offsets[s]) if images is None else _ignored_in(m, c, offsets[s])
           for s, (images, c) in enumerate(batch)]
    ign_t, ign_d = np.concatenate([t for t, _ in ign]), np.concatenate([d for _, d in ign])
    order = np.lexsort((ign_d, ign_t))
    ign_t, ign_d = ign_t[order], ign_d[order]
    tp = m.tp[:, cols]
    prec, rec = coco_accumulate(group, tp, (ign_t, ign_d), n_gt.ravel(), _REC_THRS)  # (T, R, S*K), (T, S*K)
    ops: list[OperatingPoint | None] = [None] * S
    if op is not None:
        counted = np.ones(len(cols), dtype=bool)
        counted[ign_d[ign_t == _T50]] = False
        ops = at_confidence(group[counted], m.score[cols][counted], tp[_T50][counted], n_gt, op.conf)
    n_images = [m.n_images if images is None else len(images) for images, _ in batch]
    results = _format(inp, prec, rec, ops, n_gt, n_det, n_images)
    if weights is None:
        return results, None
    b = Batch(S * K, group, m.img[cols], m.score[cols], tp, ign_t, ign_d,
              inp.g_img[np.concatenate(gt_sel)],
              np.concatenate([inp.g_cat[g] + s * K for s, g in enumerate(gt_sel)]))
    return results, _replicates(weights, b, S, K, None if op is None else op.conf)


def _replicates(weights: np.ndarray, b: Batch, S: int, K: int, conf: float | None) -> dict[str, np.ndarray]:
    """The headline metrics of each replicate (rows of ``weights``) and set of the batch: (B, S) each."""
    n_rep = len(weights)
    n_gt = gt_counts(weights, b)
    ap, sums = replicate_aps(weights, b, _REC_THRS, n_gt, conf, _T50)
    ap = ap.reshape(n_rep, len(_IOU_THRS), S, K)
    out: dict[str, np.ndarray] = {}
    if conf is not None and sums is not None:
        precision, recall = replicate_operating_point(weights, b, conf, _T50, n_gt, sums)
    else:
        precision = recall = np.full((n_rep, S * K), np.nan)
    valid = (n_gt > 0).reshape(n_rep, S, K)
    n_valid = valid.sum(2)

    def class_mean(x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(valid, x, 0.0).sum(2) / n_valid + np.where(n_valid > 0, 0.0, np.nan)

    out["map50_95"] = class_mean(ap.mean(1))
    out["map50"] = class_mean(ap[:, _T50])
    out["map75"] = class_mean(ap[:, _T75])
    out["precision"] = class_mean(np.nan_to_num(precision).reshape(n_rep, S, K))
    out["recall"] = class_mean(np.nan_to_num(recall).reshape(n_rep, S, K))
    return out


def _ignored_in(m: _Matching, cols: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """The ignored entries among ``cols`` (sorted columns of a set), renumbered from ``offset``."""
    pos = np.searchsorted(cols, m.ign_d)
    inside = cols[np.minimum(pos, len(cols) - 1)] == m.ign_d if len(cols) else np.zeros(len(pos), dtype=bool)
    return m.ign_t[inside], pos[inside] + offset


def _format(inp: _Inputs, prec: np.ndarray, rec: np.ndarray, ops: list[OperatingPoint | None],
            n_gt: np.ndarray, n_det: np.ndarray, n_images: list[int]) -> list[dict]:
    """Result dicts of a batch of S sets from prec (T, R, S*K), rec (T, S*K) and per-set counts (S, K)."""
    S, K = n_gt.shape
    valid = n_gt > 0
    aps = [np.where(valid, a.reshape(S, K), np.nan).tolist()
           for a in (prec.mean((0, 1)), prec[_T50].mean(0), prec[_T75].mean(0))]
    nan = [float("nan")] * K
    p_k = [nan if op is None else op.class_precision.tolist() for op in ops]
    r_k = [nan if op is None else op.class_recall.tolist() for op in ops]
    counts_gt, counts_det = n_gt.tolist(), n_det.tolist()
    curves = compact_pr(_REC_THRS, prec[_T50])
    out = []
    for s, op in enumerate(ops):
        v = valid[s]
        # Means over the classes with gt: the values, in the order, of pycocotools' s[s > -1].mean()
        prec_v, rec_v = prec[:, :, s * K:(s + 1) * K][:, :, v], rec[:, s * K:(s + 1) * K][:, v]
        means = [float(a.ravel().mean()) if v.any() else None for a in (prec_v, prec_v[_T50], prec_v[_T75], rec_v)]
        per_class, pr_curve = {}, {}
        for k, name in enumerate(inp.cat_keys):
            per_class[name] = {"ap50_95": _num(aps[0][s][k]), "ap50": _num(aps[1][s][k]),
                               "ap75": _num(aps[2][s][k]), "precision": _num(p_k[s][k]),
                               "recall": _num(r_k[s][k]), "n_gt": counts_gt[s][k], "n_det": counts_det[s][k]}
            if v[k]:
                pr_curve[name] = curves[s * K + k]
        out.append({
            "map50_95": means[0], "map50": means[1], "map75": means[2], "mar": means[3],
            "precision": op.precision if op else None, "recall": op.recall if op else None,
            "f1": op.f1 if op else None, "conf_threshold": op.conf if op else None,
            "n_images": int(n_images[s]), "n_gt": int(n_gt[s].sum()), "n_det": int(n_det[s].sum()),
            "per_class": per_class, "pr_curve": pr_curve,
        })
    return out


def _slice_images(slices: Any, inp: _Inputs) -> dict[Hashable, np.ndarray]:
    if not isinstance(slices, Mapping):
        _fail(f"slices must be a dict of name -> list of image ids, got {type(slices).__name__}")
    index = {v: i for i, v in enumerate(inp.img_ids)}
    out = {}
    for name, ids in slices.items():
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
            _fail(f"slice {name!r} must be a list of image ids, got {type(ids).__name__}")
        ids = list(ids)
        out[name] = np.unique(_lookup(ids, index, f"slice {name!r} entry", "image id")) if ids else \
            np.zeros(0, dtype=np.int64)
    return out


_HEADLINE = ("map50_95", "map50", "map75", "precision", "recall")  # the metrics given intervals


def coco_evaluate(gt: dict, detections: list[dict], slices: dict[Hashable, list] | None = None,
                  max_det: int = 100, bootstrap: int = _boot.DEFAULT_REPLICATES, seed: int = 0) -> dict:
    """COCO bbox metrics of ``detections`` against ``gt``, optionally per slice of images, with bootstrap
    confidence intervals.

    ``gt`` is a COCO dict (``images``, ``annotations`` with ``bbox`` [x, y, w, h], ``iscrowd``, ``area``
    — w*h when absent — and ``categories``); ``detections`` are COCO results (``image_id``,
    ``category_id``, ``bbox``, ``score``). Neither is modified. Returns:

    - ``map50_95``, ``map50``, ``map75``, ``mar``: pycocotools' ``stats[0]``, ``stats[1]``, ``stats[2]``
      and ``stats[8]`` (area "all", ``maxDets=max_det``; for ``max_det != 100`` pycocotools' own
      ``stats[0]`` is always -1, ours is the same mean taken at ``max_det``). Where pycocotools reports
      -1 because no category has a non-crowd ground truth (e.g. a slice of background images) these are
      ``None``, never 0.
    - ``precision``, ``recall``, ``f1``, ``conf_threshold``: the ultralytics operating point — per class,
      detections at IoU 0.5 with COCO matching (the top ``max_det`` per image and class; detections
      matched to crowd boxes are left out, as COCO ignores them) give precision and recall as functions
      of confidence; the confidence maximising the smoothed class-mean F1 is chosen and precision/recall
      are class means there (see :func:`mm_jupyter.metrics.curves.best_f1`). ``None`` without ground truth.
    - ``per_class``: {category name (or id when names are missing or repeated): {ap50_95, ap50, ap75,
      precision, recall, n_gt (non-crowd boxes), n_det (all detections given)}}; AP is ``None`` for a
      category without non-crowd ground truth.
    - ``pr_curve``: {category: {"recall": [...], "precision": [...]}}, COCO's interpolated curve at IoU
      0.5 on the 101 recall points, cut after precision reaches 0.
    - ``per_image`` (whole set only): {image id: {n_gt, n_det, tp, fp, fn}}, the counts at IoU 0.5 of
      the counted detections scoring at least ``conf_threshold`` (for finding the worst images).
    - ``n_images``, ``n_gt``, ``n_det``; and with ``slices`` ({name: [image ids]}) a ``slices`` entry
      {name: {same keys, plus ``n`` (its images) and ``delta``}}, each equal to evaluating that slice's
      images alone — except that a slice's precision/recall/f1 are read at the whole set's
      ``conf_threshold`` (the model's operating point), so slices are compared at one threshold instead
      of each being tuned on itself. An empty slice or one without non-crowd ground truth has ``None``
      metrics. ``delta``: {metric: slice - whole set}.
    - With ``bootstrap`` replicates (0: none): ``ci`` {metric: [lo, hi]}, the percentile 95% interval
      of map50_95, map50, map75, precision and recall over a seeded bootstrap of the images (``seed``),
      and ``bootstrap`` {replicates, seed, level}; each slice gets ``ci``, ``delta_ci`` and ``worse``
      (see :func:`mm_jupyter.metrics.bootstrap.attach`). A replicate reuses the one matching pass: it is
      a vector of image multiplicities, under which AP is a weighted accumulation over the already
      sorted detections (:mod:`mm_jupyter.metrics.weighted`), exactly the AP of the image set with each
      image repeated that many times; precision/recall stay at the whole set's ``conf_threshold``. A
      slice's replicate is the whole set's restricted to the slice's images (not a separate draw), so
      ``delta_ci`` is a paired interval (see :mod:`mm_jupyter.metrics.bootstrap`). Point estimates do
      not depend on the bootstrap.

    Raises :class:`MetricsInputError` for empty ground truth (no images or no categories), unknown image
    or category ids in annotations, detections or slices, missing fields, non-finite or negative-size
    boxes, non-finite scores or areas, and a negative ``bootstrap`` or ``seed``. Annotation ids are
    renumbered, so repeated or zero ids are safe.
    """
    replicates = _boot.check(bootstrap, seed)
    inp = _prepare(gt, detections, max_det)
    parts = _slice_images(slices, inp) if slices is not None else None
    m = _match(inp, int(max_det))
    names = list(parts or {})
    weights = _boot.multiplicities(len(inp.img_ids), replicates, seed) if replicates else None
    (result, *per_slice), reps = _summaries(inp, m, [None, *(parts[name] for name in names)], weights)
    result["per_image"] = _per_image(inp, m, result["conf_threshold"])
    if parts is not None:
        result["slices"] = dict(zip(names, per_slice, strict=True))
        for name in names:
            result["slices"][name]["n"] = result["slices"][name]["n_images"]
    if reps is not None or parts is not None:
        points = {k: [r[k] for r in (result, *per_slice)] for k in _HEADLINE}
        _boot.attach(result, names, points, reps, replicates, seed)
    return result


def _per_image(inp: _Inputs, m: _Matching, conf: float | None) -> dict[Hashable, dict[str, int]]:
    """Per image id: n_gt (non-crowd), n_det (all given), and at IoU 0.5 among the counted detections
    scoring at least ``conf`` (all of them without one): tp, fp and fn = n_gt - tp."""
    n = len(inp.img_ids)
    counted = np.ones(len(m.cat), dtype=bool)
    counted[m.ign_d[m.ign_t == _T50]] = False
    if conf is not None:
        counted &= m.score >= conf
    tp = np.bincount(m.img[counted & m.tp[_T50]], minlength=n)
    fp = np.bincount(m.img[counted & ~m.tp[_T50]], minlength=n)
    n_gt = np.bincount(inp.g_img[~inp.g_ignore], minlength=n)
    n_det = np.bincount(inp.d_img, minlength=n)
    return {i: {"n_gt": g, "n_det": d, "tp": t, "fp": f, "fn": g - t}
            for i, g, d, t, f in zip(inp.img_ids, n_gt.tolist(), n_det.tolist(), tp.tolist(), fp.tolist(),
                                     strict=True)}
