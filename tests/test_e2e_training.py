"""Real training through papermill on a real kernel: YOLO (ultralytics) and the torch classifier on
small generated shapes data, evaluation, fine-tuning and seeded reruns."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

import mm_jupyter as mm
from mm_jupyter.datasets import register_dataset
from mm_jupyter.shapes import generate_shapes

pytestmark = pytest.mark.slow
YOLO_METRICS = {"box_loss", "cls_loss", "dfl_loss", "precision", "recall", "mAP50", "mAP50-95"}


def final(exe_id: str) -> dict[str, float]:
    return {m["name"]: m["value"] for m in mm.get_metrics(exe_id)}


def test_yolo_train_evaluate_finetune_and_rerun(store, tmp_path):
    data = generate_shapes(tmp_path / "shapes", flavour="detect", n_train=16, n_val=8, n_test=8, size=96)
    register_dataset(store, data, name="shapes")
    mm.register_model("det", "yolo")
    snap = mm.create_snapshot("det", config={"epochs": 2, "batch": 8}, dataset="shapes")

    exe = mm.train(snap["id"], wait=True)
    assert exe["status"] == "success", exe["error"]
    points = mm.get_metrics(exe["id"])
    for name in YOLO_METRICS:
        assert [p["epoch"] for p in points if p["name"] == name] == [1, 2], name
    trained = store.get("snapshots", snap["id"])
    assert trained["status"] == "trained" and (Path(trained["weights_uri"]) / "model.pt").is_file()
    nb = nbformat.read(exe["notebook_uri"], as_version=4)
    assert any("weights saved to" in o.get("text", "") for c in nb.cells for o in c.get("outputs", []))

    ev = mm.evaluate(snap["id"], wait=True)
    assert ev["status"] == "success", ev["error"]
    assert {"mAP50-95", "mAP50", "mAP75", "precision", "recall"} <= set(final(ev["id"]))
    folder = Path(ev["notebook_uri"]).parent
    results = json.loads((folder / "results.json").read_text())
    assert results["metric_source"].startswith("COCO") and set(results["per_class"]) >= {"rectangle"}
    assert {"tag=test", "metadata.lighting=dark", "metadata.background=noise"} <= set(results["slices"])
    assert results["slices"]["tag=test"]["mAP50-95"] == pytest.approx(results["mAP50-95"], nan_ok=True)
    items = [json.loads(line) for line in (folder / "items.jsonl").read_text().splitlines()]
    assert len(items) == 8 and all("n_gt" in r for r in items)
    assert (folder / "pr_curves.svg").is_file() and (folder / "slices.csv").is_file()
    report = Path(ev["notebook_uri"]).read_text()
    assert "Per-slice metrics" in report and "metadata.lighting=" in report, "the stored notebook shows slices"
    train_points = mm.get_metrics(exe["id"])
    assert [p["epoch"] for p in train_points if p["name"] == "eval/mAP50-95"] == [1, 2], \
        "evaluation during training: at once (delay 0) and at the end"

    stored = mm.evaluation_results(ev["id"])
    assert stored["slices"] == results["slices"] and len(stored["items"]) == 8

    from mm_jupyter.introspect import introspect

    layers = introspect(snap["id"], items[0]["item_id"])["layers"]
    assert layers["0.Conv"][1:] == [48, 48] and list(layers)[-1] == "9.SPPF"

    again = mm.rerun(exe["id"], wait=True)
    assert again["status"] == "success"
    assert final(again["id"]) == pytest.approx(final(exe["id"]), rel=1e-6), "seeded CPU training reproduces"

    child = mm.create_snapshot("det", config={"epochs": 1, "batch": 8}, dataset="shapes", parent=snap["id"])
    tuned = mm.train(child["id"], wait=True)
    assert tuned["status"] == "success", tuned["error"]
    assert tuned["params"]["parent_weights"] == trained["weights_uri"]
    assert "loaded weights from" in mm.logs(tuned["id"])


def test_torch_classifier_train_evaluate_reproducible(store, tmp_path):
    data = generate_shapes(tmp_path / "cls", flavour="classify", n_train=48, n_val=24, n_test=24, size=64)
    register_dataset(store, data, name="cls")
    mm.register_model("clf", "torch-classifier")
    snap = mm.create_snapshot("clf", config={"epochs": 4, "imgsz": 32, "seed": 7}, dataset="cls")
    exe = mm.train(snap["id"], wait=True)
    assert exe["status"] == "success", exe["error"]
    values = final(exe["id"])
    assert {"loss", "val_loss", "accuracy"} <= set(values)
    again = mm.rerun(exe["id"], wait=True)
    assert final(again["id"]) == values, "a rerun of a seeded CPU training gives the same final metrics"
    ev = mm.evaluate(snap["id"], wait=True)
    assert ev["status"] == "success", ev["error"]
    assert 0.0 <= final(ev["id"])["accuracy"] <= 1.0


def test_introspection_of_trained_classifier(store, tmp_path):
    from PIL import Image

    from mm_jupyter.introspect import introspect

    data = generate_shapes(tmp_path / "cls", flavour="classify", n_train=24, n_val=6, n_test=6, size=64)
    register_dataset(store, data, name="cls")
    mm.register_model("clf", "torch-classifier")
    snap = mm.create_snapshot("clf", config={"epochs": 1, "imgsz": 32, "width": 8}, dataset="cls")
    assert mm.train(snap["id"], wait=True)["status"] == "success"
    item = mm.select_items(store, "cls", {"tag": "test"})[0]
    out = introspect(snap["id"], item.id)
    assert out["layers"] == {"block1": [8, 16, 16], "block2": [16, 8, 8], "block3": [32, 4, 4]}
    with Image.open(out["image"]) as grid:
        assert grid.size[1] == 3 * 50  # a row per layer
    other = introspect(snap["id"], str(mm.select_items(store, "cls", {"tag": "test"})[-1].path))
    assert not (other["maps"]["block1"] == out["maps"]["block1"]).all(), "maps depend on the image"
    with pytest.raises(mm.MMError, match="unknown layer"):
        introspect(snap["id"], item.id, layers=["block9"])
    with pytest.raises(mm.MMError, match="is not in dataset"):
        introspect(snap["id"], 10**9)
