"""The demo's training and evaluation through mm-jupyter (``mm.train`` / ``mm.evaluate``: store,
runner, papermill, kernel, live metrics, COCO evaluation) against plain ultralytics with the same
settings (``YOLO(yaml).train(...)`` then ``.val(split="test")``), each a fresh process, timed wall
clock in the same run. Prints seconds and throughput ratios (plain time / our time; the GPU target
is >= 0.97). On a machine with CUDA both use GPU 0 (``--device auto``); on CPU it still runs.

    .venv/bin/python bench/vs_ultralytics.py [--epochs 40] [--repeats 1] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# the demo's settings (mm_jupyter/demo.py) and the adapter's defaults for the rest (adapters/yolo.py)
SETTINGS = {"epochs": 40, "batch": 8, "lr0": 0.01, "imgsz": 96, "optimizer": "AdamW", "warmup_epochs": 1.0,
            "workers": 0, "seed": 0, "deterministic": True, "close_mosaic": 0, "mosaic": 1.0, "max_det": 100,
            "amp": False}

THROUGH_MM = """
import json, sys, time, mm_jupyter as mm
settings, device = json.loads(sys.argv[1]), sys.argv[2]
config = {k: v for k, v in settings.items() if k != "amp"} | {"device": device}
snap = mm.create_snapshot("det", config=config, dataset="shapes")
t0 = time.perf_counter()
trained = mm.train(snap["id"], wait=True)
t1 = time.perf_counter()
evaluated = mm.evaluate(snap["id"], wait=True)
t2 = time.perf_counter()
assert trained["status"] == evaluated["status"] == "success", (trained["error"], evaluated["error"])
last = {m["name"]: m["value"] for m in mm.get_metrics(evaluated["id"])}
print(json.dumps({"train": t1 - t0, "evaluate": t2 - t1, "mAP50-95 (COCO)": last.get("mAP50-95")}))
"""

PLAIN = """
import json, sys, time
settings, device, data, project = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
t0 = time.perf_counter()
from ultralytics import YOLO
model = YOLO("yolov8n.yaml")
model.train(data=data, device=device, plots=False, val=True, cache=False, fraction=1.0, patience=100,
            conf=0.001, iou=0.7, project=project, name="train", exist_ok=True, verbose=False, **settings)
t1 = time.perf_counter()
metrics = model.val(data=data, split="test", imgsz=settings["imgsz"], batch=settings["batch"], device=device,
                    conf=0.001, iou=0.7, max_det=settings["max_det"], plots=False, verbose=False,
                    project=project, name="val", exist_ok=True)
t2 = time.perf_counter()
print(json.dumps({"train": t1 - t0, "evaluate": t2 - t1, "mAP50-95 (ultralytics)": float(metrics.box.map)}))
"""


def run(code: str, *args: str, env: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"benchmark step failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="auto", help="auto (GPU 0 when CUDA is there), cpu, 0, ...")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mm-bench-ultra-"))
    env = {**os.environ, "MM_HOME": str(home)}
    os.environ.update(MM_HOME=str(home))

    import torch

    import mm_jupyter as mm
    from mm_jupyter.shapes import generate_shapes

    device = args.device if args.device != "auto" else ("0" if torch.cuda.is_available() else "cpu")
    data = generate_shapes(home / "data", flavour="detect", n_train=48, n_val=16, n_test=24, size=96, seed=0)
    mm.register_dataset(mm.connect(), data, name="shapes")
    mm.register_model("det", "yolo")
    settings = {**SETTINGS, "epochs": args.epochs}
    # after our first run the offline environment exists (fonts, settings): plain ultralytics uses it too
    plain_env = {**env, "YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(home / "ultralytics"), "YOLO_VERBOSE": "False"}
    ours, plain = [], []
    for i in range(args.repeats):
        ours.append(run(THROUGH_MM, json.dumps(settings), device, env=env))
        plain.append(run(PLAIN, json.dumps(settings), device, str(Path(data) / "data.yaml"),
                         str(home / f"plain-{i}"), env=plain_env))
    name = torch.cuda.get_device_name(0) if device not in ("cpu",) and torch.cuda.is_available() else "CPU"
    print(f"YOLOv8n from yaml, {args.epochs} epochs, 48 train / 16 val / 24 test images of 96 px, batch 8, "
          f"device {device} ({name}), {args.repeats} repeat(s), median seconds:")
    for part in ("train", "evaluate"):
        a, b = statistics.median(r[part] for r in ours), statistics.median(r[part] for r in plain)
        print(f"  {part:<9} mm-jupyter {a:7.2f} s   plain ultralytics {b:7.2f} s   throughput ratio {b / a:5.3f}")
    a = statistics.median(r["train"] + r["evaluate"] for r in ours)
    b = statistics.median(r["train"] + r["evaluate"] for r in plain)
    print(f"  {'total':<9} mm-jupyter {a:7.2f} s   plain ultralytics {b:7.2f} s   throughput ratio {b / a:5.3f}"
          "  (target >= 0.97 on a GPU)")
    print(f"  final mAP50-95: ours (COCO) {ours[-1]['mAP50-95 (COCO)']}, "
          f"ultralytics' own {plain[-1]['mAP50-95 (ultralytics)']:.4f} (not the same metric)")


if __name__ == "__main__":
    main()
