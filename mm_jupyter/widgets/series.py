"""Metric points of one execution, read incrementally from the store (``id > last seen``)."""

from __future__ import annotations

import numpy as np

from ..queries.executions import metrics_since
from ..store import Store

X_AXES = {"step": "step", "epoch": "epoch", "time": "wall time (s)"}
READ_BATCH = 100_000


class Column:
    """One metric's full-resolution points in growable float64 arrays (step, epoch, ts, value)."""

    def __init__(self) -> None:
        self.size = 0
        self._data = np.empty((4, 256), dtype=np.float64)

    def extend(self, block: np.ndarray) -> None:
        """Append a ``(4, n)`` block of step, epoch, ts, value."""
        need = self.size + block.shape[1]
        if need > self._data.shape[1]:
            grown = np.empty((4, max(need, 2 * self._data.shape[1])), dtype=np.float64)
            grown[:, :self.size] = self._data[:, :self.size]
            self._data = grown
        self._data[:, self.size:need] = block
        self.size = need

    def xy(self, x: str, t0: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """The points against ``x`` (``step``, ``epoch`` or ``time`` in seconds since ``t0``)."""
        step, epoch, ts, value = self._data[:, :self.size]
        xs = {"step": step, "epoch": epoch, "time": ts - t0}[x]
        return xs, value


class ExecutionSeries:
    """Every metric of one execution; ``read()`` appends the rows newer than the last seen id."""

    def __init__(self, store: Store, execution_id: str):
        self.store = store
        self.execution_id = execution_id
        self.last_id = 0
        self.t0: float | None = None
        self.attempt: int | None = None
        self.columns: dict[str, Column] = {}

    def read(self, batches: int = 10) -> set[str]:
        """Fetch new points (at most ``batches`` x 100k per call); returns the metric names that grew."""
        grown: set[str] = set()
        for _ in range(batches):
            rows = metrics_since(self.store, self.execution_id, self.last_id, limit=READ_BATCH)
            if not rows:
                break
            if rows[0]["attempt"] != self.attempt:  # a retry started: its points replace the failed attempt's
                if self.attempt is not None:
                    grown |= set(self.columns)
                self.attempt, self.columns, self.t0 = rows[0]["attempt"], {}, None
            grown |= self._append(rows)
            self.last_id = rows[-1]["id"]
            if len(rows) < READ_BATCH:
                break
        return grown

    def _append(self, rows: list[dict]) -> set[str]:
        names = [r["name"] for r in rows]
        # None (no epoch, say) becomes NaN in a float64 array
        block = np.array([[r["step"] for r in rows], [r["epoch"] for r in rows], [r["ts"] or 0.0 for r in rows],
                          [r["value"] for r in rows]], dtype=np.float64)
        if self.t0 is None:
            self.t0 = float(block[2, 0])
        distinct = set(names)
        if len(distinct) == 1:
            self.columns.setdefault(names[0], Column()).extend(block)
            return distinct
        labels = np.array(names, dtype=object)
        for name in distinct:
            self.columns.setdefault(name, Column()).extend(block[:, labels == name])
        return distinct

    def xy(self, name: str, x: str) -> tuple[np.ndarray, np.ndarray]:
        col = self.columns.get(name)
        if col is None:
            return np.empty(0), np.empty(0)
        return col.xy(x, self.t0 or 0.0)
