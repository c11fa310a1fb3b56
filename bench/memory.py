"""Peak memory of a training: the whole `mm train --wait` process tree (the waiting CLI, the runner,
papermill's kernel) against plain ultralytics training the same model on the same data in one
process, interleaved A B A B, each a fresh process tree. The tree's resident memory is sampled every
50 ms from /proc (the sum over every live process of the tree). Prints medians with their spread,
and each process's own peak for the last run of ours; exits 1 when ours exceeds 1.10x plain.

    .venv/bin/python bench/memory.py [--epochs 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN = """
import json, sys
settings, data, project = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
from ultralytics import YOLO
YOLO("yolov8n.yaml").train(data=data, device="cpu", plots=False, val=True, project=project, name="train",
                           exist_ok=True, verbose=False, **settings)
"""
PAGE = os.sysconf("SC_PAGE_SIZE")


def children(pid: int) -> list[int]:
    """Child processes of every thread of ``pid``."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(p) for p in fh.read().split()]
        except OSError:
            pass
    return out


def rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE
    except OSError:
        return 0


def name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            parts = fh.read().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(p.decode(errors="replace") for p in parts[:4] if p)
    for key in ("ipykernel", "mm_jupyter.attempt", " train ", "ultralytics"):
        if key in text:
            return {"ipykernel": "kernel", "mm_jupyter.attempt": "runner", " train ": "mm train --wait"}.get(key, key)
    return text[:60]


def peak_tree(cmd: list[str], env: dict) -> tuple[int, dict[str, int]]:
    """Run ``cmd``; the peak over time of the summed RSS of its process tree, and each process's peak.
    A runner starts its kernel in a new session but as its child, so the tree holds all three."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak, each = 0, {}
    while proc.poll() is None:
        tree, todo = [], [proc.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += children(pid)
        sizes = {pid: rss(pid) for pid in tree}
        peak = max(peak, sum(sizes.values()))
        for pid, size in sizes.items():
            if not size:  # gone between the two reads
                continue
            key = f"{name(pid)} ({pid})"
            each[key] = max(each.get(key, 0), size)
        time.sleep(0.05)
    if proc.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{proc.stderr.read()[-2000:]}")
    return peak, each


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mm-bench-memory-"))
    env = {**os.environ, "MM_HOME": str(home)}
    os.environ["MM_HOME"] = str(home)
    import mm_jupyter as mm
    from mm_jupyter.shapes import generate_shapes

    data = generate_shapes(home / "data", flavour="detect", n_train=48, n_val=16, n_test=16, size=96, seed=0)
    mm.register_dataset(mm.connect(), data, name="shapes")
    mm.register_model("det", "yolo")
    settings = {"epochs": args.epochs, "batch": 8, "imgsz": 96, "workers": 0, "seed": 0, "amp": False}
    config = {k: v for k, v in settings.items() if k != "amp"} | {"device": "cpu"}
    mm_bin = str(Path(sys.executable).with_name("mm"))
    plain_env = {**env, "YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(home / "ultralytics"), "YOLO_VERBOSE": "False"}
    subprocess.run([mm_bin, "train", mm.create_snapshot("det", config=config, dataset="shapes")["id"], "--wait"],
                   env=env, capture_output=True)  # leaves the offline ultralytics set-up both use
    ours, plain, last = [], [], {}
    for i in range(args.repeats):
        snap = mm.create_snapshot("det", config=config, dataset="shapes")["id"]
        peak, last = peak_tree([mm_bin, "train", snap, "--wait"], env)
        ours.append(peak)
        plain.append(peak_tree([sys.executable, "-c", PLAIN, json.dumps(settings), str(Path(data) / "data.yaml"),
                                str(home / f"plain-{i}")], plain_env)[0])
    mb = [x / 2**20 for x in ours], [x / 2**20 for x in plain]
    ratio = statistics.median(a / b for a, b in zip(ours, plain, strict=True))
    print(f"peak RSS of the process tree, YOLOv8n {args.epochs} epochs on 48 images of 96 px, "
          f"{args.repeats} interleaved repeats:")
    for label, values in (("mm train --wait (CLI + runner + kernel)", mb[0]), ("plain ultralytics (one process)", mb[1])):
        print(f"  {label:<42} median {statistics.median(values):7.0f} MB ({min(values):.0f}-{max(values):.0f})")
    print("  each process of the last run of ours (its own peak): "
          + ", ".join(f"{k} {v / 2**20:.0f} MB" for k, v in sorted(last.items(), key=lambda kv: -kv[1])))
    ok = ratio <= 1.10
    print(f"  ratio ours/plain {ratio:.3f}  (target <= 1.10) {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
