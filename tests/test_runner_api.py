"""The runner API (``runner_api`` + ``server/runner_routes``): a real store, the real tornado app on a
loopback port (``mm serve``'s, in this process, so claimed attempts start nothing: the recording
runner), and one real ``mm serve`` process and one real Jupyter server. Attempts are claimed by the
scheduler as for any run; their tokens are the ones it handed over."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from support.helpers import socket_post, wait_for

import mm_jupyter as mm
from mm_jupyter import scheduler
from mm_jupyter.metric_columns import encode
from mm_jupyter.runner_api import Writer
from mm_jupyter.tracker import take_token

OPERATOR = "operator-secret-token"
BASE = "/mm-jupyter/runner/v1"


@pytest.fixture
def served(home, store, started):
    """The ``mm serve`` tornado app of this store on a loopback port (a thread of this process)."""
    from tornado.netutil import bind_sockets

    from mm_jupyter.serve import http_server, make_app

    app, api = make_app(home, OPERATOR)
    sockets = bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = http_server(app)
        server.add_sockets(sockets)
        loop.call_soon(ready.set)
        loop.run_forever()
        server.stop()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}", api=api, started=started, store=store, home=home)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    api.close()


class Attempt:
    """A claimed attempt as a remote runner holds it: its execution, number and token."""

    def __init__(self, served, exe_id: str, token: str | None = None, attempt: int | None = None):
        self.served, self.id = served, exe_id
        if token is not None:
            self.token, self.attempt = token, attempt or 1
            return
        exe = served.store.get("executions", exe_id)
        self.attempt, self.token = exe["attempts"], take_token(served.store.execution_dir(exe))
        assert self.token

    def url(self, path: str) -> str:
        return f"{self.served.url}{BASE}/attempts/{self.id}/{self.attempt}/{path}"

    def call(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token if token is None else token}", **kwargs.pop("headers", {})}
        return requests.request(method, self.url(path), headers=headers, timeout=30, **kwargs)

    def post(self, path: str, body: dict | None = None, **kwargs) -> requests.Response:
        return self.call("POST", path, json=body if body is not None else {}, **kwargs)

    def batch(self, **fields) -> requests.Response:
        body = {"batch_id": os.urandom(16).hex(), "sent_at": time.time(), "metrics": [], "events": [],
                "progress": None, "kernel_pid": None, "notebook": None, **fields}
        return self.post("batch", body)


def claimed(served, toy, concurrency: int = 4) -> Attempt:
    exe = mm.train(toy(epochs=1), service={"concurrency": concurrency})
    assert served.store.get("executions", exe["id"])["status"] == "in-progress"
    return Attempt(served, exe["id"])


def error(resp: requests.Response, status: int, text: str = "") -> str:
    assert resp.status_code == status, (resp.status_code, resp.text)
    message = resp.json()["error"]
    assert "\n" not in message and text in message, message
    return message


# --- who may ask --------------------------------------------------------------------------------------


def test_tokens_decide_who_may_ask(served, toy):
    one, two = claimed(served, toy), claimed(served, toy)
    ping = requests.get(f"{served.url}{BASE}/ping", timeout=10).json()
    assert ping["api"] == "mm-jupyter-runner" and ping["version"] == 1 and abs(ping["server_time"] - time.time()) < 5

    assert one.call("GET", "state").json() == {"status": "in-progress", "attempts": 1, "abort_requested": False}
    error(requests.get(one.url("state"), timeout=10), 401, "no attempt token")
    error(one.call("GET", "state", headers={"Authorization": f"token {one.token}"}), 401, "Bearer")
    error(one.call("GET", "state", token="forged-" + one.token[7:]), 401, "unknown attempt token")
    error(one.call("GET", "state", token=OPERATOR), 401, "operator token")
    error(one.call("POST", "heartbeat", token=OPERATOR, json={}), 401, "operator token")
    error(one.call("GET", "spec", token=two.token), 403, "another execution")
    error(one.post("batch", {"batch_id": "x1", "sent_at": time.time()}, token=two.token), 403)
    stranger = Attempt(served, "e-nosuchexec", token=one.token)
    error(stranger.call("GET", "state"), 404, "unknown execution")
    later = Attempt(served, one.id, token=one.token, attempt=2)
    error(later.call("GET", "state"), 403, "attempt 1")
    assert served.store.count("metrics") == 0 and served.store.count("runner_batches") == 0


def test_the_operator_route_takes_only_the_operator_token(served, toy):
    one = claimed(served, toy)
    status = f"{served.url}/mm-jupyter/serve/v1/status"
    assert requests.get(status, timeout=10).status_code == 401
    assert requests.get(status, headers={"Authorization": f"Bearer {one.token}"}, timeout=10).status_code == 401
    running = requests.get(status, headers={"Authorization": f"Bearer {OPERATOR}"}, timeout=10).json()["running"]
    assert [(r["id"], r["attempts"]) for r in running] == [(one.id, 1)]


def test_a_zombie_gets_409_after_a_retry_and_an_abort_shows_in_the_heartbeat(served, toy):
    first = claimed(served, toy)
    assert first.post("started", {"runner_pid": 4242, "host": "worker-1"}).json() == {"ok": True}
    assert first.post("outcome", {"outcome": "exception", "error": "boom"}).json() == {"status": "rerun"}
    wait_for(lambda: served.started.count(first.id) == 2, 10, "the retry claimed and started")
    second = Attempt(served, first.id)
    assert second.attempt == 2

    error(first.batch(metrics=[["loss", 1, 0, 0.5, time.time()]]), 409, "attempt 2")
    error(first.post("heartbeat"), 409)
    error(first.post("outcome", {"outcome": "success"}), 409)
    error(first.call("GET", "spec"), 409)
    assert first.post("started", {"runner_pid": 1, "host": "late"}).json() == {"ok": False}
    assert second.batch(metrics=[["loss", 1, 0, 0.5, time.time()]]).json() == {"ok": True, "duplicate": False}
    assert second.post("heartbeat").json()["alive"] is True

    mm.abort(first.id)
    beat = second.post("heartbeat").json()
    assert beat["alive"] is False and beat["abort"] is True and beat["status"] == "terminated"
    error(second.batch(progress=50.0), 409, "terminated")
    assert second.post("outcome", {"outcome": "terminated"}).json() == {"status": "terminated"}
    assert served.store.count("metrics", execution_id=first.id) == 1


# --- batches ------------------------------------------------------------------------------------------


def test_a_batch_is_written_once_on_the_servers_clock(served, toy):
    run = claimed(served, toy)
    skew = -1000.0  # the worker's clock is 1000 s behind
    sent_at = time.time() + skew
    body = {"batch_id": "b" * 32, "sent_at": sent_at, "progress": 42.0, "kernel_pid": 999, "notebook": "notebook.ipynb",
            "metrics": [["loss", 1, 0, 0.9, sent_at - 2.0], ["loss", 2, 0, 0.7, sent_at - 1.0], ["acc", 2, 0, None, None]],
            "events": [["epoch 1 done", "info", "log"], ["careful", "warning", "log"]]}
    before = time.time()
    assert run.post("batch", body).json() == {"ok": True, "duplicate": False}
    assert run.post("batch", body).json() == {"ok": True, "duplicate": True}  # a retry stores nothing
    after = time.time()
    points = served.store.find("metrics", execution_id=run.id, order="id")
    assert [(p["name"], p["step"], p["value"], p["attempt"]) for p in points] == \
        [("loss", 1, 0.9, 1), ("loss", 2, 0.7, 1), ("acc", 2, None, 1)]
    assert before - 2.5 <= points[0]["ts"] <= after - 1.5 and before - 1.5 <= points[1]["ts"] <= after - 0.5
    assert before <= points[2]["ts"] <= after
    logs = [e["message"] for e in served.store.find("events", execution_id=run.id, type="log", order="id")]
    assert logs == ["epoch 1 done", "careful"]
    exe = served.store.get("executions", run.id)
    assert exe["progress"] == 42.0 and exe["kernel_pid"] == 999
    assert exe["notebook_uri"] == str(served.store.execution_dir(exe) / "notebook.ipynb")
    assert served.store.count("runner_batches", execution_id=run.id) == 1

    served.store.update("executions", run.id, heartbeat_at=1.0)
    before = time.time()
    beat = run.post("heartbeat").json()
    assert beat["alive"] is True and beat["abort"] is False and beat["status"] == "in-progress"
    assert before <= served.store.get("executions", run.id)["heartbeat_at"] <= time.time()


def raw_post(url: str, path: str, headers: str, chunks: list[bytes] = ()) -> tuple[int, dict]:
    """A POST written on the socket (the server may answer and close before the body is sent)."""
    return socket_post(url, path, headers, chunks)[:2]


def test_too_large_and_malformed_batches_are_refused_and_the_run_goes_on(served, toy):
    run = claimed(served, toy)
    path = f"{BASE}/attempts/{run.id}/1/batch"
    auth = f"Authorization: Bearer {run.token}\r\n"
    started = time.monotonic()
    status, body = raw_post(served.url, path, auth + f"Content-Length: {9 << 20}\r\n")
    assert status == 413 and "too large" in body["error"] and time.monotonic() - started < 5
    mib = b" " * (1 << 20)
    chunked = [b"%x\r\n" % len(mib) + mib + b"\r\n"] * 9 + [b"0\r\n\r\n"]
    status, body = raw_post(served.url, path, auth + "Transfer-Encoding: chunked\r\n", chunked)
    assert status == 413 and "at most 8 MiB" in body["error"]

    error(run.batch(metrics=[["loss", "one", 0, 0.5, 1.0]]), 400, "step must be an integer")
    error(run.batch(events=[["x", "loud", "log"]]), 400, "level")
    error(run.post("batch", {"batch_id": "c1"}), 400, "sent_at")
    error(run.call("POST", "batch", data=b'{"batch_id": "c2", "sent_at": NaN}'), 400, "NaN")
    error(run.batch(surprise=1), 400, "unknown field")
    error(run.batch(columns={**encode([("loss", 1, 0, 0.5, 1.0)]), "step": "AAAA"}), 400, "whole number")
    error(run.batch(metrics=[["loss", 1, 0, 2**70, 1.0]]), 400, "within 64 bits")
    assert served.store.count("metrics") == 0 and served.store.count("runner_batches") == 0
    assert run.batch(metrics=[["loss", 1, 0, 0.5, time.time()]]).json()["ok"] is True
    assert served.store.count("metrics", execution_id=run.id) == 1
    packed = encode([("loss", 2, None, float("nan"), time.time()), ("loss", 3, 0, float("inf"), time.time())])
    assert run.batch(columns=packed).json()["ok"] is True  # the values a local run would store, as it stores them
    values = served.store.query("SELECT step, epoch, value FROM metrics WHERE execution_id = ? AND step > 1 "
                                "ORDER BY step", [run.id])
    assert values == [{"step": 2, "epoch": None, "value": None}, {"step": 3, "epoch": 0, "value": float("inf")}]


def test_writes_are_committed_in_groups_and_a_failing_write_fails_only_its_caller(home, store):
    writer = Writer(home)
    gate = threading.Event()
    results: dict[str, object] = {}

    def hold(s):
        gate.wait(10)
        return "held"

    def call(name, fn):
        try:
            results[name] = writer.call(fn)
        except Exception as exc:
            results[name] = exc

    threads = [threading.Thread(target=call, args=("hold", hold))]
    threads[0].start()
    time.sleep(0.2)  # the writer is busy with `hold`: what follows queues up
    for i in range(20):
        threads.append(threading.Thread(target=call, args=(f"ok{i}", lambda s, i=i: s.set_meta(f"k{i}", str(i)))))
    threads.append(threading.Thread(target=call, args=("bad", lambda s: (s.set_meta("bad", "x"), 1 / 0))))
    for t in threads[1:]:
        t.start()
    time.sleep(0.3)
    commits = writer.commits
    gate.set()
    for t in threads:
        t.join(10)
    writer.close()
    assert results["hold"] == "held" and isinstance(results["bad"], ZeroDivisionError)
    assert all(results[f"ok{i}"] is None for i in range(20))
    assert [store.meta(f"k{i}") for i in range(20)] == [str(i) for i in range(20)] and store.meta("bad") is None
    print(f"22 writes in {writer.commits - commits} transactions")
    assert writer.commits - commits <= 2, "the queued writes went in one group"


def test_concurrent_batches_of_many_runs_share_transactions(served, toy):
    runs = [claimed(served, toy, concurrency=8) for _ in range(8)]
    per_run, points = 25, 200
    commits = served.api.writer.commits

    def send(run: Attempt) -> None:
        with requests.Session() as session:
            for b in range(per_run):
                sent = time.time()
                metrics = [["loss", b * points + i, b, 1.0 / (i + 1), sent] for i in range(points)]
                resp = session.post(run.url("batch"), json={"batch_id": f"{b:032x}", "sent_at": sent, "metrics": metrics},
                                    headers={"Authorization": f"Bearer {run.token}"}, timeout=30)
                assert resp.json() == {"ok": True, "duplicate": False}, resp.text

    started = time.perf_counter()
    threads = [threading.Thread(target=send, args=(run,)) for run in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    seconds = time.perf_counter() - started
    batches = len(runs) * per_run
    used = served.api.writer.commits - commits
    print(f"{batches} batches ({batches * points} points) from {len(runs)} runs in {seconds:.2f} s: "
          f"{batches / seconds:.0f} batches/s, {used} transactions")
    assert served.store.count("metrics") == batches * points
    assert served.store.count("runner_batches") == batches
    assert used <= batches


# --- the outcome --------------------------------------------------------------------------------------


def test_an_outcome_sets_the_status_and_starts_the_next_queued_execution(served, toy):
    run = claimed(served, toy, concurrency=1)
    waiting = mm.train(toy(epochs=1))
    assert served.store.get("executions", waiting["id"])["status"] == "pending"
    assert run.post("outcome", {"outcome": "success"}).json() == {"status": "success"}
    assert served.store.get("executions", run.id)["status"] == "success"
    wait_for(lambda: waiting["id"] in served.started, 10, "the next queued execution dispatched")
    assert served.store.get("executions", waiting["id"])["status"] == "in-progress"
    error(run.post("outcome", {"outcome": "nonsense"}), 400, "unknown outcome")


def test_the_reconcile_timer_ends_a_run_whose_heartbeats_stopped_by_the_servers_clock(served, toy, monkeypatch):
    from mm_jupyter.serve import Reconciler

    run = claimed(served, toy)
    monkeypatch.setenv("MM_HEARTBEAT_STALE", "1.0")
    reconciler = Reconciler(served.api, interval=0.1)
    sent_at = time.time() + 3600  # the worker's clock is an hour ahead: it decides nothing
    assert run.batch(sent_at=sent_at, metrics=[["loss", 1, 0, 0.5, sent_at]]).json()["ok"]
    for _ in range(3):
        time.sleep(0.5)
        assert run.post("heartbeat").json()["alive"] is True
        asyncio.run(reconciler.round())
        assert served.store.get("executions", run.id)["status"] == "in-progress"
    time.sleep(1.3)  # no heartbeat for longer than the stale limit
    asyncio.run(reconciler.round())
    exe = served.store.get("executions", run.id)
    assert exe["status"] == "aborted" and "heartbeat stale" in exe["error"]
    assert served.store.first("metrics", execution_id=run.id)["ts"] <= time.time()
    beat = run.post("heartbeat").json()
    assert beat["alive"] is False and beat["status"] == "aborted"
    error(run.batch(progress=1.0), 409, "aborted")


def test_a_remote_run_rides_out_a_silence_shorter_than_its_own_stale_limit(served, toy, monkeypatch):
    from mm_jupyter import scheduler

    run = claimed(served, toy)
    exe = served.store.get("executions", run.id)
    served.store.update("services", exe["service"], tracking_url="http://127.0.0.1:9")  # its workers report
    monkeypatch.setenv("MM_HEARTBEAT_STALE", "0.5")
    monkeypatch.setenv("MM_REMOTE_HEARTBEAT_STALE", "2.0")
    monkeypatch.setattr(scheduler, "_UP_SINCE", time.time() + 1.0)  # as if this server had just started
    assert run.post("heartbeat").json()["alive"] is True
    time.sleep(1.5)  # past the local limit; the remote one counts from the server's start
    assert scheduler.reconcile(served.store) == [] and served.store.get("executions", run.id)["status"] == "in-progress"
    time.sleep(2.0)
    assert run.id in scheduler.reconcile(served.store)
    assert "heartbeat stale" in served.store.get("executions", run.id)["error"]


# --- spec, blobs, files, weights ------------------------------------------------------------------------


def test_the_spec_lists_the_items_by_hash_and_only_those_blobs_are_served(served, toy):
    run = claimed(served, toy)
    spec = run.call("GET", "spec").json()
    exe = served.store.get("executions", run.id)
    assert spec["execution"]["id"] == run.id and spec["snapshot"]["id"] == exe["snapshot_id"]
    assert "mm_home" not in spec["params"] and spec["params"]["attempt"] == 1
    assert set(spec["items"]) == {"train_selection", "validation_selection"}
    train = spec["items"]["train_selection"]
    dataset = served.store.get("datasets", exe["params"]["dataset_id"])
    assert train and all(not Path(i["path"]).is_absolute() for i in train)
    first = train[0]
    data = (Path(dataset["root"]) / first["path"]).read_bytes()
    assert first["sha256"] == hashlib.sha256(data).hexdigest() and first["size"] == len(data)
    assert spec["execution_key"] == f"models/{exe['model_id']}/snapshots/{exe['snapshot_id']}/executions/{run.id}"
    assert spec["weights_key"] == f"models/{exe['model_id']}/snapshots/{exe['snapshot_id']}/weights"
    assert spec["weights"] == {"key": None, "hash": None, "files": []} and spec["service"]["heartbeat_interval"] > 0

    blob = run.call("GET", f"blobs/{first['sha256']}")
    assert blob.status_code == 200 and blob.content == data
    assert run.call("GET", f"blobs/{first['sha256']}", headers={"Range": "bytes=3-"}).content == data[3:]
    error(run.call("GET", f"blobs/{'0' * 64}"), 403, "not an item")
    error(run.call("GET", "blobs/nothex"), 400, "sha256")


def test_files_put_resume_get_head_and_keys_outside_are_forbidden(served, toy):
    run = claimed(served, toy)
    spec = run.call("GET", "spec").json()
    key = f"{spec['execution_key']}/results/log.txt"
    data = os.urandom(300_000)
    part = run.call("PUT", f"files/{key}", data=data[:100_000],
                    headers={"Content-Range": f"bytes 0-99999/{len(data)}"})
    assert part.status_code == 200, part.text
    head = run.call("HEAD", f"files/{key}")
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == 100_000  # resume from here
    error(run.call("PUT", f"files/{key}", data=data[50_000:],
                   headers={"Content-Range": f"bytes 50000-299999/{len(data)}"}), 400, "resume at byte 100000")
    done = run.call("PUT", f"files/{key}", data=data[100_000:],
                    headers={"Content-Range": f"bytes 100000-299999/{len(data)}",
                             "X-Content-Sha256": hashlib.sha256(data).hexdigest()})
    assert done.json() == {"size": len(data), "complete": True}
    exe = served.store.get("executions", run.id)
    assert (served.store.execution_dir(exe) / "results" / "log.txt").read_bytes() == data
    assert run.call("GET", f"files/{key}").content == data
    tail = run.call("GET", f"files/{key}", headers={"Range": "bytes=250000-"})
    assert tail.status_code == 206 and tail.content == data[250_000:]
    assert tail.headers["Content-Range"] == f"bytes 250000-{len(data) - 1}/{len(data)}"
    assert int(run.call("HEAD", f"files/{key}").headers["Content-Length"]) == len(data)

    other = f"{spec['execution_key']}/notebook.ipynb"
    error(run.call("PUT", f"files/{other}", data=b"{}", headers={"X-Content-Sha256": "0" * 64}), 400, "discarded")
    assert run.call("HEAD", f"files/{other}").status_code == 404
    elsewhere = spec["execution_key"].rsplit("/", 1)[0] + "/e-someone-else/notebook.ipynb"
    error(run.call("PUT", f"files/{elsewhere}", data=b"x"), 403, "outside")
    error(run.call("GET", f"files/{elsewhere}"), 403, "outside")
    error(run.call("PUT", f"files/{spec['execution_key']}/a/%2E%2E/%2E%2E/x", data=b"x"), 400, "'..'")
    error(run.call("GET", "files/mm.db"), 403)
    error(run.call("PUT", f"files/{key}", data=b"x", token="forged"), 401)


def test_version_weights_are_checked_against_their_hash_and_recorded_once(served, toy):
    run = claimed(served, toy)
    spec = run.call("GET", "spec").json()
    weights_key = spec["weights_key"]
    files = {"model.bin": os.urandom(5000), "sub/config.json": b'{"a": 1}'}
    for name, content in files.items():
        assert run.call("PUT", f"files/{weights_key}/{name}", data=content).status_code == 200
    local = served.home / "check"
    for name, content in files.items():
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(content)
    from mm_jupyter.hashing import tree_hash

    digest = tree_hash(local)
    error(run.post("version", {"weights_key": weights_key, "weights_hash": "f" * 64, "status": "trained"}), 400,
          "not recorded")
    snap_id = served.store.get("executions", run.id)["snapshot_id"]
    assert served.store.get("snapshots", snap_id)["weights_uri"] is None
    error(run.post("version", {"weights_key": spec["execution_key"], "weights_hash": digest}), 403)
    reply = run.post("version", {"weights_key": weights_key, "weights_hash": digest, "status": "trained"}).json()
    snap = served.store.get("snapshots", snap_id)
    assert snap["weights_uri"] == reply["weights_uri"] == str(served.home / "artifacts" / weights_key)
    assert snap["weights_hash"] == digest and snap["status"] == "trained"
    error(run.post("version", {"weights_key": weights_key, "weights_hash": digest}), 409, "already has weights")
    error(run.call("PUT", f"files/{weights_key}/model.bin", data=b"changed"), 403, "already has weights")
    assert run.call("GET", f"files/{weights_key}/model.bin").content == files["model.bin"]

    # an evaluation of it reads those weights (listed in its spec, by key and hash) and writes none
    assert run.post("outcome", {"outcome": "success"}).json() == {"status": "success"}
    served.store.set_meta("artifact_root", f"file://{served.home / 'elsewhere'}")  # the root moved since
    evaluation = Attempt(served, mm.evaluate(snap_id)["id"])
    spec = evaluation.call("GET", "spec").json()
    assert spec["weights"]["hash"] == digest and "weights_key" not in spec
    assert spec["artifact_root"] == f"file://{served.home / 'elsewhere'}"
    listed = {f["key"]: f for f in spec["weights"]["files"]}
    assert set(listed) == {f"{weights_key}/model.bin", f"{weights_key}/sub/config.json"}
    for name, content in files.items():
        assert listed[f"{weights_key}/{name}"]["sha256"] == hashlib.sha256(content).hexdigest()
        assert evaluation.call("GET", f"files/{weights_key}/{name}").content == content  # kept on this machine
    error(evaluation.call("PUT", f"files/{weights_key}/extra.bin", data=b"x"), 403, "outside")
    error(evaluation.post("version", {"weights_key": weights_key, "weights_hash": digest}), 403)
    key = f"{spec['execution_key']}/big.bin"
    big = os.urandom(20 << 20)  # more than the server takes for any other body: streamed
    put = evaluation.call("PUT", f"files/{key}", data=big, headers={"X-Content-Sha256": hashlib.sha256(big).hexdigest()})
    assert put.json() == {"size": len(big), "complete": True}
    assert (served.home / "elsewhere" / key).read_bytes() == big


# --- the processes: mm serve and the Jupyter server ---------------------------------------------------


def test_mm_serve_prints_its_url_and_token_and_serves_the_runner_api(home, store, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MM_TOKEN"}
    proc = subprocess.Popen([sys.executable, "-m", "mm_jupyter.cli", "serve", "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        url = re.search(r"listening on (http://\S+)", lines[0]).group(1)
        token = re.search(r"operator token (\S+)", lines[1]).group(1)
        assert requests.get(f"{url}{BASE}/ping", timeout=10).json()["api"] == "mm-jupyter-runner"
        status = requests.get(f"{url}/mm-jupyter/serve/v1/status", headers={"Authorization": f"Bearer {token}"},
                              timeout=10)
        assert status.status_code == 200 and status.json()["running"] == []
        refused = requests.get(f"{url}{BASE}/attempts/e-x/1/state", headers={"Authorization": f"Bearer {token}"},
                               timeout=10)
        assert refused.status_code == 401 and "operator token" in refused.json()["error"]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "stopped" in out


def test_the_jupyter_server_serves_the_runner_api_without_jupyter_auth(home, tmp_path):
    from support.server_util import start_server

    server = start_server(tmp_path / "jupyter", home)
    try:
        ping = requests.get(f"{server.url}{BASE}/ping", timeout=10)
        assert ping.status_code == 200 and ping.json()["api"] == "mm-jupyter-runner"
        jupyter_token = {"Authorization": f"Bearer {server.token}"}
        refused = requests.post(f"{server.url}{BASE}/attempts/e-x/1/heartbeat", json={}, headers=jupyter_token,
                                timeout=10)
        assert refused.status_code == 401 and "unknown attempt token" in refused.json()["error"]
        refused = requests.post(f"{server.url}{BASE}/attempts/e-x/1/heartbeat", json={},
                                headers={"Authorization": f"token {server.token}"}, timeout=10)
        assert refused.status_code == 401
    finally:
        server.stop()


def test_claiming_writes_the_attempt_token_row(store, toy, started):
    exe = mm.train(toy(epochs=1))
    token = take_token(store.execution_dir(store.get("executions", exe["id"])))
    from mm_jupyter.tracker import token_hash

    row = store.attempt_for_token(token_hash(token))
    assert (row["execution_id"], row["attempt"]) == (exe["id"], 1)
    assert store.attempt_for_token(token_hash("forged")) is None
    assert scheduler.claim_queued(store) == []  # nothing more queued: no row without a claim
