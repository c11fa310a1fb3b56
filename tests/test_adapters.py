"""The built-in adapters, trained for real (tiny generated images, CPU, offline) against a real store."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mm_jupyter.adapter import COMMON_CONFIG, Item, RunContext, TrainData
from mm_jupyter.errors import InvalidInput
from mm_jupyter.registry import adapter_class as load_adapter_class
from mm_jupyter.store import Store
from mm_jupyter.tracker import LocalTracker, new_token, token_hash

# through the built-in registry (mm_jupyter.adapters maps the top-level adapters/ folder)
YoloAdapter = load_adapter_class("yolo")
TorchClassifierAdapter = load_adapter_class("torch-classifier")

LABELS = ["rectangle", "ellipse", "triangle"]
YOLO_METRICS = ["box_loss", "cls_loss", "dfl_loss", "precision", "recall", "mAP50", "mAP50-95"]
CLASS_COLOURS = [(220, 60, 60), (60, 200, 60), (70, 90, 230)]


# --- helpers -------------------------------------------------------------------------------------


def draw_shape(rng: np.random.Generator, img: Image.Image, cls: int, colour: tuple | None = None) -> list[float]:
    """Draw one shape of class ``cls`` at a random place; returns its pixel box."""
    size = img.size[0]
    w, h = (int(v) for v in rng.integers(size // 4, size // 2, 2))
    x1, y1 = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
    colour = colour or tuple(int(c) for c in rng.integers(60, 255, 3))
    draw = ImageDraw.Draw(img)
    if cls == 0:
        draw.rectangle([x1, y1, x1 + w - 1, y1 + h - 1], fill=colour)
    elif cls == 1:
        draw.ellipse([x1, y1, x1 + w - 1, y1 + h - 1], fill=colour)
    else:
        draw.polygon([(x1, y1 + h - 1), (x1 + w / 2, y1), (x1 + w - 1, y1 + h - 1)], fill=colour)
    return [float(x1), float(y1), float(x1 + w), float(y1 + h)]


def detection_items(folder: Path, n: int, *, seed: int, first_id: int = 0, size: int = 96) -> list[Item]:
    """``n`` images with 1-2 shapes each, annotated in pixels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(first_id, first_id + n):
        img = Image.new("RGB", (size, size), (20, 20, 20))
        classes = [int(c) for c in rng.integers(0, 3, int(rng.integers(1, 3)))]
        boxes = [draw_shape(rng, img, c) for c in classes]
        path = folder / f"{i}.png"
        img.save(path)
        items.append(Item(id=i, path=str(path), metadata={"width": size, "height": size},
                          annotations={"boxes": boxes, "labels": classes, "iscrowd": [0] * len(boxes)}))
    return items


def classification_items(folder: Path, n: int, *, seed: int, first_id: int = 0, size: int = 40) -> list[Item]:
    """``n`` images of one shape each, its class also told by its colour (an easy set)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(first_id, first_id + n):
        cls = i % 3
        img = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 70, 3)))
        draw_shape(rng, img, cls, CLASS_COLOURS[cls])
        path = folder / f"{i}.png"
        img.save(path)
        items.append(Item(id=i, path=str(path), annotations={"label": cls}))
    return items


def run_context(store: Store, adapter: str, config: dict) -> RunContext:
    """A real ``RunContext`` on a fresh model / snapshot / train execution in ``store``."""
    model = store.insert("models", {"name": f"{adapter}-{len(store.find('models'))}", "adapter": adapter,
                                    "labels": LABELS, "config": {}})
    snapshot = store.insert("snapshots", {"model_id": model["id"], "name": "v1", "status": "created",
                                          "config": config, "labels": LABELS})
    token = new_token()
    execution = store.insert("executions", {"kind": "train", "snapshot_id": snapshot["id"],
                                            "model_id": model["id"], "status": "in-progress",
                                            "progress": 0.0, "attempts": 1, "token_hash": token_hash(token)})
    return RunContext(LocalTracker(store, execution["id"], 1, token), store)


def metric_rows(store: Store, ctx: RunContext) -> list[dict]:
    ctx.flush()
    return store.query("SELECT name, step, epoch, value FROM metrics WHERE execution_id = ? ORDER BY id",
                       [ctx.execution_id])


class NetworkGuard:
    """Records (and refuses) every DNS lookup and socket connection while active."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def _refuse(self, what: str):
        def refuse(*args, **kwargs):
            self.attempts.append(f"{what}{args[:2]!r}")
            raise OSError("network disabled in tests")
        return refuse

    def __enter__(self) -> NetworkGuard:
        self.patch = pytest.MonkeyPatch()
        self.patch.setattr(socket, "getaddrinfo", self._refuse("getaddrinfo"))
        self.patch.setattr(socket.socket, "connect", self._refuse("connect"))
        return self

    def __exit__(self, *exc) -> None:
        self.patch.undo()


# --- YOLO ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def yolo_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point ultralytics' config (settings, fonts) at a temporary folder when it is not imported yet."""
    previous = os.environ.get("YOLO_CONFIG_DIR")
    folder = tmp_path_factory.mktemp("yolo-config")
    if "ultralytics" not in sys.modules:
        os.environ["YOLO_CONFIG_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("YOLO_CONFIG_DIR", None)
    else:
        os.environ["YOLO_CONFIG_DIR"] = previous


@pytest.fixture(scope="module")
def yolo_run(yolo_env: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One 2-epoch YOLO training on 32 generated 96 px images, with the network refused throughout."""
    tmp = tmp_path_factory.mktemp("yolo")
    store = Store(tmp / "home")
    train = detection_items(tmp / "images", 32, seed=1)
    val = detection_items(tmp / "images", 16, seed=2, first_id=100)
    ctx = run_context(store, "yolo", {"epochs": 2, "seed": 0})
    adapter = YoloAdapter({"epochs": 2, "batch": 16}, labels=LABELS)
    cwd = tmp / "cwd"
    cwd.mkdir()
    with NetworkGuard() as guard, pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        adapter.train(TrainData(train, val, LABELS, ctx.workdir / "work"), ctx)
        adapter.save(str(ctx.weights_dir))
        adapter.predict(val[:2])
    return {"store": store, "ctx": ctx, "adapter": adapter, "train": train, "val": val, "tmp": tmp,
            "network": guard.attempts, "cwd_written": sorted(os.listdir(cwd))}


@pytest.mark.slow
def test_yolo_trains_offline_and_logs_every_metric_per_epoch(yolo_run: dict) -> None:
    assert yolo_run["network"] == []
    assert yolo_run["cwd_written"] == []
    rows = metric_rows(yolo_run["store"], yolo_run["ctx"])
    per_epoch = [r for r in rows if r["name"] in YOLO_METRICS]
    for name in YOLO_METRICS:
        points = [(r["epoch"], r["step"]) for r in per_epoch if r["name"] == name]
        assert points == [(1, 1), (2, 2)], name
    assert all(np.isfinite(r["value"]) for r in rows)
    assert all(r["value"] > 0 for r in per_epoch if r["name"].endswith("_loss"))
    assert any(r["name"] == "train/loss" for r in rows)
    execution = yolo_run["store"].get("executions", yolo_run["ctx"].execution_id)
    assert execution["progress"] == pytest.approx(95.0)
    runs = yolo_run["ctx"].workdir / "work" / "yolo" / "runs" / "train" / "weights"
    assert (runs / "best.pt").is_file()


@pytest.mark.slow
def test_yolo_fonts_settings_and_environment(yolo_run: dict) -> None:
    from ultralytics.utils import SETTINGS, USER_CONFIG_DIR

    assert os.environ["YOLO_OFFLINE"] == "1"
    assert (Path(USER_CONFIG_DIR) / "Arial.ttf").stat().st_size > 10_000
    assert (Path(USER_CONFIG_DIR) / "Arial.Unicode.ttf").is_file()
    assert SETTINGS["sync"] is False


@pytest.mark.slow
def test_yolo_save_load_round_trip_gives_the_same_predictions(yolo_run: dict) -> None:
    ctx, val = yolo_run["ctx"], yolo_run["val"][:6]
    assert {p.name for p in ctx.weights_dir.iterdir()} >= {"model.pt", "meta.json"}
    before = yolo_run["adapter"].predict(val)
    loaded = YoloAdapter({"epochs": 2}, labels=None)
    with NetworkGuard() as guard:
        loaded.load(str(ctx.weights_dir))
        after = loaded.predict(val)
    assert guard.attempts == []
    assert loaded.labels == LABELS
    assert [p.item_id for p in after] == [item.id for item in val]
    for a, b in zip(before, after, strict=True):
        assert a.labels == b.labels
        assert np.allclose(a.boxes, b.boxes, atol=1e-3) and np.allclose(a.scores, b.scores, atol=1e-5)
    boxes = [box for p in after for box in p.boxes]
    assert boxes and all(isinstance(v, float) for v in boxes[0])
    assert all(0 <= label < len(LABELS) for p in after for label in p.labels)
    assert all(len(p.scores) <= 100 and min(p.scores, default=1) >= 0.001 for p in after)


@pytest.mark.slow
def test_yolo_fine_tune_starts_from_the_loaded_weights(yolo_run: dict) -> None:
    import torch

    parent = yolo_run["ctx"].weights_dir
    child = YoloAdapter({"epochs": 1}, labels=LABELS)
    child.load(str(parent))
    expected = {k: v.clone() for k, v in child.model.model.state_dict().items()}
    started: dict = {}
    child.model.add_callback("on_train_start", lambda trainer: started.update(
        {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}))
    ctx = run_context(yolo_run["store"], "yolo", {"epochs": 1, "seed": 0})
    with NetworkGuard() as guard:
        child.train(TrainData(yolo_run["train"][:16], yolo_run["val"][:8], LABELS, ctx.workdir), ctx)
    assert guard.attempts == []
    weights = [k for k in expected if k.endswith(".weight") and expected[k].is_floating_point()]
    assert len(weights) > 50
    assert all(torch.equal(started[k].cpu().float(), expected[k].float()) for k in weights)
    fresh = YoloAdapter(labels=LABELS)._new_model().model.state_dict()
    assert not torch.equal(fresh["model.0.conv.weight"], expected["model.0.conv.weight"].float())
    assert {r["name"] for r in metric_rows(yolo_run["store"], ctx)} >= set(YOLO_METRICS)


def test_yolo_refuses_weights_it_would_have_to_download(tmp_path: Path, yolo_env: Path) -> None:
    store = Store(tmp_path / "home")
    ctx = run_context(store, "yolo", {})
    items = detection_items(tmp_path / "images", 2, seed=0)
    adapter = YoloAdapter({"model": "yolov8n.pt"}, labels=LABELS)
    with pytest.raises(InvalidInput, match="local .pt"):
        adapter.train(TrainData(items, items, LABELS, tmp_path / "work"), ctx)
    with pytest.raises(InvalidInput):
        adapter.predict(items)


def test_yolo_epoch_logger_skips_the_final_validation_after_an_early_stop(tmp_path: Path) -> None:
    from types import SimpleNamespace

    store = Store(tmp_path / "home")
    ctx = run_context(store, "yolo", {})
    log_epoch = YoloAdapter(labels=LABELS)._epoch_logger(ctx, [])
    losses = {"box_loss": 3.0, "cls_loss": 2.0, "dfl_loss": 1.0}
    metrics = {"metrics/precision(B)": 0.5, "metrics/recall(B)": 0.25, "metrics/mAP50(B)": 0.2,
               "metrics/mAP50-95(B)": 0.1, "val/box_loss": 9.0}
    trainer = SimpleNamespace(epochs=5, tloss=losses, metrics=metrics, stop=False,
                              label_loss_items=lambda t, prefix: {f"{prefix}/{k}": v for k, v in t.items()})
    for epoch, stop in ((0, False), (1, True), (2, True)):  # early stop after epoch 2, then final_eval
        trainer.epoch, trainer.stop = epoch, stop
        log_epoch(trainer)
    rows = metric_rows(store, ctx)
    assert sorted({r["epoch"] for r in rows}) == [1, 2]
    assert {r["name"] for r in rows} == set(YOLO_METRICS)
    assert store.get("executions", ctx.execution_id)["progress"] == pytest.approx(95 * 2 / 5)


def test_yolo_label_lines_are_normalised_and_skip_crowds(tmp_path: Path) -> None:
    from mm_jupyter.adapters.yolo import yolo_label_lines

    item = Item(id=1, path=str(tmp_path / "x.png"), metadata={"width": 100, "height": 50},
                annotations={"boxes": [[10, 5, 30, 25], [0, 0, 10, 10]], "labels": [2, 1],
                             "iscrowd": [0, 1]})
    assert yolo_label_lines(item, 3) == ["2 0.200000 0.300000 0.200000 0.400000"]
    with pytest.raises(InvalidInput):
        yolo_label_lines(item, 2)


# --- torch classifier ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shapes_classes(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("classify")
    return {"train": classification_items(tmp / "images", 48, seed=1),
            "val": classification_items(tmp / "images", 24, seed=2, first_id=100),
            "store": Store(tmp / "home")}


def train_classifier(data: dict, config: dict, adapter: TorchClassifierAdapter | None = None) -> tuple:
    ctx = run_context(data["store"], "torch-classifier", {"seed": 0, **config})
    adapter = adapter or TorchClassifierAdapter(config, labels=LABELS)
    adapter.train(TrainData(data["train"], data["val"], LABELS, ctx.workdir), ctx)
    return adapter, ctx, metric_rows(data["store"], ctx)


@pytest.mark.slow
def test_classifier_learns_and_is_deterministic(shapes_classes: dict) -> None:
    config = {"epochs": 4, "imgsz": 32}
    first, ctx, rows = train_classifier(shapes_classes, config)
    _, _, again = train_classifier(shapes_classes, config)
    assert [(r["name"], r["epoch"], r["step"]) for r in rows if not r["name"].startswith("eval/")] == [
        (name, epoch, epoch) for epoch in range(1, 5) for name in ("loss", "val_loss", "accuracy")]
    # evaluation during training: due at once (delay 0), then throttled (60 s), and at the end
    assert [r["epoch"] for r in rows if r["name"] == "eval/accuracy"] == [1, 4]
    assert [r["value"] for r in rows] == [r["value"] for r in again]
    accuracy = [r["value"] for r in rows if r["name"] == "accuracy"]
    assert accuracy[-1] >= 0.8  # chance is 1/3
    assert shapes_classes["store"].get("executions", ctx.execution_id)["progress"] == pytest.approx(95.0)
    assert len(first.net.blocks) == 3
    preds = first.predict(shapes_classes["val"][:5])
    assert [p.item_id for p in preds] == [100, 101, 102, 103, 104]
    assert all(len(p.probs) == 3 and abs(sum(p.probs) - 1) < 1e-6 and p.label == int(np.argmax(p.probs))
               for p in preds)


@pytest.mark.slow
def test_classifier_save_load_and_fine_tune(shapes_classes: dict, tmp_path: Path) -> None:
    trained, _, scratch_rows = train_classifier(shapes_classes, {"epochs": 3, "imgsz": 32})
    trained.save(str(tmp_path / "weights"))
    assert {p.name for p in (tmp_path / "weights").iterdir()} == {"model.pt", "meta.json"}
    loaded = TorchClassifierAdapter({"width": 8}, labels=None)  # architecture comes from meta.json
    loaded.load(str(tmp_path / "weights"))
    assert loaded.labels == LABELS and loaded.config["imgsz"] == 32 and loaded.config["width"] == 16
    items = shapes_classes["val"][:6]
    assert np.allclose([p.probs for p in loaded.predict(items)], [p.probs for p in trained.predict(items)])
    _, _, tuned_rows = train_classifier(shapes_classes, {"epochs": 1}, adapter=loaded)
    first_loss = {"scratch": scratch_rows[0]["value"], "tuned": tuned_rows[0]["value"]}
    assert first_loss["tuned"] < 0.5 * first_loss["scratch"]


# --- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", [YoloAdapter, TorchClassifierAdapter])
def test_config_defaults_are_json_and_errors_raise_invalid_input(adapter: type) -> None:
    import json

    assert json.loads(json.dumps(adapter.configuration)) == adapter.configuration
    assert adapter().config == adapter.defaults() == {**COMMON_CONFIG, **adapter.configuration}
    assert adapter({"epochs": 7}).config["epochs"] == 7
    with pytest.raises(InvalidInput, match="unknown config key"):
        adapter({"epochz": 3})
    with pytest.raises(InvalidInput, match="must be int"):
        adapter({"epochs": "3"})
    with pytest.raises(InvalidInput, match="must be int"):
        adapter({"epochs": True})
    with pytest.raises(InvalidInput, match="must be str"):
        adapter({"device": 0})
    with pytest.raises(InvalidInput):
        adapter(["epochs"])


def test_float_keys_accept_ints() -> None:
    assert YoloAdapter({"lr0": 1}).config["lr0"] == 1.0
    assert isinstance(TorchClassifierAdapter({"lr": 1}).config["lr"], float)


@pytest.mark.slow
@pytest.mark.parametrize("config,epochs", [
    ({"eval_throttle_secs": 0.0}, [1, 2, 3]),
    ({"eval_start_delay_secs": 3600.0}, [3]),
    ({"eval_steps": 5, "eval_throttle_secs": 0.0}, [1, 2, 3]),
])
def test_evaluation_during_training_honours_delay_throttle_steps(shapes_classes: dict, config, epochs) -> None:
    _, _, rows = train_classifier(shapes_classes, {"epochs": 3, "imgsz": 32, **config})
    evals = [r for r in rows if r["name"] == "eval/accuracy"]
    assert [r["epoch"] for r in evals] == epochs
    if "eval_steps" in config:  # accuracy over 5 items can only be a multiple of 1/5
        assert all(abs(r["value"] * 5 - round(r["value"] * 5)) < 1e-9 for r in evals)
