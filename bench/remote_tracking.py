"""Remote tracking: what reporting through the runner API costs, against the direct path measured in
the same run.

1. Metric ingestion: N points of one attempt in batches of 5,000 (what ``RunContext`` hands its
   tracker) through ``HttpTracker`` → ``mm serve``'s runner API (spooled, batch ids, one writer
   thread) against ``LocalTracker`` straight into the SQLite store, each into a fresh store,
   interleaved A B A B; a rate counts until every point is in the store. Targets: ≥ 50,000
   points/s, and ≥ 0.5× the direct path.
2. Queue throughput: M short toy trainings through 2 Dask workers that share nothing with the store
   (another MM_HOME each, reporting to ``mm serve``) against the local runner (concurrency 2), in
   executions per minute (reported, no target: both share this machine's cores).

Prints medians with their spread (min-max) and exits 1 when a target is missed.

    .venv/bin/python bench/remote_tracking.py [--points 200000] [--repeats 3] [--executions 8] [--skip-queue]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = ROOT / "tests" / "support"
BATCH = 5000


def fresh_attempt(home: Path):
    """A store with one claimed (in-progress) attempt and its token, as the scheduler leaves it."""
    os.environ["MM_HOME"] = str(home)
    import mm_jupyter as mm
    from mm_jupyter import api
    from mm_jupyter.store import Store
    from mm_jupyter.tracker import new_token, token_hash

    api._STORES.clear()
    store = Store(home)
    mm.register_model("bench", store=store)
    snap = mm.create_snapshot("bench", store=store)
    token = new_token()
    exe = store.insert("executions", {"kind": "train", "snapshot_id": snap["id"], "model_id": snap["model_id"],
                                      "status": "in-progress", "attempts": 1, "progress": 0.0, "name": "bench",
                                      "token_hash": token_hash(token), "created_at": time.time(),
                                      "heartbeat_at": time.time()})
    store.add_attempt_token(exe["id"], 1, token_hash(token))
    return store, exe, token


def points(n: int) -> list[tuple]:
    now = time.time()
    return [("loss", i, i // 1000, 1.0 / (i + 1), now) for i in range(n)]


def direct(base: Path, n: int) -> float:
    from mm_jupyter.tracker import LocalTracker

    home = Path(tempfile.mkdtemp(dir=base))
    store, exe, token = fresh_attempt(home)
    rows = points(n)
    tracker = LocalTracker(store, exe["id"], 1, token)
    start = time.perf_counter()
    for i in range(0, n, BATCH):
        tracker.metric_points(rows[i:i + BATCH])
    elapsed = time.perf_counter() - start
    assert store.count("metrics") == n
    store.close()
    shutil.rmtree(home)
    return n / elapsed


def start_serve(home: Path, log: Path) -> tuple[subprocess.Popen, str]:
    sys.path.insert(0, str(ROOT / "tests"))
    from support.helpers import free_port

    from mm_jupyter.tracking_url import ping

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "mm_jupyter.cli", "serve", "--host", "127.0.0.1", "--port",
                             str(port)], env={**os.environ, "MM_HOME": str(home), "MM_TOKEN": "bench"},
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            ping(url, timeout=1)
            return proc, url
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"mm serve did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.2)


def remote(base: Path, n: int) -> float:
    from mm_jupyter.http_tracker import HttpTracker

    home = Path(tempfile.mkdtemp(dir=base))
    store, exe, token = fresh_attempt(home)
    proc, url = start_serve(home, base / "serve.log")
    try:
        rows = points(n)
        tracker = HttpTracker(url, exe["id"], 1, token, home / "spool")
        start = time.perf_counter()
        for i in range(0, n, BATCH):
            tracker.metric_points(rows[i:i + BATCH])
        assert tracker.drain(600), "the runner API did not take every batch"
        elapsed = time.perf_counter() - start
        tracker.close()
        assert store.count("metrics") == n, f"{store.count('metrics')} of {n} points stored"
    finally:
        proc.terminate()
        proc.wait(30)
        store.close()
        shutil.rmtree(home)
    return n / elapsed


def spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    return f"median {fmt.format(statistics.median(values))} (min {fmt.format(min(values))}, max {fmt.format(max(values))})"


def queue_throughput(base: Path, executions: int) -> tuple[float, float]:
    """Executions per minute: the local runner (concurrency 2) and 2 remote workers (concurrency 2)."""
    os.environ["PYTHONPATH"] = os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")])
    sys.path[:0] = [str(ROOT / "tests"), str(SUPPORT)]
    from support.helpers import TOY, make_imagefolder
    from support.remote_util import Cluster

    import mm_jupyter as mm
    from mm_jupyter import api
    from mm_jupyter.datasets import register_dataset
    from mm_jupyter.store import Store

    home = base / "queue-home"
    os.environ["MM_HOME"] = str(home)
    api._STORES.clear()
    store = Store(home)
    register_dataset(store, make_imagefolder(base / "data"), name="toy-data")
    mm.register_model("toy", TOY)

    def run_all(service: dict) -> float:
        snaps = [mm.create_snapshot("toy", config={"epochs": 2}, dataset="toy-data")["id"] for _ in range(executions)]
        start = time.perf_counter()
        ids = [mm.train(s, service=service)["id"] for s in snaps]
        for exe_id in ids:
            row = mm.wait_for(exe_id)
            assert row["status"] == "success", (row["status"], row.get("error"))
        return executions / (time.perf_counter() - start) * 60

    local = run_all({"concurrency": 2})
    proc, url = start_serve(home, base / "serve-queue.log")
    cluster = Cluster()
    try:
        for name in ("w1", "w2"):
            cluster.worker({"MM_HOME": str(base / f"{name}-home"), "MM_WORKER_CACHE": str(base / f"{name}-cache")},
                           base / f"{name}.log")
        remote_rate = run_all({"concurrency": 2, "runner": cluster.runner, "tracking_url": url})
    finally:
        cluster.close()
        proc.terminate()
        proc.wait(30)
        store.close()
    return local, remote_rate


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--executions", type=int, default=8)
    parser.add_argument("--skip-queue", action="store_true")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mm-bench-remote-"))
    try:
        a, b = [], []
        for _ in range(args.repeats):  # interleaved: drift in machine load hits both alike
            a.append(remote(base, args.points))
            b.append(direct(base, args.points))
        ratio = statistics.median(x / y for x, y in zip(a, b, strict=True))
        rate_ok, ratio_ok = statistics.median(a) >= 50_000, ratio >= 0.5
        print(f"metric ingestion, {args.points:,} points in batches of {BATCH:,}, {args.repeats} interleaved repeats:")
        print(f"  HttpTracker -> mm serve runner API (until stored): {spread(a)} points/s  "
              f"(target >= 50,000) {'met' if rate_ok else 'MISSED'}")
        print(f"  LocalTracker straight into the store             : {spread(b)} points/s")
        print(f"  ratio remote/direct {ratio:.3f}  (target >= 0.5) {'met' if ratio_ok else 'MISSED'}")
        if not args.skip_queue:
            local, remote_rate = queue_throughput(base, args.executions)
            print(f"queue throughput, {args.executions} toy trainings (2 epochs), concurrency 2:")
            print(f"  local runner                                  : {local:.1f} executions/min")
            print(f"  2 Dask workers sharing nothing (via mm serve) : {remote_rate:.1f} executions/min  "
                  f"({remote_rate / local:.2f}x the local runner)")
        return 0 if rate_ok and ratio_ok else 1
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
