"""Metric ingestion and one metric across executions, each against a reference measured in the same run.

1. Ingestion: a run logs N points through ``RunContext.log_metric`` (buffered, written in batches
   of 5,000 through the attempt's tracker: token check, one transaction per batch) against one raw
   ``sqlite3`` ``executemany`` of the same rows into the same table (same schema and indexes), each
   into a fresh store, interleaved A B A B. Target: ours >= 0.7x the raw rate.
2. One metric name across every execution (``queries.executions.metric_across_executions``) on a
   store of 1,000,000 points, against the same query once the name index is dropped (the store as
   it was before schema v6). Reported as a speed-up.

Prints medians with their spread (min-max) and exits 1 when a target is missed.

    .venv/bin/python bench/metrics_ingest.py [--points 200000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def fresh_run(home: Path):
    """A store with one in-progress execution and its tracker (the runner's view of an attempt)."""
    os.environ["MM_HOME"] = str(home)
    import mm_jupyter as mm
    from mm_jupyter import api
    from mm_jupyter.adapter import RunContext
    from mm_jupyter.store import Store
    from mm_jupyter.tracker import LocalTracker, new_token, token_hash

    api._STORES.clear()
    store = Store(home)
    mm.register_model("bench", store=store)
    snap = mm.create_snapshot("bench", store=store)
    token = new_token()
    exe = store.insert("executions", {"kind": "train", "snapshot_id": snap["id"], "model_id": snap["model_id"],
                                      "status": "in-progress", "attempts": 1, "progress": 0.0, "name": "bench",
                                      "token_hash": token_hash(token), "created_at": time.time()})
    ctx = RunContext(LocalTracker(store, exe["id"], 1, token), store)
    return store, exe, ctx


def ours(base: Path, n: int) -> float:
    home = Path(tempfile.mkdtemp(dir=base))
    store, _exe, ctx = fresh_run(home)
    start = time.perf_counter()
    for i in range(n):
        ctx.log_metric("loss", 1.0 / (i + 1), step=i, epoch=i // 1000)
    ctx.close()
    elapsed = time.perf_counter() - start
    assert store.count("metrics") == n
    store.close()
    shutil.rmtree(home)
    return n / elapsed


def raw(base: Path, n: int) -> float:
    home = Path(tempfile.mkdtemp(dir=base))
    store, exe, ctx = fresh_run(home)
    now = time.time()
    rows = [(exe["id"], exe["snapshot_id"], "loss", i, i // 1000, 1.0 / (i + 1), now, 1) for i in range(n)]
    start = time.perf_counter()
    store.conn.execute("BEGIN")
    store.conn.executemany("INSERT INTO metrics (execution_id, snapshot_id, name, step, epoch, value, ts, attempt) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    store.conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    assert store.count("metrics") == n
    ctx.close()
    store.close()
    shutil.rmtree(home)
    return n / elapsed


def across(base: Path, points: int, repeats: int) -> tuple[list[float], list[float]]:
    from mm_jupyter.queries.executions import metric_across_executions

    store, exe, ctx = fresh_run(Path(tempfile.mkdtemp(dir=base)))
    rng = random.Random(0)
    names = ["loss", "box_loss", "cls_loss", "dfl_loss", "precision", "recall", "mAP50", "mAP50-95", "lr", "gpu_mem"]
    runs = 200
    now = time.time()
    ids = []
    for r in range(runs):
        ids.append(store.insert("executions", {"kind": "train", "snapshot_id": exe["snapshot_id"], "model_id": exe["model_id"],
                                               "status": "success", "attempts": 1, "progress": 100.0,
                                               "name": f"run-{r}", "created_at": now + r})["id"])
    per_run = points // runs
    store.conn.execute("BEGIN")
    for exe_id in ids:
        store.conn.executemany(
            "INSERT INTO metrics (execution_id, snapshot_id, name, step, epoch, value, ts, attempt) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
            [(exe_id, exe["snapshot_id"], names[i % len(names)], i, i // 100, rng.random(), now) for i in range(per_run)])
    store.conn.execute("COMMIT")
    store.conn.execute("ANALYZE")
    indexed, scanned = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        rows = metric_across_executions(store, "mAP50")
        indexed.append(time.perf_counter() - t)
        assert len(rows) == runs
    store.conn.execute("DROP INDEX idx_metrics_name")  # the store as it was before schema v6
    store.conn.execute("ANALYZE")
    for _ in range(repeats):
        t = time.perf_counter()
        assert len(metric_across_executions(store, "mAP50")) == runs
        scanned.append(time.perf_counter() - t)
    ctx.close()
    store.close()
    return indexed, scanned


def spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    return f"median {fmt.format(statistics.median(values))} (min {fmt.format(min(values))}, max {fmt.format(max(values))})"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--across-points", type=int, default=1_000_000)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mm-bench-ingest-"))
    try:
        a, b = [], []
        for _ in range(args.repeats):  # interleaved: drift in machine load hits both alike
            a.append(ours(base, args.points))
            b.append(raw(base, args.points))
        ratio = statistics.median(x / y for x, y in zip(a, b, strict=True))
        print(f"metric ingestion, {args.points:,} points, {args.repeats} interleaved repeats:")
        print(f"  RunContext.log_metric (batches of 5,000 via the tracker): {spread(a)} points/s")
        print(f"  one raw sqlite3 executemany of the same rows          : {spread(b)} points/s")
        ok_ingest = ratio >= 0.7
        print(f"  ratio ours/raw {ratio:.3f}  (target >= 0.7) {'met' if ok_ingest else 'MISSED'}")
        indexed, scanned = across(base, args.across_points, max(3, args.repeats))
        speedup = statistics.median(scanned) / statistics.median(indexed)
        print(f"one metric across 200 executions, {args.across_points:,} points:")
        print(f"  through the name index: {spread([x * 1e3 for x in indexed], '{:.2f}')} ms")
        print(f"  without it (schema v5)  : {spread([x * 1e3 for x in scanned], '{:.2f}')} ms   "
              f"speed-up {speedup:.1f}x")
        return 0 if ok_ingest else 1
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
