"""Launch overhead: the same tiny YOLO training through `mm train --wait` (a CLI process, the store,
the runner process, papermill, a kernel) and through a plain papermill run of the same notebook
(`papermill notebooks/train.ipynb out.ipynb -p snapshot S`: one process, papermill, a kernel),
each a fresh process, interleaved A B A B, timed wall clock in the same run. Prints medians with
their spread and the seconds mm-jupyter adds; exits 1 when it adds more than 1.0 s.

    .venv/bin/python bench/launch_overhead.py [--epochs 1] [--repeats 3]
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

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):6.2f} s (min {min(values):.2f}, max {max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mm-bench-launch-"))
    env = {**os.environ, "MM_HOME": str(home)}
    os.environ["MM_HOME"] = str(home)
    import mm_jupyter as mm
    from mm_jupyter.datasets import register_dataset
    from mm_jupyter.shapes import generate_shapes

    store = mm.connect()
    data = generate_shapes(home / "data", flavour="detect", n_train=16, n_val=8, n_test=8, size=64)
    register_dataset(store, data, name="shapes")
    mm.register_model("bench-yolo", "yolo")
    config = {"epochs": args.epochs, "batch": 8, "imgsz": 64}
    mm_bin = str(Path(sys.executable).with_name("mm"))
    papermill_bin = str(Path(sys.executable).with_name("papermill"))
    # one run first, untimed: it leaves the offline ultralytics set-up (fonts, settings) both use
    timed([mm_bin, "train", mm.create_snapshot("bench-yolo", config=config, dataset="shapes")["id"], "--wait"], env)
    through_mm, plain = [], []
    for i in range(args.repeats):  # interleaved so drift in machine load hits both alike
        snap = mm.create_snapshot("bench-yolo", config=config, dataset="shapes")["id"]
        through_mm.append(timed([mm_bin, "train", snap, "--wait"], env))
        snap = mm.create_snapshot("bench-yolo", config=config, dataset="shapes")["id"]
        out = home / f"plain-{i}.ipynb"
        plain.append(timed([papermill_bin, str(ROOT / "notebooks" / "train.ipynb"), str(out), "-p", "snapshot", snap,
                            "--no-progress-bar"], env))
    added = statistics.median(through_mm) - statistics.median(plain)
    print(f"yolov8n, {args.epochs} epoch(s) on 16 images of 64 px, {args.repeats} interleaved repeats:")
    print(f"  mm train --wait                     : {spread(through_mm)}")
    print(f"  papermill train.ipynb -p snapshot S : {spread(plain)}")
    ok = added <= 1.0
    print(f"  added by mm-jupyter: {added:+.2f} s  (target <= 1.0 s) {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
