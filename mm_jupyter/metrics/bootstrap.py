"""Seeded bootstrap over items: multiplicities, percentile intervals, and the per-slice comparison with
the whole set (paired differences, slices significantly worse).

A replicate is a vector of per-item multiplicities (how many times each item is drawn when ``n`` items
are drawn with replacement from the ``n`` of the whole set). A slice's replicate is the whole set's
replicate restricted to the slice's items, not a separate draw within the slice: then a slice's metric
and the whole set's in one replicate come from the same draw, so their difference is paired and has a
proper interval (a slice shares its items with the whole set), and one draw serves every slice in the
same pass. The number of items a slice gets in a replicate then varies around its size, as in the
Poisson bootstrap; its intervals are about as wide as resampling the slice alone would make them.

Intervals are percentile intervals. For COCO AP, resampled values mostly lie above the estimate (the
interpolated precision is a running maximum, which resampling noise raises), so an AP interval can sit
almost entirely above its estimate; differences between a slice and the whole set share that shift.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Mapping, Sequence

import numpy as np

from . import MetricsInputError

# The most replicates that keep a detection evaluation with 50 slices and its bootstrap within twice the
# cost of the metrics alone (bench/coco_eval.py, 2 shared cores); pass more for steadier intervals (the
# cost grows linearly).
DEFAULT_REPLICATES = 64
LEVEL = 0.95
MIN_DEFINED = 0.5  # a metric undefined (no ground truth) in more replicates than this has no interval


def check(replicates: object, seed: object) -> int:
    """``replicates`` as an int (0: no bootstrap); a clear error for anything else."""
    for name, value in (("bootstrap", replicates), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise MetricsInputError(f"{name} must be a non-negative integer, got {value!r}")
    return int(replicates)  # type: ignore[arg-type]


def multiplicities(n: int, replicates: int, seed: int) -> np.ndarray:
    """(replicates, n) int32: per replicate, how many times each of ``n`` items is drawn in ``n`` draws
    with replacement; the same ``seed`` gives the same draws."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(replicates, n)) + (np.arange(replicates) * n)[:, None]
    return np.bincount(draws.ravel(), minlength=replicates * n).reshape(replicates, n).astype(np.int32)


def interval(values: np.ndarray, level: float = LEVEL) -> list[float] | None:
    """The percentile interval of the finite ``values``; None when fewer than half are finite."""
    return intervals(np.asarray(values, dtype=np.float64)[:, None], level)[0]


def intervals(values: np.ndarray, level: float = LEVEL) -> list[list[float] | None]:
    """:func:`interval` of each column of ``values`` (replicates x columns), in one call where no value
    is missing."""
    tail = 50 * (1 - level)
    finite = np.isfinite(values)
    out: list[list[float] | None] = [None] * values.shape[1]
    full = np.flatnonzero(finite.all(0))
    if len(full) and len(values):
        lo, hi = np.percentile(values[:, full], [tail, 100 - tail], axis=0)
        for j, a, b in zip(full.tolist(), lo.tolist(), hi.tolist(), strict=True):
            out[j] = [a, b]
    for j in np.flatnonzero(~finite.all(0)).tolist():
        column = values[finite[:, j], j]
        if len(column) and len(column) >= MIN_DEFINED * len(values):
            out[j] = [float(v) for v in np.percentile(column, [tail, 100 - tail])]
    return out


def attach(result: dict, names: Sequence[Hashable], points: Mapping[str, Sequence[float | None]],
           reps: Mapping[str, np.ndarray] | None, replicates: int = 0, seed: int = 0) -> None:
    """Write the comparison with the whole set into ``result`` and its ``slices`` (in place).

    ``points[metric]`` holds the metric's value for the whole set, then for each slice of ``names``;
    ``reps[metric]`` (None: no bootstrap) its replicates, (replicates, 1 + len(names)), NaN where
    undefined. Each slice gets ``delta`` (slice - whole); with replicates, the top level also gets ``ci:
    {metric: [lo, hi]}`` and ``bootstrap: {replicates, seed, level}``, and each slice ``ci``, ``delta_ci``
    (the interval of the paired per-replicate differences) and ``worse`` (the metrics whose
    ``delta_ci`` lies entirely below 0). A metric whose value is None gets None throughout.
    """
    if reps is not None:
        whole = {m: reps[m][:, :1] for m in points}
        ci = {m: intervals(reps[m]) for m in points}
        delta_ci = {m: intervals(reps[m][:, 1:] - whole[m]) for m in points}
        result["ci"] = {m: ci[m][0] if v[0] is not None else None for m, v in points.items()}
        result["bootstrap"] = {"replicates": int(replicates), "seed": int(seed), "level": LEVEL}
    for s, name in enumerate(names, start=1):
        row = result["slices"][name]
        row["delta"] = {m: v[s] - v[0] if v[s] is not None and v[0] is not None else None
                        for m, v in points.items()}
        if reps is None:
            continue
        row["ci"] = {m: ci[m][s] if v[s] is not None else None for m, v in points.items()}
        row["delta_ci"] = {m: delta_ci[m][s - 1] if row["delta"][m] is not None else None for m in points}
        row["worse"] = [m for m, iv in row["delta_ci"].items() if iv is not None and iv[1] < 0]
