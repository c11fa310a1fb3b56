"""The server extension's REST API and event stream, against a real ``jupyter server`` subprocess:
authentication and XSRF on every route, path traversal, bad bodies (400/404/409 with one-line JSON
messages, never a 500), listing with search/status/kind/paging/sort, and a toy training driven
end to end through the API while the stream reports it. Refused bodies (non-finite numbers, deep
nesting, over 1 MiB: refused before being read, the server's memory measured) leave the store as it
was; creating POSTs with one idempotency key, also concurrent, create once."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from support.helpers import free_port, make_imagefolder, socket_post, wait_for
from support.server_util import SUPPORT, Server, start_server

TOY = "toy_adapter:ToyAdapter"
ROUTES = [  # (method, path) of every route, with ids that need not exist
    ("GET", "meta"), ("GET", "models"), ("POST", "models"), ("GET", "models/m-x"), ("GET", "models/m-x/defaults"),
    ("GET", "snapshots"), ("POST", "snapshots"), ("GET", "snapshots/s-x"), ("DELETE", "snapshots/s-x"), ("GET", "datasets"),
    ("GET", "datasets/d-x"), ("POST", "datasets/d-x/count"), ("GET", "filters"), ("POST", "filters"),
    ("GET", "filters/f"), ("GET", "services"), ("GET", "services/mgmt-train-m-x"),
    ("POST", "services/mgmt-train-m-x/pause"), ("POST", "services/mgmt-train-m-x/resume"),
    ("GET", "executions"), ("GET", "executions/e-x"), ("DELETE", "executions/e-x"),
    ("POST", "executions/e-x/abort"), ("POST", "executions/e-x/rerun"), ("GET", "executions/e-x/metrics"),
    ("GET", "executions/e-x/logs"), ("GET", "executions/e-x/stream"), ("GET", "stream"), ("POST", "train"),
    ("POST", "evaluate"), ("GET", "compare"), ("GET", "artifacts/models"), ("GET", "no/such/route"),
    ("GET", "secrets"), ("PUT", "secrets/X"), ("DELETE", "secrets/X"),
]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A store with a toy dataset and model, and a jupyter server on it (shared by the module)."""
    from mm_jupyter import api
    from mm_jupyter.datasets import register_dataset
    from mm_jupyter.store import Store

    base = tmp_path_factory.mktemp("server")
    home = base / "mmhome"
    if str(SUPPORT) not in sys.path:
        sys.path.insert(0, str(SUPPORT))
    store = Store(home)
    register_dataset(store, make_imagefolder(base / "data"), name="toy-data")
    api.register_model("toy", TOY, store=store)
    server = start_server(base / "jupyter", home, env={"MM_HEARTBEAT_INTERVAL": "0.5"})
    try:
        yield server, store
    finally:
        server.stop()
        store.close()


@pytest.fixture
def server(env) -> Server:
    return env[0]


def ok(resp: requests.Response, status: int = 200) -> dict:
    assert resp.status_code == status, f"{resp.status_code}: {resp.text[:500]}"
    return resp.json()


def refused(resp: requests.Response, status: int, text: str = "") -> str:
    """Assert a JSON error with one-line message (containing ``text``) and no traceback."""
    assert resp.status_code == status, f"{resp.status_code}: {resp.text[:500]}"
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    message = body["message"]
    assert message and "\n" not in message and "Traceback" not in resp.text, body
    assert text.lower() in message.lower(), message
    return message


DIGEST_TABLES = ("models", "snapshots", "datasets", "filters", "services", "executions")


def digest(store) -> str:
    """A digest of the store's rows (what a refused request must leave as it was)."""
    rows: dict = {t: sorted(json.dumps(r, sort_keys=True, default=str) for r in store.find(t)) for t in DIGEST_TABLES}
    rows.update(events=store.count("events"), metrics=store.count("metrics"))
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def strict_json(text: str) -> object:
    """JSON as a browser reads it: ``NaN`` or ``Infinity`` anywhere is an error."""
    def refuse(name):
        raise ValueError(f"{name} in a response")

    return json.loads(text, parse_constant=refuse)


def concurrently(n: int, fn: Callable[[], requests.Response]) -> list[requests.Response]:
    """``fn()`` from ``n`` threads released at once."""
    barrier = threading.Barrier(n)

    def one(_):
        barrier.wait(10)
        return fn()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def created_once(answers: list[requests.Response]) -> dict:
    """One 201 and otherwise 200s, all answering the same row (returned)."""
    assert sorted(r.status_code for r in answers) == [200] * (len(answers) - 1) + [201], [
        (r.status_code, r.text[:200]) for r in answers]
    rows = [r.json() for r in answers]
    ids = {(row.get("execution") or row).get("id") or row.get("name") for row in rows}
    assert len(ids) == 1, ids
    return next(row for row, r in zip(rows, answers, strict=True) if r.status_code == 201)


def paused_model(server: Server, store, name: str) -> dict:
    """A toy model of its own whose services are paused: its executions stay pending (nothing runs)."""
    from mm_jupyter import api
    from mm_jupyter.scheduler import ensure_service

    model = api.register_model(name, TOY, store=store)
    for kind in ("train", "evaluate"):
        ensure_service(store, model["id"], kind)
        assert ok(server.call("POST", f"services/mgmt-{kind}-{model['id']}/pause"))["paused"] == 1
    return model


def wait_status(server: Server, exe_id: str, statuses: tuple[str, ...], timeout: float = 90) -> dict:
    def check():
        row = ok(server.call("GET", f"executions/{exe_id}"))
        return row if row["status"] in statuses else None

    return wait_for(check, timeout, f"{exe_id} to reach {statuses}")


class SSE:
    """Reads a server-sent event stream on a thread; ``events`` fills as they arrive."""

    def __init__(self, server: Server, path: str, **params):
        self.resp = requests.get(server.api(path), params=params, stream=True, timeout=(5, 60),
                                 headers={"Authorization": f"token {server.token}"})
        assert self.resp.status_code == 200, self.resp.text
        assert self.resp.headers["Content-Type"].startswith("text/event-stream")
        self.events: list[tuple[str, dict]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        name, data = "message", []
        try:
            for line in self.resp.iter_lines(decode_unicode=True):
                if line == "":
                    if data:
                        self.events.append((name, json.loads("\n".join(data))))
                    name, data = "message", []
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
        except (requests.RequestException, AttributeError, ValueError):
            pass

    def of(self, kind: str) -> list[dict]:
        return [d for n, d in list(self.events) if n == kind]

    def close(self) -> None:
        self.resp.close()


# --- authentication, authorization, XSRF ---------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_refuses_anonymous_and_wrong_tokens(server, method, path):
    refused(server.call(method, path, token=False, json={}), 403)
    refused(server.call(method, path, token=False, headers={"Authorization": "token nope"}, json={}), 403)


def test_cookie_authenticated_writes_need_the_xsrf_token(server):
    session = requests.Session()
    session.get(f"{server.url}/login", timeout=10)
    login = session.post(f"{server.url}/login", data={"password": server.token, "_xsrf": session.cookies["_xsrf"]},
                         allow_redirects=False, timeout=10)
    assert login.status_code in (302, 303), login.text[:300]
    assert ok(session.get(server.api("meta"), timeout=10))["kinds"] == ["train", "evaluate"]
    refused(session.post(server.api("train"), json={"snapshot": "s-x"}, timeout=10), 403, "xsrf")
    refused(session.delete(server.api("executions/e-x"), timeout=10), 403, "xsrf")
    xsrf = {"X-XSRFToken": session.cookies["_xsrf"]}
    refused(session.post(server.api("train"), json={"snapshot": "s-x"}, headers=xsrf, timeout=10), 404, "unknown snapshot")


# --- reads ---------------------------------------------------------------------------------------


def test_meta_models_datasets_filters_and_defaults(server):
    meta = ok(server.call("GET", "meta"))
    assert "python3" in meta["kernels"] and meta["service_defaults"]["execution_timeout"] == 3600
    assert meta["service_defaults"]["max_attempts"] == 3 and meta["service_defaults"]["drain_time"]["train"] == 300
    models = ok(server.call("GET", "models"))["items"]
    toy = next(m for m in models if m["name"] == "toy")
    detail = ok(server.call("GET", f"models/{toy['id']}"))
    fields = {f["name"]: f for f in detail["config_schema"]}
    assert {k: fields["epochs"][k] for k in ("name", "type", "default")} == {"name": "epochs", "type": "integer",
                                                                              "default": 3}
    assert fields["eval_steps"]["help"] and fields["eval_throttle_secs"]["low"] == 0, "every key, with help and bounds"
    assert fields["sleep"]["type"] == "number" and detail["task"] == "classify"

    datasets = ok(server.call("GET", "datasets"))["items"]
    ds = next(d for d in datasets if d["name"] == "toy-data")
    info = ok(server.call("GET", f"datasets/{ds['id']}"))
    assert {t["tag"]: t["count"] for t in info["tags"]} == {"train": 4, "validation": 4, "test": 4}
    assert {d["dir"] for d in info["dirs"]} >= {"train/red", "val/blue"}
    count = ok(server.call("POST", f"datasets/{ds['id']}/count", json={"selection": {"tag": "train"}}))
    assert count["count"] == 4 and count["filter"] == {"tags": "train"}
    assert ok(server.call("POST", f"datasets/{ds['id']}/count", json={"selection": "dir:val"}))["count"] == 4
    refused(server.call("POST", f"datasets/{ds['id']}/count", json={"selection": {"bogus": 1}}), 400, "subset")
    refused(server.call("POST", f"datasets/{ds['id']}/count", json={"selection": {"query": {"$bad": 1}}}), 400,
            "unknown operator")

    defaults = ok(server.call("GET", f"models/{toy['id']}/defaults"))
    assert defaults["dataset_id"] == ds["id"] and defaults["sources"]["train"] == "tagged items"
    assert defaults["subsets"]["train"] == {"tag": "train"} and defaults["config"]["epochs"] == 3
    saved = ok(server.call("POST", "filters", json={"name": "toy.train", "dataset": ds["id"],
                                                   "query": {"dir": "train/red"}}), 201)
    assert saved["dataset_id"] == ds["id"]
    refused(server.call("POST", "filters", json={"name": "toy.train", "query": {}}), 409, "already exists")
    refused(server.call("POST", "filters", json={"name": "bad name!", "query": {}}), 400, "filter name")
    defaults = ok(server.call("GET", f"models/{toy['id']}/defaults", params={"dataset": ds["id"]}))
    assert defaults["subsets"]["train"] == {"filter": "toy.train"} and defaults["sources"]["train"] == "predefined filter"
    assert [f["name"] for f in ok(server.call("GET", "filters", params={"dataset": ds["id"]}))["items"]] == ["toy.train"]
    assert ok(server.call("GET", "filters/toy.train"))["query"] == {"dir": "train/red"}
    refused(server.call("GET", "filters/nope"), 404, "unknown filter")
    refused(server.call("GET", "models/nope"), 404, "unknown model")
    refused(server.call("GET", "datasets/nope"), 404, "unknown dataset")
    refused(server.call("GET", "models/nope/defaults"), 404)


# --- a training through the API, watched on the stream --------------------------------------------


@pytest.mark.slow
def test_create_and_train_streams_status_progress_metrics_and_logs(env):
    server, store = env
    stream = SSE(server, "stream")
    key = f"test-{time.time_ns()}"
    body = {"create": {"model": "toy", "dataset": "toy-data", "train": {"tag": "train"},
                       "validation": "tag:validation", "config": {"epochs": 3, "sleep": 0.6}},
            "service": {"kernel_name": "python3", "concurrency": 1, "execution_timeout": 3600,
                        "drain_time": 300, "on_reset": "fail", "max_attempts": 3},
            "idempotency_key": key}
    launched = ok(server.call("POST", "train", json=body), 201)
    exe = launched["execution"]
    assert exe["status"] in ("pending", "in-progress") and launched["snapshot"]["config"]["epochs"] == 3
    n_snapshots = len(ok(server.call("GET", "snapshots", params={"model": "toy"}))["items"])
    again = ok(server.call("POST", "train", json=body))  # the same submission again: no new version
    assert again["execution"]["id"] == exe["id"] and not again["created"]
    assert len(ok(server.call("GET", "snapshots", params={"model": "toy"}))["items"]) == n_snapshots

    detail_stream = SSE(server, f"executions/{exe['id']}/stream", after=0)
    done = wait_status(server, exe["id"], ("success", "failed", "aborted"))
    assert done["status"] == "success", done["error"]
    wait_for(lambda: any(r["status"] == "success" for r in stream.of("execution") if r["id"] == exe["id"]),
             10, "the success event")
    rows = [r for r in stream.of("execution") if r["id"] == exe["id"]]
    seen = [r["status"] for r in rows]
    assert "in-progress" in seen and seen[-1] == "success", seen
    progress = [r["progress"] for r in rows if r["status"] == "in-progress"]
    assert any(0 < p < 100 for p in progress), progress
    wait_for(lambda: {p["name"] for m in detail_stream.of("metrics") for p in m["points"]} >= {"loss", "accuracy"},
             10, "metric events")
    streamed = [p for m in detail_stream.of("metrics") for p in m["points"]]
    assert [p["epoch"] for p in streamed if p["name"] == "loss"] == [1, 2, 3]
    wait_for(lambda: "epoch 3/3" in "".join(c["text"] for c in detail_stream.of("log")), 10, "log events")
    assert any(e["message"].startswith("status -> success") for e in detail_stream.of("event"))
    stream.close()
    detail_stream.close()

    metrics = ok(server.call("GET", f"executions/{exe['id']}/metrics"))
    assert {p["name"] for p in metrics["points"]} >= {"loss", "accuracy", "train/loss"}
    assert [p["id"] for p in metrics["points"]] == sorted(p["id"] for p in metrics["points"])
    last = metrics["last_id"]
    assert ok(server.call("GET", f"executions/{exe['id']}/metrics", params={"after": last}))["points"] == []
    some = ok(server.call("GET", f"executions/{exe['id']}/metrics", params={"after": 0, "limit": 2}))
    assert len(some["points"]) == 2 and some["has_more"]
    log = ok(server.call("GET", f"executions/{exe['id']}/logs"))
    assert "epoch 3/3" in log["text"] and log["next_offset"] == log["size"]
    assert ok(server.call("GET", f"executions/{exe['id']}/logs", params={"offset": log["size"]}))["text"] == ""

    detail = ok(server.call("GET", f"executions/{exe['id'][:6]}"))  # a unique prefix
    assert detail["id"] == exe["id"] and detail["can_rerun"] and not detail["can_abort"]
    notebook = ok(server.call("GET", f"artifacts/{detail['notebook_path']}"))
    assert notebook["type"] == "notebook" and notebook["writable"] is False
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in notebook["content"]["cells"])
    folder = ok(server.call("GET", "artifacts/" + detail["notebook_path"].rsplit("/", 1)[0]))
    assert {"notebook.ipynb", "log.txt"} <= {c["name"] for c in folder["content"]}

    refused(server.call("POST", f"executions/{exe['id']}/abort"), 409, "already ended")
    trained = ok(server.call("GET", f"snapshots/{exe['snapshot_id']}"))
    assert trained["trained"] and trained["status"] == "trained"
    evaluation = ok(server.call("POST", "evaluate", json={"snapshot": exe["snapshot_id"], "test": "tag:test"}), 201)
    assert wait_status(server, evaluation["execution"]["id"], ("success", "failed"))["status"] == "success"
    assert ok(server.call("DELETE", f"executions/{exe['id']}"))["removed"] == exe["id"]
    refused(server.call("GET", f"executions/{exe['id']}"), 404, "unknown execution")
    refused(server.call("GET", f"executions/{exe['id']}/metrics"), 404)


@pytest.mark.slow
def test_versions_made_by_another_face_reach_the_stream(env):
    """A version created or removed from Python (the CLI, another window) is announced on the global
    stream as ``catalog``, so the sidebar's Versions tab refreshes without a reload."""
    from mm_jupyter import api

    server, store = env
    stream = SSE(server, "stream")
    time.sleep(1.0)  # the stream's first tick
    before = len(stream.of("catalog"))
    snap = api.create_snapshot("toy", dataset="toy-data", store=store)
    wait_for(lambda: len(stream.of("catalog")) > before, 15, "a catalog event after a version was created")
    seen = len(stream.of("catalog"))
    api.remove_snapshot(snap["id"], store=store)
    wait_for(lambda: len(stream.of("catalog")) > seen, 15, "a catalog event after a version was removed")
    stream.close()


def test_wrong_state_actions_are_409_and_paused_services_warn(server):
    snap = ok(server.call("POST", "snapshots", json={"model": "toy", "dataset": "toy-data",
                                                    "config": {"epochs": 40, "sleep": 0.5}}), 201)
    exe = ok(server.call("POST", "train", json={"snapshot": snap["id"]}), 201)["execution"]
    wait_status(server, exe["id"], ("in-progress",), 60)
    refused(server.call("POST", f"executions/{exe['id']}/rerun"), 409, "only an ended execution can be rerun")
    refused(server.call("DELETE", f"executions/{exe['id']}"), 409, "abort it before removing it")
    aborted = ok(server.call("POST", f"executions/{exe['id']}/abort"))
    assert aborted["status"] == "terminated"
    refused(server.call("POST", f"executions/{exe['id']}/abort"), 409, "already ended")

    service = exe["service"]
    paused = ok(server.call("POST", f"services/{service}/pause"))
    assert paused["paused"] == 1 and paused["health"]["level"] == "warning"
    rerun = ok(server.call("POST", f"executions/{exe['id']}/rerun"), 201)
    time.sleep(1.5)
    assert ok(server.call("GET", f"executions/{rerun['id']}"))["status"] == "pending"
    listed = ok(server.call("GET", "executions", params={"status": "pending", "search": "toy"}))["items"]
    assert rerun["id"] in [r["id"] for r in listed]
    resumed = ok(server.call("POST", f"services/{service}/resume"))
    assert resumed["health"]["level"] == "ok"
    wait_status(server, rerun["id"], ("in-progress",), 60)
    assert ok(server.call("POST", f"executions/{rerun['id']}/abort"))["status"] == "terminated"
    refused(server.call("POST", "services/mgmt-train-nope/pause"), 404, "unknown service")


# --- listing -------------------------------------------------------------------------------------


def test_unreachable_dask_runner_shows_as_an_error_without_blocking(env):
    from mm_jupyter import api

    server, store = env
    address = f"dask://127.0.0.1:{free_port()}"
    api.register_model("toy-dask", TOY, store=store)  # its own services: the other tests keep theirs
    snap = ok(server.call("POST", "snapshots", json={"model": "toy-dask", "dataset": "toy-data",
                                                    "config": {"epochs": 1}}), 201)
    exe = ok(server.call("POST", "train", json={"snapshot": snap["id"], "service": {"runner": address}}), 201)["execution"]
    assert exe["status"] == "pending", "it waits for the scheduler instead of failing"

    def unhealthy():
        svc = ok(server.call("GET", f"services/{exe['service']}"))
        return svc["health"]["level"] == "error" and svc["health"]["reason"]

    assert wait_for(unhealthy, 30, "the error indication").startswith(f"runner {address} is unreachable")
    assert ok(server.call("POST", f"executions/{exe['id']}/abort"))["status"] == "terminated"


def test_listing_search_status_kind_paging_and_sort(env):
    server, store = env
    model = store.get("models", "toy")
    other = store.insert("models", {"name": "other-net", "adapter": "", "labels": [], "config": {}, "description": ""})
    rows = []
    for i in range(30):
        mdl = model if i % 3 else other
        kind = "train" if i % 2 else "evaluate"
        status = ("success", "failed", "terminated")[i % 3]
        rows.append({"id": f"e-list{i:06d}", "kind": kind, "snapshot_id": "s-none", "model_id": mdl["id"],
                     "service": f"mgmt-{kind}-{mdl['id']}", "status": status, "progress": float(i),
                     "attempts": 1, "created_at": 1000.0 + i, "started_at": 1000.0 + i,
                     "ended_at": 1000.0 + i + (30 - i), "params": {}, "name": f"listing-{i:02d} {kind}"})
    for row in rows:
        store.insert("executions", row)
    try:
        def ids(**params):
            page = ok(server.call("GET", "executions", params=params))
            return [r["id"] for r in page["items"]], page

        found, page = ids(search="other-net", limit=100)
        assert found == [r["id"] for r in reversed(rows) if r["model_id"] == other["id"]]
        assert all(r["model_name"] == "other-net" for r in page["items"])
        assert ids(search=other["id"][:6], limit=100)[0] == found  # a prefix of the model id
        assert ids(search=other["id"][2:8], limit=100)[0] == []  # the middle of an id is no prefix
        assert ids(search="e-list00001")[0] == [f"e-list{i:06d}" for i in range(19, 9, -1)]  # id prefix
        assert ids(search="E-LIST00002")[0][0] == "e-list000029"  # any case
        assert ids(search="ting-05 TRAIN")[0] == ["e-list000005"]  # a substring of the execution's name
        assert ids(search="other-net", status="failed", kind="train", limit=100)[0] == []
        assert ids(search="other-net", status="success", kind="evaluate", limit=100)[0] == [
            r["id"] for r in reversed(rows) if r["model_id"] == other["id"] and r["kind"] == "evaluate"]
        first, page = ids(search="e-list", limit=7)
        assert len(first) == 7 and page["has_more"] and first[0] == "e-list000029"
        second, _ = ids(search="e-list", limit=7, offset=7)
        assert second[0] == "e-list000022" and not set(first) & set(second)
        assert not ids(search="e-list", limit=7, offset=28)[1]["has_more"]
        assert ids(search="e-list", sort="name", order="asc", limit=3)[0] == [
            "e-list000000", "e-list000001", "e-list000002"]
        assert ids(search="e-list", sort="progress", order="desc", limit=2)[0] == ["e-list000029", "e-list000028"]
        by_duration, page = ids(search="e-list", sort="duration", order="asc", limit=2)
        assert by_duration == ["e-list000029", "e-list000028"] and page["items"][0]["duration"] == 1
        assert ids(search="100%_")[0] == []  # LIKE wildcards are literal
        for params, text in [({"status": "bogus"}, "unknown status"), ({"kind": "x"}, "unknown kind"),
                             ({"limit": "0"}, "limit"), ({"limit": "100000"}, "limit"), ({"limit": "x"}, "integer"),
                             ({"offset": "-1"}, "offset"), ({"sort": "params"}, "unknown sort"),
                             ({"order": "up"}, "asc or desc"), ({"search": "x" * 300}, "longer")]:
            refused(server.call("GET", "executions", params=params), 400, text)
    finally:
        with store.tx():
            store.conn.execute("DELETE FROM executions WHERE id LIKE 'e-list%'")
            store.conn.execute("DELETE FROM models WHERE id = ?", [other["id"]])


# --- paths ---------------------------------------------------------------------------------------


def raw_get(server: Server, path: str) -> tuple[int, dict]:
    """A GET whose path goes on the wire exactly as written (no client-side dot-segment removal)."""
    conn = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=10)
    try:
        conn.request("GET", f"/mm-jupyter/api/{path}", headers={"Authorization": f"token {server.token}"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def test_artifact_paths_stay_under_the_artifact_root(env, tmp_path):
    server, store = env
    store.artifacts.mkdir(parents=True, exist_ok=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    link = store.artifacts / "escape"
    if not link.exists():
        os.symlink(tmp_path, link)
    (store.artifacts / "inside.txt").write_text("fine")
    for path in ("../mm.db", "..%2fmm.db", "%2e%2e/%2e%2e/etc/passwd", "models/../../mm.db", "%2fetc%2fpasswd",
                 "/etc/passwd", "escape/secret.txt", "escape", "a%00b", "..\\mm.db"):
        status, body = raw_get(server, f"artifacts/{path}")
        assert status == 404, (path, status, body)
        assert str(store.home) not in body["message"], "never the absolute home path"
        assert "do not serve" not in json.dumps(body) and "\n" not in body["message"], body
    status, body = raw_get(server, "artifacts/inside.txt")
    assert status == 200 and body["content"] == "fine" and body["writable"] is False
    status, body = raw_get(server, "artifacts/")
    assert status == 200 and body["type"] == "directory"
    names = {c["name"] for c in body["content"]}
    assert "inside.txt" in names and "escape" not in names
    assert raw_get(server, "artifacts/nothing-here.ipynb")[0] == 404
    assert raw_get(server, "artifacts/inside.txt?content=2")[0] == 400


def test_long_and_odd_artifact_paths_are_404_without_the_home_path(env):
    server, store = env
    homes = {str(store.home), str(store.home.resolve()), str(store.artifacts), str(store.artifacts.resolve())}
    for path in ("a" * 300, "x/" * 150, "../" * 100, "models/" + "b" * 293, ("c" * 250 + "/") * 4,
                 "%2e%2e/" * 100, "a" * 1100, "escape/" * 43):
        status, body = raw_get(server, f"artifacts/{path}")
        assert status == 404, (path[:40], status, body)
        assert not any(h in json.dumps(body) for h in homes), body
        assert "\n" not in body["message"] and body["error"] == "NotFound", body


# --- bad bodies and never a 500 ------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body", "status", "text"), [
    ("POST", "train", "{bad json", 400, "not valid JSON"),
    ("POST", "train", "[1, 2]", 400, "must be a JSON object"),
    ("POST", "train", "{}", 400, "exactly one of"),
    ("POST", "train", '{"snapshot": "s-x", "create": {}}', 400, "exactly one of"),
    ("POST", "train", '{"snapshot": 5}', 400, "must be a string"),
    ("POST", "train", '{"snapshot": "s-x", "colour": 1}', 400, "unknown field"),
    ("POST", "train", '{"snapshot": "s-x", "service": {"colour": 1}}', 400, "unknown service setting"),
    ("POST", "train", '{"snapshot": "s-x", "service": {"paused": 1}}', 400, "pause"),
    ("POST", "train", '{"snapshot": "s-x", "service": {"concurrency": 0}}', 400, "positive integer"),
    ("POST", "train", '{"snapshot": "s-x", "service": {"execution_timeout": "1h"}}', 400, "seconds"),
    ("POST", "train", '{"snapshot": "s-x", "service": {"kernel_name": "nope"}}', 400, "not installed"),
    ("POST", "train", '{"snapshot": "s-x", "service": {"on_reset": "retry"}}', 400, "on_reset"),
    ("POST", "train", '{"snapshot": "s-x", "idempotency_key": "short"}', 400, "idempotency_key"),
    ("POST", "train", '{"snapshot": "s-x", "service": {"concurrency": 99999999999999999999}}', 400, "64 bits"),
    ("POST", "train", '{"snapshot": "s-x"} trailing', 400, "not valid JSON"),
    ("POST", "train", b'{"snapshot": "s-\xff"}', 400, "not UTF-8"),
    ("POST", "executions/e-nope/rerun", '{"idempotency_key": "short"}', 400, "idempotency_key"),
    ("POST", "snapshots", '{"model": "toy", "idempotency_key": 12345678}', 400, "must be a string"),
    ("POST", "models", '{"name": "x", "idempotency_key": "k"}', 400, "idempotency_key"),
    ("POST", "filters", '{"name": "f1", "query": {}, "idempotency_key": "' + "k" * 129 + '"}', 400, "idempotency_key"),
    ("DELETE", "snapshots/s-nope", None, 404, "unknown snapshot"),
    ("POST", "train", '{"snapshot": "s-nope"}', 404, "unknown snapshot"),
    ("POST", "train", '{"create": {"model": "toy", "config": {"epochs": "x"}}}', 400, "must be int"),
    ("POST", "train", '{"create": {"model": "toy", "config": {"nope": 1}}}', 400, "unknown config key"),
    ("POST", "train", '{"create": {"model": "toy", "dataset": "nope"}}', 404, "unknown dataset"),
    ("POST", "train", '{"create": {"model": "toy", "dataset": "toy-data", "train": "tag"}}', 400, "subset"),
    ("POST", "train", '{"create": {"model": "nope"}}', 404, "unknown model"),
    ("POST", "train", '{"create": {"model": "toy", "labels": [1]}}', 400, "list of strings"),
    ("POST", "evaluate", '{}', 400, "required"),
    ("POST", "evaluate", '{"snapshot": "s-nope"}', 404, "unknown snapshot"),
    ("POST", "models", '{"name": "toy", "adapter": "toy_adapter:ToyAdapter"}', 409, "already exists"),
    ("POST", "models", '{"name": "x", "adapter": "no.such:Thing"}', 400, "cannot load adapter"),
    ("POST", "models", '{"name": ""}', 400, "must not be empty"),
    ("POST", "snapshots", '{"model": "toy", "parent": "s-nope"}', 404, "unknown snapshot"),
    ("POST", "datasets/toy-data/count", '{"selection": {"tag": 5}}', 400, "non-empty string"),
    ("POST", "datasets/toy-data/count", '{"nope": 1}', 400, "selection"),
    ("POST", "executions/e-nope/rerun", '{"config": 5}', 400, "must be an object"),
    ("POST", "executions/e-nope/rerun", '{"config": {"epochs": 2}}', 404, "unknown execution"),
    ("POST", "filters", '{"name": "f1", "query": "{not json"}', 400, "not valid JSON"),
    ("PUT", "train", "{}", 405, "method not allowed"),
    ("GET", "nothing/here", None, 404, "unknown route"),
])
def test_bad_requests_get_json_errors(server, method, path, body, status, text):
    refused(server.call(method, path, data=body), status, text)


def test_evaluating_an_untrained_version_is_refused(server):
    snap = ok(server.call("POST", "snapshots", json={"model": "toy", "dataset": "toy-data"}), 201)
    refused(server.call("POST", "evaluate", json={"snapshot": snap["id"]}), 400, "train it before evaluating")
    refused(server.call("POST", "executions/e-nope/rerun", data="[1]"), 400, "must be a JSON object")


@pytest.mark.parametrize("ref", ["%00", "e-" + "x" * 3000, "%C3%A9%F0%9F%98%80", "%25", "%2e%2e", "e-%27%3B--"])
def test_odd_ids_never_cause_a_500(server, ref):
    for method, path in [("GET", f"executions/{ref}"), ("GET", f"executions/{ref}/metrics"),
                         ("GET", f"executions/{ref}/logs"), ("POST", f"executions/{ref}/abort"),
                         ("GET", f"models/{ref}"), ("GET", f"models/{ref}/defaults?dataset={ref}"),
                         ("GET", f"services/{ref}"), ("GET", f"filters/{ref}"), ("GET", f"snapshots/{ref}"),
                         ("GET", f"executions/{ref}/stream"), ("GET", f"executions?search={ref}")]:
        resp = server.call(method, path, timeout=10)
        assert resp.status_code < 500, (method, path, resp.status_code, resp.text[:300])
        if resp.status_code >= 400:
            refused(resp, resp.status_code)


# --- bodies that are refused whole: non-finite numbers, deep nesting, too large ------------------------


NON_FINITE = [
    ("snapshots", '{"model": "toy", "config": {"sleep": NaN}}'),
    ("snapshots", '{"model": "toy", "config": {"sleep": Infinity}}'),
    ("snapshots", '{"model": "toy", "config": {"sleep": -Infinity}}'),
    ("snapshots", '{"model": "toy", "config": {"sleep": 1e999}}'),
    ("snapshots", '{"model": "toy", "dataset": "toy-data", "train": {"query": {"metadata.x": NaN}}}'),
    ("models", '{"name": "nan-model", "config": {"x": NaN}}'),
    ("filters", '{"name": "nan-filter", "query": {"metadata.score": {"$gt": NaN}}}'),
    ("filters", '{"name": "nan-filter", "query": "{\\"metadata.score\\": {\\"$gt\\": Infinity}}"}'),
    ("train", '{"create": {"model": "toy", "dataset": "toy-data", "train": "query:{\\"metadata.x\\": NaN}"}}'),
    ("train", '{"create": {"model": "toy", "dataset": "toy-data", "test": "{\\"metadata.x\\": -Infinity}"}}'),
    ("train", '{"snapshot": "s-x", "service": {"execution_timeout": Infinity}}'),
    ("evaluate", '{"snapshot": "s-x", "test": {"query": {"metadata.x": NaN}}}'),
    ("executions/e-x/rerun", '{"config": {"sleep": NaN}}'),
    ("datasets/toy-data/count", '{"selection": {"query": {"metadata.x": -Infinity}}}'),
]


@pytest.mark.parametrize(("path", "body"), NON_FINITE)
def test_non_finite_numbers_are_refused_in_every_body(env, path, body):
    server, store = env
    before = digest(store)
    refused(server.call("POST", path, data=body), 400, "must be finite")
    assert digest(store) == before
    for listing in ("snapshots", "models", "filters", "executions", "services", "datasets"):
        resp = server.call("GET", listing)
        assert resp.status_code == 200 and strict_json(resp.text), listing


@pytest.mark.parametrize(("path", "body"), [
    ("train", "[" * 100_000 + "]" * 100_000),
    ("train", '{"a":' * 100_000 + "1" + "}" * 100_000),
    ("snapshots", '{"model": "toy", "config": {"x": ' + "[" * 70 + "]" * 70 + "}}"),
    ("filters", '{"name": "deep", "query": ' + '{"$and": [' * 40 + "{}" + "]}" * 40 + "}"),
    ("models", "[" * 65 + "]" * 65),
    ("executions/e-x/rerun", "{" * 200_000),  # not even valid: the depth is what is counted first
])
def test_deep_bodies_are_refused_without_recursing(env, path, body):
    server, store = env
    before = digest(store)
    start = time.monotonic()
    refused(server.call("POST", path, data=body), 400, "nested deeper than 64 levels")
    assert time.monotonic() - start < 5
    assert digest(store) == before


def test_nesting_is_counted_outside_strings_and_up_to_64_levels(server):
    refused(server.call("POST", "train", data="[" * 64 + "]" * 64), 400, "must be a JSON object")
    brackets = json.dumps({"snapshot": "[{" * 500})
    refused(server.call("POST", "train", data=brackets), 404, "unknown snapshot")
    escaped = json.dumps({"snapshot": '\\"[' * 500})
    refused(server.call("POST", "train", data=escaped), 404, "unknown snapshot")


def _rss_kib(pid: int, field: str) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


@contextlib.contextmanager
def peak_rss(pid: int) -> Iterator[dict]:
    """The server process's resident memory: ``start`` and, after the block, ``peak`` (KiB), from its
    high-water mark reset at the start (``clear_refs``) where allowed, and from samples every 2 ms."""
    out = {"start": _rss_kib(pid, "VmRSS")}
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
        hwm = True
    except OSError:
        hwm = False
    samples = [out["start"]]
    done = threading.Event()

    def sample():
        while not done.wait(0.002):
            samples.append(_rss_kib(pid, "VmRSS"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield out
    finally:
        done.set()
        sampler.join(5)
        out["peak"] = max([*samples, _rss_kib(pid, "VmHWM") if hwm else 0])


def raw_post(server: Server, path: str, headers: str, chunks: list[bytes] = ()) -> tuple[int, dict, float]:
    """``socket_post`` to the REST API with the server's token."""
    return socket_post(server.url, f"/mm-jupyter/api/{path}", f"Authorization: token {server.token}\r\n{headers}",
                       chunks)


def test_oversized_bodies_are_refused_before_they_are_read(env):
    """Over 1 MiB: 413 at once, whether the Content-Length says so (not one byte of the body read)
    or a chunked body passes the limit; the server's memory does not grow by the body's size."""
    server, store = env
    before = digest(store)
    mib = b" " * (1 << 20)
    with peak_rss(server.proc.pid) as rss:
        status, body, seconds = raw_post(server, "snapshots", "Content-Length: 400000000\r\n")
        assert status == 413 and seconds < 5, (status, body, seconds)
        assert body["message"] == "request body of 400000000 bytes is too large (at most 1 MiB)"
        status, body, seconds = raw_post(server, "train", f"Content-Length: {16 << 20}\r\n", [mib] * 16)
        assert status == 413 and seconds < 5 and "\n" not in body["message"], (status, body, seconds)
        chunked = [b"%x\r\n" % len(mib) + mib + b"\r\n"] * 16 + [b"0\r\n\r\n"]
        status, body, seconds = raw_post(server, "models", "Transfer-Encoding: chunked\r\n", chunked)
        assert status == 413 and seconds < 5, (status, body, seconds)
        assert body["message"] == "request body is too large (at most 1 MiB)" and body["error"] == "BodyTooLarge"
    grew = rss["peak"] - rss["start"]
    print(f"server RSS {rss['start'] // 1024} MiB, peak {rss['peak'] // 1024} MiB while refusing 16 MiB bodies")
    assert grew < 8 * 1024, f"the server's memory grew by {grew} KiB for bodies it refused"

    refused(server.call("POST", "snapshots", data=mib + b" "), 413, "too large")
    refused(server.call("POST", "snapshots", data=mib), 400, "must be a JSON object")  # 1 MiB is allowed
    status, body, _ = raw_post(server, "train", "Content-Length: 12abc\r\n")
    assert status == 400 and "Content-Length" in body["message"]
    assert digest(store) == before
    assert ok(server.call("GET", "meta"))["kinds"] == ["train", "evaluate"]  # still serving


# --- creating once: idempotency keys ----------------------------------------------------------------


def test_concurrent_reruns_with_one_key_create_one_execution(env):
    server, store = env
    model = paused_model(server, store, "keys-rerun")
    ended = []
    for _ in range(2):  # a version trained (on a paused service: aborted while pending) twice
        snap = ok(server.call("POST", "snapshots", json={"model": model["id"], "dataset": "toy-data"}), 201)
        exe = ok(server.call("POST", "train", json={"snapshot": snap["id"]}), 201)["execution"]
        assert ok(server.call("POST", f"executions/{exe['id']}/abort"))["status"] == "terminated"
        ended.append(exe)
    src, other = ended
    key = f"rerun-{time.time_ns()}"
    try:
        rerun = created_once(concurrently(10, lambda: server.call(
            "POST", f"executions/{src['id']}/rerun", json={"idempotency_key": key})))
        assert rerun["rerun_of"] == src["id"] and rerun["status"] == "pending"
        assert [r["id"] for r in store.find("executions", rerun_of=src["id"])] == [rerun["id"]]
        assert ok(server.call("POST", f"executions/{src['id']}/rerun", json={"idempotency_key": key}))["id"] == rerun["id"]

        before = digest(store)  # the key for another request: refused, nothing written
        refused(server.call("POST", f"executions/{other['id']}/rerun", json={"idempotency_key": key}), 409,
                "already used")
        refused(server.call("POST", "train", json={"snapshot": src["snapshot_id"], "idempotency_key": key}), 409,
                "already used")
        refused(server.call("POST", "snapshots", data='{"model": "toy", "config": {"sleep": NaN}}'), 400)
        assert digest(store) == before

        versions = store.count("snapshots", model_id=model["id"])  # with config edits: one clone, one execution
        edited = created_once(concurrently(5, lambda: server.call(
            "POST", f"executions/{src['id']}/rerun", json={"idempotency_key": key + "-edit", "config": {"epochs": 2}})))
        assert store.count("snapshots", model_id=model["id"]) == versions + 1
        assert ok(server.call("GET", f"snapshots/{edited['snapshot_id']}"))["config"]["epochs"] == 2
        ok(server.call("POST", f"executions/{rerun['id']}/abort"))
        plain = ok(server.call("POST", f"executions/{src['id']}/rerun"), 201)  # no key: a new one each time
        assert plain["id"] not in (rerun["id"], edited["id"])
    finally:
        for exe in store.find("executions", model_id=model["id"], status="pending"):
            ok(server.call("POST", f"executions/{exe['id']}/abort"))


def test_concurrent_create_and_train_with_one_key_create_one_version_and_one_execution(env):
    server, store = env
    model = paused_model(server, store, "keys-train")
    key = f"train-{time.time_ns()}"
    body = {"create": {"model": model["id"], "dataset": "toy-data", "config": {"epochs": 1}}, "idempotency_key": key}
    try:
        launched = created_once(concurrently(6, lambda: server.call("POST", "train", json=body)))
        assert store.count("snapshots", model_id=model["id"]) == 1
        assert store.count("executions", model_id=model["id"]) == 1
        assert launched["execution"]["status"] == "pending" and launched["created"]
        again = ok(server.call("POST", "train", json=body))
        assert again["execution"]["id"] == launched["execution"]["id"] and not again["created"]
        before = digest(store)
        refused(server.call("POST", "evaluate", json={"snapshot": launched["snapshot"]["id"], "idempotency_key": key}),
                409, "already used")
        assert digest(store) == before
    finally:
        for exe in store.find("executions", model_id=model["id"], status="pending"):
            ok(server.call("POST", f"executions/{exe['id']}/abort"))


def test_idempotent_version_model_and_filter_creation(env):
    server, store = env
    stamp = time.time_ns()
    other = paused_model(server, store, "keys-versions")

    key = f"snap-{stamp}"
    body = {"model": "toy", "dataset": "toy-data", "config": {"epochs": 2}, "idempotency_key": key}
    version = created_once(concurrently(6, lambda: server.call("POST", "snapshots", json=body)))
    assert store.count("snapshots", idempotency_key=key) == 1 and version["config"]["epochs"] == 2
    assert ok(server.call("POST", "snapshots", json=body))["id"] == version["id"]
    before = digest(store)
    refused(server.call("POST", "snapshots", json={**body, "model": other["id"]}), 409, "already used")
    assert digest(store) == before
    without = [ok(server.call("POST", "snapshots", json={"model": other["id"]}), 201)["id"] for _ in range(2)]
    assert len(set(without)) == 2  # no key: a version each time

    key = f"model-{stamp}"
    body = {"name": f"keys-model-{stamp}", "adapter": TOY, "config": {"epochs": 5}, "labels": ["a", "b"],
            "description": "once", "idempotency_key": key}
    model = created_once(concurrently(6, lambda: server.call("POST", "models", json=body)))
    assert store.count("models", name=body["name"]) == 1 and model["config"]["epochs"] == 5
    assert ok(server.call("POST", "models", json=body))["id"] == model["id"]
    before = digest(store)
    refused(server.call("POST", "models", json={**body, "config": {"epochs": 6}}), 409, "already exists")
    refused(server.call("POST", "models", json={**body, "labels": ["b", "a"]}), 409, "already exists")
    refused(server.call("POST", "models", json={k: v for k, v in body.items() if k != "idempotency_key"}), 409,
            "already exists")
    assert digest(store) == before

    key = f"filter-{stamp}"
    body = {"name": f"keys.filter{stamp}", "dataset": "toy-data", "query": {"dir": "train/red"}, "idempotency_key": key}
    saved = created_once(concurrently(6, lambda: server.call("POST", "filters", json=body)))
    assert saved["query"] == {"dir": "train/red"} and store.count("filters", name=body["name"]) == 1
    as_text = ok(server.call("POST", "filters", json={**body, "query": json.dumps(body["query"])}))
    assert as_text["name"] == saved["name"]
    before = digest(store)
    refused(server.call("POST", "filters", json={**body, "query": {"dir": "val"}}), 409, "already exists")
    refused(server.call("POST", "filters", json={**body, "dataset": None}), 409, "already exists")
    assert digest(store) == before
    store.delete("filters", name=body["name"])


def test_delete_snapshot_removes_a_version_and_is_refused_while_it_runs(env):
    server, store = env
    model = paused_model(server, store, "keys-delete")
    snap = ok(server.call("POST", "snapshots", json={"model": model["id"], "dataset": "toy-data"}), 201)
    child = ok(server.call("POST", "snapshots", json={"model": model["id"], "parent": snap["id"]}), 201)
    exe = ok(server.call("POST", "train", json={"snapshot": snap["id"]}), 201)["execution"]
    assert exe["status"] == "pending"
    before = digest(store)
    refused(server.call("DELETE", f"snapshots/{snap['id']}"), 409, "not ended")
    assert digest(store) == before
    ok(server.call("POST", f"executions/{exe['id']}/abort"))
    before = digest(store)
    refused(server.call("DELETE", f"snapshots/{snap['id']}"), 409, "parent")
    assert digest(store) == before
    assert ok(server.call("DELETE", f"snapshots/{child['id']}")) == {"removed": child["id"]}
    assert ok(server.call("DELETE", f"snapshots/{snap['id'][:8]}")) == {"removed": snap["id"]}
    refused(server.call("GET", f"snapshots/{snap['id']}"), 404, "unknown snapshot")
    refused(server.call("GET", f"executions/{exe['id']}"), 404, "unknown execution")
    refused(server.call("DELETE", f"snapshots/{snap['id']}"), 404, "unknown snapshot")
    assert not ok(server.call("GET", "snapshots", params={"model": model["id"]}))["items"]


# --- one rule for every face ------------------------------------------------------------------------


def test_rest_search_and_form_defaults_match_the_python_faces(env):
    """The sidebar's REST listing finds what mm.list_executions finds; its form starts from the subsets
    the notebook TrainForm preselects (a model with saved filters ``train`` and ``<model id>.validation``)."""
    from mm_jupyter import api
    from mm_jupyter.widgets import TrainForm

    server, store = env
    model = api.register_model("det-parity", TOY, store=store)
    versions = [api.create_snapshot(model["id"], f"det-v{i}", dataset="toy-data", store=store) for i in (1, 2, 12)]
    t = time.time()
    for i, version in enumerate(versions * 2):
        store.insert("executions", {"kind": "train", "snapshot_id": version["id"], "model_id": model["id"],
                                    "service": f"mgmt-train-{model['id']}", "status": "success", "progress": 100.0,
                                    "attempts": 1, "created_at": t + i, "params": {},
                                    "name": f"train {version['name']}"})
    try:
        for text in ("det-v2", "v2", "DET-PARITY", model["id"][:7], versions[2]["id"][:8], "train det-v1"):
            rest = [r["id"] for r in ok(server.call("GET", "executions", params={"search": text, "limit": 100}))["items"]]
            assert rest == [r["id"] for r in api.list_executions(search=text, limit=100, store=store)], text
            assert rest, text
        dataset = store.get("datasets", "toy-data")
        api.save_filter(store, "train", {"dir": "train/red"}, overwrite=True)
        api.save_filter(store, f"{model['id']}.validation", {"dir": "val/red"}, dataset["id"], overwrite=True)
        rest = ok(server.call("GET", f"models/{model['id']}/defaults", params={"dataset": dataset["id"]}))
        form = TrainForm(model["id"], home=str(store.home))
        assert form.values()["train"] == rest["subsets"]["train"] == {"tag": "train"}
        assert form.values()["validation"] == rest["subsets"]["validation"] == {"filter": f"{model['id']}.validation"}
    finally:
        with store.tx():
            for table in ("executions", "snapshots"):
                store.delete(table, model_id=model["id"])
            store.delete("models", id=model["id"])
            store.delete("filters", name=("train", f"{model['id']}.validation"))
