"""mm-jupyter: model management inside Jupyter.

``import mm_jupyter as mm`` gives the Python API: ``mm.register_model``, ``mm.create_snapshot``,
``mm.update_snapshot``, ``mm.train``, ``mm.evaluate``, ``mm.wait_for``, ``mm.rerun``, ``mm.abort``,
``mm.remove``, ``mm.list_executions``, ``mm.get_metrics``, ``mm.start_run`` / ``mm.log_metric``
(offline logging), ``mm.register_dataset``, ``mm.list_datasets``, ``mm.get_dataset``, ``mm.select_items``,
``mm.save_filter``, ``mm.set_notes`` / ``mm.add_tag`` / ``mm.remove_tag`` (a version's notes and tags),
``mm.version_page``, ``mm.add_pretrained`` (weights trained elsewhere), ``mm.predict``, ``mm.deploy`` /
``mm.deployments`` / ``mm.undeploy``, ``mm.generate_shapes``, ``mm.evaluation_results``, ``mm.reconcile`` and
``mm.Store``; feature maps come from ``mm_jupyter.introspect.introspect(snapshot, item)``.
Attributes load lazily so the CLI starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = ("connect", "reconcile", "register_model", "set_model_codebase", "models", "create_snapshot", "update_snapshot", "snapshots",
        "clone_snapshot", "remove_snapshot", "train", "create_and_train", "evaluate", "wait_for", "rerun", "abort",
        "remove", "start_here",
        "list_executions",
        "get_metrics", "logs", "start_run", "log_metric", "evaluation_results", "save_filter", "delete_filter",
        "set_notes", "add_tag", "remove_tag", "set_secret", "list_secrets", "remove_secret", "add_pretrained",
        "predict", "deploy", "deployments", "undeploy")
_EXPORTS = {
    **{name: ("api", name) for name in _API},
    "Store": ("store", "Store"), "register_dataset": ("datasets", "register_dataset"),
    "list_datasets": ("queries.catalog", "datasets"), "version_page": ("api", "version_page"), "get_dataset": ("queries.catalog", "dataset_row"), "select_items": ("queries.items", "select_items"),
    "generate_shapes": ("shapes", "generate_shapes"), "BaseModelAdapter": ("adapter", "BaseModelAdapter"),
    "RunContext": ("adapter", "RunContext"), "MMError": ("errors", "MMError"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module, attr = _EXPORTS[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'mm_jupyter' has no attribute {name!r}")
