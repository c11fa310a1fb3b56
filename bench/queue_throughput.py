"""Queue throughput: N short evaluate executions of a tiny model (the test suite's toy adapter)
through the local runner (service concurrency 2) and through a Dask LocalCluster (2 worker
processes, service concurrency 2), against the same notebooks run with papermill directly in a
loop, one after another (the reference, measured in the same run). Prints executions per minute
and the per-execution overhead, as ratios to the reference. With concurrency 2 on a 2-core machine
each run shares the cores, so the overhead of the runner itself is measured apart, on a few
executions with concurrency 1.

    .venv/bin/python bench/queue_throughput.py [--executions 200] [--reference-executions N] [--serial-executions 30]
                                               [--skip-dask]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent.parent / "tests" / "support"


def setup(home: Path):
    """A store with the toy model trained once; returns (store, snapshot id)."""
    os.environ["MM_HOME"] = str(home)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")])
    sys.path.insert(0, str(SUPPORT))
    from PIL import Image

    import mm_jupyter as mm
    from mm_jupyter.datasets import register_dataset

    for split in ("train", "val", "test"):
        for name, color in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
            folder = home / "data" / split / name
            folder.mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (16, 16), color).save(folder / f"{i}.png")
    store = mm.connect()
    register_dataset(store, home / "data", name="toy-data")
    mm.register_model("toy", "toy_adapter:ToyAdapter")
    snap = mm.create_snapshot("toy", config={"epochs": 1}, dataset="toy-data")["id"]
    trained = mm.train(snap, wait=True)
    if trained["status"] != "success":
        sys.exit(f"setup training failed: {trained['error']}")
    return store, snap


def papermill_loop(store, snap: str, n: int) -> tuple[float, list[float]]:
    """The reference: the evaluate notebook run by papermill in a loop (rows made by hand, kernels over
    IPC like the runner's), no queue, no runner process, one at a time."""
    import papermill

    import mm_jupyter as mm
    from mm_jupyter.notebooks import ipc_kernel_manager, templates_dir

    template = templates_dir() / "evaluate.ipynb"
    base = mm.evaluate(snap, service={"concurrency": 1})  # one real submit, to copy its parameters
    mm.wait_for(base["id"])
    times = []
    begun = time.perf_counter()
    for _ in range(n):
        row = store.insert("executions", {k: base[k] for k in ("kind", "snapshot_id", "model_id", "service", "params")}
                           | {"status": "in-progress", "attempts": 1, "progress": 0.0, "name": "papermill loop"})
        out = store.execution_dir(row)
        out.mkdir(parents=True, exist_ok=True)
        manager, sockets = ipc_kernel_manager(lambda pid: None)  # the same kernel transport as the runner's
        start = time.perf_counter()
        papermill.execute_notebook(str(template), str(out / "notebook.ipynb"),
                                   parameters={**base["params"], "execution_id": row["id"], "mm_home": str(store.home)},
                                   kernel_name="python3", progress_bar=False, cwd=str(out),
                                   kernel_manager_class=manager)
        times.append(time.perf_counter() - start)
        shutil.rmtree(sockets, ignore_errors=True)
        store.update("executions", row["id"], status="success", ended_at=time.time())
    return time.perf_counter() - begun, times


def through_queue(store, snap: str, n: int, settings: dict) -> tuple[float, list[float]]:
    """Submit ``n`` evaluates to a paused service, resume it, wait for all; (wall, per-execution runs)."""
    import mm_jupyter as mm
    from mm_jupyter import services

    first = mm.evaluate(snap, service={"concurrency": 1, "max_instances": 1, "runner": "local", **settings,
                                       "queue_size": max(1000, n)})
    mm.wait_for(first["id"])
    services.set_paused(store, first["service"], True)
    ids = [mm.evaluate(snap)["id"] for _ in range(n)]
    begun = time.perf_counter()
    services.set_paused(store, first["service"], False)
    rows = [mm.wait_for(i, poll=0.5) for i in ids]
    wall = time.perf_counter() - begun
    failed = [r for r in rows if r["status"] != "success"]
    if failed:
        sys.exit(f"{len(failed)} executions did not succeed, e.g. {failed[0]['error']}")
    return wall, [r["ended_at"] - r["started_at"] for r in rows]


def report(name: str, n: int, wall: float, runs: list[float], ref_wall: float, ref_runs: list[float]) -> None:
    rate, ref_rate = 60 * n / wall, 60 * n / ref_wall
    each, ref_each = statistics.mean(runs), statistics.mean(ref_runs)
    print(f"  {name:<28} {rate:7.1f} executions/min  ratio {rate / ref_rate:5.2f}  | per execution "
          f"{each:5.2f} s vs {ref_each:5.2f} s: overhead {each - ref_each:+5.2f} s, ratio {each / ref_each:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=200)
    parser.add_argument("--reference-executions", type=int, default=None,
                        help="how many to run in the papermill loop (default: as many; its rate is per execution, "
                             "so fewer give the same reference sooner)")
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--serial-executions", type=int, default=30,
                        help="also run this many through the local runner with concurrency 1: the per-execution "
                             "overhead without two runs sharing the cores (0: skip)")
    args = parser.parse_args()
    n = args.executions
    n_ref = args.reference_executions or n
    home = Path(tempfile.mkdtemp(prefix="mm-bench-queue-"))
    store, snap = setup(home)
    ref_wall, ref_runs = papermill_loop(store, snap, n_ref)
    ref_wall *= n / n_ref  # the loop's wall time for n, one after another
    serial = through_queue(store, snap, args.serial_executions, {"concurrency": 1}) if args.serial_executions else None
    local = through_queue(store, snap, n, {"concurrency": 2})
    dask = None
    if not args.skip_dask:
        from mm_jupyter.runners import dask as dask_runner

        cluster = dask_runner.local_cluster(2)
        try:
            dask = through_queue(store, snap, n, {"concurrency": 2, "runner": dask_runner.runner_address(cluster)})
        finally:
            dask_runner.close_clients()
            cluster.close()
    cores = os.cpu_count()
    print(f"{n} evaluate executions of a toy model (4 test images) on {cores} cores, load average "
          f"{os.getloadavg()[0]:.1f}; reference: papermill.execute_notebook in a loop ({n_ref} runs), "
          f"{60 * n / ref_wall:.1f} executions/min, {statistics.mean(ref_runs):.2f} s each")
    if serial:
        report("local runner, concurrency 1", args.serial_executions, *serial, ref_wall * args.serial_executions / n,
               ref_runs)
    report("local runner, concurrency 2", n, *local, ref_wall, ref_runs)
    if dask:
        report("Dask LocalCluster, 2 workers", n, *dask, ref_wall, ref_runs)


if __name__ == "__main__":
    main()
