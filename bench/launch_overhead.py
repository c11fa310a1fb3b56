"""Launch overhead: the same tiny YOLO training through `mm train --wait` (store, runner process,
papermill, kernel) and called in-process through the adapter, each as a fresh process, timed wall
clock in the same run. Prints the times and the ratio (target <= 1.05 on a ~30 s training).

    .venv/bin/python bench/launch_overhead.py [--epochs 15] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IN_PROCESS = """
import sys, mm_jupyter as mm
from mm_jupyter.adapter import TrainData, load_adapter_class
from mm_jupyter.datasets import select_items
store = mm.connect()
snap = store.get("snapshots", sys.argv[1])
run = mm.start_run(snap["id"])
model = load_adapter_class("yolo")(config=snap["config"], labels=snap["labels"])
items = {r: select_items(store, snap["dataset_id"], snap["filters"][r]) for r in ("train", "validation")}
run.workdir.mkdir(parents=True, exist_ok=True)
model.train(TrainData(items["train"], items["validation"], snap["labels"], run.workdir / "work"), run)
model.save(str(run.workdir))
run.end()
"""


def timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mm-bench-"))
    env = {**os.environ, "MM_HOME": str(home)}
    os.environ["MM_HOME"] = str(home)
    import mm_jupyter as mm
    from mm_jupyter.datasets import register_dataset
    from mm_jupyter.shapes import generate_shapes

    store = mm.connect()
    data = generate_shapes(home / "data", flavour="detect", n_train=48, n_val=16, n_test=16, size=96)
    register_dataset(store, data, name="shapes")
    mm.register_model("bench-yolo", "yolo")
    config = {"epochs": args.epochs, "batch": 8, "lr0": 0.01}
    mm_bin = str(Path(sys.executable).with_name("mm"))
    through_mm, in_process = [], []
    for _ in range(args.repeats):  # interleaved so drift in machine load hits both alike
        snap = mm.create_snapshot("bench-yolo", config=config, dataset="shapes")["id"]
        through_mm.append(timed([mm_bin, "train", snap, "--wait"], env))
        snap = mm.create_snapshot("bench-yolo", config=config, dataset="shapes")["id"]
        in_process.append(timed([sys.executable, "-c", IN_PROCESS, snap], env))
    a, b = statistics.median(through_mm), statistics.median(in_process)
    print(f"yolov8n, {args.epochs} epochs on 48 images of 96 px, median of {args.repeats}")
    print(f"  mm train --wait      : {a:7.2f} s  {[round(x, 2) for x in through_mm]}")
    print(f"  in-process (adapter) : {b:7.2f} s  {[round(x, 2) for x in in_process]}")
    print(f"  ratio mm/in-process  : {a / b:7.3f}  (target <= 1.05)")


if __name__ == "__main__":
    main()
