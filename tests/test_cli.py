"""The `mm` command as a user runs it (a real subprocess each time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from support.helpers import make_imagefolder


def mm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "mm_jupyter.cli", *args], capture_output=True, text=True,
                          timeout=300, env=os.environ.copy())
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_store_commands_do_not_import_torch(home):
    code = ("import sys; from mm_jupyter.cli import main; main(['executions']); main(['models', '--json']);"
            "bad = [m for m in ('torch', 'ultralytics', 'papermill', 'PIL') if m in sys.modules];"
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_cli_flow_with_json_outputs(home, tmp_path):
    data = make_imagefolder(tmp_path / "data")
    dataset = mm("datasets", "add", str(data), "--name", "toy-data").stdout.strip()
    assert dataset.startswith("d-")
    assert json.loads(mm("datasets", "--json").stdout)[0]["format"] == "imagefolder"
    model = mm("models", "add", "toy", "--adapter", "toy_adapter:ToyAdapter", "--labels", "blue,red").stdout.strip()
    assert json.loads(mm("models", "--json").stdout)[0]["id"] == model
    run = mm("train", "--model", "toy", "--dataset", "toy-data", "--config", "epochs=2", "--wait", "--json")
    exe = json.loads(run.stdout)
    assert exe["status"] == "success" and exe["progress"] == 100
    listed = json.loads(mm("executions", "--json", "--status", "success", "--search", "toy").stdout)
    assert [e["id"] for e in listed] == [exe["id"]]
    table = mm("executions").stdout
    assert exe["id"] in table and "success" in table and "mgmt-train-" in table
    assert json.loads(mm("executions", "--json", "--search", "nomatch").stdout) == []
    shown = json.loads(mm("show", exe["id"], "--json").stdout)
    assert shown["notebook"].endswith(f"executions/{exe['id']}/notebook.ipynb")
    assert any("status -> success" in e["message"] for e in shown["events"])
    assert "epoch 2/2" in mm("logs", exe["id"]).stdout
    assert "epoch 2/2" in mm("logs", "-f", exe["id"]).stdout
    points = json.loads(mm("metrics", exe["id"], "--json").stdout)
    assert {p["name"] for p in points} == {"loss", "accuracy", "train/loss"}
    assert "accuracy" in mm("metrics", exe["id"]).stdout
    again = json.loads(mm("rerun", exe["id"], "--wait", "--json").stdout)
    assert again["rerun_of"] == exe["id"] and again["status"] == "success"
    ev = json.loads(mm("evaluate", exe["snapshot_id"], "--wait", "--json").stdout)
    assert ev["status"] == "success"
    aborted = mm("abort", exe["id"], check=False)
    assert aborted.returncode == 4 and "already ended" in aborted.stderr
    mm("remove", again["id"])
    assert again["id"] not in mm("executions").stdout
    assert "mgmt-train-" in mm("services").stdout


@pytest.mark.parametrize("args,code,message", [
    (("show", "e-doesnotexist"), 3, "unknown execution 'e-doesnotexist'"),
    (("abort", "e-nope"), 3, "unknown execution"),
    (("datasets", "add", "/no/such/folder"), 2, "does not exist"),
    (("executions", "--status", "finished"), 2, "unknown status 'finished'"),
    (("train", "s-nope", "--kernel", "nokernel"), 3, "unknown snapshot"),
    (("models", "add", "m", "--adapter", "yolo", "--config", "epochs=ten"), 2, "must be int"),
    (("models", "add", "m", "--adapter", "yolo", "--config", "nonsense=1"), 2, "unknown config key"),
    (("filters", "add", "f", '{"tags": {"$regex": "x"}}'), 2, "$regex"),
    (("filters", "add", "f", "{not json"), 2, "JSON"),
    (("train",), 2, "needs a SNAPSHOT"),
])
def test_bad_input_is_one_line_and_nonzero(home, args, code, message):
    proc = mm(*args, check=False)
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_kernel_creates_nothing(home, tmp_path):
    mm("datasets", "add", str(make_imagefolder(tmp_path / "data")), "--name", "d")
    mm("models", "add", "toy", "--adapter", "toy_adapter:ToyAdapter")
    snap = mm("snapshots", "add", "--model", "toy", "--dataset", "d").stdout.strip()
    proc = mm("train", snap, "--kernel", "no-such-kernel", check=False)
    assert proc.returncode == 2 and "kernel 'no-such-kernel' is not installed" in proc.stderr
    assert json.loads(mm("executions", "--json").stdout) == []
    assert json.loads(mm("services", "--json").stdout) == []
