"""Predictions, deployments and pre-trained versions with the toy adapter (real kernels, real
deployment processes, a real jupyter server): the record contract, the CLI, REST predict behind
Jupyter's token, the version shown as deployed, a deployment started again after its process died
(and failed with the reason when it cannot), pre-trained weights evaluated and fine-tuned, and every
bad input refused in one line with nothing created."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.helpers import wait_for
from support.server_util import start_server

import mm_jupyter as mm
from mm_jupyter.errors import Conflict, InvalidInput, NotFound
from mm_jupyter.processes import pid_alive, wait_gone


def run_mm(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mm_jupyter.cli", *args], capture_output=True, text=True,
                          input=stdin, timeout=180, env=os.environ.copy())


@pytest.fixture
def trained(toy, store, tmp_path):
    """A trained toy version (classification, labels blue/red) and a red and a blue test image."""
    exe = mm.train(toy(epochs=1), wait=True)
    assert exe["status"] == "success", exe["error"]
    data = tmp_path / "data" / "test"
    return exe["snapshot_id"], [str(data / "red" / "0.png"), str(data / "blue" / "0.png")]


def counts(store) -> dict:
    return {t: store.count(t) for t in ("snapshots", "executions", "deployments")}


def test_predict_in_a_short_lived_kernel_gives_one_record_per_image(trained, store):
    snap, images = trained
    records = mm.predict(snap, images, top_k=1)
    assert [r["image"] for r in records] == ["0.png", "0.png"]
    for r in records:
        assert r["task"] == "classification" and r["label"] in ("blue", "red") and 0 <= r["score"] <= 1
        assert len(r["top_k"]) == 1 and r["top_k"][0]["label"] == r["label"]
    out = run_mm("predict", snap, *images, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["top_k"][0]["label"] == records[0]["label"]
    assert store.count("deployments") == 0, "a prediction without a deployment starts none"


def test_bad_predictions_are_one_line_and_create_nothing(trained, toy, store, tmp_path):
    snap, images = trained
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    before = counts(store)
    for args, code, words in [
        ((snap, str(text)), 2, "is not an image"),
        ((snap, str(tmp_path / "missing.png")), 2, "does not exist"),
        ((toy(), images[0]), 2, "has no weights"),
        (("s-nosuchversion", images[0]), 3, "unknown snapshot"),
    ]:
        out = run_mm("predict", *args)
        assert out.returncode == code, (args, out.stderr)
        line = out.stderr.strip()
        assert "\n" not in line and words in line.lower(), line
    with pytest.raises(InvalidInput, match="top_k"):
        mm.predict(snap, images, top_k=0)
    after = counts(store)
    assert after == {**before, "snapshots": before["snapshots"] + 1}, "only the untrained version made above"


def test_deploy_serves_rest_predict_behind_the_token_and_undeploy_ends_it(trained, store, home, tmp_path):
    snap, images = trained
    out = run_mm("deploy", snap, "--json")
    assert out.returncode == 0, out.stderr
    dep = json.loads(out.stdout)
    assert dep["id"].startswith("dp-") and dep["status"] == "running" and dep["health"]["level"] == "ok"
    assert mm.snapshots()[0]["status"] == "deployed" and mm.version_page(snap)["status"] == "deployed"
    again = run_mm("deploy", snap)
    assert again.returncode == 4 and "already deployed" in again.stderr

    via = mm.predict(snap, images)  # mm.predict goes through the deployment
    from mm_jupyter.serving import predict as serving_predict

    assert serving_predict(store, snap, [("a.png", Path(images[0]).read_bytes())])["via"] == dep["id"]
    listed = run_mm("deployments")
    assert listed.returncode == 0 and dep["id"] in listed.stdout and "running" in listed.stdout

    server = start_server(tmp_path / "jupyter", home)
    try:
        data = Path(images[0]).read_bytes()
        path = f"deployments/{dep['id']}/predict"
        resp = server.call("POST", path, files={"image": ("red.png", data, "image/png")})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["via"] == dep["id"] and body["predictions"][0]["label"] == via[0]["label"]
        assert body["predictions"][0]["image"] == "red.png"
        resp = server.call("POST", path, json={"images": [{"name": "b.png", "data": base64.b64encode(data).decode()}],
                                               "top_k": 1})
        assert resp.status_code == 200 and len(resp.json()["predictions"][0]["top_k"]) == 1, resp.text
        assert server.call("POST", path, token=False, files={"image": ("red.png", data)}).status_code == 403
        bad = server.call("POST", path, files={"image": ("x.png", b"hello")})
        assert bad.status_code == 400 and "is not an image" in bad.json()["message"]
        assert server.call("POST", "deployments/dp-nosuch/predict", json={"images": []}).status_code == 404
        resp = server.call("POST", f"snapshots/{snap}/predict", json={"dataset": "toy-data", "item_id": 1})
        assert resp.status_code == 200 and resp.json()["via"] == dep["id"], resp.text
        rows = server.call("GET", "deployments").json()["items"]
        assert [r["id"] for r in rows] == [dep["id"]] and rows[0]["snapshot_name"]
    finally:
        server.stop()

    assert run_mm("undeploy", dep["id"]).returncode == 0
    row = store.get("deployments", dep["id"])
    assert row["status"] == "stopped" and not pid_alive(row["pid"])
    assert mm.version_page(snap)["status"] == "trained"
    assert mm.predict(snap, images[:1])[0]["label"] == via[0]["label"], "a kernel of its own after undeploy"
    gone = run_mm("undeploy", dep["id"])
    assert gone.returncode == 4 and "already stopped" in gone.stderr
    assert run_mm("undeploy", "dp-nosuch").returncode == 3


def test_a_deployment_whose_process_died_is_started_again_or_failed_with_the_reason(trained, store):
    from mm_jupyter import serving

    snap, images = trained
    dep = mm.deploy(snap)
    os.killpg(os.getpgid(dep["pid"]), signal.SIGKILL)  # the machine restarted, say
    assert wait_gone([dep["pid"]], 10)
    changed = serving.reconcile(store)  # what the Jupyter server does at its start and on its timer
    assert [d["id"] for d in changed] == [dep["id"]]
    back = serving.wait_running(store, dep["id"], 120)
    assert back["restarts"] == 1 and back["pid"] != dep["pid"]
    assert mm.predict(snap, images[:1])[0]["task"] == "classification"

    weights = Path(store.get("snapshots", snap)["weights_uri"])
    os.killpg(os.getpgid(back["pid"]), signal.SIGKILL)
    assert wait_gone([back["pid"]], 10)
    (weights / "toy.json").write_text('{"weight": 99}')  # its weights changed on disk: it must not serve them
    serving.reconcile(store)
    with pytest.raises(Conflict, match="not version .* any more"):
        serving.wait_running(store, dep["id"], 120)
    failed = store.get("deployments", dep["id"])
    assert failed["status"] == "failed" and "refusing" in failed["error"]
    assert mm.version_page(snap)["status"] == "trained"


def test_deploy_refusals_create_nothing(trained, toy, store):
    snap, _ = trained
    before = counts(store)
    with pytest.raises(InvalidInput, match="has no weights"):
        mm.deploy(toy())
    with pytest.raises(NotFound, match="unknown secret 'NOPE'"):
        mm.deploy(snap, secrets=["NOPE"])
    with pytest.raises(InvalidInput, match="not installed"):
        mm.deploy(snap, kernel="no-such-kernel")
    with pytest.raises(InvalidInput, match="k8s"):
        mm.deploy(snap, runner="k8s://somewhere")
    with pytest.raises(Conflict, match="unreachable"):
        mm.deploy(snap, runner="dask://127.0.0.1:1")
    with pytest.raises(NotFound):
        mm.undeploy("dp-nosuch")
    assert counts(store) == {**before, "snapshots": before["snapshots"] + 1}


def test_pretrained_version_is_checked_copied_evaluated_and_fine_tuned(trained, store, tmp_path):
    snap, images = trained
    source = tmp_path / "elsewhere"
    source.mkdir()
    (source / "toy.json").write_text('{"weight": 1.5}')
    out = run_mm("versions", "add", "--model", "toy", "--weights", str(source), "--name", "imported", "--json")
    assert out.returncode == 0, out.stderr
    version = json.loads(out.stdout)
    assert version["status"] == "pre-trained" and version["name"] == "imported" and version["weights_hash"]
    stored = Path(version["weights_uri"])
    assert stored.is_dir() and stored != source and json.loads((stored / "toy.json").read_text())["weight"] == 1.5
    (source / "toy.json").write_text('{"weight": 7}')  # later edits of the source change nothing stored
    assert json.loads((stored / "toy.json").read_text())["weight"] == 1.5

    ev = mm.evaluate(version["id"], dataset="toy-data", wait=True)
    assert ev["status"] == "success", ev["error"]
    assert mm.predict(version["id"], images[:1])[0]["task"] == "classification"
    child = mm.create_and_train("toy", dataset="toy-data", parent=version["id"], config={"epochs": 1}, wait=True)
    assert child["status"] == "success", child["error"]
    assert child["params"]["parent_weights"] == version["weights_uri"]
    assert "loaded weights from" in mm.logs(child["id"])


def test_pretrained_weights_the_adapter_cannot_load_are_refused(trained, store, home, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "other.bin").write_bytes(b"\0" * 10)
    before = counts(store)
    folders = sorted(p.name for p in (home / "artifacts").rglob("*") if p.is_dir())
    for args, code, words in [
        (("--model", "toy", "--weights", str(bad)), 2, "cannot load"),
        (("--model", "toy", "--weights", str(tmp_path / "missing")), 2, "do not exist"),
        (("--model", "nosuch", "--weights", str(bad)), 3, "unknown model"),
        (("--weights", str(bad)), 2, "needs --model"),
        (("--model", "toy", "--weights", str(bad), "--dataset", "toy-data"), 2, "--weights registers"),
    ]:
        out = run_mm("versions", "add", *args)
        assert out.returncode == code, (args, out.stderr)
        line = out.stderr.strip()
        assert "\n" not in line and words in line, line
    assert counts(store) == before
    assert sorted(p.name for p in (home / "artifacts").rglob("*") if p.is_dir()) == folders, "no folder left behind"


def test_deployments_list_in_json_and_a_stopped_one_with_all(trained, store):
    snap, _ = trained
    dep = mm.deploy(snap, wait=False)
    assert dep["status"] == "starting"
    wait_for(lambda: store.get("deployments", dep["id"])["status"] == "running", 120, "deployment running")
    mm.undeploy(dep["id"])
    assert mm.deployments() == []
    rows = mm.deployments(all=True)
    assert rows[0]["id"] == dep["id"] and rows[0]["status"] == "stopped" and rows[0]["health"] is None
