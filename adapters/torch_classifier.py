"""A small plain-torch CNN image classifier as an mm-jupyter adapter (deterministic on CPU).

The network is ``SmallCNN``: ``blocks`` (an ordered ``nn.ModuleList`` of conv-BN-ReLU-pool blocks,
what per-layer feature-map views walk), global average pooling and a linear ``head``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from mm_jupyter.adapter import BaseModelAdapter, Item, Prediction, RunContext, TrainData
from mm_jupyter.errors import InvalidInput

PROGRESS_SPAN = 95.0  # progress reported while training; the rest is left for saving/evaluating
ARCH_KEYS = ("width", "imgsz")  # config keys the saved weights depend on
MEAN, STD = 0.5, 0.25


class SmallCNN(nn.Module):
    """``n_blocks`` conv blocks (channels width, 2·width, 4·width, …) → global pool → linear head."""

    def __init__(self, n_classes: int, width: int = 16, n_blocks: int = 3):
        super().__init__()
        channels = [3] + [width * 2**i for i in range(n_blocks)]
        self.blocks = nn.ModuleList(
            self._block(c_in, c_out) for c_in, c_out in zip(channels, channels[1:], strict=False)
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(channels[-1], n_classes)

    @staticmethod
    def _block(c_in: int, c_out: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.head(torch.flatten(self.pool(x), 1))


# --- images --------------------------------------------------------------------------------------


def load_image(path: str, imgsz: int) -> torch.Tensor:
    """An RGB image as a ``uint8`` tensor (3, imgsz, imgsz)."""
    with Image.open(path) as im:
        im = im.convert("RGB").resize((imgsz, imgsz), Image.BILINEAR)
        return torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1)


def load_images(items: list[Item], imgsz: int) -> torch.Tensor:
    """The items' images stacked as ``uint8`` (N, 3, imgsz, imgsz) — cheap to keep for every epoch."""
    if not items:
        return torch.zeros((0, 3, imgsz, imgsz), dtype=torch.uint8)
    return torch.stack([load_image(item.path, imgsz) for item in items])


def normalise(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    return (images.to(device).float() / 255.0 - MEAN) / STD


def item_labels(items: list[Item], n_classes: int) -> torch.Tensor:
    """The items' ``annotations["label"]`` as a tensor; missing or out-of-range labels raise."""
    labels = []
    for item in items:
        label = (item.annotations or {}).get("label")
        if not isinstance(label, int) or not 0 <= label < n_classes:
            raise InvalidInput(f"item {item.id}: classification label must be 0..{n_classes - 1}, got {label!r}")
        labels.append(label)
    return torch.tensor(labels, dtype=torch.long)


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """``torch.use_deterministic_algorithms(True)`` for the block, restoring the previous mode after."""
    previous = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=warn_only)


# --- the adapter ---------------------------------------------------------------------------------


class TorchClassifierAdapter(BaseModelAdapter):
    """Image classification with ``SmallCNN``: Adam, cross-entropy, seeded init and shuffling."""

    task = "classify"
    bounds = {"epochs": (1, 100_000), "batch": (1, 4096), "lr": (0, 10), "weight_decay": (0, 10),
              "imgsz": (8, 4096), "width": (1, 4096), "seed": (0, 2**32 - 1)}
    configuration: dict[str, Any] = {
        "epochs": 5,
        "batch": 16,
        "lr": 0.003,
        "weight_decay": 0.0,
        "imgsz": 64,
        "width": 16,
        "device": "auto",
        "seed": 0,
    }

    def __init__(self, config: dict | None = None, labels: list[str] | None = None):
        super().__init__(config, labels)
        self.net: SmallCNN | None = None

    @property
    def device(self) -> torch.device:
        name = self.config["device"]
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        return torch.device(name)

    # -- weights --

    def _build(self, n_classes: int) -> SmallCNN:
        """A fresh net for ``n_classes``, keeping every loaded weight whose shape still fits."""
        net = SmallCNN(n_classes, width=self.config["width"])
        if self.net is not None:
            own = net.state_dict()
            fits = {k: v for k, v in self.net.state_dict().items() if k in own and own[k].shape == v.shape}
            net.load_state_dict(fits, strict=False)
        return net

    def load(self, local_path: str) -> None:
        """Read ``model.pt`` (a state_dict) and ``meta.json`` (labels, architecture) from a folder."""
        folder = Path(local_path)
        weights, meta_path = folder / "model.pt", folder / "meta.json"
        if not weights.is_file() or not meta_path.is_file():
            raise InvalidInput(f"no classifier weights (model.pt + meta.json) in {folder}")
        meta = json.loads(meta_path.read_text())
        self.labels = list(meta["labels"])
        self.config.update({k: meta["config"][k] for k in ARCH_KEYS if k in meta.get("config", {})})
        state = torch.load(weights, map_location="cpu", weights_only=True)
        self.net = SmallCNN(len(self.labels), width=self.config["width"])
        self.net.load_state_dict(state)
        self.net.eval()

    def save(self, local_path: str) -> None:
        """Write ``model.pt`` (state_dict) and ``meta.json`` into the folder ``local_path``."""
        if self.net is None:
            raise InvalidInput("nothing to save: train or load the classifier first")
        folder = Path(local_path)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.cpu() for k, v in self.net.state_dict().items()}, folder / "model.pt")
        meta = {"adapter": "mm_jupyter.adapters.torch_classifier:TorchClassifierAdapter",
                "task": self.task, "labels": self.labels, "config": self.config}
        (folder / "meta.json").write_text(json.dumps(meta, indent=2))

    # -- training --

    def train(self, data: TrainData, ctx: RunContext) -> None:
        """Train on ``data`` (from the loaded weights when any); logs loss, val_loss, accuracy per epoch."""
        labels = list(data.labels or self.labels)
        if not labels or not data.train:
            raise InvalidInput("classifier training needs label names and at least one training item")
        imgsz, device = self.config["imgsz"], self.device
        x_train, y_train = load_images(data.train, imgsz), item_labels(data.train, len(labels))
        x_val, y_val = load_images(data.validation, imgsz), item_labels(data.validation, len(labels))
        ctx.log(f"classifier: {len(data.train)} training, {len(data.validation)} validation images, "
                f"{len(labels)} classes, {self.config['epochs']} epochs")
        with deterministic():
            torch.manual_seed(ctx.seed)
            net = self._build(len(labels)).to(device)
            optimiser = torch.optim.Adam(net.parameters(), lr=self.config["lr"],
                                         weight_decay=self.config["weight_decay"])
            shuffle = torch.Generator().manual_seed(ctx.seed)
            epochs = self.config["epochs"]
            for epoch in range(1, epochs + 1):
                values = {"loss": self._train_epoch(net, optimiser, x_train, y_train, shuffle)}
                if len(x_val):
                    values.update(self._validate(net, x_val, y_val))
                ctx.log_metrics(values, step=epoch, epoch=epoch)
                self.net, self.labels = net, labels
                ctx.maybe_evaluate(self, data.validation, epoch=epoch, final=epoch == epochs)
                ctx.report_progress(PROGRESS_SPAN * epoch / epochs)
        self.net, self.labels = net.eval(), labels

    def _batches(self, n: int, order: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
        order = torch.arange(n) if order is None else order
        size = self.config["batch"]
        for start in range(0, n, size):
            yield order[start:start + size]

    def _train_epoch(self, net: SmallCNN, optimiser: torch.optim.Optimizer, x: torch.Tensor,
                     y: torch.Tensor, shuffle: torch.Generator) -> float:
        """One pass over the shuffled training set; returns the mean training loss."""
        net.train()
        total, seen = 0.0, 0
        for idx in self._batches(len(x), torch.randperm(len(x), generator=shuffle)):
            if len(idx) < 2 and len(x) >= 2:  # BatchNorm cannot train on a single image
                continue
            logits = net(normalise(x[idx], self.device))
            loss = F.cross_entropy(logits, y[idx].to(self.device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        return total / max(1, seen)

    @torch.no_grad()
    def _validate(self, net: SmallCNN, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """Mean validation loss and accuracy."""
        net.eval()
        loss, correct = 0.0, 0
        for idx in self._batches(len(x)):
            logits = net(normalise(x[idx], self.device))
            target = y[idx].to(self.device)
            loss += float(F.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(1) == target).sum())
        return {"val_loss": loss / len(x), "accuracy": correct / len(x)}

    # -- inference --

    def introspection(self) -> tuple[nn.Module, list[tuple[str, nn.Module]], Callable[[Item], torch.Tensor]]:
        """The net, its conv blocks (``block1``…), and an item's normalised image as the input."""
        if self.net is None:
            raise InvalidInput("no classifier weights: train or load the model before introspecting")
        net = self.net.to(self.device)
        layers = [(f"block{i + 1}", block) for i, block in enumerate(net.blocks)]
        return net, layers, lambda item: normalise(load_image(item.path, self.config["imgsz"])[None], self.device)

    @torch.no_grad()
    def predict(self, batch: list[Item]) -> list[Prediction]:
        """The most likely class (``label``) and every class probability (``probs``) per item."""
        if self.net is None:
            raise InvalidInput("no classifier weights: train or load the model before predicting")
        if not batch:
            return []
        net = self.net.to(self.device).eval()
        probs = []
        for idx in self._batches(len(batch)):
            images = load_images([batch[int(i)] for i in idx], self.config["imgsz"])
            probs.append(F.softmax(net(normalise(images, self.device)), dim=1).cpu())
        table = torch.cat(probs).double()
        return [
            Prediction(item_id=item.id, label=int(row.argmax()), probs=[float(p) for p in row])
            for item, row in zip(batch, table, strict=True)
        ]

