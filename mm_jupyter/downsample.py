"""Min/max bucket downsampling: a long line drawn with ~``max_points`` points, extremes kept."""

from __future__ import annotations

import numpy as np

MAX_POINTS = 2000


def minmax_indices(y: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray:
    """Sorted indices into ``y`` to draw: the first and last point, and each bucket's min and max.

    At most ``max_points`` indices; every index when ``len(y) <= max_points``. The global minimum and
    maximum are always kept (each lies in some bucket). ``y`` must be finite.
    """
    n = len(y)
    if n <= max_points:
        return np.arange(n)
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, got {max_points}")
    inner = n - 2
    width = -(-inner // ((max_points - 2) // 2))  # ceil: bucket width so 2 per bucket fit
    buckets = -(-inner // width)
    padded = np.full(buckets * width, np.nan)
    padded[:inner] = y[1:-1]
    grid = padded.reshape(buckets, width)
    base = np.arange(buckets) * width + 1
    picks = np.concatenate(([0, n - 1], base + np.nanargmin(grid, axis=1), base + np.nanargmax(grid, axis=1)))
    return np.unique(picks)


def downsample(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` as float64, non-finite points dropped, reduced to at most ``max_points`` points."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.all():
        x, y = x[ok], y[ok]
    keep = minmax_indices(y, max_points)
    if len(keep) == len(y):
        return x, y
    return x[keep], y[keep]
