"""COCO AP and the operating point's precision/recall under per-image multiplicities, for many bootstrap
replicates at once.

A bootstrap replicate draws images with replacement; an image drawn ``w`` times counts ``w`` times. COCO's
matching is per image, so a replicate needs no new matching: every detection keeps its match, and the
accumulation over the already sorted detections becomes a weighted one — running true positives and
running counted detections are cumulative sums of the detections' image multiplicities, the ground truth
count a weighted count. Evaluating a replicate this way equals evaluating the image set with each image
repeated ``w`` times under new ids (as long as no two detections of one class share a score; ties are
then ordered by image, not by copy). Everything is vectorised over replicates (rows), in row blocks small
enough to stay in the CPU cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EPS_RECALL = 1e-16  # ultralytics' recall denominator n_gt + eps (curves._EPS)
_WINDOW = 8  # detections looked at on each side of the operating point before the exact fallback
_CHUNK = 1 << 13  # columns (detections) taken together, at group boundaries
_BLOCK = 1 << 17  # elements per row block of the largest per-column array


@dataclass
class Batch:
    """Several sets of images (whole set, slices) side by side: columns are detections in COCO's
    accumulation order, grouped by ``group = set * K + class`` (non-decreasing)."""

    n_groups: int
    group: np.ndarray  # (C,) group of each column
    img: np.ndarray  # (C,) image index of each column
    score: np.ndarray  # (C,)
    tp: np.ndarray  # (T, C) matched to a counted gt at threshold t
    ign_t: np.ndarray  # ignored (threshold, column), sorted by threshold then column
    ign_d: np.ndarray
    gt_img: np.ndarray  # (P,) image of each counted gt, once per set holding it
    gt_group: np.ndarray  # (P,) its group


def _segments(group: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """The non-empty groups among ``group`` (sorted) and the first position of each."""
    first = np.flatnonzero(np.r_[True, group[1:] != group[:-1]]) if len(group) else np.zeros(0, np.int64)
    return group[first], first


def _restart_cumsum(x: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Cumulative sums along rows (integers), restarted at each position of ``first`` (the segment
    starts, 0 first): each segment's start takes away the previous segment's total."""
    if x.shape[1] == 0:
        return x
    totals = np.add.reduceat(x, first, axis=1)
    x[:, first[1:]] -= totals[:, :-1]
    return np.cumsum(x, axis=1, out=x)


class _Layout:
    """What does not depend on the replicate, for one chunk of groups: the true positives of every IoU
    threshold side by side, in "virtual groups" ``t * G + group`` (each in accumulation order), with the
    offsets that keep virtual groups apart in the suffix maximum, and for each true positive the last
    detection ignored at its threshold in its group before it (for the running count). With ``conf``,
    also where each group's detections scoring at least ``conf`` end, to read the operating point's
    running counts at IoU ``t50`` there."""

    def __init__(self, b: Batch, conf: float | None, t50: int) -> None:
        G, C = b.n_groups, len(b.group)
        self.first_all = _segments(b.group, G)[1]
        t_idx, cols = np.nonzero(b.tp)  # threshold-major, columns ascending
        self.cols, self.img = cols, b.img[cols]
        vgroup = t_idx * G + b.group[cols]  # non-decreasing
        self.vgroups, self.first = _segments(vgroup, len(b.tp) * G)
        self.vgroup_class = self.vgroups % G
        self.offset = (len(b.tp) * G - vgroup).astype(np.float64)  # decreasing along the row
        # ignored detections in the same virtual-group order; a tp's last one before it in its virtual
        # group, as a position among them + 1 (0: none)
        self.ign_img = b.img[b.ign_d]
        self.ign_first = _segments(b.ign_t * G + b.group[b.ign_d], len(b.tp) * G)[1]
        self.ign_key, self.tp_key = b.ign_t * C + b.ign_d, t_idx * C + cols
        self.group_start = np.searchsorted(b.group, b.group)  # each column's group's first column
        self.ign_last = self._last_ignored(t_idx, cols)
        if conf is not None:
            starts = np.searchsorted(b.group, np.arange(G))
            above = np.bincount(b.group[b.score >= conf], minlength=G)  # scores descend in a group
            self.op_has = above > 0
            self.op_col = np.where(self.op_has, starts + above - 1, 0)  # the group's last one >= conf
            self.op_ign = np.where(self.op_has, self._last_ignored(np.full(G, t50), self.op_col), 0)
            tp = np.searchsorted(self.tp_key, t50 * C + self.op_col, side="right") - 1
            self.op_has_tp = self.op_has & (tp >= 0) & (self.tp_key[np.maximum(tp, 0)] >= t50 * C + starts) \
                if len(self.tp_key) else np.zeros(G, dtype=bool)
            self.op_tp = np.where(self.op_has_tp, tp, 0)

    def _last_ignored(self, t: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """For detections (threshold, column): the last ignored one at that threshold in the same group
        at or before the column, as a position among the ignored + 1 (0: none)."""
        C = len(self.group_start)
        before = np.searchsorted(self.ign_key, t * C + cols, side="right")
        return np.where(before > np.searchsorted(self.ign_key, t * C + self.group_start[cols]), before, 0)


class _RecallTable:
    """F(c / n), the number of recall thresholds <= c / n (the float division, as pycocotools compares
    it), for every weighted true-positive count c <= n of every weighted gt count n that occurs, laid
    out as rows: ``row[b, g] + c`` indexes ``f`` and ``c`` (which gives back c), and ``packed``, both
    in one: ``c << 8 | F``."""

    def __init__(self, n_gt: np.ndarray, rec_thrs: np.ndarray) -> None:
        values, inverse = np.unique(n_gt, return_inverse=True)
        sizes = values + 1
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        self.row = starts[inverse.reshape(n_gt.shape)]  # (B, G): where the row of that n starts
        n = np.repeat(values, sizes)
        self.c = np.arange(len(n)) - np.repeat(starts, sizes)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(n > 0, self.c / np.maximum(n, 1), 0.0)
        self.f = np.searchsorted(rec_thrs, ratio, side="right")
        self.packed = (self.c << 8) | self.f  # F <= 101

@dataclass
class Sums:
    """Per replicate and group, (B, G) each: the weighted detections counted at IoU 0.5 among those
    scoring at least the operating point's confidence, and the true positives among them."""

    seen: np.ndarray
    tp: np.ndarray


def replicate_aps(W: np.ndarray, b: Batch, rec_thrs: np.ndarray, n_gt: np.ndarray, conf: float | None = None,
                  t50: int = 0) -> tuple[np.ndarray, Sums | None]:
    """AP per replicate, IoU threshold and group: (B, T, G), averaged over the recall thresholds as COCO
    does (groups without ground truth in a replicate come out 0: mask them with ``n_gt``, the weighted gt
    counts from :func:`gt_counts`); with ``conf``, also the running counts that
    :func:`replicate_operating_point` needs, read in the same pass.

    Per threshold, only the true positives matter: the interpolated precision at recall threshold r is the
    largest precision at a true positive whose recall reaches r; a true positive at running recall
    ``rc_j`` takes the recall thresholds in ``(rc_{j-1}, rc_j]``, so AP = sum_j suffixmax(precision)_j *
    (F(rc_j) - F(rc_{j-1})) / R with F(x) = number of recall thresholds <= x (a table lookup). Counts are
    integer cumulative sums; the suffix maximum restarts at each group by ordering (group offset,
    precision) pairs as complex numbers (numpy compares them lexicographically), so every precision is
    exact. Groups are taken a few thousand columns at a time, replicates a few rows at a time, to stay in
    the CPU cache.
    """
    n_rep, n_thr, G = len(W), len(b.tp), b.n_groups
    out = np.zeros((n_rep, n_thr, G))
    sums = Sums(np.zeros((n_rep, G), dtype=np.int64), np.zeros((n_rep, G), dtype=np.int64)) \
        if conf is not None else None
    recall = _RecallTable(n_gt, rec_thrs)
    W = W.astype(np.int64, copy=False)
    bounds = np.searchsorted(b.group, np.arange(G + 1))  # columns of group g: bounds[g]:bounds[g + 1]
    g0 = 0
    while g0 < G:
        g1 = min(G, max(g0 + 1, int(np.searchsorted(bounds, bounds[g0] + _CHUNK, side="right")) - 1))
        c0, c1 = bounds[g0], bounds[g1]
        if c1 > c0:
            keep = (b.ign_d >= c0) & (b.ign_d < c1)
            part = Batch(g1 - g0, b.group[c0:c1] - g0, b.img[c0:c1], b.score[c0:c1], b.tp[:, c0:c1],
                         b.ign_t[keep], b.ign_d[keep] - c0, b.gt_img[:0], b.gt_group[:0])
            part_sums = None if sums is None else Sums(sums.seen[:, g0:g1], sums.tp[:, g0:g1])
            out[:, :, g0:g1] = _chunk_aps(W, part, recall, recall.row[:, g0:g1], len(rec_thrs),
                                          _Layout(part, conf, t50), part_sums)
        g0 = g1
    return out, sums


def _chunk_aps(W: np.ndarray, b: Batch, recall: _RecallTable, row: np.ndarray, R: int, lay: _Layout,
               sums: Sums | None) -> np.ndarray:
    n_rep, n_thr, G = len(W), len(b.tp), b.n_groups
    out = np.zeros((n_rep, n_thr * G))
    N, C = len(lay.cols), len(b.group)
    rows = min(n_rep, max(1, _BLOCK // max(N, 1)))
    # buffers reused by every row block (no fresh pages to fault in)
    all_buf = np.empty((rows, C), dtype=np.int64)
    seen_buf, idx_buf = np.empty((rows, N), dtype=np.int64), np.empty((rows, N), dtype=np.int64)
    f_buf, taken_buf = np.empty((rows, N), dtype=np.int64), np.empty((rows, N), dtype=np.int64)
    pairs = np.empty((rows, N, 2))
    pairs[:, :, 0] = lay.offset  # the accumulation below leaves the offsets as they are
    keys = pairs.view(np.complex128)[:, :, 0]
    for r0 in range(0, n_rep, rows):
        w = W[r0:r0 + rows]
        nr = len(w)
        x_all, seen, idx, key = all_buf[:nr], seen_buf[:nr], idx_buf[:nr], keys[:nr]
        f, taken = f_buf[:nr], taken_buf[:nr]
        # running detections (all columns), then less those ignored at the tp's threshold
        np.take(w, b.img, axis=1, out=x_all, mode="clip")
        running = _restart_cumsum(x_all, lay.first_all)
        ign = np.zeros((nr, len(lay.ign_img) + 1), dtype=np.int64)
        if len(lay.ign_img):
            ign[:, 1:] = _restart_cumsum(np.take(w, lay.ign_img, axis=1, mode="clip"), lay.ign_first)
        if N:
            np.take(running, lay.cols, axis=1, out=seen, mode="clip")
            if len(lay.ign_img):
                seen -= np.take(ign, lay.ign_last, axis=1, mode="clip")
            # running tp count c, restarted per virtual group and shifted to its row of the recall table
            np.take(w, lay.img, axis=1, out=idx, mode="clip")
            totals = np.add.reduceat(idx, lay.first, axis=1)
            start = np.take(row[r0:r0 + nr], lay.vgroup_class, axis=1)
            idx[:, lay.first] += start
            idx[:, lay.first[1:]] -= start[:, :-1] + totals[:, :-1]
            np.cumsum(idx, axis=1, out=idx)
            # (virtual group offset, precision) pairs; pycocotools' tp / (tp + fp + eps), where eps only
            # matters when nothing was counted yet (then tp = 0 too)
            np.maximum(seen, 1, out=seen)
            np.take(recall.packed, idx, out=taken, mode="clip")
            np.bitwise_and(taken, 255, out=f)
            np.right_shift(taken, 8, out=taken)  # c
            np.divide(taken, seen, out=pairs[:nr, :, 1])
            np.maximum.accumulate(key[:, ::-1], axis=1, out=key[:, ::-1])
            taken[:, 0] = f[:, 0]
            np.subtract(f[:, 1:], f[:, :-1], out=taken[:, 1:])
            taken[:, lay.first] = f[:, lay.first]
            prod = np.multiply(pairs[:nr, :, 1], taken)
            out[r0:r0 + nr, lay.vgroups] = np.add.reduceat(prod, lay.first, axis=1) / R
        if sums is not None:
            sums.seen[r0:r0 + nr] = np.where(lay.op_has, running[:, lay.op_col] - ign[:, lay.op_ign], 0)
            if N:
                sums.tp[r0:r0 + nr] = np.where(lay.op_has_tp, recall.c[idx[:, lay.op_tp]], 0)
    return out.reshape(n_rep, n_thr, G)


def gt_counts(W: np.ndarray, b: Batch) -> np.ndarray:
    """Weighted counted ground truths per replicate and group: (B, G) integers."""
    order = np.argsort(b.gt_group, kind="stable")
    gi, gg = b.gt_img[order], b.gt_group[order]
    out = np.zeros((len(W), b.n_groups), dtype=np.int64)
    if len(gg):
        groups, first = _segments(gg, b.n_groups)
        out[:, groups] = np.add.reduceat(np.take(W.astype(np.int64, copy=False), gi, axis=1), first, axis=1)
    return out


def replicate_operating_point(W: np.ndarray, b: Batch, conf: float, t50: int, n_gt: np.ndarray, sums: Sums
                              ) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision and recall at confidence ``conf`` per replicate, (B, G) each (NaN where
    ``n_gt``, the weighted gt count, is 0), as :func:`curves.at_confidence` computes them on the set
    with each image repeated: interpolated between the last detection (with a positive multiplicity)
    scoring at least ``conf`` and the next one, counting only detections not ignored at IoU 0.5 (their
    running counts up to ``conf``: ``sums``, from :func:`replicate_aps`)."""
    G = b.n_groups
    counted = np.ones(len(b.group), dtype=bool)
    lo, hi = np.searchsorted(b.ign_t, t50), np.searchsorted(b.ign_t, t50, side="right")
    counted[b.ign_d[lo:hi]] = False
    cols = np.flatnonzero(counted)
    grp, img, score, tp = b.group[cols], b.img[cols], b.score[cols], b.tp[t50, cols]
    start = np.searchsorted(grp, np.arange(G))
    end = np.searchsorted(grp, np.arange(G), side="right")
    split = start + np.bincount(grp[score >= conf], minlength=G)  # scores descend within a group
    wf = W.astype(np.int64, copy=False)
    seen_above, tp_above = sums.seen, sums.tp
    img, score, tp = np.r_[img, 0], np.r_[score, 0.0], np.r_[tp, False]  # index -1: "none", never used
    last = _nearest_positive(wf, img, split - 1, start - 1, -1)  # last positive column above, or -1
    nxt = _nearest_positive(wf, img, split, end, 1)  # first positive column below, or -1
    any_det, has_above = (last >= 0) | (nxt >= 0), last >= 0
    q, xp_j, xp_n = -conf, -score[last], -score[nxt]
    between = has_above & (nxt >= 0) & (xp_j != q)
    tp_next = tp[nxt]
    denom = n_gt + _EPS_RECALL
    with np.errstate(all="ignore"):
        rec_j, prec_j = tp_above / denom, tp_above / seen_above
        rec_n, prec_n = (tp_above + tp_next) / denom, (tp_above + tp_next) / (seen_above + 1)
        values = []
        for y_j, y_n, left in ((rec_j, rec_n, 0.0), (prec_j, prec_n, 1.0)):
            v = np.where(has_above, y_j, left)
            v = np.where(between, (y_n - y_j) / (xp_n - xp_j) * (q - xp_j) + y_j, v)
            v = np.where(any_det, v, 0.0)
            values.append(np.where(n_gt > 0, v, np.nan))
    recall, precision = values
    return precision, recall


def _nearest_positive(w: np.ndarray, img: np.ndarray, begin: np.ndarray, stop: np.ndarray,
                      step: int) -> np.ndarray:
    """Per replicate and group, the first column from ``begin`` towards ``stop`` (exclusive; ``step``
    -1 walks back) whose image has a positive multiplicity, else -1: (B, G). Looks at a window of columns
    first; the rare (replicate, group) whose window is all zero and that has more columns is searched in
    full."""
    G = len(begin)
    length = np.maximum((stop - begin) * step, 0)  # columns available in that direction
    offs = np.arange(_WINDOW)
    cols = begin[:, None] + step * offs[None, :]  # (G, L)
    inside = offs[None, :] < length[:, None]
    safe = np.where(inside, cols, 0)
    positive = (w[:, img[safe]] > 0) & inside[None]  # (B, G, L)
    found = positive.any(2)
    out = np.where(found, safe[np.arange(G)[None, :], positive.argmax(2)], -1)
    for r, g in zip(*np.nonzero(~found & (length > _WINDOW)[None, :]), strict=True):
        idx = begin[g] + step * np.arange(_WINDOW, length[g])
        hit = np.flatnonzero(w[r, img[idx]] > 0)
        if len(hit):
            out[r, g] = idx[hit[0]]
    return out
