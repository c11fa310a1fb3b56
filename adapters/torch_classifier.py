"""A small plain-torch CNN image classifier as an mm-jupyter adapter (deterministic on CPU).

The network is ``SmallCNN``: ``blocks`` (an ordered ``nn.ModuleList`` of conv-BN-ReLU-pool blocks,
what per-layer feature-map views walk), global average pooling and a linear ``head``.

The default recipe is meant to train stably on small real sets without tuning: the image size comes
from the data (``imgsz_from_data``), the learning rate warms up linearly and then decays on a cosine
(``lr_factor``), a moving average of the weights (``WeightAverage``, ``ema``) is what is validated
and kept, and training stops once the validation accuracy has not risen for ``patience`` epochs,
ending on the weights of the best epoch.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
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
# The image size chosen from the data (``imgsz: None``) lies in this range. SmallCNN halves the image
# three times and its last block sees about 22 px: under 32 px the last maps are 2x2 or less, while
# far over 64 px every feature sees only a small patch of the object (and CPU time grows with the
# square of the size). Tiny images (sklearn's 8 px digits) are enlarged to 32; photos shrunk to 64.
IMGSZ_RANGE = (32, 64)
IMGSZ_SAMPLE = 256  # images whose sizes are looked at to choose it
FINAL_LR = 0.02  # the cosine decays the learning rate to this fraction of ``lr``
MAX_WARMUP = 0.2  # the warm-up takes at most this fraction of the training's steps


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


def image_side(item: Item) -> float:
    """The side of a square of the item's image's area: from its metadata (``width``, ``height``, as
    registered datasets record them) or else its file's header (the pixels are not decoded)."""
    meta = item.metadata or {}
    width, height = meta.get("width"), meta.get("height")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (width, height)):
        with Image.open(item.path) as im:
            width, height = im.size
    return math.sqrt(width * height)


def imgsz_from_data(items: list[Item], low: int = IMGSZ_RANGE[0], high: int = IMGSZ_RANGE[1]) -> tuple[int, float]:
    """``(imgsz, median side)``: the median side (``image_side``) of up to ``IMGSZ_SAMPLE`` evenly
    spaced items, rounded to the nearest multiple of 8 (halves up) and clamped to ``low..high``."""
    if not items:
        return low, float("nan")
    step = max(1, len(items) // IMGSZ_SAMPLE)
    median = float(np.median([image_side(item) for item in items[::step][:IMGSZ_SAMPLE]]))
    return int(min(high, max(low, 8 * math.floor(median / 8 + 0.5)))), median


def lr_factor(step: int, total: int, warmup: int, final: float = FINAL_LR) -> float:
    """The learning rate of optimiser step ``step`` (0-based) of ``total`` as a fraction of the peak:
    a linear warm-up over the first ``warmup`` steps (from 1/warmup to 1), then a cosine from 1 down
    to ``final`` at the last step."""
    if step < warmup:
        return (step + 1) / warmup
    span = max(1, total - 1 - warmup)
    t = min(1.0, (step - warmup) / span)
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * t))


class WeightAverage:
    """An exponential moving average of a net's weights (BatchNorm statistics included) in a copy of
    the net: ``decay`` per update, less while few updates were averaged (``(1 + n) / (10 + n)``)."""

    def __init__(self, net: nn.Module, decay: float):
        self.net = copy.deepcopy(net).eval()
        self.decay, self.updates = decay, 0

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for own, new in zip(self.net.state_dict().values(), net.state_dict().values(), strict=True):
            if own.dtype.is_floating_point:
                own.lerp_(new.detach(), 1.0 - decay)
            else:
                own.copy_(new)


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
    """Image classification with ``SmallCNN``: Adam with a warm-up + cosine learning rate,
    cross-entropy, early stopping on the validation accuracy, seeded init and shuffling."""

    task = "classify"
    bounds = {"epochs": (1, 100_000), "batch": (1, 4096), "lr": (0, 10), "weight_decay": (0, 10),
              "imgsz": (8, 4096), "width": (1, 4096), "seed": (0, 2**32 - 1),
              "warmup_epochs": (0, 100_000), "patience": (0, 100_000), "ema": (0, 0.99999)}
    configuration: dict[str, Any] = {
        "epochs": 40,
        "batch": 16,
        "lr": 0.003,
        "weight_decay": 0.0,
        "imgsz": None,
        "width": 16,
        "device": "auto",
        "seed": 0,
        "warmup_epochs": 1.0,
        "patience": 10,
        "ema": 0.99,
    }
    config_help: dict[str, str] = {
        "epochs": "The most passes over the training images (early stopping may end the training sooner).",
        "batch": "Images per optimiser step.",
        "lr": "Peak learning rate of Adam, reached after the warm-up and then decayed on a cosine.",
        "weight_decay": "L2 penalty on the weights (Adam's weight_decay); 0 for none.",
        "imgsz": "Side in pixels images are resized to; None (the default) chooses it from the training "
                 f"images' median size, a multiple of 8 from {IMGSZ_RANGE[0]} to {IMGSZ_RANGE[1]}.",
        "width": "Channels of the first convolution block (each next block doubles them).",
        "device": "Where to train and predict: auto (cuda when there is a GPU), cpu, or a torch device such "
                  "as cuda:1.",
        "seed": "Seed of the initial weights and the shuffling: the same seed gives the same training on CPU.",
        "warmup_epochs": "Epochs over which the learning rate rises linearly to lr (at most a fifth of the "
                         "training); 0 for none.",
        "patience": "Stop after this many epochs without a higher validation accuracy (0: never stop "
                    "early); either way the best epoch's weights are kept.",
        "ema": "Decay per step of the moving average of the weights that is validated and kept (it "
               "smooths training); 0 keeps the raw weights.",
    }

    @classmethod
    def check(cls, config: dict | None) -> dict[str, Any]:
        """As ``BaseModelAdapter.check``; ``imgsz`` (default None: from the data) must be None or an int."""
        merged = super().check(config)
        imgsz = merged["imgsz"]
        if imgsz is not None and (isinstance(imgsz, bool) or not isinstance(imgsz, int)):
            raise InvalidInput(f"config key 'imgsz' for {cls.__name__} must be None (from the data) or int, "
                               f"got {str(imgsz)[:40]}")
        return merged

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
        """Train on ``data`` (from the loaded weights when any); logs loss, val_loss, accuracy per epoch.

        The weights validated, kept and saved are a moving average of the trained ones (``ema`` > 0).
        With validation items and ``patience`` > 0 it stops once the validation accuracy has not risen
        for ``patience`` epochs. With validation items it ends on the weights of the best epoch: the
        highest validation accuracy, of those the lowest val_loss."""
        labels = list(data.labels or self.labels)
        if not labels or not data.train:
            raise InvalidInput("classifier training needs label names and at least one training item")
        imgsz, device = self._resolve_imgsz(data.train, ctx), self.device
        x_train, y_train = load_images(data.train, imgsz), item_labels(data.train, len(labels))
        x_val, y_val = load_images(data.validation, imgsz), item_labels(data.validation, len(labels))
        epochs, patience = self.config["epochs"], self.config["patience"] if len(x_val) else 0
        steps = sum(1 for idx in self._batches(len(x_train)) if self._trains_on(idx, len(x_train)))
        total = max(1, epochs * steps)
        warmup = min(round(self.config["warmup_epochs"] * steps), int(MAX_WARMUP * total))
        ctx.log(f"classifier: {len(data.train)} training, {len(data.validation)} validation images, "
                f"{len(labels)} classes, {epochs} epochs")
        ctx.log(f"classifier: learning rate warms up over {warmup} of {total} steps to {self.config['lr']:g}, "
                f"then decays on a cosine to {self.config['lr'] * FINAL_LR:g}; "
                + (f"weights averaged (ema {self.config['ema']:g}); " if self.config["ema"] else "")
                + (f"early stopping after {patience} epochs without a higher validation accuracy"
                   if patience else "no early stopping" + ("" if len(x_val) else " (no validation images)")))
        best: dict[str, Any] | None = None  # the best epoch so far: its metrics and weights
        risen = 0  # the last epoch the validation accuracy rose
        with deterministic():
            torch.manual_seed(ctx.seed)
            net = self._build(len(labels)).to(device)
            optimiser = torch.optim.Adam(net.parameters(), lr=self.config["lr"],
                                         weight_decay=self.config["weight_decay"])
            schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: lr_factor(step, total, warmup))
            average = WeightAverage(net, self.config["ema"]) if self.config["ema"] else None
            kept = average.net if average else net  # the weights validated, kept and saved
            shuffle = torch.Generator().manual_seed(ctx.seed)
            for epoch in range(1, epochs + 1):
                values = {"loss": self._train_epoch(net, optimiser, schedule, average, x_train, y_train, shuffle)}
                if len(x_val):
                    values.update(self._validate(kept, x_val, y_val))
                    if best is None or values["accuracy"] > best["accuracy"]:
                        risen = epoch
                    if best is None or self._better(values, best):
                        best = {"epoch": epoch, "accuracy": values["accuracy"], "val_loss": values["val_loss"],
                                "state": {k: v.detach().clone() for k, v in kept.state_dict().items()}}
                ctx.log_metrics(values, step=epoch, epoch=epoch)
                stop = bool(patience) and epoch - risen >= patience
                final = stop or epoch == epochs
                if final and best is not None and best["epoch"] != epoch:
                    kept.load_state_dict(best["state"])
                self.net, self.labels = kept, labels
                ctx.maybe_evaluate(self, data.validation, epoch=epoch, final=final)
                ctx.report_progress(PROGRESS_SPAN * (1.0 if final else epoch / epochs))
                if final:
                    break
        self.net, self.labels = kept.eval(), labels
        ended = (f"stopped early at epoch {epoch} ({patience} epochs without a higher validation accuracy)"
                 if stop else f"trained {epoch} epochs")
        ctx.log(f"classifier: {ended}; " + (f"kept the weights of epoch {best['epoch']} (accuracy "
                                             f"{best['accuracy']:.4f}, val_loss {best['val_loss']:.4f})"
                                             if best else "kept the last weights (no validation images)"))

    def _resolve_imgsz(self, items: list[Item], ctx: RunContext) -> int:
        """``imgsz`` as set, or chosen from the training images (then kept in the config, so the
        saved weights' ``meta.json`` and predictions use it)."""
        if self.config["imgsz"] is None:
            imgsz, median = imgsz_from_data(items)
            self.config["imgsz"] = imgsz
            ctx.log(f"classifier: image size {imgsz} px, chosen from the data (median image side "
                    f"{median:.0f} px, rounded to a multiple of 8 in {IMGSZ_RANGE[0]}..{IMGSZ_RANGE[1]})")
        return self.config["imgsz"]

    @staticmethod
    def _better(values: dict[str, float], best: dict[str, Any]) -> bool:
        """A higher validation accuracy, or the same with a lower validation loss."""
        if values["accuracy"] != best["accuracy"]:
            return values["accuracy"] > best["accuracy"]
        return values["val_loss"] < best["val_loss"]

    @staticmethod
    def _trains_on(idx: torch.Tensor, n: int) -> bool:
        return len(idx) >= 2 or n < 2  # BatchNorm cannot train on a single image

    def _batches(self, n: int, order: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
        order = torch.arange(n) if order is None else order
        size = self.config["batch"]
        for start in range(0, n, size):
            yield order[start:start + size]

    def _train_epoch(self, net: SmallCNN, optimiser: torch.optim.Optimizer,
                     schedule: torch.optim.lr_scheduler.LRScheduler, average: WeightAverage | None,
                     x: torch.Tensor, y: torch.Tensor, shuffle: torch.Generator) -> float:
        """One pass over the shuffled training set (the schedule and the weight average step per
        batch); returns the mean training loss."""
        net.train()
        total, seen = 0.0, 0
        for idx in self._batches(len(x), torch.randperm(len(x), generator=shuffle)):
            if not self._trains_on(idx, len(x)):
                continue
            logits = net(normalise(x[idx], self.device))
            loss = F.cross_entropy(logits, y[idx].to(self.device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            if average is not None:
                average.update(net)
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

