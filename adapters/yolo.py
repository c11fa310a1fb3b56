"""Ultralytics YOLO object detection as an mm-jupyter adapter (offline: never downloads anything).

ultralytics is imported lazily through ``_ultralytics()``, which first points it at a config folder
under ``$MM_HOME/ultralytics`` (unless ``YOLO_CONFIG_DIR`` is set), turns off every network path
(``YOLO_OFFLINE``, ``sync`` and the integrations) and installs the fonts its dataset checks want.
Models are built from a model yaml (``yolov8n.yaml``) or a local ``.pt``; pretrained weights come only
from a parent snapshot (``load`` then ``train`` fine-tunes).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from mm_jupyter.adapter import BaseModelAdapter, Item, Prediction, RunContext, TrainData
from mm_jupyter.errors import InvalidInput
from mm_jupyter.store import default_home

LOSS_NAMES = ("box_loss", "cls_loss", "dfl_loss")
VAL_METRICS = {
    "precision": "metrics/precision(B)",
    "recall": "metrics/recall(B)",
    "mAP50": "metrics/mAP50(B)",
    "mAP50-95": "metrics/mAP50-95(B)",
}
FONTS = ("Arial.ttf", "Arial.Unicode.ttf")
OFFLINE_SETTINGS = {
    "sync": False, "clearml": False, "comet": False, "dvc": False, "mlflow": False,
    "raytune": False, "tensorboard": False, "wandb": False, "vscode_msg": False, "openvino_msg": False,
}
PROGRESS_SPAN = 95.0  # progress reported while training; the rest is left for saving/evaluating
BATCH_LOGS_PER_EPOCH = 10  # at most this many ``train/loss`` points per epoch


# --- ultralytics, imported offline ---------------------------------------------------------------


def _ultralytics() -> ModuleType:
    """The ``ultralytics`` module, imported with the network off and fonts and settings in place."""
    first = "ultralytics" not in sys.modules
    if first:
        os.environ["YOLO_OFFLINE"] = "1"
        os.environ.setdefault("YOLO_CONFIG_DIR", str(default_home() / "ultralytics"))
        os.environ.setdefault("YOLO_VERBOSE", "False")
    import ultralytics

    if not first:
        _force_offline()
    from ultralytics.utils import SETTINGS, USER_CONFIG_DIR

    _install_fonts(Path(USER_CONFIG_DIR))
    stale = {k: v for k, v in OFFLINE_SETTINGS.items() if k in SETTINGS and SETTINGS[k] != v}
    if stale:
        SETTINGS.update(stale)
    return ultralytics


def _force_offline() -> None:
    """ultralytics was imported before us (maybe online): turn its ``ONLINE`` flags off everywhere."""
    os.environ["YOLO_OFFLINE"] = "1"
    for name, module in list(sys.modules.items()):
        if name.startswith("ultralytics") and getattr(module, "ONLINE", None) is True:
            module.ONLINE = False


def _install_fonts(config_dir: Path) -> None:
    """Put ``Arial*.ttf`` (copies of matplotlib's DejaVuSans) where ultralytics looks before downloading."""
    missing = [config_dir / name for name in FONTS if not (config_dir / name).exists()]
    if not missing:
        return
    spec = importlib.util.find_spec("matplotlib")
    source = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf" if spec else None
    if source is None or not source.exists():
        return
    config_dir.mkdir(parents=True, exist_ok=True)
    for target in missing:
        shutil.copyfile(source, target)


@contextlib.contextmanager
def _no_platform_key() -> Iterator[None]:
    """Hide ``ULTRALYTICS_API_KEY`` so the Platform callbacks never stream a run."""
    key = os.environ.pop("ULTRALYTICS_API_KEY", None)
    try:
        yield
    finally:
        if key is not None:
            os.environ["ULTRALYTICS_API_KEY"] = key


def resolve_device(device: str) -> str:
    """``"auto"`` → ``"0"`` with CUDA, else ``"cpu"``; anything else unchanged."""
    if device != "auto":
        return device
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


# --- YOLO dataset layout -------------------------------------------------------------------------


def image_size(item: Item) -> tuple[int, int]:
    """(width, height) of an item, from its metadata or its image header."""
    meta = item.metadata or {}
    if meta.get("width") and meta.get("height"):
        return int(meta["width"]), int(meta["height"])
    from PIL import Image

    with Image.open(item.path) as im:
        return im.size


def yolo_label_lines(item: Item, n_classes: int) -> list[str]:
    """The item's boxes as YOLO label lines (``cls cx cy w h``, normalised); crowd boxes skipped."""
    ann = item.annotations or {}
    boxes, classes = ann.get("boxes") or [], ann.get("labels") or []
    crowd = ann.get("iscrowd") or [0] * len(boxes)
    if len(boxes) != len(classes):
        raise InvalidInput(f"item {item.id}: {len(boxes)} boxes but {len(classes)} labels")
    width, height = image_size(item)
    lines = []
    for (x1, y1, x2, y2), cls, is_crowd in zip(boxes, classes, crowd, strict=False):
        if not 0 <= int(cls) < n_classes:
            raise InvalidInput(f"item {item.id}: label {cls} outside 0..{n_classes - 1}")
        x1, x2 = sorted((min(max(x1 / width, 0.0), 1.0), min(max(x2 / width, 0.0), 1.0)))
        y1, y2 = sorted((min(max(y1 / height, 0.0), 1.0), min(max(y2 / height, 0.0), 1.0)))
        if is_crowd or x2 <= x1 or y2 <= y1:
            continue
        lines.append(f"{int(cls)} {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} {x2 - x1:.6f} {y2 - y1:.6f}")
    return lines


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.symlink(source, target)
    except OSError:
        shutil.copy2(source, target)


def write_yolo_split(root: Path, split: str, items: list[Item], n_classes: int) -> None:
    """``root/images/<split>/<id><ext>`` (links to the items' images) and ``root/labels/<split>/<id>.txt``."""
    images, labels = root / "images" / split, root / "labels" / split
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for item in items:
        source = Path(item.path)
        if not source.is_file():
            raise InvalidInput(f"item {item.id}: image {item.path} not found")
        _link_or_copy(source, images / f"{item.id}{source.suffix.lower()}")
        (labels / f"{item.id}.txt").write_text("\n".join(yolo_label_lines(item, n_classes)))


def write_yolo_dataset(root: Path, train: list[Item], validation: list[Item], labels: list[str]) -> Path:
    """A fresh YOLO dataset folder at ``root`` from the items; returns its ``data.yaml``."""
    import yaml

    if not train:
        raise InvalidInput("YOLO training needs at least one training item")
    if not labels:
        raise InvalidInput("YOLO training needs the label names")
    shutil.rmtree(root, ignore_errors=True)
    write_yolo_split(root, "train", train, len(labels))
    write_yolo_split(root, "val", validation or train, len(labels))
    data_yaml = root / "data.yaml"
    data_yaml.write_text(yaml.safe_dump({
        "path": str(root.resolve()), "train": "images/train", "val": "images/val",
        "names": dict(enumerate(labels)),
    }, sort_keys=False))
    return data_yaml


# --- the adapter ---------------------------------------------------------------------------------


class YoloAdapter(BaseModelAdapter):
    """Ultralytics YOLO detection: trained from a model yaml, or fine-tuned from a loaded snapshot."""

    task = "detect"
    requires = ("torch", "torchvision", "ultralytics")
    # what a warm kernel imports ahead (mm_jupyter.warm_kernels): ultralytics through our offline import
    preload = ("torch", "torchvision", f"{__name__}:_ultralytics")
    config_help = {
        "model": "An ultralytics model yaml (trained from scratch, e.g. yolov8n.yaml) or a local .pt weights file.",
        "epochs": "Passes over the training subset.",
        "imgsz": "Training and prediction image size in pixels (images are letterboxed to it).",
        "batch": "Images per training step.",
        "lr0": "Initial learning rate.",
        "optimizer": "Optimizer: AdamW, Adam, SGD, RMSProp … ('auto' lets ultralytics choose and ignores lr0).",
        "warmup_epochs": "Epochs of learning-rate warm-up at the start.",
        "device": "auto (a GPU when the kernel has one, else the CPU), cpu, or a CUDA device such as 0.",
        "workers": "Data-loading worker processes (0 loads in the training process).",
        "seed": "Random seed (with deterministic, the same data and seed give the same weights).",
        "deterministic": "Use deterministic algorithms (reproducible, sometimes slower).",
        "close_mosaic": "Turn mosaic augmentation off for this many final epochs.",
        "mosaic": "Probability of mosaic augmentation (0 turns it off).",
        "fraction": "Fraction of the training subset to use (1 = all).",
        "patience": "Stop early after this many epochs without improvement of ultralytics' validation fitness.",
        "conf": "Confidence threshold of predictions kept for evaluation.",
        "iou": "IoU threshold of non-maximum suppression.",
        "max_det": "At most this many detections per image.",
    }
    bounds = {"epochs": (1, 100_000), "imgsz": (16, 8192), "batch": (1, 4096), "lr0": (0, 10),
              "warmup_epochs": (0, 1000), "workers": (0, 256), "seed": (0, 2**32 - 1), "close_mosaic": (0, 100_000),
              "mosaic": (0, 1), "fraction": (0, 1), "patience": (0, 100_000), "conf": (0, 1), "iou": (0, 1),
              "max_det": (1, 100_000)}
    configuration: dict[str, Any] = {
        "model": "yolov8n.yaml",  # an ultralytics model yaml, or a local .pt path
        "epochs": 3,
        "imgsz": 96,
        "batch": 16,
        "lr0": 0.002,
        "optimizer": "AdamW",  # learns faster than SGD on small sets; "auto" would ignore lr0
        "warmup_epochs": 1.0,
        "device": "auto",
        "workers": 0,
        "seed": 0,
        "deterministic": True,
        "close_mosaic": 0,
        "mosaic": 1.0,
        "fraction": 1.0,
        "patience": 100,
        "conf": 0.001,
        "iou": 0.7,
        "max_det": 100,
    }

    def __init__(self, config: dict | None = None, labels: list[str] | None = None):
        super().__init__(config, labels)
        self.model: Any = None  # an ultralytics.YOLO once trained or loaded
        self.train_metrics: dict[str, float] = {}  # ultralytics' final validation of the best weights

    # -- weights --

    def _new_model(self) -> Any:
        """A YOLO built from ``config["model"]`` (a yaml, or a local .pt); nothing is downloaded."""
        ref = self.config["model"]
        if not (ref.endswith((".yaml", ".yml")) or Path(ref).expanduser().is_file()):
            raise InvalidInput(f"YOLO model must be a model yaml or a local .pt file, got {ref!r}")
        return _ultralytics().YOLO(str(Path(ref).expanduser()) if ref.endswith(".pt") else ref)

    def load(self, local_path: str) -> None:
        """Read ``model.pt`` (and ``meta.json``: labels, config) from the folder ``local_path``."""
        folder = Path(local_path)
        weights = folder / "model.pt" if folder.is_dir() else folder
        if not weights.is_file():
            raise InvalidInput(f"no YOLO weights at {weights}")
        meta_path = weights.parent / "meta.json"
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text())
            self.labels = list(meta.get("labels") or self.labels)
        self.model = _ultralytics().YOLO(str(weights), task="detect")
        if not meta_path.is_file() and not self.labels:  # a checkpoint from elsewhere names its classes
            names = getattr(self.model, "names", None) or {}
            self.labels = [str(names[k]) for k in sorted(names)] if isinstance(names, dict) else list(names)

    def save(self, local_path: str) -> None:
        """Write ``model.pt`` and ``meta.json`` into the folder ``local_path``."""
        if self.model is None:
            raise InvalidInput("nothing to save: train or load the YOLO model first")
        folder = Path(local_path)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save(str(folder / "model.pt"))
        meta = {"adapter": "mm_jupyter.adapters.yolo:YoloAdapter", "task": self.task,
                "labels": self.labels, "config": self.config}
        (folder / "meta.json").write_text(json.dumps(meta, indent=2))

    # -- training --

    def train(self, data: TrainData, ctx: RunContext) -> None:
        """Train on ``data`` (from the loaded weights when any), logging losses and mAP per epoch."""
        _ultralytics()  # environment first
        model = self.model if self.model is not None else self._new_model()
        labels = list(data.labels or self.labels)
        root = Path(data.workdir) / "yolo"
        data_yaml = write_yolo_dataset(root / "data", data.train, data.validation, labels)
        hooks = {"on_fit_epoch_end": self._epoch_logger(ctx, data.validation),
                 "on_train_batch_end": self._batch_logger(ctx)}
        for event, hook in hooks.items():
            model.add_callback(event, hook)
        start = "the loaded weights" if self.model is not None else self.config["model"]
        ctx.log(f"YOLO: training from {start} on {len(data.train)} images "
                f"({len(data.validation)} for validation), {self.config['epochs']} epochs")
        try:
            with _no_platform_key():
                model.train(data=str(data_yaml), **self._train_args(ctx, root))
        finally:
            for event, hook in hooks.items():
                with contextlib.suppress(ValueError):
                    model.callbacks[event].remove(hook)
        self.model, self.labels = model, labels
        self.train_metrics = self._validation_metrics(getattr(model.trainer, "metrics", None) or {})
        ctx.report_progress(PROGRESS_SPAN)

    def _train_args(self, ctx: RunContext, root: Path) -> dict[str, Any]:
        c = self.config
        return {
            "epochs": c["epochs"], "imgsz": c["imgsz"], "batch": c["batch"], "lr0": c["lr0"],
            "optimizer": c["optimizer"], "warmup_epochs": c["warmup_epochs"],
            "device": resolve_device(c["device"]), "workers": c["workers"], "seed": ctx.seed,
            "deterministic": c["deterministic"], "close_mosaic": c["close_mosaic"],
            "mosaic": c["mosaic"], "fraction": c["fraction"], "patience": c["patience"],
            "max_det": c["max_det"], "amp": False, "plots": False, "val": True, "cache": False,
            "exist_ok": True, "project": str((root / "runs").resolve()), "name": "train",
            "verbose": False,
        }

    @staticmethod
    def _validation_metrics(metrics: dict) -> dict[str, float]:
        return {name: float(metrics[key]) for name, key in VAL_METRICS.items() if key in metrics}

    def _epoch_logger(self, ctx: RunContext, validation: list[Item]) -> Callable[[Any], None]:
        """``on_fit_epoch_end``: losses and ultralytics' validation figures, once per epoch, and our
        COCO evaluation of the epoch's weights when due (``eval/*``, see ``RunContext.maybe_evaluate``)."""
        finished = [False]  # the last epoch was logged: a further call is final_eval's (best weights)

        def log_epoch(trainer: Any) -> None:
            epoch = int(trainer.epoch) + 1
            if finished[0] or epoch > int(trainer.epochs):
                return
            finished[0] = bool(trainer.stop)
            losses = trainer.label_loss_items(trainer.tloss, prefix="train") if trainer.tloss is not None else {}
            values = {name: float(losses[f"train/{name}"]) for name in LOSS_NAMES if f"train/{name}" in losses}
            values.update(self._validation_metrics(trainer.metrics or {}))
            ctx.log_metrics(values, step=epoch, epoch=epoch)
            last = Path(getattr(trainer, "last", "") or "")
            if last.is_file():  # ultralytics saved this epoch's (EMA) weights just before this callback
                final = epoch >= int(trainer.epochs) or bool(trainer.stop)
                ctx.maybe_evaluate(self, validation, epoch=epoch, final=final,
                                   predict=lambda batch: self._predict_with(_ultralytics().YOLO(str(last)), batch))
            ctx.report_progress(PROGRESS_SPAN * epoch / max(1, int(trainer.epochs)))

        return log_epoch

    def _batch_logger(self, ctx: RunContext) -> Callable[[Any], None]:
        """``on_train_batch_end``: the running mean loss (``train/loss``), a few points per epoch."""
        state = {"epoch": -1, "batch": 0}

        def log_batch(trainer: Any) -> None:
            if trainer.epoch != state["epoch"]:
                state["epoch"], state["batch"] = trainer.epoch, 0
            n_batches = max(1, len(trainer.train_loader))
            every = max(1, n_batches // BATCH_LOGS_PER_EPOCH)
            state["batch"] += 1
            if trainer.tloss is not None and state["batch"] % every == 0:
                step = trainer.epoch * n_batches + state["batch"]
                loss = sum(trainer.label_loss_items(trainer.tloss, prefix="train").values())
                ctx.log_metric("train/loss", loss, step=step, epoch=trainer.epoch + 1)

        return log_batch

    # -- inference --

    def introspection(self) -> tuple[Any, list[tuple[str, Any]], Callable[[Item], Any]]:
        """The detection network, its backbone layers (up to SPPF), and an item resized to ``imgsz``."""
        if self.model is None:
            raise InvalidInput("no YOLO weights: train or load the model before introspecting")
        import numpy as np
        import torch
        from PIL import Image

        net = self.model.model
        layers = []
        for i, module in enumerate(net.model):
            layers.append((f"{i}.{type(module).__name__}", module))
            if type(module).__name__ == "SPPF":  # the end of the backbone
                break
        device = resolve_device(self.config["device"])
        device = "cuda:0" if device == "0" else device
        size = self.config["imgsz"]

        def to_input(item: Item) -> Any:
            with Image.open(item.path) as im:
                array = np.asarray(im.convert("RGB").resize((size, size)), dtype=np.float32) / 255.0
            param = next(net.parameters())
            return torch.from_numpy(array).permute(2, 0, 1)[None].to(param.device, param.dtype)

        return net.to(device), layers, to_input

    def predict(self, batch: list[Item]) -> list[Prediction]:
        """Boxes (xyxy pixels), scores and class indices for each item, with conf/iou/max_det."""
        if self.model is None:
            raise InvalidInput("no YOLO weights: train or load the model before predicting")
        if not batch:
            return []
        return self._predict_with(self.model, batch)

    def _predict_with(self, model: Any, batch: list[Item]) -> list[Prediction]:
        c = self.config
        results = model.predict(
            [item.path for item in batch], conf=c["conf"], iou=c["iou"], max_det=c["max_det"],
            imgsz=c["imgsz"], device=resolve_device(c["device"]), batch=c["batch"], verbose=False,
        )
        return [self._prediction(item, result) for item, result in zip(batch, results, strict=True)]

    @staticmethod
    def _prediction(item: Item, result: Any) -> Prediction:
        boxes = result.boxes
        return Prediction(
            item_id=item.id,
            boxes=boxes.xyxy.cpu().double().tolist(),
            scores=boxes.conf.cpu().double().tolist(),
            labels=[int(c) for c in boxes.cls.cpu().tolist()],
        )
