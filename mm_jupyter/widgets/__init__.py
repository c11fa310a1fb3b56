"""Notebook widgets: launch forms, a live executions table, live metric charts, snapshot comparison.

``TrainForm(model_or_snapshot)``, ``EvaluateForm(snapshot)``, ``ExecutionsTable(kind=None)``,
``MetricsChart(ids, metrics=None)`` and ``Compare(snapshot_ids)`` read and write through
``mm_jupyter.api`` and the store only. The table and charts update from an asyncio task on the
kernel's event loop (see ``live``): while a cell waits, use ``await wait_async(run_id)`` (or the
blocking ``wait(run_id)``, which ticks the widgets itself).
"""

from __future__ import annotations

from ..downsample import downsample, minmax_indices
from .chart import MetricsChart
from .compare import Compare
from .forms import EvaluateForm, TrainForm
from .live import HUB, wait, wait_async
from .table import ExecutionsTable

__all__ = ["HUB", "Compare", "EvaluateForm", "ExecutionsTable", "MetricsChart", "TrainForm", "downsample",
           "minmax_indices", "wait", "wait_async"]
