"""mm-jupyter: model management inside Jupyter.

``import mm_jupyter as mm`` gives the Python API: ``mm.register_model``, ``mm.create_snapshot``,
``mm.train``, ``mm.evaluate``, ``mm.wait_for``, ``mm.rerun``, ``mm.abort``, ``mm.list_executions``,
``mm.get_metrics``, ``mm.start_run`` / ``mm.log_metric`` (offline logging), ``mm.register_dataset``,
``mm.generate_shapes``, ``mm.evaluation_results`` and ``mm.Store``; feature maps come from
``mm_jupyter.introspect.introspect(snapshot, item)``. Attributes load lazily so the CLI starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Store": "store", "connect": "api", "register_model": "api", "models": "api",
    "create_snapshot": "api", "update_snapshot": "api", "snapshots": "api", "clone_snapshot": "api",
    "train": "api",
    "evaluate": "api", "wait_for": "api", "rerun": "api", "abort": "api", "remove": "api",
    "list_executions": "api", "get_metrics": "api", "logs": "api", "start_run": "api", "log_metric": "api",
    "register_dataset": "datasets", "list_datasets": "datasets", "select_items": "datasets",
    "save_filter": "filters", "generate_shapes": "shapes", "BaseModelAdapter": "adapter",
    "RunContext": "adapter", "MMError": "errors",
    "evaluation_results": "api",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'mm_jupyter' has no attribute {name!r}")
