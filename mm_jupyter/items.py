"""What adapters see: dataset items, predictions, and the data handed to ``train`` and ``evaluate``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Item:
    """One dataset item as an adapter sees it.

    ``annotations`` for detection: ``{"boxes": [[x1, y1, x2, y2], ...], "labels": [int, ...]}`` in
    pixels (optionally ``"iscrowd": [0/1, ...]``); for classification: ``{"label": int}``.
    """

    id: int
    path: str
    name: str = ""
    dir: str = ""
    tags: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    annotations: dict | None = None


@dataclass
class Prediction:
    """An adapter's output for one item: boxes (xyxy pixels) with scores and labels, or a class."""

    item_id: int
    boxes: list[list[float]] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    label: int | None = None
    probs: list[float] | None = None


@dataclass
class TrainData:
    """The train and validation items of a training, the class names, and a scratch folder."""

    train: list[Item]
    validation: list[Item]
    labels: list[str]
    workdir: Path


@dataclass
class EvalData:
    """The items of an evaluation, the class names, a scratch folder and the slice fields."""

    items: list[Item]
    labels: list[str]
    workdir: Path
    slice_by: list[str] | None = None  # fields to slice the metrics by (None: dir, tag, metadata fields)
