"""Fault tolerance: a killed kernel, killed runner / ``mm`` / Jupyter server processes, many
concurrent metric writers, and artifact storage that fills up or turns read-only mid-run.

Every wait polls against a generous bound (the machine running these may be loaded); the only
tight bound is the one the contract states: a killed kernel leaves ``in-progress`` within 10 s."""

from __future__ import annotations

import errno
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from support.helpers import statuses, wait_for

import mm_jupyter as mm
from mm_jupyter import executions as ex
from mm_jupyter.processes import pid_alive
from mm_jupyter.queries.executions import events, metrics_since
from mm_jupyter.store import Store
from mm_jupyter.tracker import new_token, token_hash


def running_row(store, exe_id: str, min_progress: float = 0.0, timeout: float = 120) -> dict:
    """The execution's row once its kernel runs and its progress passed ``min_progress``."""
    def ready():
        row = store.get("executions", exe_id)
        assert row["status"] not in ex.FINISHED, row["error"]
        return row if row["kernel_pid"] and (row["progress"] or 0) > min_progress else None

    return wait_for(ready, timeout=timeout)


def no_process(*pids: int | None, timeout: float = 30) -> None:
    wait_for(lambda: not any(pid_alive(p) for p in pids if p), timeout=timeout)


# --- a killed kernel --------------------------------------------------------------------------------


def test_sigkill_kernel_mid_epoch_keeps_notebook_and_metrics(store, toy):
    exe = mm.train(toy(epochs=300, sleep=0.2, points_per_epoch=20))
    row = running_row(store, exe["id"], min_progress=1.0)  # past epoch 3 of 300
    before = mm.get_metrics(exe["id"])
    reported_epoch = round(row["progress"] * 300 / 100)
    os.kill(row["kernel_pid"], signal.SIGKILL)
    killed = time.monotonic()
    left = wait_for(lambda: (r := store.get("executions", exe["id"]))["status"] != "in-progress" and r,
                     timeout=10)
    assert time.monotonic() - killed <= 10
    assert left["status"] == "aborted" and left["error"] == "kernel died", "on_reset=fail"
    no_process(row["runner_pid"], row["kernel_pid"])

    after = mm.get_metrics(exe["id"])
    assert [m for m in after if m["id"] <= before[-1]["id"]] == before, "every point stored before the kill is kept"
    per_epoch = Counter(m["epoch"] for m in after)
    epochs = sorted(per_epoch)
    assert epochs == list(range(1, epochs[-1] + 1)) and epochs[-1] >= reported_epoch
    assert all(per_epoch[e] == 22 for e in epochs[:-1]), "20 train/loss + loss + accuracy per epoch"
    assert len({(m["name"], m["step"]) for m in after}) == len(after), "no duplicated point"

    notebook = Path(left["notebook_uri"])
    nb = nbformat.read(notebook, as_version=4)
    nbformat.validate(nb)
    text = notebook.read_text()
    assert exe["id"] in text and f"epoch {reported_epoch}/300" in text, "the partial executed notebook is kept"


# --- killed processes, then a restart ----------------------------------------------------------------


def mm_cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mm_jupyter.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs)


def kill_group(pid: int | None) -> None:
    if pid:
        try:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_mm_process_runner_and_kernel_killed_then_mm_start_reruns(store, toy):
    """A crash of everything: the waiting ``mm train --wait``, the runner and the kernel die at once;
    the next ``mm`` command reconciles (on_reset=rerun) and the retry runs to success."""
    snap = toy(epochs=8, sleep=0.5)
    waiting = mm_cli("train", snap, "--on-reset", "rerun", "--wait")
    exe_id = wait_for(lambda: [e["id"] for e in mm.list_executions()], timeout=120)[0]
    row = running_row(store, exe_id)
    assert waiting.poll() is None
    for pid in (waiting.pid, row["runner_pid"], row["kernel_pid"]):
        kill_group(pid)
    waiting.wait(timeout=30)
    no_process(row["runner_pid"], row["kernel_pid"])
    assert store.get("executions", exe_id)["status"] == "in-progress", "nobody noticed yet"

    again = subprocess.run([sys.executable, "-m", "mm_jupyter.cli", "executions", "--json"], capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    final = mm.wait_for(exe_id, timeout=180)
    assert final["status"] == "success" and final["attempts"] == 2, final["error"]
    assert statuses(store, exe_id) == ["pending", "in-progress", "rerun", "in-progress", "success"]
    assert any(e["message"].startswith("status -> rerun: runner process is gone") for e in events(store, exe_id))
    assert mm.list_executions(status="in-progress") == []


class JupyterServer:
    """``jupyter server`` with the mm-jupyter extension on 127.0.0.1 and a random token."""

    def __init__(self, root: Path):
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.root, self.token = root, secrets.token_hex(16)
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> None:
        cmd = [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={self.port}",
               "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
               "--ServerApp.jpserver_extensions={'mm_jupyter.server': True}", f"--ServerApp.root_dir={self.root}"]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        log = open(self.root / f"server-{time.monotonic_ns()}.log", "wb")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.root)
        log.close()
        wait_for(lambda: self.proc.poll() is None and self._meta_ok() or self.proc.poll() is not None, timeout)
        assert self.proc.poll() is None, "jupyter server exited at start"

    def _meta_ok(self) -> bool:
        try:
            return self.call("GET", "meta") is not None
        except OSError:
            return False

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/mm-jupyter/api/{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read())

    def kill(self) -> None:
        kill_group(self.proc.pid)
        self.proc.wait(timeout=30)


@pytest.mark.slow
def test_jupyter_server_and_runner_killed_then_server_restart_reconciles(store, toy, tmp_path):
    pytest.importorskip("jupyter_server")
    snap = toy(epochs=300, sleep=0.5)
    server = JupyterServer(tmp_path)
    server.start()
    try:
        exe_id = server.call("POST", "train", {"snapshot": snap})["execution"]["id"]
        row = running_row(store, exe_id)
        server.kill()
        beat = store.get("executions", exe_id)["heartbeat_at"]
        wait_for(lambda: store.get("executions", exe_id)["heartbeat_at"] > beat, timeout=30)  # the run goes on
        os.kill(row["runner_pid"], signal.SIGKILL)  # then its runner dies too (the kernel is orphaned)
        no_process(row["runner_pid"])
        assert store.get("executions", exe_id)["status"] == "in-progress"
        server.start()  # a new server start reconciles
        shown = server.call("GET", f"executions/{exe_id}")
        shown = shown.get("execution", shown)
        assert shown["status"] == "aborted" and "runner process is gone" in shown["error"]
        no_process(row["kernel_pid"])
    finally:
        if server.proc and server.proc.poll() is None:
            server.kill()
    assert mm.list_executions(status="in-progress") == []


# --- many writers, one reader ------------------------------------------------------------------------


WRITER = """
import sys, time
from pathlib import Path
from mm_jupyter.adapter import RunContext

home, exe_id, go, token = sys.argv[1:5]
ctx = RunContext.open(home, exe_id, token, 1)
Path(go + "." + exe_id).touch()
while not Path(go).exists():
    time.sleep(0.01)
for i in range(10_000):
    ctx.log_metric("loss", i / 10_000, step=i, epoch=i // 1000)
    if i % 250 == 249:
        time.sleep(0.02)  # paced, so that the reader polls while all eight write (at least 0.8 s)
ctx.close()
"""


def test_eight_writers_and_a_polling_reader_lose_and_duplicate_nothing(store, toy):
    snap = store.get("snapshots", toy())
    ids, tokens = [], {}
    for _ in range(8):
        token = new_token()
        row = store.insert("executions", {"kind": "train", "snapshot_id": snap["id"], "model_id": snap["model_id"],
                                          "service": "svc", "status": "in-progress", "progress": 0.0, "attempts": 1,
                                          "params": {"offline": True}, "token_hash": token_hash(token)})
        ids.append(row["id"])
        tokens[row["id"]] = token
    go = store.home / "go"
    errors = store.home / "writers.err"
    with open(errors, "w") as err:
        writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(store.home), exe_id, str(go), tokens[exe_id]],
                                    stderr=err) for exe_id in ids]
    wait_for(lambda: all(Path(f"{go}.{i}").exists() for i in ids), timeout=120)
    go.touch()
    reader = Store(store.home)
    seen: dict[str, list[int]] = {i: [] for i in ids}
    last = dict.fromkeys(ids, 0)
    polls = 0
    while any(w.poll() is None for w in writers) or polls == 0:
        for exe_id in ids:
            rows = metrics_since(reader, exe_id, last[exe_id])
            if rows:
                last[exe_id] = rows[-1]["id"]
                seen[exe_id] += [r["step"] for r in rows]
        polls += 1
        time.sleep(0.02)
    for exe_id in ids:  # what landed after the last poll
        seen[exe_id] += [r["step"] for r in metrics_since(reader, exe_id, last[exe_id])]
    assert [w.wait(timeout=120) for w in writers] == [0] * 8, errors.read_text()[-3000:]
    assert "database is locked" not in errors.read_text()
    assert polls > 1
    total = store.query("SELECT count(*) AS n, count(DISTINCT execution_id || ':' || step) AS d FROM metrics")[0]
    assert total == {"n": 80_000, "d": 80_000}
    for exe_id in ids:
        assert seen[exe_id] == list(range(10_000)), "the reader saw every point once, in order"


# --- artifact storage fails mid-run ------------------------------------------------------------------


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


ROOT = os.geteuid() == 0


@pytest.fixture
def tmpfs_artifacts(home):
    """As root: ``$MM_HOME/artifacts`` on a 2 MiB tmpfs, and the mounts a test adds, undone after.
    Otherwise (or where mounting is refused): no mount, an empty list."""
    artifacts = home / "artifacts"
    artifacts.mkdir(parents=True)
    mounted = [artifacts] if ROOT and _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(artifacts)) else []
    yield mounted
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(folder: Path) -> None:
    """Write to ``folder`` until its disk has no block left (it may be full already: the run writes
    too). Smaller and smaller writes after the first refusal: a 64 KiB write refused with 60 KiB
    still free would leave the run room to go on."""
    try:
        fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    else:
        try:
            for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
        finally:
            os.close(fd)
    assert os.statvfs(folder).f_bavail == 0, "the disk is full"


@pytest.mark.parametrize("fault", ["disk-full", "read-only"])
def test_artifact_storage_failure_mid_run_fails_with_reason(store, toy, tmpfs_artifacts, fault):
    if fault == "disk-full" and not tmpfs_artifacts:
        pytest.skip("filling a disk safely needs a small tmpfs (root)")
    exe = mm.train(toy(epochs=300, sleep=0.3), service={"on_reset": "rerun"})
    row = running_row(store, exe["id"], min_progress=0.5)
    folder = Path(row["notebook_uri"]).parent
    counts = {t: store.query(f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in ("models", "snapshots", "datasets")}
    if fault == "disk-full":
        fill(tmpfs_artifacts[0])
        reason = "No space left on device"
    elif tmpfs_artifacts:  # the folder turns read-only under the run (as after a remount-ro on I/O errors)
        assert _mount("-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder))
        tmpfs_artifacts.append(folder)
        reason = "Read-only file system"
    else:  # not root: permissions do it (root would ignore them)
        folder.chmod(0o555)
        reason = "Permission denied"
    try:
        final = mm.wait_for(exe["id"], timeout=120)
    finally:
        if not tmpfs_artifacts:
            folder.chmod(0o755)
    assert final["status"] == "failed" and final["attempts"] == 1, "a storage failure is not retried"
    assert reason in final["error"] and final["error"].startswith("artifact storage failed")
    no_process(row["runner_pid"], row["kernel_pid"])
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert {t: store.query(f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in counts} == counts
    assert [m["epoch"] for m in mm.get_metrics(exe["id"]) if m["name"] == "loss"][:2] == [1, 2]
    assert store.get("snapshots", exe["snapshot_id"])["status"] == "failed"
    fresh = Store(store.home)  # another process's view: readable, same rows
    assert fresh.get("executions", exe["id"])["status"] == "failed"


def test_read_only_folder_at_start_fails_with_reason(store, toy, tmpfs_artifacts):
    snap = toy(epochs=2)
    models = store.home / "artifacts" / "models"
    models.mkdir()
    if tmpfs_artifacts:
        assert _mount("-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(models))
        tmpfs_artifacts.append(models)
    else:
        models.chmod(0o555)
    try:
        final = mm.train(snap, wait=True)
    finally:
        if not tmpfs_artifacts:
            models.chmod(0o755)
    reason = "Read-only file system" if tmpfs_artifacts else "Permission denied"
    assert final["status"] == "failed" and reason in final["error"]
    assert final["error"].startswith("cannot start runner")
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_full_disk_under_the_whole_home_fails_the_run_with_the_reason(tmp_path, monkeypatch):
    """The store and the artifacts on one small disk that fills up mid-run: the run ends ``failed``
    with the storage reason (recorded once space returns), not ``aborted: runner process is gone``."""
    if not ROOT:
        pytest.skip("filling a disk safely needs a small tmpfs (root)")
    from support.helpers import TOY, make_imagefolder

    from mm_jupyter import api
    from mm_jupyter.datasets import register_dataset

    home = tmp_path / "smallhome"
    home.mkdir()
    assert _mount("-t", "tmpfs", "-o", "size=8m", "tmpfs", str(home))
    try:
        monkeypatch.setenv("MM_HOME", str(home))
        monkeypatch.setenv("MM_HEARTBEAT_INTERVAL", "0.5")
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parent / "support"),
                                                          os.environ.get("PYTHONPATH", "")]))
        api._STORES.clear()
        store = api.connect()
        register_dataset(store, make_imagefolder(tmp_path / "data"), name="toy-data")
        mm.register_model("toy", TOY)
        snap = mm.create_snapshot("toy", config={"epochs": 300, "sleep": 0.3}, dataset="toy-data")
        exe = mm.train(snap["id"], service={"on_reset": "rerun"})
        row = running_row(store, exe["id"], min_progress=0.5)
        fill(home)
        time.sleep(6)  # the kernel's writes and the runner's bookkeeping meet a full disk
        assert store.get("executions", exe["id"])["status"] == "in-progress", "nothing decided while full"
        (home / "filler").unlink(missing_ok=True)  # space returns
        final = mm.wait_for(exe["id"], timeout=120)
        assert final["status"] == "failed" and final["attempts"] == 1, final
        assert any(text in final["error"] for text in ("No space left on device", "database or disk is full")), final
        no_process(row["runner_pid"], row["kernel_pid"])
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        api._STORES.clear()
        subprocess.run(["umount", "-l", str(home)], capture_output=True)
