"""Workers that share nothing with the store: a Dask worker with another MM_HOME (and one in its own
mount namespace, an empty tmpfs over the store's folder) runs trainings and evaluations that report
through `mm serve`'s runner API with their attempt's token only. Live metrics, abort, a worker killed
mid-run, the runner API unreachable for 10 s mid-run (spooled: nothing lost, nothing twice), and
refusals of a tracking URL that does not answer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.helpers import counts, wait_for, wait_status
from support.remote_util import Cluster, Serve, can_unshare, site_without_mm_jupyter, wait_gone
from support.s3_util import s3_server

import mm_jupyter as mm
from mm_jupyter.artifact_root import ArtifactRoot, configure
from mm_jupyter.errors import InvalidInput, Unavailable
from mm_jupyter.hashing import tree_hash
from mm_jupyter.queries.health import service_health

pytest.importorskip("distributed")


@pytest.fixture
def remote(home, store, toy, tmp_path):
    """`mm serve` on the store and a Dask scheduler without workers (each test starts its own)."""
    serve = Serve(home, tmp_path / "serve.log").start()
    cluster = Cluster()
    try:
        yield serve, cluster
    finally:
        cluster.close()
        serve.stop()


def worker_env(tmp_path: Path, name: str) -> dict:
    """A worker's own MM_HOME (never created: it has no store) and cache."""
    return {"MM_HOME": str(tmp_path / f"{name}-home"), "MM_WORKER_CACHE": str(tmp_path / f"{name}-cache"),
            "MM_HEARTBEAT_INTERVAL": "0.5"}


def settings(serve: Serve, cluster: Cluster) -> dict:
    return {"runner": cluster.runner, "tracking_url": serve.url}


def metric_rows(store, exe_id: str) -> list[dict]:
    return store.query("SELECT name, step, value FROM metrics WHERE execution_id = ? ORDER BY name, step", [exe_id])


@pytest.mark.slow
def test_train_and_evaluate_on_a_worker_with_another_home(remote, store, toy, tmp_path):
    serve, cluster = remote
    env = worker_env(tmp_path, "w1")
    cluster.worker(env, tmp_path / "w1.log")
    snap = toy(epochs=6, sleep=0.4)
    exe = mm.train(snap, service=settings(serve, cluster))
    live = wait_for(lambda: (row := store.get("executions", exe["id"]))["status"] == "in-progress"
                    and metric_rows(store, exe["id"]) and row, 90, "metrics while it runs")
    assert live["progress"] < 100
    done = wait_status(store, exe["id"], "success", 120)
    assert done["runner"] == cluster.runner and done["attempts"] == 1
    rows = metric_rows(store, exe["id"])
    assert len(rows) == 6 * 3 and len({(r["name"], r["step"]) for r in rows}) == 18
    version = store.get("snapshots", snap)
    weights = Path(version["weights_uri"])
    assert version["status"] == "trained" and weights.is_relative_to(store.artifacts)
    assert tree_hash(weights) == version["weights_hash"]
    notebook = Path(done["notebook_uri"])
    assert notebook.is_file() and notebook.is_relative_to(store.artifacts)
    assert "epoch 6/6" in (notebook.parent / "log.txt").read_text()

    ev = mm.evaluate(snap, service=settings(serve, cluster))
    done = wait_status(store, ev["id"], "success", 120)
    folder = Path(done["notebook_uri"]).parent
    assert (folder / "results.json").is_file() and "accuracy" in (folder / "results.json").read_text()
    assert any(r["name"] == "accuracy" for r in metric_rows(store, ev["id"]))
    assert not Path(env["MM_HOME"]).exists(), "the worker wrote nothing into an MM_HOME of its own"


@pytest.mark.slow
def test_a_worker_in_its_own_mount_namespace_sees_no_store_and_still_runs(remote, store, home, toy, tmp_path):
    why = can_unshare()
    if why:
        pytest.skip(why)
    serve, cluster = remote
    env = {**worker_env(tmp_path, "ns"), "MM_HOME": str(home)}  # the same path, an empty tmpfs there
    cluster.worker(env, tmp_path / "ns.log", namespace_over=home)
    snap = toy(epochs=2)
    exe = mm.train(snap, service=settings(serve, cluster))
    wait_status(store, exe["id"], "success", 120)
    assert store.get("snapshots", snap)["status"] == "trained"
    ev = wait_status(store, mm.evaluate(snap, service=settings(serve, cluster))["id"], "success", 120)
    assert (Path(ev["notebook_uri"]).parent / "results.json").is_file()


@pytest.mark.slow
def test_abort_and_a_killed_worker_end_remote_runs(remote, store, toy, tmp_path):
    serve, cluster = remote
    worker = cluster.worker(worker_env(tmp_path, "w1"), tmp_path / "w1.log")
    exe = mm.train(toy(epochs=60, sleep=0.5), service=settings(serve, cluster))
    row = wait_for(lambda: (r := store.get("executions", exe["id"]))["kernel_pid"] and r["progress"] > 0 and r,
                   90, "the remote kernel running")
    mm.abort(exe["id"])
    wait_gone(row["kernel_pid"])
    assert store.get("executions", exe["id"])["status"] == "terminated"

    exe = mm.train(toy(epochs=60, sleep=0.5), service=settings(serve, cluster))
    row = wait_for(lambda: (r := store.get("executions", exe["id"]))["kernel_pid"] and r["progress"] > 0 and r,
                   90, "the second remote kernel running")
    os.killpg(worker.pid, signal.SIGKILL)  # the worker process only: its runner notices and ends the run
    ended = wait_status(store, exe["id"], "aborted", 90)  # on_reset "fail" (the default) of a lost runner
    assert "worker" in (ended["error"] or ""), ended["error"]
    wait_gone(row["kernel_pid"])


@pytest.mark.slow
def test_runner_api_unreachable_for_10_s_loses_and_duplicates_nothing(remote, store, toy, tmp_path):
    serve, cluster = remote
    cluster.worker(worker_env(tmp_path, "w1"), tmp_path / "w1.log")
    snap = toy(epochs=40, sleep=0.5)
    exe = mm.train(snap, service=settings(serve, cluster))
    wait_for(lambda: store.get("executions", exe["id"])["progress"] >= 10, 90, "10 % done")
    serve.stop()
    cut = time.monotonic()
    time.sleep(10)
    serve.start()
    done = wait_status(store, exe["id"], "success", 120)
    assert time.monotonic() - cut > 10 and done["attempts"] == 1
    rows = metric_rows(store, exe["id"])
    assert len(rows) == 40 * 3, "every point once: spooled while the API was away, never stored twice"
    assert len({(r["name"], r["step"]) for r in rows}) == 40 * 3
    assert store.get("snapshots", snap)["status"] == "trained"


@pytest.mark.slow
def test_a_remote_run_stores_its_artifacts_in_an_s3_root_through_the_server(home, store, toy, tmp_path):
    with s3_server(tmp_path / "s3") as s3:
        configure(store, s3.url("mm"))
        serve = Serve(home, tmp_path / "serve.log", env=s3.env).start()  # the server holds the credentials
        cluster = Cluster()
        try:  # the worker gets none of them: its files go through the server
            cluster.worker(worker_env(tmp_path, "w1"), tmp_path / "w1.log", drop=tuple(s3.env))
            snap = toy(epochs=2)
            done = wait_status(store, mm.train(snap, service=settings(serve, cluster))["id"], "success", 120)
            version = store.get("snapshots", snap)
            assert version["weights_uri"].startswith(s3.url("mm") + "/models/")
            assert done["notebook_uri"].startswith(s3.url("mm") + "/models/")
            root = ArtifactRoot(s3.url("mm"))
            assert root.tree_hash(root.key_of(version["weights_uri"])) == version["weights_hash"]
            folder = root.key_of(done["notebook_uri"]).rsplit("/", 1)[0]
            assert {"notebook.ipynb", "log.txt"} <= {k.rsplit("/", 1)[1] for k, _ in root.list(folder)}
            ev = wait_status(store, mm.evaluate(snap, service=settings(serve, cluster))["id"], "success", 120)
            results = root.key_of(ev["notebook_uri"]).rsplit("/", 1)[0] + "/results.json"
            assert version["weights_hash"] in root.read_bytes(results).decode()  # evaluated those very weights
            assert not any(store.artifacts.rglob("notebook.ipynb")), "nothing under the local artifact folder"
        finally:
            cluster.close()
            serve.stop()


@pytest.mark.slow
def test_a_worker_without_mm_jupyter_is_named_in_the_services_health(remote, store, toy, tmp_path):
    serve, cluster = remote
    site = site_without_mm_jupyter(tmp_path / "site")
    cluster.worker({**worker_env(tmp_path, "bare"), "PYTHONPATH": str(site)}, tmp_path / "bare.log",
                   python=[os.path.realpath(os.sys.executable), "-S"], cwd=tmp_path)
    snap = toy(epochs=1)
    exe = mm.train(snap, service=settings(serve, cluster))
    svc = store.get("services", exe["service"])
    health = service_health(store, svc)
    assert health.level == "error" and health.code == "tracking-unreachable", health
    assert "mm-jupyter is not installed on the worker" in health.reason
    assert store.get("executions", exe["id"])["status"] == "pending"  # it waits for a worker that can run it


def test_a_tracking_url_that_does_not_answer_is_refused_and_nothing_is_created(store, toy):
    snap = toy(epochs=1)
    before = counts(store)
    with pytest.raises(Unavailable, match=r"tracking URL http://127\.0\.0\.1:9 is unreachable"):
        mm.train(snap, service={"runner": "dask://127.0.0.1:1", "tracking_url": "http://127.0.0.1:9"})
    assert counts(store) == before
    with pytest.raises(InvalidInput, match="tracking_url needs a dask://host:port runner"):
        mm.train(snap, service={"tracking_url": "http://127.0.0.1:9"})
    with pytest.raises(InvalidInput, match="tracking URL must be http://host:port"):
        mm.train(snap, service={"runner": "dask://127.0.0.1:1", "tracking_url": "ftp://x"})
    assert counts(store) == before
    cli = subprocess.run([sys.executable, "-m", "mm_jupyter.cli", "train", snap, "--runner", "dask://127.0.0.1:1",
                          "--tracking-url", "http://127.0.0.1:9"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 4 and cli.stderr.count("\n") == 1 and "is unreachable" in cli.stderr, cli.stderr
    assert counts(store) == before
