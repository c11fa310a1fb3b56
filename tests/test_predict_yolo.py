"""Predictions of real models (slow: real ultralytics and torch): a YOLO version's boxes through
``mm predict`` equal ultralytics' own ``predict`` with the same weights; YOLO weights trained elsewhere
(a bare ``.pt`` file) become a pre-trained version that is evaluated and fine-tuned; a torch
classifier's predictions carry label, score and top-k."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mm_jupyter as mm
from mm_jupyter.datasets import register_dataset
from mm_jupyter.shapes import generate_shapes

pytestmark = pytest.mark.slow


def test_yolo_predict_matches_ultralytics_and_pretrained_weights_are_evaluated_and_fine_tuned(store, home, tmp_path):
    data = generate_shapes(tmp_path / "shapes", flavour="detect", n_train=16, n_val=8, n_test=6, size=96)
    register_dataset(store, data, name="shapes")
    mm.register_model("det", "yolo")
    exe = mm.create_and_train("det", dataset="shapes", config={"epochs": 2, "batch": 8, "conf": 0.0001, "max_det": 20}, wait=True)
    assert exe["status"] == "success", exe["error"]
    snap = store.get("snapshots", exe["snapshot_id"])
    images = sorted(str(p) for p in (Path(data) / "images" / "test").glob("*.png"))[:3]

    out = subprocess.run([sys.executable, "-m", "mm_jupyter.cli", "predict", snap["id"], *images, "--json"],
                         capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert out.returncode == 0, out.stderr
    records = json.loads(out.stdout)
    assert [r["image"] for r in records] == [Path(p).name for p in images]

    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(home / "ultralytics"))
    from ultralytics import YOLO

    c = snap["config"]
    model = YOLO(str(Path(snap["weights_uri"]) / "model.pt"), task="detect")
    for record, path in zip(records, images, strict=True):
        assert record["task"] == "detection" and (record["width"], record["height"]) == (96, 96)
        result = model.predict(path, conf=c["conf"], iou=c["iou"], max_det=c["max_det"], imgsz=c["imgsz"],
                               device="cpu", verbose=False)[0]
        assert len(record["boxes"]) == len(result.boxes) > 0, "conf 1e-4: an undertrained model still boxes"
        theirs = sorted(zip(result.boxes.conf.tolist(), result.boxes.xyxy.tolist(), result.boxes.cls.tolist(), strict=True),
                        key=lambda t: -t[0])
        for box, (score, xyxy, cls) in zip(record["boxes"], theirs, strict=True):
            assert box["score"] == pytest.approx(score, abs=1e-5)
            assert box["box"] == pytest.approx(xyxy, abs=0.01)
            assert box["label"] == snap["labels"][int(cls)]

    # weights trained elsewhere: the bare model file, no meta.json beside it
    elsewhere = tmp_path / "elsewhere.pt"
    elsewhere.write_bytes((Path(snap["weights_uri"]) / "model.pt").read_bytes())
    version = mm.add_pretrained("det", str(elsewhere), "from-elsewhere", config={"conf": 0.01})
    assert version["status"] == "pre-trained" and (Path(version["weights_uri"]) / "model.pt").is_file()
    ev = mm.evaluate(version["id"], dataset="shapes", wait=True)
    assert ev["status"] == "success", ev["error"]
    assert "mAP50-95" in {m["name"] for m in mm.get_metrics(ev["id"])}
    tuned = mm.create_and_train("det", dataset="shapes", parent=version["id"], config={"epochs": 1, "batch": 8},
                                wait=True)
    assert tuned["status"] == "success", tuned["error"]
    assert tuned["params"]["parent_weights"] == version["weights_uri"]

    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"PK\x03\x04 not a checkpoint")
    before = store.count("snapshots")
    with pytest.raises(mm.MMError, match="cannot load"):
        mm.add_pretrained("det", str(broken))
    assert store.count("snapshots") == before


def test_classifier_predict_gives_label_score_and_top_k(store, tmp_path):
    data = generate_shapes(tmp_path / "cls", flavour="classify", n_train=24, n_val=6, n_test=6, size=64)
    register_dataset(store, data, name="cls")
    mm.register_model("clf", "torch-classifier")
    exe = mm.create_and_train("clf", dataset="cls", config={"epochs": 1, "imgsz": 32, "width": 8}, wait=True)
    assert exe["status"] == "success", exe["error"]
    labels = store.get("snapshots", exe["snapshot_id"])["labels"]
    image = next(Path(data).rglob("*.png"))
    record = mm.predict(exe["snapshot_id"], [str(image)], top_k=2)[0]
    assert record["task"] == "classification" and record["label"] in labels
    assert [t["label"] for t in record["top_k"]][:1] == [record["label"]] and len(record["top_k"]) == 2
    assert record["top_k"][0]["score"] >= record["top_k"][1]["score"] and 0 < record["score"] <= 1
