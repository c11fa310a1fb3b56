"""Executions end to end through papermill on a real kernel, with the toy adapter (no torch):
statuses, retries, on-reset, abort, timeout, reconciliation, idempotency, rerun, remove."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from support.helpers import TOY, statuses, wait_for

import mm_jupyter as mm
from mm_jupyter.errors import Conflict, InvalidInput, NotFound
from mm_jupyter.processes import pid_alive
from mm_jupyter.scheduler import reconcile


def test_train_and_evaluate_store_notebooks_beside_weights(store, toy):
    snap = toy(epochs=3, seed=7)
    exe = mm.train(snap, wait=True)
    assert exe["status"] == "success", exe["error"]
    assert exe["progress"] == 100 and exe["attempts"] == 1
    assert statuses(store, exe["id"]) == ["pending", "in-progress", "success"]
    folder = store.snapshot_dir(exe["model_id"], snap)
    notebook = folder / "executions" / exe["id"] / "notebook.ipynb"
    assert notebook.is_file() and (folder / "weights" / "toy.json").is_file()
    nb = nbformat.read(notebook, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and exe["id"] in injected[0].source
    assert any("epoch 3/3" in o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    losses = [m for m in mm.get_metrics(exe["id"]) if m["name"] == "loss"]
    assert [m["epoch"] for m in losses] == [1, 2, 3]
    assert "epoch 2/3" in mm.logs(exe["id"])
    snapshot = store.get("snapshots", snap)
    assert snapshot["status"] == "trained" and snapshot["weights_uri"] == str(folder / "weights")
    repro = snapshot["repro"]
    assert repro["dataset_hash"] and repro["adapter_source_hash"] and repro["packages"]["papermill"]
    assert repro["seed"] == 7 and repro["config"]["epochs"] == 3

    ev = mm.evaluate(snap, wait=True)
    assert ev["status"] == "success", ev["error"]
    values = {m["name"]: m["value"] for m in mm.get_metrics(ev["id"])}
    assert values["accuracy"] == 1.0
    results = json.loads((folder / "executions" / ev["id"] / "results.json").read_text())
    assert results["accuracy"] == 1.0
    assert results["bootstrap"]["seed"] == 7, "the intervals are drawn with the run's seed"
    assert (folder / "executions" / ev["id"] / "predictions.jsonl").is_file()
    ev_nb = nbformat.read(folder / "executions" / ev["id"] / "notebook.ipynb", as_version=4)
    plot_cell = next(c for c in ev_nb.cells if "plot_results" in c.source)
    assert any("image/svg+xml" in o.get("data", {}) for o in plot_cell.outputs), "the notebook shows what it saved"
    assert (folder / "executions" / ev["id"] / "confusion_matrix.svg").is_file()


def test_exception_retries_then_fails_with_cell_and_error(store, toy):
    exe = mm.train(toy(fail_at_epoch=1), wait=True)
    assert exe["status"] == "failed"
    assert exe["attempts"] == 3
    assert statuses(store, exe["id"]) == ["pending", "in-progress", "rerun", "in-progress", "rerun",
                                          "in-progress", "failed"]
    assert "ValueError: toy failure at epoch 1" in exe["error"]
    assert exe["error"].startswith("cell ")
    notebook = Path(exe["notebook_uri"])
    assert notebook.is_file(), "a failed execution keeps its executed notebook"
    assert "ValueError" in notebook.read_text()


def test_flaky_notebook_succeeds_on_second_attempt(store, toy):
    exe = mm.train(toy(fail_at_epoch=2, fail_attempts=1), wait=True)
    assert exe["status"] == "success" and exe["attempts"] == 2
    assert exe["error"] is None or "toy failure" in exe["error"]


@pytest.mark.parametrize("on_reset,final", [("fail", "aborted"), ("rerun", "success")])
def test_killed_kernel_follows_on_reset(store, toy, on_reset, final):
    exe = mm.train(toy(epochs=3, kill_at_epoch=2, fail_attempts=1), service={"on_reset": on_reset}, wait=True)
    assert exe["status"] == final, exe["error"]
    history = statuses(store, exe["id"])
    if on_reset == "fail":
        assert history[-1] == "aborted" and "kernel died" in exe["error"]
        epochs = {m["epoch"] for m in mm.get_metrics(exe["id"]) if m["name"] == "loss"}
        assert epochs == {1}, "metrics logged before the kill are kept"
        assert Path(exe["notebook_uri"]).is_file(), "the partial notebook is kept"
    else:
        assert "rerun" in history and exe["attempts"] == 2


def test_abort_terminates_and_leaves_no_process(store, toy):
    exe = mm.train(toy(epochs=100, sleep=1.0))
    row = wait_for(lambda: (r := store.get("executions", exe["id"]))["kernel_pid"] and
                    [m for m in mm.get_metrics(exe["id"])] and r)
    runner, kernel = row["runner_pid"], row["kernel_pid"]
    assert pid_alive(runner) and pid_alive(kernel)
    started = time.monotonic()
    done = mm.abort(exe["id"])
    assert done["status"] == "terminated"
    assert time.monotonic() - started < 15
    assert not pid_alive(runner) and not pid_alive(kernel)
    with pytest.raises(Conflict, match="already ended"):
        mm.abort(exe["id"])
    assert Path(store.get("executions", exe["id"])["notebook_uri"]).is_file()


def test_abort_pending_execution(store, toy):
    first = mm.train(toy(epochs=100, sleep=1.0))
    second = mm.train(toy(epochs=1))
    assert store.get("executions", second["id"])["status"] == "pending", "concurrency 1 queues the second"
    assert mm.abort(second["id"])["status"] == "terminated"
    mm.abort(first["id"])


def test_execution_timeout_is_an_exception(store, toy):
    exe = mm.train(toy(epochs=5, sleep=30.0), service={"execution_timeout": 3, "max_attempts": 1}, wait=True)
    assert exe["status"] == "failed"
    assert "execution timeout of 3s exceeded" in exe["error"]
    assert exe["ended_at"] - exe["started_at"] < 25


def test_runner_killed_is_reconciled(store, toy, monkeypatch):
    exe = mm.train(toy(epochs=100, sleep=1.0))
    row = wait_for(lambda: (r := store.get("executions", exe["id"]))["kernel_pid"] and r)
    os.killpg(os.getpgid(row["runner_pid"]), signal.SIGKILL)
    wait_for(lambda: not pid_alive(row["runner_pid"]))
    assert store.get("executions", exe["id"])["status"] == "in-progress"
    assert reconcile(store) == [exe["id"]]
    after = store.get("executions", exe["id"])
    assert after["status"] == "aborted" and "runner process is gone" in after["error"]
    wait_for(lambda: not pid_alive(row["kernel_pid"]), timeout=15)


def test_stale_heartbeat_from_another_host_is_reconciled_at_start(store, toy, home):
    snap = store.get("snapshots", toy())
    mm.train(snap["id"], wait=True)  # creates the service
    row = store.insert("executions", {
        "kind": "train", "snapshot_id": snap["id"], "model_id": snap["model_id"],
        "service": f"mgmt-train-{snap['model_id']}", "status": "in-progress", "progress": 40.0,
        "attempts": 1, "started_at": time.time() - 600, "heartbeat_at": time.time() - 300,
        "host": "another-host", "runner_pid": 1, "params": {},
    })
    mm.api._STORES.clear()
    mm.connect()
    assert store.get("executions", row["id"])["status"] == "in-progress", "opening the store has no side effects"
    from mm_jupyter.cli import main as mm_main

    assert mm_main(["models"]) == 0  # any mm command start reconciles
    after = store.get("executions", row["id"])
    assert after["status"] == "aborted" and "heartbeat stale" in after["error"]


def test_lost_run_of_a_removed_service_is_still_reconciled(store, toy):
    """A service row gone (removed by hand, a partial restore) must not block reconciling the others."""
    snap = store.get("snapshots", toy())
    mm.train(snap["id"], wait=True)  # creates the service
    stale = {"kind": "train", "snapshot_id": snap["id"], "model_id": snap["model_id"], "status": "in-progress",
             "progress": 10.0, "attempts": 1, "started_at": time.time() - 600, "heartbeat_at": time.time() - 300,
             "host": "another-host", "runner_pid": 1, "params": {}}
    orphan = store.insert("executions", {**stale, "service": "mgmt-train-removed"})
    normal = store.insert("executions", {**stale, "service": f"mgmt-train-{snap['model_id']}"})
    assert sorted(reconcile(store)) == sorted([orphan["id"], normal["id"]])
    for row in (orphan, normal):
        after = store.get("executions", row["id"])
        assert after["status"] == "aborted" and "heartbeat stale" in after["error"]


def test_idempotency_key_starts_one_execution(store, toy):
    snap = toy(epochs=1)
    a = mm.train(snap, idempotency_key="click-1")
    b = mm.train(snap, idempotency_key="click-1")
    assert a["id"] == b["id"]
    assert len(mm.list_executions()) == 1
    mm.wait_for(a["id"])


def test_rerun_reproduces_and_clone_records_origin(store, toy):
    first = mm.train(toy(epochs=2, seed=3), wait=True)
    again = mm.rerun(first["id"], wait=True)
    assert again["rerun_of"] == first["id"] and again["status"] == "success"

    def final(exe_id):
        return {m["name"]: m["value"] for m in mm.get_metrics(exe_id)}

    assert final(first["id"]) == final(again["id"])
    clone = mm.rerun(first["id"], config={"epochs": 1}, wait=True)
    snap = store.get("snapshots", clone["snapshot_id"])
    assert snap["id"] != first["snapshot_id"]
    assert snap["repro"]["cloned_from"] == first["snapshot_id"] and snap["config"]["epochs"] == 1
    assert len([m for m in mm.get_metrics(clone["id"]) if m["name"] == "loss"]) == 1
    running = mm.train(toy(epochs=50, sleep=1.0))
    with pytest.raises(Conflict, match="only an ended execution"):
        mm.rerun(running["id"])
    mm.abort(running["id"])


def test_remove_keeps_weights(store, toy):
    exe = mm.train(toy(epochs=1), wait=True)
    folder = Path(exe["notebook_uri"]).parent
    mm.remove(exe["id"])
    assert not folder.exists()
    assert Path(store.get("snapshots", exe["snapshot_id"])["weights_uri"], "toy.json").is_file()
    with pytest.raises(NotFound):
        store.get("executions", exe["id"])
    assert store.query("SELECT count(*) AS n FROM metrics WHERE execution_id = ?", [exe["id"]])[0]["n"] == 0


def _counts(store) -> dict:
    return {t: store.query(f"SELECT count(*) AS n FROM {t}")[0]["n"]
            for t in ("models", "snapshots", "executions", "services", "metrics")}


def test_bad_inputs_are_one_line_errors_and_create_nothing(store, toy, tmp_path):
    snap = toy()
    before = _counts(store)
    cases = [
        (lambda: mm.train("s-doesnotexist"), NotFound, "unknown snapshot"),
        (lambda: mm.train(snap, service={"kernel_name": "no-such-kernel"}), InvalidInput,
         "kernel 'no-such-kernel' is not installed"),
        (lambda: mm.train(snap, service={"on_reset": "explode"}), InvalidInput, "on_reset"),
        (lambda: mm.create_snapshot("toy", config={"epochz": 3}), InvalidInput, "unknown config key 'epochz'"),
        (lambda: mm.create_snapshot("toy", config={"epochs": "three"}), InvalidInput, "must be int"),
        (lambda: mm.create_snapshot("toy", dataset="nope"), NotFound, "unknown dataset"),
        (lambda: mm.create_snapshot("toy", dataset="toy-data", train="tag"), InvalidInput, "subset"),
        (lambda: mm.create_snapshot("toy", dataset="toy-data", train='{"$bogus": 1}'), InvalidInput, "bogus"),
        (lambda: mm.evaluate(snap), InvalidInput, "no weights"),
        (lambda: mm.register_model("x", "nomodule:Nope"), InvalidInput, "cannot load adapter"),
        (lambda: mm.train(snap, notebook=str(tmp_path / "missing.ipynb")), InvalidInput, "does not exist"),
        (lambda: mm.list_executions(status="done"), InvalidInput, "unknown status"),
    ]
    for call, error, text in cases:
        with pytest.raises(error, match=text) as info:
            call()
        assert "\n" not in str(info.value)
    mm.register_model("other", TOY)
    other = mm.create_snapshot("other")
    before = _counts(store)
    with pytest.raises(InvalidInput, match="belongs to another model"):
        mm.create_snapshot("toy", parent=other["id"])
    assert _counts(store) == before


def test_offline_run_logs_from_own_loop(store):
    mm.register_model("mine")
    snap = mm.create_snapshot("mine", config={"lr": 0.1})
    with pytest.raises(InvalidInput, match="no active run"):
        mm.log_metric("loss", 1.0)
    with mm.start_run(snap["id"]) as run:
        for epoch in range(3):
            mm.log_metric("loss", 1.0 / (epoch + 1), epoch=epoch)
    exe = store.get("executions", run.execution_id)
    assert exe["status"] == "success"
    assert [m["value"] for m in mm.get_metrics(exe["id"])] == [1.0, 0.5, 1 / 3]
    assert reconcile(store) == []
    with pytest.raises(InvalidInput, match="has no adapter"):
        mm.train(snap["id"])


def test_aborted_offline_run_stops_its_loop(store):
    mm.register_model("mine")
    snap = mm.create_snapshot("mine", config={"lr": 0.1})
    logged = 0
    with mm.start_run(snap["id"]) as run:
        for step in range(100_000):
            if step == 10:
                run.flush()
                mm.abort(run.execution_id)
            mm.log_metric("loss", 1.0, step=step)
            if step % 50 == 0:
                run.flush()  # as the batch size or the flush interval would
            logged += 1
    assert 10 <= logged <= 51, "the next flush after the abort ends the loop"
    exe = store.get("executions", run.execution_id)
    assert exe["status"] == "terminated" and exe["error"] == "aborted by user"
    with pytest.raises(InvalidInput, match="no active run"):
        mm.log_metric("loss", 1.0)


SLOW_LOOP = """
import sys, time, mm_jupyter as mm
with mm.start_run(sys.argv[1]) as run:
    print(run.execution_id, flush=True)
    for step in range(3):
        mm.log_metric("loss", 1.0 / (step + 1), step=step)  # no flush: the timer writes it
        print(f"logged {step}", flush=True)
        sys.stdin.readline()  # the test says when to go on
"""


def test_a_slow_loops_points_are_stored_while_it_waits(store):
    """A loop that logs a point and then waits (a slow epoch) has that point in the store while it
    waits: the flush timer writes it, not the loop's next log_metric, and not only the run's end."""
    mm.register_model("mine")
    snap = mm.create_snapshot("mine")
    proc = subprocess.Popen([sys.executable, "-c", SLOW_LOOP, snap["id"]], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        exe_id = proc.stdout.readline().strip()
        for step in range(3):
            assert proc.stdout.readline().strip() == f"logged {step}"
            wait_for(lambda step=step: [m["step"] for m in mm.get_metrics(exe_id)] == list(range(step + 1)),
                     timeout=20)
            assert store.get("executions", exe_id)["status"] == "in-progress", "the loop still waits"
            proc.stdin.write("\n")
            proc.stdin.flush()
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    assert store.get("executions", exe_id)["status"] == "success"
    assert [m["step"] for m in mm.get_metrics(exe_id)] == [0, 1, 2], "each point stored once"


def test_an_abort_seen_by_the_flush_timer_ends_the_loop_at_its_next_point(store):
    mm.register_model("mine")
    snap = mm.create_snapshot("mine")
    reached = False
    with mm.start_run(snap["id"]) as run:
        mm.log_metric("loss", 1.0, step=0)
        run.flush()
        mm.abort(run.execution_id)
        mm.log_metric("loss", 0.5, step=1)  # buffered; the timer finds the run ended
        time.sleep(run.flush_every + 1.0)
        mm.log_metric("loss", 0.25, step=2)  # raises what the timer met: RunEnded ends the with-block
        reached = True
    assert not reached
    assert [m["step"] for m in mm.get_metrics(run.execution_id)] == [0]
    assert store.get("executions", run.execution_id)["status"] == "terminated"


def test_reconcile_ignores_live_runs(store, toy):
    exe = mm.train(toy(epochs=20, sleep=0.5))
    wait_for(lambda: store.get("executions", exe["id"])["kernel_pid"])
    assert reconcile(store) == []
    assert store.get("executions", exe["id"])["host"] == socket.gethostname()
    mm.abort(exe["id"])


def test_notebook_and_log_are_live_during_a_long_cell(store, toy):
    exe = mm.train(toy(epochs=12, sleep=1.0))
    notebook = store.execution_dir(store.get("executions", exe["id"])) / "notebook.ipynb"

    def partial_notebook_has_output():
        if store.get("executions", exe["id"])["status"] != "in-progress" or not notebook.exists():
            return False
        text = notebook.read_text()
        return "epoch 3/12" in text

    wait_for(partial_notebook_has_output, timeout=60)
    assert "epoch 3/12" in mm.logs(exe["id"])
    progress = store.get("executions", exe["id"])["progress"]
    assert 0 < progress < 100
    assert store.get("executions", exe["id"])["status"] == "in-progress"
    mm.abort(exe["id"])


def test_paused_service_queues_fifo_and_bounds_the_queue(store, toy):
    from mm_jupyter import scheduler
    from mm_jupyter.queries.health import service_health

    first = mm.train(toy(epochs=1), service={"queue_size": 2})
    mm.wait_for(first["id"])
    scheduler.set_paused(store, first["service"], True)
    assert service_health(store, store.get("services", first["service"])).level == "warning"
    a, b = mm.train(toy(epochs=1)), mm.train(toy(epochs=1))
    assert [store.get("executions", x["id"])["status"] for x in (a, b)] == ["pending", "pending"]
    with pytest.raises(Conflict, match="queue is full"):
        mm.train(toy(epochs=1))
    scheduler.set_paused(store, first["service"], False)
    done = [mm.wait_for(x["id"]) for x in (a, b)]
    assert [d["status"] for d in done] == ["success", "success"]
    assert done[0]["started_at"] < done[1]["started_at"], "FIFO"


def test_kernel_talks_over_ipc(store, toy):
    exe = mm.train(toy(epochs=20, sleep=0.5))
    pid = wait_for(lambda: store.get("executions", exe["id"])["kernel_pid"])
    args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    connection = json.loads(Path(args[args.index("-f") + 1]).read_text())
    assert connection["transport"] == "ipc"
    mm.abort(exe["id"])


def test_evaluate_with_slices_by_crossed_fields(store, toy):
    snap = toy(epochs=1)
    mm.train(snap, wait=True)
    with pytest.raises(InvalidInput, match="unknown field"):
        mm.evaluate(snap, slice_by=["metadata.nope"])
    ev = mm.evaluate(snap, slice_by=["dir", "tag*dir"], wait=True)
    assert ev["status"] == "success", ev["error"]
    res = mm.evaluation_results(ev["id"])
    assert set(res["slices"]) == {"dir=test/blue", "dir=test/red", "tag=test&dir=test/blue", "tag=test&dir=test/red"}
    assert res["slices"]["dir=test/blue"]["accuracy"] == 1.0 and res["slices"]["dir=test/blue"]["n"] == 2
    assert len(res["items"]) == 4 and all(r["correct"] for r in res["items"])


def test_list_search_takes_wildcards_literally(store, toy):
    snap = store.get("snapshots", toy())
    mm.train(snap["id"], wait=True)
    assert len(mm.list_executions(search="toy")) == 1
    assert mm.list_executions(search="%") == [] and mm.list_executions(search="_") == []


def test_update_snapshot_edits_only_a_never_trained_version(store, toy):
    snap = toy(epochs=2)
    edited = mm.update_snapshot(snap, config={"epochs": 1}, train={"tag": "validation"})
    assert edited["config"]["epochs"] == 1 and edited["filters"]["train"] == {"tag": "validation"}
    assert edited["filters"]["test"] == {"tag": "test"}, "roles not given keep their selection"
    before = store.get("snapshots", snap)
    for kwargs, error in [({"config": {"epochs": "many"}}, InvalidInput), ({"train": '{"$bogus": 1}'}, InvalidInput),
                          ({"dataset": "no-such-data"}, NotFound), ({"labels": "a,b"}, InvalidInput)]:
        with pytest.raises(error):
            mm.update_snapshot(snap, **kwargs)
    assert store.get("snapshots", snap) == before, "a refused edit changes nothing"
    exe = mm.train(snap)
    with pytest.raises(Conflict, match="only a never-trained snapshot"):
        mm.update_snapshot(snap, config={"epochs": 3})
    mm.wait_for(exe["id"])
    with pytest.raises(Conflict):
        mm.update_snapshot(snap, config={"epochs": 3})
    assert store.get("snapshots", snap)["config"]["epochs"] == 1
