"""The demo's training and evaluation through mm-jupyter (``mm.train`` / ``mm.evaluate``: store,
runner, papermill, kernel, live metrics, COCO evaluation) against plain ultralytics with the same
settings (``YOLO(yaml).train(...)``, then ``YOLO(best).val(split="test")``), each step a fresh
process, in the same run. Prints the training throughput (images per second between the first and
last epoch's end, so start-up costs are left out; GPU target: ours / plain >= 0.97) and the wall
times of both steps. On a machine with CUDA both use GPU 0 (``--device auto``); on CPU it still runs.

    .venv/bin/python bench/vs_ultralytics.py [--epochs 40] [--repeats 3] [--device auto]

Repeats interleave the two systems (ours, plain, ours, plain, ...); exits 1 when a target is missed.
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
epoch_ends = sorted(m["ts"] for m in mm.get_metrics(trained["id"]) if m["name"] == "mAP50-95")
last = {m["name"]: m["value"] for m in mm.get_metrics(evaluated["id"])}
print(json.dumps({"train": t1 - t0, "evaluate": t2 - t1, "epoch_ends": epoch_ends,
                  "mAP50-95": last.get("mAP50-95")}))
"""

PLAIN_TRAIN = """
import json, sys, time
t0 = time.perf_counter()
settings, device, data, project = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
from ultralytics import YOLO
epoch_ends = []
model = YOLO("yolov8n.yaml")
model.add_callback("on_fit_epoch_end", lambda trainer: epoch_ends.append(time.time()))
model.train(data=data, device=device, plots=False, val=True, cache=False, fraction=1.0, patience=100,
            conf=0.001, iou=0.7, project=project, name="train", exist_ok=True, verbose=False, **settings)
print(json.dumps({"train": time.perf_counter() - t0, "epoch_ends": epoch_ends,
                  "weights": str(model.trainer.best)}))
"""

PLAIN_EVALUATE = """
import json, sys, time
t0 = time.perf_counter()
settings, device, data, project, weights = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
from ultralytics import YOLO
metrics = YOLO(weights).val(data=data, split="test", imgsz=settings["imgsz"], batch=settings["batch"], device=device,
                            conf=0.001, iou=0.7, max_det=settings["max_det"], plots=False, verbose=False,
                            project=project, name="val", exist_ok=True)
print(json.dumps({"evaluate": time.perf_counter() - t0, "mAP50-95": float(metrics.box.map)}))
"""


def epoch_rate(epoch_ends: list[float], images: int) -> float:
    """Training images per second between the first and the last epoch's end (start costs excluded)."""
    return images * (len(epoch_ends) - 1) / (epoch_ends[-1] - epoch_ends[0])


def run(code: str, *args: str, env: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"benchmark step failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"])
    parser.add_argument("--repeats", type=int, default=3)
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
        common = (json.dumps(settings), device, str(Path(data) / "data.yaml"), str(home / f"plain-{i}"))
        trained = run(PLAIN_TRAIN, *common, env=plain_env)
        plain.append({**trained, **run(PLAIN_EVALUATE, *common, trained["weights"], env=plain_env)})
    for r in (*ours, *plain):
        r["rate"] = epoch_rate(r["epoch_ends"], 48)
    name = torch.cuda.get_device_name(0) if device not in ("cpu",) and torch.cuda.is_available() else "CPU"
    print(f"YOLOv8n from yaml, {args.epochs} epochs, 48 train / 16 val / 24 test images of 96 px, batch 8, "
          f"device {device} ({name}), {args.repeats} interleaved repeat(s), medians (min-max); every step a "
          "fresh process:")
    missed = []
    rate_ratio = statistics.median(a["rate"] / b["rate"] for a, b in zip(ours, plain, strict=True))
    print(f"  training throughput  mm-jupyter {spread([r['rate'] for r in ours], 'img/s')}   plain ultralytics "
          f"{spread([r['rate'] for r in plain], 'img/s')}   ratio {rate_ratio:5.3f}  (target >= 0.97)")
    if rate_ratio < 0.97:
        missed.append("training throughput")
    train_a, train_b = statistics.median(r["train"] for r in ours), statistics.median(r["train"] for r in plain)
    print(f"  train wall           mm-jupyter {spread([r['train'] for r in ours], 's')}   plain ultralytics "
          f"{spread([r['train'] for r in plain], 's')}   ours = {train_a / train_b:5.3f}x plain "
          f"({train_a - train_b:+.2f} s; target <= 1.05x + 1.5 s)")
    if train_a > 1.05 * train_b + 1.5:
        missed.append("training wall")
    eval_ratio = statistics.median(a["evaluate"] / b["evaluate"] for a, b in zip(ours, plain, strict=True))
    print(f"  evaluate wall        mm-jupyter {spread([r['evaluate'] for r in ours], 's')}   plain ultralytics "
          f"{spread([r['evaluate'] for r in plain], 's')}   ours = {eval_ratio:5.3f}x plain (target <= 1.3x)")
    if eval_ratio > 1.3:
        missed.append("evaluate wall")
    print(f"  final mAP50-95: ours (COCO) {ours[-1]['mAP50-95']:.4f}, ultralytics' own {plain[-1]['mAP50-95']:.4f} "
          "(not the same metric). Our evaluate also writes per-item/slice results, curves and the notebook.")
    print("  targets " + ("met" if not missed else "MISSED: " + ", ".join(missed)))
    return 1 if missed else 0


def spread(values: list[float], unit: str) -> str:
    return f"{statistics.median(values):7.2f} {unit} ({min(values):.2f}-{max(values):.2f})"


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:  # a warm kernel held for a next run that will not come: ~800 MB for 10 idle minutes
        from mm_jupyter.warm_kernels import stop_pool

        if "mm-bench-" in os.environ.get("MM_HOME", ""):  # this bench's own home, set by main()
            stop_pool(os.environ["MM_HOME"])
