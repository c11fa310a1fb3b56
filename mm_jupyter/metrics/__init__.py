"""Evaluation metrics: COCO detection (pycocotools-exact, with slices), classification, slice building.

Submodules load lazily: ``from mm_jupyter.metrics import coco_evaluate`` imports faster-coco-eval,
``classification_metrics`` and ``build_slices`` need numpy only.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import InvalidInput


class MetricsInputError(InvalidInput, ValueError):
    """Input a metric cannot be computed from; the one-line message names the offending item."""


_EXPORTS = {"coco_evaluate": "detection", "classification_metrics": "classification",
            "build_slices": "slices"}
__all__ = ["MetricsInputError", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
