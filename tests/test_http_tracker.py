"""The worker side of remote runs against a real ``mm serve``: ``HttpTracker`` (spool, retries, a
server stopped mid-stream, a dead tracker's spool, zombies, oversized batches) and
``python -m mm_jupyter.remote_attempt`` training and evaluating the toy model on a worker whose
MM_HOME does not exist (and still does not afterwards)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.helpers import free_port, wait_for
from support.remote_util import Serve

import mm_jupyter as mm
from mm_jupyter.errors import InvalidInput
from mm_jupyter.executions import on_reset
from mm_jupyter.hashing import tree_hash
from mm_jupyter.http_tracker import HttpTracker, RunnerClient, Unreachable
from mm_jupyter.scheduler import dispatch
from mm_jupyter.tracker import AttemptEnded, take_token
from mm_jupyter.tracking_url import ATTEMPT_ENV, CACHE_ENV, EXECUTION_ENV, TOKEN_ENV, URL_ENV

REMOTE_HOST = "worker-elsewhere"  # a runner on another host: the server goes by its heartbeats


@pytest.fixture
def serve(home, store, tmp_path):
    server = Serve(home, tmp_path / "serve.log").start()
    yield server
    server.stop()


def claimed(store, exe: dict) -> tuple[dict, str]:
    """An execution claimed by the scheduler (its runner, a recorder, starts nothing): its row and
    the attempt's token (left in its folder, as for a runner process)."""
    row = store.get("executions", exe["id"])
    assert row["status"] == "in-progress", row["status"]
    return row, take_token(store.execution_dir(row))


def queued_training(store, toy, started, service: dict | None = None, **config) -> tuple[dict, str]:
    exe = mm.train(toy(**config), service=service)
    assert exe["id"] in started
    return claimed(store, exe)


def tracker_for(serve: Serve, exe: dict, token: str, spool: Path, **kwargs) -> HttpTracker:
    tracker = HttpTracker(serve.url, exe["id"], exe["attempts"], token, spool, **kwargs)
    assert tracker.started(runner_pid=12345, host=REMOTE_HOST)
    return tracker


def metric_count(store, exe_id: str, name: str | None = None) -> int:
    return store.count("metrics", execution_id=exe_id, **({"name": name} if name else {}))


def spooled(spool: Path) -> list[Path]:
    return sorted(spool.rglob("*.json")) if spool.exists() else []


def test_metrics_arrive_once_while_the_server_is_down_for_10_s(store, toy, started, serve, tmp_path):
    exe, token = queued_training(store, toy, started)
    spool = tmp_path / "spool"
    tracker = tracker_for(serve, exe, token, spool)
    sent, stop = [0], threading.Event()

    def log() -> None:
        while not stop.is_set():
            tracker.metric_points([("m", sent[0], None, float(sent[0]), time.time())])
            sent[0] += 1
            time.sleep(0.005)

    thread = threading.Thread(target=log)
    thread.start()
    wait_for(lambda: metric_count(store, exe["id"]) > 50, 30, "points arriving")
    serve.stop()
    down = time.monotonic()
    wait_for(lambda: len(spooled(spool)) >= 10, 30, "batches spooled while the server is down")
    beats = []
    while time.monotonic() - down < 10:
        beats.append(tracker.heartbeat())  # unreachable: still alive (the server's clock decides)
        time.sleep(1)
    assert all(beats) and spooled(spool)
    at_restart = metric_count(store, exe["id"])
    serve.start()  # the same port
    time.sleep(1)
    stop.set()
    thread.join()
    assert tracker.drain(60)
    assert not spooled(spool)
    total = sent[0]
    assert metric_count(store, exe["id"]) == total > at_restart
    steps = store.query("SELECT count(DISTINCT step) AS n FROM metrics WHERE execution_id = ?", [exe["id"]])
    assert steps[0]["n"] == total  # nothing lost, nothing twice
    assert tracker.heartbeat()
    tracker.close()
    assert not spool.exists() or not any(spool.iterdir())


def test_a_batch_whose_answer_was_lost_is_sent_again_and_stored_once(store, toy, started, serve, tmp_path):
    exe, token = queued_training(store, toy, started)
    tracker = tracker_for(serve, exe, token, tmp_path / "spool")
    real, lost = tracker.client.call, []

    def answer_lost_once(method, route, payload=None, **kw):
        reply = real(method, route, payload, **kw)
        if route == "/batch" and not lost:
            lost.append(json.loads(kw["raw"])["batch_id"])  # spooled bytes are posted as they are
            raise Unreachable("the answer was lost")
        return reply

    tracker.client.call = answer_lost_once
    tracker.metric_points([("m", i, None, float(i), time.time()) for i in range(100)])
    assert tracker.drain(30)
    assert lost and metric_count(store, exe["id"]) == 100
    assert store.count("runner_batches", execution_id=exe["id"], batch_id=lost[0]) == 1
    # the same batch posted by hand again: a duplicate, nothing stored
    client = RunnerClient(serve.url, exe["id"], exe["attempts"], token)
    batch = {"batch_id": lost[0], "sent_at": time.time(), "metrics": [["m", 1, None, 1.0, time.time()]]}
    assert client.call("POST", "/batch", batch) == {"ok": True, "duplicate": True}
    assert metric_count(store, exe["id"]) == 100
    tracker.close()


KILLED_TRACKER = """
import os, sys, time
from mm_jupyter.http_tracker import HttpTracker
url, exe, attempt, token, spool, n = sys.argv[1:]
tracker = HttpTracker(url, exe, int(attempt), token, spool)
tracker.metric_points([("m", i, None, float(i), time.time()) for i in range(int(n))])
tracker.event("from the killed tracker")
tracker.spool_now()
print("spooled", flush=True)
time.sleep(60)
"""


def test_a_killed_trackers_spool_is_sent_by_the_next_tracker(store, toy, started, serve, tmp_path):
    exe, token = queued_training(store, toy, started)
    spool = tmp_path / "spool"
    dead_url = f"http://127.0.0.1:{free_port()}"  # nothing answers there: everything stays spooled
    proc = subprocess.Popen([sys.executable, "-c", KILLED_TRACKER, dead_url, exe["id"], str(exe["attempts"]), token,
                             str(spool), "12000"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "spooled"
    assert len(spooled(spool)) >= 3  # 5,000 points a batch at most
    proc.kill()
    proc.wait()
    assert metric_count(store, exe["id"]) == 0
    tracker = tracker_for(serve, exe, token, spool)  # the same attempt: it sends the dead one's spool first
    assert tracker.drain(30)
    assert metric_count(store, exe["id"]) == 12000
    assert store.count("events", execution_id=exe["id"], message="from the killed tracker") == 1
    assert not spooled(spool)
    tracker.close()
    assert not spool.exists() or not any(spool.iterdir())


def test_a_zombie_or_a_forged_token_ends_the_tracker(store, toy, started, serve, tmp_path, capsys):
    exe, token = queued_training(store, toy, started, service={"max_attempts": 2, "on_reset": "rerun"})
    tracker = tracker_for(serve, exe, token, tmp_path / "spool")
    tracker.metric_points([("m", 1, None, 1.0, time.time())])
    assert tracker.drain(30) and metric_count(store, exe["id"]) == 1
    # the attempt is lost (say, a partition) and retried: this tracker is a zombie now
    on_reset(store, exe["id"], "lost in a test", attempt=exe["attempts"])
    dispatch(store)
    assert store.get("executions", exe["id"])["attempts"] == exe["attempts"] + 1
    tracker.metric_points([("m", 2, None, 2.0, time.time())])
    assert tracker.drain(30)  # answered 409: nothing more to send
    assert isinstance(tracker.ended(), AttemptEnded)
    with pytest.raises(AttemptEnded, match="409"):
        tracker.metric_points([("m", 3, None, 3.0, time.time())])
    with pytest.raises(AttemptEnded):
        tracker.event("late")
    assert tracker.heartbeat() is False
    assert metric_count(store, exe["id"]) == 1  # the zombie's later points were never stored
    tracker.close()
    # a forged token: 401, ended at once
    forged = HttpTracker(serve.url, exe["id"], exe["attempts"] + 1, "not-a-token", tmp_path / "spool2")
    assert forged.heartbeat() is False
    with pytest.raises(AttemptEnded, match="401"):
        forged.metric_points([("m", 4, None, 4.0, time.time())])
    forged.close()


def test_an_oversized_batch_is_dropped_with_a_line_and_the_run_goes_on(store, toy, started, serve, tmp_path,
                                                                        capsys):
    exe, token = queued_training(store, toy, started)
    tracker = tracker_for(serve, exe, token, tmp_path / "spool", every=2.0)
    tracker.metric_points([("m", 0, None, 0.0, time.time())])
    assert tracker.drain(30)
    tracker.event("x" * (9 << 20))  # one event over the 8 MiB a batch may have
    assert tracker.drain(60)
    assert tracker.dropped == 1 and tracker.ended() is None
    err = capsys.readouterr().err
    assert "refused by the server (413" in err and "dropped, the run goes on" in err
    tracker.metric_points([("m", 1, None, 1.0, time.time())])
    tracker.progress(50)
    assert tracker.drain(30)
    assert metric_count(store, exe["id"]) == 2
    assert store.get("executions", exe["id"])["progress"] == 50
    assert not store.count("events", execution_id=exe["id"], level="info", type="log")
    tracker.close()


def test_bad_input_is_one_line(tmp_path):
    with pytest.raises(InvalidInput, match="tracking URL"):
        HttpTracker("ftp://nowhere", "e-1", 1, "t", tmp_path / "spool")
    client = RunnerClient(f"http://127.0.0.1:{free_port()}", "e-1", 1, "t", timeout=2)
    with pytest.raises(Unreachable, match="unreachable"):
        client.call("GET", "/state")


# --- the remote runner process ---------------------------------------------------------------------


def run_remote(serve: Serve, exe: dict, token: str, tmp_path: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    """``python -m mm_jupyter.remote_attempt`` as a worker runs it: its MM_HOME a folder that does not
    exist, its own cache."""
    env = {**os.environ, "MM_HOME": str(tmp_path / "worker-home"), CACHE_ENV: str(tmp_path / "worker-cache"),
           URL_ENV: serve.url, TOKEN_ENV: token, EXECUTION_ENV: exe["id"], ATTEMPT_ENV: str(exe["attempts"])}
    return subprocess.run([sys.executable, "-m", "mm_jupyter.remote_attempt"], env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_remote_attempt_trains_and_evaluates_the_toy_model_with_no_store_on_the_worker(store, toy, started, serve,
                                                                                       tmp_path):
    exe, token = queued_training(store, toy, started, epochs=3)
    done = run_remote(serve, exe, token, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    row = store.get("executions", exe["id"])
    assert row["status"] == "success", (row["error"], done.stderr[-3000:])
    assert row["host"]
    # metrics, once each
    names = {r["name"]: r["n"] for r in store.query(
        "SELECT name, count(*) AS n FROM metrics WHERE execution_id = ? GROUP BY name", [exe["id"]])}
    assert names == {"loss": 3, "accuracy": 3, "train/loss": 3}
    # the weights: uploaded into the server's artifact root, hash recorded and checked
    snap = store.get("snapshots", exe["snapshot_id"])
    weights = store.snapshot_dir(snap["model_id"], snap["id"]) / "weights"
    assert snap["status"] == "trained" and Path(snap["weights_uri"]) == weights
    assert (weights / "toy.json").is_file() and snap["weights_hash"] == tree_hash(weights)
    # the notebook and the log, on the server's side
    folder = store.execution_dir(row)
    assert Path(row["notebook_uri"]) == folder / "notebook.ipynb"
    notebook = json.loads((folder / "notebook.ipynb").read_text())
    text = json.dumps(notebook)
    assert "epoch 3/3" in text and token not in text
    log = (folder / "log.txt").read_text()
    assert "(remote, reporting to" in log and "ended: success" in log and token not in log
    assert not (folder / "spec.json").exists()
    # the items were staged by content hash, keeping their extension
    blobs = list((tmp_path / "worker-cache" / "blobs").rglob("*.*"))
    assert blobs and all(p.suffix == ".png" for p in blobs)
    assert not (tmp_path / "worker-home").exists()  # nothing written to any MM_HOME on the worker
    assert not spooled(tmp_path / "worker-cache" / "spool")  # every batch answered, no spool left
    assert not any((tmp_path / "worker-cache" / "runs").iterdir()), "the run folder goes once all is uploaded"

    ev = mm.evaluate(snap["id"])
    assert ev["id"] in started
    ev, ev_token = claimed(store, ev)
    done = run_remote(serve, ev, ev_token, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    row = store.get("executions", ev["id"])
    assert row["status"] == "success", (row["error"], done.stderr[-3000:])
    values = {r["name"]: r["value"] for r in store.find("metrics", execution_id=ev["id"])}
    assert values["accuracy"] == 1.0
    folder = store.execution_dir(row)
    for name in ("notebook.ipynb", "log.txt", "results.json", "predictions.jsonl"):
        assert (folder / name).is_file(), name
    results = json.loads((folder / "results.json").read_text())
    assert results["weights_hash"] == snap["weights_hash"]
    assert "loaded weights from" in (folder / "log.txt").read_text() or "loaded weights" in json.dumps(
        json.loads((folder / "notebook.ipynb").read_text()))
    assert not (tmp_path / "worker-home").exists()
    # a spent token: the runner process refuses to run the ended attempt again
    again = run_remote(serve, ev, ev_token, tmp_path, timeout=60)
    assert store.get("executions", ev["id"])["status"] == "success"
    assert metric_count(store, ev["id"]) == len(values)
    assert again.returncode == 0 and "not run" in again.stderr and "success" in again.stderr


def test_an_abort_reaches_a_remote_run_through_its_heartbeat(store, toy, started, serve, tmp_path):
    exe, token = queued_training(store, toy, started, epochs=200, sleep=0.2)
    env = {**os.environ, "MM_HOME": str(tmp_path / "worker-home"), CACHE_ENV: str(tmp_path / "worker-cache"),
           URL_ENV: serve.url, TOKEN_ENV: token, EXECUTION_ENV: exe["id"], ATTEMPT_ENV: str(exe["attempts"])}
    proc = subprocess.Popen([sys.executable, "-m", "mm_jupyter.remote_attempt"], env=env, stderr=subprocess.PIPE,
                            text=True)
    try:
        wait_for(lambda: metric_count(store, exe["id"], "loss") >= 3, 120, "the remote run logging")
        mm.abort(exe["id"])  # the server's store only: the worker hears it through its heartbeat
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    row = store.get("executions", exe["id"])
    assert row["status"] == "terminated" and proc.returncode == 0
    at_end = metric_count(store, exe["id"])
    time.sleep(1)
    assert metric_count(store, exe["id"]) == at_end < 3 * 200
    # the attempt ended: the server takes no more of its files (one line each says so)
    err = proc.stderr.read()
    assert "uploading log.txt failed" in err and "409" in err, err[-2000:]
    assert not (tmp_path / "worker-home").exists()


def test_remote_attempt_needs_its_environment():
    done = subprocess.run([sys.executable, "-m", "mm_jupyter.remote_attempt"], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if not k.startswith("MM_")}, timeout=60)
    assert done.returncode != 0
    assert "MM_TRACKING_URL" in done.stderr and len(done.stderr.strip().splitlines()) == 1


CB_ADAPTER = '''
import json
from pathlib import Path

from mm_jupyter.adapter import BaseModelAdapter, Prediction

import rcbhelper


class RcbAdapter(BaseModelAdapter):
    task = "classify"
    configuration = {"epochs": 1}

    def __init__(self, config=None, labels=None):
        super().__init__(config, labels)
        self.value = 0

    def train(self, data, ctx):
        ctx.log_metric("codebase/value", rcbhelper.VALUE + self.value, step=1, epoch=1)
        self.value += rcbhelper.VALUE

    def save(self, local_path):
        Path(local_path, "cb.json").write_text(json.dumps({"value": self.value}))

    def load(self, local_path):
        self.value = json.loads(Path(local_path, "cb.json").read_text())["value"]

    def predict(self, batch):
        return [Prediction(item_id=item.id, label=(item.annotations or {}).get("label", 0)) for item in batch]
'''


def test_remote_attempt_runs_a_codebase_and_fine_tunes_from_staged_weights(store, toy, started, serve, tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "rcbadapter.py").write_text(CB_ADAPTER)
    (code / "rcbhelper.py").write_text("VALUE = 7\n")
    model = mm.register_model("rcb", "rcbadapter:RcbAdapter", codebase=str(code))
    (code / "rcbhelper.py").write_text("VALUE = 1000\n")  # edited after registration: the stored copy runs
    first = mm.train(mm.create_snapshot("rcb", dataset="toy-data")["id"])
    first, token = claimed(store, first)
    done = run_remote(serve, first, token, tmp_path)
    assert store.get("executions", first["id"])["status"] == "success", done.stderr[-3000:]
    staged = tmp_path / "worker-cache" / "codebases" / model["codebase"]["hash"]
    assert (staged / "rcbhelper.py").read_text() == "VALUE = 7\n"
    assert f"adapter code from the codebase {staged}" in json.dumps(json.loads(
        (store.execution_dir(first) / "notebook.ipynb").read_text()))
    # a fine-tuning of it loads the parent's weights from the worker's staged copy
    parent = store.get("snapshots", first["snapshot_id"])
    child = mm.train(mm.create_snapshot("rcb", dataset="toy-data", parent=parent["id"])["id"])
    child, token = claimed(store, child)
    done = run_remote(serve, child, token, tmp_path)
    assert store.get("executions", child["id"])["status"] == "success", done.stderr[-3000:]
    values = [m["value"] for m in store.find("metrics", execution_id=child["id"]) if m["name"] == "codebase/value"]
    assert values == [14.0]  # 7 from the parent's weights + 7
    assert (tmp_path / "worker-cache" / "weights" / parent["weights_hash"] / "cb.json").is_file()
    assert not (tmp_path / "worker-home").exists()
