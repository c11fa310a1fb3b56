"""The warm kernel pool: a run adopts a kernel warmed up ahead for its (kernel, adapter), once, as if it
had started it (environment, folder, abort, notebook); a dead one is skipped; the pool ends when idle;
``MM_WARM_KERNELS=0`` starts none. Real kernels, the toy adapter."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import nbformat
import pytest
from support.helpers import wait_for, wait_status

import mm_jupyter as mm
from mm_jupyter import secrets, warm_kernels
from mm_jupyter.processes import pid_alive, wait_gone


@pytest.fixture
def pool(home, monkeypatch):
    """Warm kernels on for this test; the pool and every kernel it started end with the test."""
    monkeypatch.setenv("MM_WARM_KERNELS", "1")
    monkeypatch.setenv("MM_WARM_KERNEL_IDLE", "120")
    folder = warm_kernels.pool_dir(home)
    yield folder
    pool_pid = warm_kernels.pool_pid(home)
    if pool_pid:
        os.kill(pool_pid, signal.SIGTERM)
        if not wait_gone([pool_pid], 15):
            os.kill(pool_pid, signal.SIGKILL)
    left = processes_of(home)  # what this test started and is still there (none, normally)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    wait_gone(left, 5)


def processes_of(home: Path) -> list[int]:
    """The processes (other than this one) whose environment has this test's MM_HOME."""
    marker = f"MM_HOME={home}".encode() + b"\0"
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if marker in Path(f"/proc/{entry}/environ").read_bytes() + b"\0" and pid_alive(int(entry)):
                    found.append(int(entry))
            except OSError:
                pass
    return found


def ready(folder: Path, timeout: float = 60.0) -> dict:
    """The record of the (one) warm kernel the pool holds, once it is ready."""
    path = wait_for(lambda: sorted((folder / "ready").glob("*.json")), timeout, "a warm kernel")[0]
    return json.loads(path.read_text())


def runner_log(exe: dict) -> str:
    return (Path(exe["notebook_uri"]).parent / "runner.log").read_text()


def comparable(path: str, exe_id: str) -> list:
    """A notebook's cells (source, outputs, execution counts) with its run's own ids and times taken out."""
    text = Path(path).read_text().replace(exe_id, "<exe>")
    nb = nbformat.reads(text, as_version=4)
    cells = []
    for cell in nb.cells:
        outputs = [{k: v for k, v in o.items() if k != "metadata"} for o in cell.get("outputs", [])]
        outputs = json.loads(re.sub(r"\d+\.\d+ ?s\b", "<t>", json.dumps(outputs)))
        cells.append((cell.cell_type, cell.source, cell.get("execution_count"), outputs,
                      cell.metadata.get("tags", [])))
    return cells


def test_an_evaluation_adopts_the_warm_kernel_and_its_notebook_is_a_fresh_runs(store, toy, pool, monkeypatch):
    snap = toy(epochs=2, seed=3)
    monkeypatch.setenv("MM_WARM_KERNELS", "0")
    assert mm.train(snap, wait=True)["status"] == "success"
    fresh = mm.evaluate(snap, wait=True)
    assert fresh["status"] == "success", fresh["error"]
    assert not pool.exists(), "pool off: nothing started"
    monkeypatch.setenv("MM_WARM_KERNELS", "1")
    first = mm.evaluate(snap, wait=True)  # a fresh kernel; its end asks the pool for a warm one
    assert first["status"] == "success" and "adopted" not in runner_log(first)
    warm = ready(pool)
    assert warm["adapter"] == "toy_adapter:ToyAdapter" and pid_alive(warm["pid"])
    second = mm.evaluate(snap, wait=True)
    assert second["status"] == "success", second["error"]
    assert f"adopted warm kernel {warm['pid']} " in runner_log(second)
    assert not pid_alive(warm["pid"]), "used once, then shut down"
    assert comparable(second["notebook_uri"], second["id"]) == comparable(fresh["notebook_uri"], fresh["id"])
    assert json.loads(Path(second["notebook_uri"]).parent.joinpath("results.json").read_text())["accuracy"] == 1.0
    assert ready(pool)["pid"] != warm["pid"], "the claim asked for the next one"


def test_a_warm_kernel_is_claimed_once(home, pool, monkeypatch):
    """Eight runners claiming at once: one gets the kernel, the others none."""
    (pool / "ready").mkdir(parents=True)
    (pool / "starting").mkdir()
    env = {"PATH": os.environ["PATH"]}
    key = warm_kernels.key_of("python3", "toy_adapter:ToyAdapter", env)
    (pool / "ready" / f"{key}.1.json").write_text(json.dumps({"pid": 1, "key": key}))
    got: list = []
    barrier = threading.Barrier(8)

    def take() -> None:
        barrier.wait()
        got.append(warm_kernels.claim(home, "python3", "toy_adapter:ToyAdapter", env, wait=0))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in got) == 1
    assert not list((pool / "ready").iterdir())


def test_two_concurrent_runs_never_share_a_warm_kernel(store, toy, pool):
    snap = toy(epochs=1)
    assert mm.train(snap, wait=True)["status"] == "success"
    warm = ready(pool)
    runs = [mm.evaluate(snap, service={"concurrency": 2}) for _ in range(2)]
    done = [wait_status(store, r["id"], ("success", "failed"), timeout=120) for r in runs]
    assert [d["status"] for d in done] == ["success", "success"]
    logs = [runner_log(d) for d in done]
    adopted = [re.findall(r"adopted warm kernel (\d+)", text) for text in logs]
    pids = [a[0] for a in adopted if a]  # the second may wait for the next warm kernel, or start fresh
    assert str(warm["pid"]) in pids and len(pids) == len(set(pids)), "one kernel per run"


def test_abort_of_a_run_on_an_adopted_kernel_kills_it(store, toy, pool):
    assert mm.train(toy(epochs=1), wait=True)["status"] == "success"
    warm = ready(pool)
    exe = mm.train(toy(epochs=100, sleep=1.0))
    row = wait_for(lambda: (r := store.get("executions", exe["id"]))["kernel_pid"] and r, 60, "the kernel")
    assert row["kernel_pid"] == warm["pid"]
    wait_for(lambda: mm.get_metrics(exe["id"]), 60, "a metric")
    assert mm.abort(exe["id"])["status"] == "terminated"
    assert not pid_alive(warm["pid"]) and not pid_alive(row["runner_pid"])


CHECKS = """
import hashlib, json, os, sys
print(json.dumps({{"secret": hashlib.sha256(os.environ.get("POOL_SECRET", "").encode()).hexdigest() == {digest!r},
                  "token": hashlib.sha256(os.environ.get("MM_ATTEMPT_TOKEN", "").encode()).hexdigest(),
                  "attempt": os.environ.get("MM_ATTEMPT"), "home": os.environ.get("MM_HOME"),
                  "cwd": os.getcwd(), "pid": os.getpid(), "path0": sys.path[0],
                  "parent": os.environ.get("JPY_PARENT_PID")}}))
os.write(2, b"written to fd 2\\n")  # output below Python reaches the notebook, as in a fresh kernel
"""


def test_secrets_and_the_token_reach_an_adopted_kernel_but_not_its_notebook(store, toy, pool, home, tmp_path):
    value = "pool-secret-" + hashlib.sha256(b"x").hexdigest()[:16]
    secrets.set_secret(home, "POOL_SECRET", value)
    params = nbformat.v4.new_code_cell("execution_id = ''\nmm_home = ''")
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(
        CHECKS.format(digest=hashlib.sha256(value.encode()).hexdigest()))])
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    path = tmp_path / "env.ipynb"
    nbformat.write(nb, path)
    assert mm.train(toy(epochs=1), wait=True)["status"] == "success"
    warm = ready(pool)
    exe = mm.train(toy(epochs=1), notebook=str(path), secrets=["POOL_SECRET"], wait=True)
    assert exe["status"] == "success", exe["error"]
    assert f"adopted warm kernel {warm['pid']} " in runner_log(exe)
    text = Path(exe["notebook_uri"]).read_text()
    outputs = nbformat.reads(text, as_version=4).cells[-1].outputs
    seen = json.loads(next(o["text"] for o in outputs if o.get("name") == "stdout"))
    row = store.get("executions", exe["id"])
    folder = str(Path(exe["notebook_uri"]).parent)
    assert seen["secret"] is True and seen["token"] == row["token_hash"] and seen["pid"] == warm["pid"]
    assert seen["attempt"] == "1" and seen["home"] == str(home) and seen["cwd"] == folder
    assert seen["path0"] != warm["cwd"] and seen["parent"] != str(warm["pool_pid"])
    assert "written to fd 2" in text
    assert value not in text and "POOL_SECRET" not in text.split('"cells"')[0]
    for file in home.rglob("*"):
        if file.is_file() and file.name != "secrets.json":
            assert value.encode() not in file.read_bytes(), f"the secret in {file}"


def test_a_dead_warm_kernel_is_skipped_with_a_fresh_start(store, toy, pool):
    snap = toy(epochs=1)
    assert mm.train(snap, wait=True)["status"] == "success"
    warm = ready(pool)
    os.kill(warm["pid"], signal.SIGKILL)
    wait_gone([warm["pid"]], 5)
    exe = mm.evaluate(snap, wait=True)
    assert exe["status"] == "success", exe["error"]
    log = runner_log(exe)
    assert f"adopted warm kernel {warm['pid']} " not in log  # a fresh kernel, or a newer warm one
    # the pool noticed the death (its record gone) or the runner claimed it and logged one line
    assert "not used (it is not running)" in log or f"warm kernel {warm['pid']} of" in \
        (pool / "pool.log").read_text()


def test_a_warm_kernel_of_a_dead_pool_is_never_used(store, toy, pool, home):
    snap = toy(epochs=1)
    assert mm.train(snap, wait=True)["status"] == "success"
    warm = ready(pool)
    pool_pid = warm["pool_pid"]
    os.kill(pool_pid, signal.SIGKILL)
    assert wait_gone([pool_pid, warm["pid"]], 5), "its warm kernel ends with it"
    exe = mm.evaluate(snap, wait=True)
    assert exe["status"] == "success", exe["error"]
    assert f"warm kernel {warm['pid']} not used" in runner_log(exe)


def test_the_pool_exits_after_its_idle_time(pool, home, monkeypatch):
    monkeypatch.setenv("MM_WARM_KERNEL_IDLE", "3")
    warm_kernels.request(home, "python3", "toy_adapter:ToyAdapter", dict(os.environ))  # what a run end does
    warm = ready(pool)
    pool_pid = warm["pool_pid"]
    assert pid_alive(pool_pid) and pid_alive(warm["pid"])
    assert wait_gone([pool_pid, warm["pid"]], 30), "idle: the pool and its warm kernel end"
    assert not list((pool / "ready").glob("*.json")) and warm_kernels.pool_pid(home) is None


def test_stop_pool_ends_the_pool_and_its_warm_kernel_now(pool, home):
    warm_kernels.request(home, "python3", "toy_adapter:ToyAdapter", dict(os.environ))
    warm = ready(pool)
    assert warm_kernels.stop_pool(home) is True
    assert wait_gone([warm["pid"]], 15), "the warm kernel it held ends with it"
    assert warm_kernels.pool_pid(home) is None and warm_kernels.stop_pool(home) is False


def test_no_pool_when_warm_kernels_are_off(store, toy, pool, home, monkeypatch):
    monkeypatch.setenv("MM_WARM_KERNELS", "0")
    snap = toy(epochs=1)
    assert mm.train(snap, wait=True)["status"] == "success"
    assert mm.evaluate(snap, wait=True)["status"] == "success"
    time.sleep(0.5)
    assert not pool.exists() and warm_kernels.pool_pid(home) is None


def test_an_adopted_kernel_outlives_its_pool(store, toy, pool, home):
    """Once adopted, a kernel is its runner's: the pool ending (idle, killed) does not end the run."""
    assert mm.train(toy(epochs=1), wait=True)["status"] == "success"
    warm = ready(pool)
    exe = mm.train(toy(epochs=8, sleep=0.5))
    row = wait_for(lambda: (r := store.get("executions", exe["id"]))["kernel_pid"] and r, 60, "the kernel")
    assert row["kernel_pid"] == warm["pid"]
    os.kill(warm["pool_pid"], signal.SIGKILL)
    assert wait_gone([warm["pool_pid"]], 5)
    done = wait_status(store, exe["id"], ("success", "failed", "aborted", "rerun"), timeout=120)
    assert done["status"] == "success" and done["attempts"] == 1, done["error"]
