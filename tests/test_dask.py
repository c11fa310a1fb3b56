"""The Dask runner on a real ``distributed.LocalCluster`` (2 worker processes on 127.0.0.1, one of
them declaring ``{"GPU": 1}``): runs, GPU placement, abort, a worker killed mid-run, ``mm cluster up``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.helpers import statuses, wait_for

import mm_jupyter as mm
from mm_jupyter.processes import attempt_command, pid_alive
from mm_jupyter.queries.executions import events
from mm_jupyter.queries.health import service_health
from mm_jupyter.runners import dask as dask_runner
from mm_jupyter.store import probe_store

distributed = pytest.importorskip("distributed")
SUPPORT = Path(__file__).parent / "support"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    """2 worker processes (1 thread each); the second declares GPU=1. Workers see the toy adapter."""
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "MM_HEARTBEAT_INTERVAL")}
    os.environ["PYTHONPATH"] = os.pathsep.join([str(SUPPORT), saved["PYTHONPATH"] or ""])
    os.environ["MM_HEARTBEAT_INTERVAL"] = "0.5"
    cluster = dask_runner.local_cluster(2, gpu_workers=1)
    client = distributed.Client(cluster, set_as_default=False)
    client.wait_for_workers(2, timeout=120)
    try:
        yield cluster, client
    finally:
        dask_runner.close_clients()
        client.close()
        cluster.close(timeout=30)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def workers(client) -> dict[str, dict]:
    return {a: w.get("resources") or {} for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}


def gpu_worker(client) -> str:
    return next(a for a, r in workers(client).items() if r.get("GPU"))


def on_dask(cluster, **settings) -> dict:
    return {"runner": dask_runner.runner_address(cluster[0]), **settings}


def test_execution_runs_as_a_task_and_reports_to_the_store(store, toy, cluster):
    exe = mm.train(toy(epochs=3), service=on_dask(cluster))
    queued = mm.train(toy(epochs=1))
    assert store.get("executions", queued["id"])["status"] == "pending", "concurrency 1: it waits its turn"
    final = mm.wait_for(exe["id"], timeout=180)
    second = mm.wait_for(queued["id"], timeout=180)  # started by the finished task, from its worker
    assert second["status"] == "success" and second["started_at"] >= final["ended_at"]
    assert final["status"] == "success", final["error"]
    assert final["worker"] in workers(cluster[1]) and final["runner"].startswith("dask://127.0.0.1:")
    assert statuses(store, exe["id"]) == ["pending", "in-progress", "success"]
    assert any(e["message"].startswith(f"submitted to {final['runner']} as task mm-{exe['id']}-1")
               for e in events(store, exe["id"]))
    assert [m["epoch"] for m in mm.get_metrics(exe["id"]) if m["name"] == "loss"] == [1, 2, 3]
    assert Path(final["notebook_uri"]).is_file() and "epoch 3/3" in mm.logs(exe["id"])
    assert service_health(store, store.get("services", exe["service"])).level == "ok"


def test_gpu_service_lands_only_on_a_worker_declaring_gpus(store, toy, cluster):
    snap = toy(epochs=1)
    runs = [mm.train(snap, service=on_dask(cluster, gpus=1, concurrency=2)) for _ in range(2)]
    finals = [mm.wait_for(r["id"], timeout=240) for r in runs]
    assert [f["status"] for f in finals] == ["success", "success"], [f["error"] for f in finals]
    assert {f["worker"] for f in finals} == {gpu_worker(cluster[1])}
    too_many = mm.train(snap, service={"gpus": 2})
    assert store.get("executions", too_many["id"])["status"] == "pending", "no worker has 2 GPUs: it waits"
    health = service_health(store, store.get("services", too_many["service"]))
    assert health.code == "no-gpu-worker" and "declares GPU=2" in health.reason
    mm.abort(too_many["id"])


def test_abort_cancels_the_task_and_kills_the_kernel_on_the_worker(store, toy, cluster):
    exe = mm.train(toy(epochs=300, sleep=0.5), service=on_dask(cluster))
    row = wait_for(lambda: (r := store.get("executions", exe["id"]))["kernel_pid"] and r["progress"] > 0 and r,
                    timeout=180)
    key = dask_runner.task_key(row)
    begun = time.monotonic()
    assert mm.abort(exe["id"])["status"] == "terminated"
    wait_for(lambda: not pid_alive(row["kernel_pid"]) and not pid_alive(row["runner_pid"]), timeout=30)
    assert time.monotonic() - begun < 30
    wait_for(lambda: key not in cluster[1].run_on_scheduler(scheduler_keys), timeout=30)


def scheduler_keys(dask_scheduler) -> list[str]:
    return list(dask_scheduler.tasks)


@pytest.mark.parametrize("on_reset,final_status", [("fail", "aborted"), ("rerun", "success")])
def test_worker_killed_mid_run_is_handled_per_on_reset(store, toy, cluster, on_reset, final_status):
    exe = mm.train(toy(epochs=8, sleep=1.0), service=on_dask(cluster, on_reset=on_reset))
    row = wait_for(lambda: (r := store.get("executions", exe["id"]))["kernel_pid"] and r["progress"] > 0 and r,
                    timeout=180)
    worker_pid = cluster[1].run(os.getpid, workers=[row["worker"]])[row["worker"]]
    os.kill(worker_pid, signal.SIGKILL)
    wait_for(lambda: (r := store.get("executions", exe["id"]))["attempts"] > 1 or r["status"] != "in-progress",
              timeout=60)
    wait_for(lambda: not pid_alive(row["kernel_pid"]) and not pid_alive(row["runner_pid"]), timeout=30)
    final = mm.wait_for(exe["id"], timeout=240)
    assert final["status"] == final_status, final["error"]
    history = statuses(store, exe["id"])
    if on_reset == "fail":
        assert history == ["pending", "in-progress", "aborted"]
        assert "dask worker" in final["error"] and "lost" in final["error"]
    else:
        assert history == ["pending", "in-progress", "rerun", "in-progress", "success"] and final["attempts"] == 2
        assert any("dask worker" in e["message"] and "lost" in e["message"] for e in events(store, exe["id"]))
    cluster[1].wait_for_workers(2, timeout=120)  # the nanny brings the worker back for the next test


SUPERVISOR = """
import os, subprocess, sys, time
cmd = sys.argv[1:]
subprocess.Popen(cmd, env={**os.environ, "MM_SUPERVISOR_PID": str(os.getpid())}, start_new_session=True)
time.sleep(600)
"""


def test_real_yolo_training_and_evaluation_on_the_gpu_worker(store, tmp_path, cluster):
    """The demo's path on Dask: ultralytics trains and our COCO evaluation runs on the worker that
    declares a GPU (a label here: the CPU does the work), metrics and weights land in the store."""
    from mm_jupyter.datasets import register_dataset
    from mm_jupyter.shapes import generate_shapes

    data = generate_shapes(tmp_path / "shapes", flavour="detect", n_train=16, n_val=8, n_test=8, size=96)
    register_dataset(store, data, name="shapes")
    mm.register_model("det", "yolo")
    snap = mm.create_snapshot("det", config={"epochs": 2, "batch": 8}, dataset="shapes")
    trained = mm.wait_for(mm.train(snap["id"], service=on_dask(cluster, gpus=1))["id"], timeout=300)
    assert trained["status"] == "success", trained["error"]
    assert trained["worker"] == gpu_worker(cluster[1])
    assert [p["epoch"] for p in mm.get_metrics(trained["id"]) if p["name"] == "mAP50-95"] == [1, 2]
    assert (Path(store.get("snapshots", snap["id"])["weights_uri"]) / "model.pt").is_file()
    ev = mm.wait_for(mm.evaluate(snap["id"], service=on_dask(cluster, gpus=1))["id"], timeout=300)
    assert ev["status"] == "success", ev["error"]
    assert ev["worker"] == gpu_worker(cluster[1]) and "mAP50-95" in {m["name"] for m in mm.get_metrics(ev["id"])}


def test_runner_ends_itself_when_the_worker_running_it_dies(store, toy, monkeypatch):
    """The backstop when Dask cannot re-run the task elsewhere: the runner sees its worker (parent)
    process die, kills its kernel and applies on_reset to its attempt."""
    from support.helpers import RecordingRunner

    from mm_jupyter import scheduler

    monkeypatch.setattr(scheduler, "runner_for", lambda address: RecordingRunner())  # claimed, started below
    exe = mm.train(toy(epochs=300, sleep=0.5))
    claimed = store.get("executions", exe["id"])
    worker = subprocess.Popen([sys.executable, "-c", SUPERVISOR, *attempt_command(claimed["id"], claimed["attempts"])],
                              cwd=store.home, start_new_session=True)
    row = wait_for(lambda: (r := store.get("executions", exe["id"]))["kernel_pid"] and r["progress"] > 0 and r,
                    timeout=120)
    worker.kill()
    worker.wait(timeout=30)
    final = mm.wait_for(exe["id"], timeout=60)
    assert final["status"] == "aborted" and final["error"].startswith("dask worker lost")
    wait_for(lambda: not pid_alive(row["kernel_pid"]) and not pid_alive(row["runner_pid"]), timeout=30)


def test_worker_side_store_checks(tmp_path, store):
    store_id = store.store_id
    assert probe_store(str(store.home), store_id) is None
    assert "no store at" in probe_store(str(tmp_path / "elsewhere"), store_id)
    assert "different store" in probe_store(str(store.home), "not-this-one")


def test_mm_cluster_up_serves_a_scheduler_until_interrupted(tmp_path, store):
    proc = subprocess.Popen([sys.executable, "-m", "mm_jupyter.cli", "cluster", "up", "--workers", "1", "--port", "0",
                             "--gpu-workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        address = proc.stdout.readline().strip()
        assert address.startswith("dask://127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else address
        info = dask_runner.cluster_info(address, store, refresh=True)
        assert info["error"] is None and [w["resources"] for w in info["workers"].values()] == [{"GPU": 1}]
        svc = {"runner": address, "gpus": 1, "kernel_name": "python3"}
        assert dask_runner.problem(store, svc) is None
        assert "declares GPU=2" in dask_runner.problem(store, {**svc, "gpus": 2}).reason
        dask_runner.close_clients()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        dask_runner.close_clients()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
