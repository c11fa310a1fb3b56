"""Records you can trust: a run is written once (attempt tokens; papermill re-executions create new
executions), trained versions are never retrained, refusals create nothing, metric points carry
their attempt, a replaced store is refused, waiting on a service that cannot start is an error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from support.helpers import counts, digest, wait_for

import mm_jupyter as mm
from mm_jupyter.cli import main as mm_main
from mm_jupyter.errors import Conflict, InvalidInput, StoreError, Unavailable
from mm_jupyter.hashing import tree_hash
from mm_jupyter.store import Store

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "notebooks"


def papermill(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "papermill", "-k", "python3", "--no-progress-bar", *args],
                          capture_output=True, text=True, timeout=300, cwd=cwd, env=os.environ.copy())


def trained(store, toy, **config) -> dict:
    exe = mm.train(toy(**config), wait=True)
    assert exe["status"] == "success", exe["error"]
    return exe


def run_record(store, exe_id: str) -> tuple:
    """What must never change in an ended run: its row, its points, its version's weights."""
    exe = store.get("executions", exe_id)
    snap = store.get("snapshots", exe["snapshot_id"])
    points = [(m["name"], m["step"], m["value"]) for m in mm.get_metrics(exe_id)]
    return (exe["status"], exe["attempts"], exe["ended_at"], exe["progress"], points, snap["weights_hash"],
            tree_hash(snap["weights_uri"]) if snap["weights_uri"] else None)


# --- runs are written once ------------------------------------------------------------------------


def test_papermill_by_hand_creates_its_own_run_and_a_stored_notebook_run_again_a_new_one(store, toy, tmp_path):
    first = trained(store, toy, epochs=2)
    before = run_record(store, first["id"])
    # the template by hand: its own execution of a never-trained version
    snap = toy(epochs=2)
    proc = papermill(str(TEMPLATES / "train.ipynb"), str(tmp_path / "out.ipynb"), "-p", "snapshot", snap, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    own = mm.list_executions(search=store.get("snapshots", snap)["name"])[0]
    assert own["status"] == "success" and own["snapshot_id"] == snap and own["rerun_of"] is None
    assert store.get("snapshots", snap)["status"] == "trained"
    # the stored executed notebook of the first run, run again: a new execution and a new version
    stored = first["notebook_uri"]
    proc = papermill(stored, str(tmp_path / "again.ipynb"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    again = [e for e in mm.list_executions(limit=10) if e["rerun_of"] == first["id"]]
    assert len(again) == 1 and again[0]["status"] == "success"
    assert again[0]["snapshot_id"] != first["snapshot_id"], "a training run again trains a new version"
    assert run_record(store, first["id"]) == before, "the original run is never touched"
    # the stored notebook of a failed run, run again, touches no other version's weights either
    failed = mm.train(toy(epochs=2, fail_at_epoch=1), service={"max_attempts": 1}, wait=True)
    assert failed["status"] == "failed"
    weights = {s["id"]: s["weights_hash"] for s in mm.snapshots()}
    proc = papermill(failed["notebook_uri"], str(tmp_path / "failed-again.ipynb"), cwd=tmp_path)
    assert proc.returncode != 0  # it fails again (the same config), as a new execution of a new version
    assert {s["id"]: s["weights_hash"] for s in mm.snapshots() if s["id"] in weights} == weights
    assert store.get("executions", failed["id"])["status"] == "failed"
    by_hand = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert "running train" in "".join(o.get("text", "") for c in by_hand.cells for o in c.get("outputs", []))


def test_a_forged_token_writes_nothing(store, toy, tmp_path):
    exe = mm.train(toy(epochs=200, sleep=0.3))
    running = wait_for(lambda: (r := store.get("executions", exe["id"]))["progress"] > 0 and r, timeout=120)
    before = (counts(store), store.get("executions", exe["id"])["progress"])
    proc = papermill(str(TEMPLATES / "train.ipynb"), str(tmp_path / "forged.ipynb"), "-p", "execution_id", exe["id"],
                     "-p", "token", "forged-token", "-p", "attempt", str(running["attempts"]), cwd=tmp_path)
    assert proc.returncode != 0
    assert "takes no more writes from this run" in proc.stderr and "not the attempt's own" in proc.stderr
    assert counts(store)["executions"] == before[0]["executions"] and counts(store)["snapshots"] == before[0]["snapshots"]
    mm.abort(exe["id"])
    ended = store.get("executions", exe["id"])
    from mm_jupyter.adapter import RunContext

    with pytest.raises(Conflict, match="takes no more writes"):  # a zombie of the ended attempt
        RunContext.open(str(store.home), exe["id"], "forged-token", ended["attempts"]).report_progress(50)


def test_a_trained_version_is_never_trained_again(store, toy, capsys):
    first = trained(store, toy, epochs=1)
    snap = store.get("snapshots", first["snapshot_id"])
    before = digest(store)
    with pytest.raises(Conflict, match="its weights are never rewritten"):
        mm.train(snap["id"])
    assert mm_main(["train", snap["id"]]) == 4
    assert "mm rerun" in capsys.readouterr().err
    assert digest(store) == before
    again = mm.rerun(first["id"], wait=True)
    assert again["status"] == "success" and again["snapshot_id"] != snap["id"]
    new = store.get("snapshots", again["snapshot_id"])
    assert new["repro"]["cloned_from"] == snap["id"] and new["config"] == snap["config"]
    assert store.get("snapshots", snap["id"])["weights_hash"] == tree_hash(snap["weights_uri"])
    ev = mm.evaluate(snap["id"], wait=True)
    assert ev["status"] == "success" and ev["params"]["weights_hash"] == snap["weights_hash"]
    assert mm.evaluation_results(ev["id"])["weights_hash"] == snap["weights_hash"]
    (Path(snap["weights_uri"]) / "toy.json").write_text('{"weight": 42}')  # weights changed behind our back
    bad = mm.evaluate(snap["id"], wait=True)
    assert bad["status"] == "failed" and "not the version's any more" in bad["error"] and bad["attempts"] == 1


# --- refused at submit, nothing created -------------------------------------------------------------


def test_refused_launches_create_nothing(store, toy, capsys):
    toy()  # the toy model and dataset exist
    before = digest(store)
    bad_calls = [
        (lambda: mm.create_and_train("toy", dataset="toy-data", train="tag:no-such-tag"), InvalidInput, "matches no item"),
        (lambda: mm.create_and_train("toy", dataset="toy-data", service={"concurrency": 0}), InvalidInput, "positive"),
        (lambda: mm.create_and_train("toy", dataset="toy-data", service={"kernel_name": "nope"}), InvalidInput,
         "not installed"),
        (lambda: mm.create_and_train("toy", dataset="toy-data", config={"sleep": float("nan")}), InvalidInput,
         "finite"),
        (lambda: mm.create_and_train("toy", dataset="toy-data", config={"epochs": 10**30}), InvalidInput, "range"),
        (lambda: mm.create_and_train("toy", "bad\x1b[2Jname", dataset="toy-data"), InvalidInput, "control"),
        (lambda: mm.create_and_train("toy", "x" * 201, dataset="toy-data"), InvalidInput, "at most 200"),
        (lambda: mm.create_snapshot("toy", labels=["a", "b\x00"]), InvalidInput, "control"),
        (lambda: mm.register_model("lone\ud800", None), InvalidInput, "surrogates"),
    ]
    for call, error, text in bad_calls:
        with pytest.raises(error, match=text):
            call()
        assert digest(store) == before, text
    for args in (["train", "--model", "toy", "--dataset", "toy-data", "--train", "tag:no-such-tag"],
                 ["train", "--model", "toy", "--dataset", "toy-data", "--concurrency", "0"],
                 ["train", "--model", "toy", "--dataset", "toy-data", "--kernel", "nope"],
                 ["train", "--model", "toy", "--dataset", "toy-data", "--config", "sleep=NaN"],
                 ["train", "--model", "toy", "--dataset", "toy-data", "--config", "epochs=1e30"]):
        assert mm_main(args) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("mm: error:"), err
        assert digest(store) == before, args
    # a kernel removed from the service after its creation: the launch is refused, nothing is stored
    exe = mm.train(toy(epochs=1), wait=True)
    store.update("services", exe["service"], kernel_name="gone-kernel")
    before = digest(store)
    with pytest.raises(Unavailable, match="gone-kernel"):
        mm.create_and_train("toy", dataset="toy-data")
    assert digest(store) == before


def test_a_version_can_be_removed_unless_it_runs(store, toy, capsys):
    exe = mm.train(toy(epochs=1), wait=True)
    snap = store.get("snapshots", exe["snapshot_id"])
    ev = mm.evaluate(snap["id"], wait=True)
    folder = store.snapshot_dir(snap["model_id"], snap["id"])
    assert folder.is_dir()
    running = toy(epochs=200, sleep=0.3)
    live = mm.train(running)
    with pytest.raises(Conflict, match="not ended"):
        mm.remove_snapshot(running)
    assert mm_main(["snapshots", "remove", snap["id"]]) == 0
    assert f"removed {snap['id']}" in capsys.readouterr().out
    assert not folder.exists() and store.first("executions", id=ev["id"]) is None
    assert store.first("snapshots", id=snap["id"]) is None and mm.get_metrics  # nothing left of it
    mm.abort(live["id"])


# --- retries, attempts ---------------------------------------------------------------------------


def test_metric_points_carry_their_attempt(store, toy, capsys):
    exe = mm.train(toy(epochs=3, fail_at_epoch=3, fail_attempts=1), wait=True)
    assert exe["status"] == "success" and exe["attempts"] == 2
    latest = mm.get_metrics(exe["id"])
    assert {m["attempt"] for m in latest} == {2} and [m["epoch"] for m in latest if m["name"] == "loss"] == [1, 2, 3]
    first = mm.get_metrics(exe["id"], attempt=1)
    assert {m["attempt"] for m in first} == {1} and [m["epoch"] for m in first if m["name"] == "loss"] == [1, 2]
    assert mm_main(["metrics", exe["id"], "--attempt", "1", "--json"]) == 0
    assert {m["attempt"] for m in json.loads(capsys.readouterr().out)} == {1}


def test_a_missing_module_fails_at_once(store, toy, tmp_path, monkeypatch):
    """A package missing where the run happens (the ml extra, say) is no reason to retry."""
    (tmp_path / "needs_missing.py").write_text(
        "import toy_adapter\n\nclass Adapter(toy_adapter.ToyAdapter):\n"
        "    def train(self, data, ctx):\n        import no_such_package_xyz  # noqa: F401\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ['PYTHONPATH']}")
    toy()
    mm.register_model("needs-missing", "needs_missing:Adapter")
    snap = mm.create_snapshot("needs-missing", dataset="toy-data")
    final = mm.train(snap["id"], wait=True)
    assert final["status"] == "failed" and final["attempts"] == 1, final
    assert "ModuleNotFoundError" in final["error"] and "no_such_package_xyz" in final["error"]
    with pytest.raises(InvalidInput, match="module 'no_such_package_xyz' is not installed"):
        (tmp_path / "eager_missing.py").write_text("import no_such_package_xyz  # noqa: F401\n")
        mm.register_model("eager", "eager_missing:Adapter")


def test_waiting_on_a_service_that_cannot_start_is_an_error(store, toy, capsys):
    from support.helpers import free_port

    snap = toy(epochs=1)
    address = f"dask://127.0.0.1:{free_port()}"
    exe = mm.train(snap, service={"runner": address})
    assert mm_main(["executions"]) == 0
    with pytest.raises(Unavailable, match="cannot start: service .* is unreachable"):
        mm.wait_for(exe["id"], timeout=60)
    capsys.readouterr()
    assert mm_main(["train", toy(epochs=1), "--wait"]) == 4
    assert "cannot start" in capsys.readouterr().err
    mm.abort(exe["id"])


# --- the store's identity ----------------------------------------------------------------------------


def test_a_replaced_store_is_refused_not_split(store, toy, tmp_path):
    exe = mm.train(toy(epochs=1), wait=True)
    other = Store(store.home)  # a second connection (another thread or process)
    (store.home / "mm.db").rename(tmp_path / "moved.db")
    for db in (store, other):
        with pytest.raises(StoreError, match="deleted while in use"):
            db.get("executions", exe["id"])
        with pytest.raises(StoreError, match="deleted while in use"):
            db.insert("models", {"name": "split", "adapter": "", "labels": [], "config": {}})
    with pytest.raises(StoreError, match="no store at"):
        Store(store.home, create=False)
    Store(tmp_path / "elsewhere").close()
    (tmp_path / "elsewhere" / "mm.db").rename(store.home / "mm.db")  # another store put in its place
    with pytest.raises(StoreError, match="replaced while in use"):
        store.get("executions", exe["id"])
    with pytest.raises(StoreError, match="another store"):
        Store(store.home, create=False, expect_id=store.id, expect_file=store.identity)


def test_terminal_output_escapes_control_characters(store, toy, capsys):
    exe = mm.train(toy(epochs=1), wait=True)
    store.update("executions", exe["id"], error="line\x1b[2Jcleared\nfake row")
    assert mm_main(["executions"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[2J" in out and "\\nfake row" in out


def test_evaluate_slice_by_on_the_cli(store, toy, capsys):
    exe = mm.train(toy(epochs=1), wait=True)
    assert mm_main(["evaluate", exe["snapshot_id"], "--slice-by", "dir", "--wait", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["status"] == "success" and ev["params"]["slice_by"] == ["dir"]
    assert set(mm.evaluation_results(ev["id"])["slices"]) and all(k.startswith("dir=") for k in
                                                                  mm.evaluation_results(ev["id"])["slices"])
    assert mm_main(["evaluate", exe["snapshot_id"], "--slice-by", "metadata.nope"]) == 2


@pytest.mark.slow
def test_a_store_replaced_under_a_running_server_is_refused(tmp_path):
    """``mm.db`` deleted, then replaced, while the Jupyter server runs: every request answers 503 with
    the reason (reads and writes), and no new store is created in its place."""
    from support.server_util import start_server

    from mm_jupyter import api

    home = tmp_path / "mmhome"
    store = Store(home)
    api.register_model("kept", None, store=store)
    server = start_server(tmp_path / "jupyter", home)
    try:
        assert server.call("GET", "models").status_code == 200
        for _ in range(3):  # warm several worker threads' connections
            assert server.call("GET", "executions").status_code == 200
        store.close()
        (home / "mm.db").rename(tmp_path / "moved.db")
        for method, path, body in (("GET", "models", None), ("GET", "executions", None),
                                   ("POST", "models", {"name": "split"})):
            resp = server.call(method, path, json=body)
            assert resp.status_code == 503, (path, resp.status_code, resp.text)
            assert "deleted while in use" in resp.json()["message"] or "no store at" in resp.json()["message"]
        assert not (home / "mm.db").exists(), "no new empty store was created"
        fresh = Store(tmp_path / "other")
        api.register_model("intruder", None, store=fresh)
        fresh.close()
        (tmp_path / "other" / "mm.db").rename(home / "mm.db")  # another store put in its place
        for method, path, body in (("GET", "models", None), ("POST", "models", {"name": "split"})):
            resp = server.call(method, path, json=body)
            assert resp.status_code == 503, (path, resp.status_code, resp.text)
            assert "replaced while in use" in resp.json()["message"] or "another store" in resp.json()["message"]
    finally:
        server.stop()


def test_the_token_never_reaches_the_notebook(store, toy):
    exe = mm.train(toy(epochs=1), wait=True)
    text = Path(exe["notebook_uri"]).read_text()
    params = nbformat.read(exe["notebook_uri"], as_version=4)
    injected = next(c for c in params.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "execution_id =" in injected.source and "token =" not in injected.source
    assert exe["attempts"] == 1 and store.get("executions", exe["id"])["token_hash"] not in text
