"""The Dask runner on a real ``distributed.LocalCluster`` (2 worker processes on 127.0.0.1, one of
them declaring ``{"GPU": 1}``): runs, GPU placement, abort, a worker killed mid-run, ``mm cluster up``;
on a mixed cluster (workers in their own mount namespace that see no store, or a copy of it, at the
MM_HOME path) only the worker that proved it opens the live store gets runs; a start failure on a
worker ends its run at the next reconcile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.helpers import statuses, wait_for, wait_status

import mm_jupyter as mm
from mm_jupyter.processes import attempt_command, pid_alive
from mm_jupyter.queries.executions import events
from mm_jupyter.queries.health import service_health
from mm_jupyter.runners import dask as dask_runner
from mm_jupyter.store import Store, probe_store

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
    runs = [mm.train(toy(epochs=1), service=on_dask(cluster, gpus=1, concurrency=2)) for _ in range(2)]
    finals = [mm.wait_for(r["id"], timeout=240) for r in runs]
    assert [f["status"] for f in finals] == ["success", "success"], [f["error"] for f in finals]
    assert {f["worker"] for f in finals} == {gpu_worker(cluster[1])}
    too_many = mm.train(toy(epochs=1), service={"gpus": 2})
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


# --- only workers that proved they open the live store get runs ---------------------------------


def copy_of_store(store, dest: Path) -> Path:
    """A byte copy of the store's files (same store_id), made a standalone store by opening it once.
    The copy runs in a child process: closing a file descriptor of the live ``mm.db`` here would
    drop this process's SQLite locks (POSIX locks are per process), and a worker closing its last
    connection would then delete the WAL under this process's open connection."""
    dest.mkdir(parents=True)
    files = [str(store.home / name) for name in ("mm.db", "mm.db-wal") if (store.home / name).exists()]
    subprocess.run(["cp", *files, str(dest)], check=True, timeout=60)
    copy = Store(dest)
    assert copy.store_id == store.store_id
    copy.close()
    return dest


def namespaced_worker(scheduler: str, name: str, mm_home: Path, view: Path | None, log: Path) -> subprocess.Popen:
    """A worker process (1 thread); with ``view``, in its own mount namespace where the MM_HOME path
    shows ``view`` (bind-mounted over it) instead of the store."""
    worker = [sys.executable, "-m", "distributed.cli.dask_worker", scheduler, "--name", name, "--nthreads", "1",
              "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"]
    if view is not None:
        worker = ["unshare", "-m", "--propagation", "private", "sh", "-c", 'mount --bind "$1" "$2" && shift 2 && '
                  'exec "$@"', "sh", str(view), str(mm_home), *worker]
    with open(log, "ab") as out:
        return subprocess.Popen(worker, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def can_unshare_mounts() -> bool:
    try:
        return subprocess.run(["unshare", "-m", "--propagation", "private", "mount", "--bind", "/", "/mnt"],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def addresses_by_name(client) -> dict[str, str]:
    return {w["name"]: a for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}


def test_runs_land_only_on_a_worker_that_proved_it_opens_the_live_store(store, toy, tmp_path):
    """Workers that see no store, or a copy of it (same store_id), at the MM_HOME path: alone, the
    service is unhealthy (naming each and why) and runs wait pending; once a good worker joins,
    all 4 runs (concurrency 4, so Dask would spread them) succeed there and only there."""
    if not can_unshare_mounts():
        pytest.skip("needs unshare -m and mount --bind (root) to give a worker its own view of MM_HOME")
    snaps = [toy(epochs=1) for _ in range(4)]  # one training per version at a time
    copy = copy_of_store(store, tmp_path / "copy-home")
    empty = tmp_path / "empty-home"
    empty.mkdir()
    cluster = distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=None, host="127.0.0.1")
    client = distributed.Client(cluster, set_as_default=False)
    procs = [namespaced_worker(cluster.scheduler_address, "no-store", store.home, empty, tmp_path / "w1.log"),
             namespaced_worker(cluster.scheduler_address, "copy", store.home, copy, tmp_path / "w2.log")]
    try:
        client.wait_for_workers(2, timeout=120)
        named = addresses_by_name(client)
        home, store_id = str(store.home), store.store_id
        # what the previous check saw: the copy passes for the store (same store_id), the other has none
        seen = client.run(probe_store, home, store_id)
        assert seen[named["copy"]] is None and "no store at" in seen[named["no-store"]]
        service = {"runner": dask_runner.runner_address(cluster), "concurrency": 4}
        runs = [mm.train(snap, service=service) for snap in snaps]
        svc = store.get("services", runs[0]["service"])
        health = service_health(store, svc)
        assert health.level == "error" and health.code == "store-unreachable", health
        assert f"{named['no-store']}: no store at" in health.reason
        assert f"{named['copy']}: " in health.reason and "not the live store" in health.reason
        time.sleep(dask_runner.PROBE_TTL + 1)
        mm.reconcile()  # a fresh probe: still nobody proved it, nothing is submitted
        assert [store.get("executions", r["id"])["status"] for r in runs] == ["pending"] * 4
        assert not client.run_on_scheduler(scheduler_keys)
        assert service_health(store, svc, wait=False).code == "store-unreachable"

        procs.append(namespaced_worker(cluster.scheduler_address, "good", store.home, None, tmp_path / "w3.log"))
        client.wait_for_workers(3, timeout=120)
        good = addresses_by_name(client)["good"]
        dask_runner.cluster_info(service["runner"], store, refresh=True)  # not the answer of 5 s ago
        assert service_health(store, store.get("services", svc["name"])).level == "ok"
        mm.reconcile()  # what any mm command or the server's timer does: start what waits
        finals = [mm.wait_for(r["id"], timeout=240) for r in runs]
        assert [f["status"] for f in finals] == ["success"] * 4, [f["error"] for f in finals]
        assert {f["worker"] for f in finals} == {good}
        assert all(statuses(store, f["id"]) == ["pending", "in-progress", "success"] for f in finals)
        submitted = [e["message"] for f in finals for e in events(store, f["id"]) if e["type"] == "submitted"]
        assert len(submitted) == 4 and all(m.endswith(f"proved they open this store: {good}") for m in submitted)
    finally:
        dask_runner.close_clients()
        client.close()
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        cluster.close(timeout=30)


def test_probe_needs_the_value_just_written_and_refuses_network_filesystems(store, tmp_path):
    home, store_id = str(store.home), store.store_id
    dask_runner.write_probe_value(home)
    copy = str(copy_of_store(store, tmp_path / "copy"))  # a copy with an older probe value
    nonce = dask_runner.write_probe_value(home)
    assert dask_runner.store_problem(home, store_id, nonce) is None
    assert probe_store(copy, store_id) is None, "a copy has the same store_id"
    assert "not the live store" in dask_runner.store_problem(copy, store_id, nonce)
    assert "not the live store" in dask_runner.store_problem(home, store_id, "another-value")
    later = [dask_runner.write_probe_value(home) for _ in range(3)]  # concurrent probes keep each other's value
    assert all(dask_runner.store_problem(home, store_id, n) is None for n in [nonce, *later])
    mounts = ("/dev/vda / ext4 rw 0 0\n"
              "server:/export /srv/shared nfs4 rw,relatime 0 0\n"
              "host:/x /srv/my\\040data fuse.sshfs rw 0 0\n"
              "/dev/vdb /srv/shared/local ext4 rw 0 0\n")
    assert dask_runner.filesystem_type("/srv/shared/mmhome", mounts) == "nfs4"
    assert dask_runner.filesystem_type("/srv/shared/local/mmhome", mounts) == "ext4"
    assert dask_runner.filesystem_type("/srv/my data/mmhome", mounts) == "fuse.sshfs"
    assert dask_runner.filesystem_type("/srv/sharedx", mounts) == "ext4"
    reason = dask_runner.store_problem("/srv/shared/mmhome", store_id, nonce, mounts=mounts)
    assert "network filesystem (nfs4)" in reason and "SQLite over a network filesystem is not safe" in reason
    assert "network filesystem (fuse.sshfs)" in dask_runner.store_problem("/srv/my data/h", store_id, mounts=mounts)
    assert dask_runner.filesystem_type(home) not in dask_runner.NETWORK_FILESYSTEMS


# --- a start failure on a worker ends the run at the next reconcile -----------------------------

BREAK_POPEN = """
import mm_jupyter.runners.dask as d
d._saved = getattr(d, "_saved", (d.attempt_command, d.fail))
d.attempt_command = lambda execution_id, attempt: ["/nonexistent/python3", "-m", "mm_jupyter.attempt",
                                                   execution_id, str(attempt)]
"""
BREAK_STORE_WRITES = """
import mm_jupyter.runners.dask as d
from mm_jupyter.errors import StoreError

def fail(*args, **kwargs):
    raise StoreError("database is locked (test)")

d.fail = fail
"""
RESTORE = """
import mm_jupyter.runners.dask as d
if hasattr(d, "_saved"):
    d.attempt_command, d.fail = d._saved
    del d._saved
"""


def start_failure_events(client, execution_id: str) -> list[dict]:
    return [msg for _, msg in client.get_events(dask_runner.START_FAILURE_TOPIC)
            if msg.get("execution_id") == execution_id]


@pytest.mark.parametrize("store_writable", [True, False], ids=["worker-writes-the-store", "event-only"])
def test_worker_side_start_failure_ends_the_run_failed_at_once(store, toy, cluster, store_writable):
    """Popen fails on the worker (no such interpreter). The task reports it as a worker event and,
    when it can, writes it into the store; either way the run is ``failed`` with that reason after
    the next reconcile, in seconds rather than after the 600 s start timeout."""
    client = cluster[1]
    client.run(exec, BREAK_POPEN + ("" if store_writable else BREAK_STORE_WRITES), {})
    try:
        begun = time.monotonic()
        exe = mm.train(toy(epochs=1), service=on_dask(cluster))
        wait_for(lambda: start_failure_events(client, exe["id"]), timeout=60, what="the start-failure event")
        if store_writable:
            row = wait_status(store, exe["id"], ["failed"], timeout=30)
        else:
            row = store.get("executions", exe["id"])
            assert row["status"] == "in-progress" and row["runner_pid"] is None, "nobody could write it yet"
            assert exe["id"] in mm.reconcile()
            row = store.get("executions", exe["id"])
        assert time.monotonic() - begun < 60
        assert row["status"] == "failed" and row["outcome"] == "start-failure", row
        assert row["error"].startswith(f"cannot start runner on dask worker {row['worker']}")
        assert "No such file or directory" in row["error"] and "/nonexistent/python3" in row["error"]
        assert statuses(store, exe["id"]) == ["pending", "in-progress", "failed"]
        assert exe["id"] not in mm.reconcile(), "an event is applied once"
        assert store.get("executions", exe["id"])["status"] == "failed"
    finally:
        client.run(exec, RESTORE, {})
    after = mm.wait_for(mm.train(toy(epochs=1), service=on_dask(cluster))["id"], timeout=180)
    assert after["status"] == "success", after["error"]


def test_a_deployment_runs_on_a_dask_worker_answers_and_undeploys(store, toy, cluster, tmp_path):
    exe = mm.train(toy(epochs=1), wait=True)
    assert exe["status"] == "success", exe["error"]
    address = dask_runner.runner_address(cluster[0])
    dep = mm.deploy(exe["snapshot_id"], runner=address)
    assert dep["status"] == "running" and dep["runner"] == address and dep["address"].startswith("127.0.0.1:")
    image = str(tmp_path / "data" / "test" / "red" / "0.png")
    from mm_jupyter.serving import predict

    answer = predict(store, exe["snapshot_id"], [("red.png", Path(image).read_bytes())])
    assert answer["via"] == dep["id"] and answer["predictions"][0]["task"] == "classification"
    assert mm.version_page(exe["snapshot_id"])["status"] == "deployed"
    assert mm.undeploy(dep["id"])["status"] == "stopped"
    wait_for(lambda: not pid_alive(dep["pid"]), 30, "the worker's deployment process ends")
    assert mm.version_page(exe["snapshot_id"])["status"] == "trained"
