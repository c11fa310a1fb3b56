"""The local runner: each execution is its own process group running papermill on a local kernel.

``start`` spawns ``python -m mm_jupyter.runners.local <execution_id>`` detached (new session); that
process heartbeats, enforces the execution timeout, runs the notebook, records the outcome and
dispatches the next queued execution. Nothing needs to stay running between executions.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from .. import executions as ex
from ..notebooks import LOG_NAME, NOTEBOOK_NAME, execute, template_for
from ..store import Store, now


def start(store: Store, exe: dict) -> int | None:
    """Spawn the runner process of a claimed (``in-progress``) execution; returns its pid."""
    folder = store.execution_dir(exe)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        out = open(folder / "runner.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "mm_jupyter.runners.local", exe["id"]],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "MM_HOME": str(store.home)}, cwd=folder,
        )
        out.close()
    except OSError as exc:
        ex.transition(store, exe["id"], ex.FAILED, error=f"cannot start runner: {exc}",
                      message=f"cannot start runner: {exc}")
        return None
    store.update("executions", exe["id"], runner_pid=proc.pid, host=socket.gethostname())
    threading.Thread(target=proc.wait, daemon=True).start()  # reap it: no zombies in long-lived parents
    return proc.pid


class Terminated(BaseException):
    """SIGTERM reached the runner (an abort, a drain or a shutdown)."""


class Watcher(threading.Thread):
    """Heartbeat and execution-timeout guard of one running execution (own store connection)."""

    def __init__(self, home: Path, exe: dict, timeout: float):
        super().__init__(daemon=True)
        self.home, self.exe_id, self.timeout = home, exe["id"], timeout
        self.started = time.monotonic()
        self.kernel_pid: int | None = None
        self.timed_out = False
        self.done = threading.Event()

    def run(self) -> None:
        store = Store(self.home)
        interval = ex.heartbeat_interval()
        while not self.done.wait(interval):
            store.conn.execute("UPDATE executions SET heartbeat_at = ? WHERE id = ?", [now(), self.exe_id])
            if not self.timed_out and time.monotonic() - self.started > self.timeout:
                self.timed_out = True
                store.add_event(self.exe_id, f"execution timeout of {self.timeout:g}s exceeded", "error")
                threading.Thread(target=self._stop_kernel, daemon=True).start()
        store.close()

    def _stop_kernel(self) -> None:
        """Interrupt the running cell; kill the kernel if it does not give up within 5 s."""
        pid = self.kernel_pid
        if not pid:
            return
        ex._signal_group(pid, signal.SIGINT)
        if not ex._wait_gone([pid], 5.0) and not self.done.is_set():
            ex._signal_group(pid, signal.SIGKILL)


def run(execution_id: str) -> str:
    """Run one claimed execution to its end; returns the status it ended in."""
    from papermill.exceptions import PapermillExecutionError

    store = Store()
    exe = store.get("executions", execution_id)
    if exe["status"] != ex.IN_PROGRESS:
        return exe["status"]
    svc = store.get("services", exe["service"])
    store.update("executions", exe["id"], runner_pid=os.getpid(), host=socket.gethostname(),
                 heartbeat_at=now())
    folder = store.execution_dir(exe)
    folder.mkdir(parents=True, exist_ok=True)
    notebook = folder / NOTEBOOK_NAME
    store.update("executions", exe["id"], notebook_uri=str(notebook))
    watcher = Watcher(store.home, exe, float(svc["execution_timeout"]))

    def kernel_started(pid: int) -> None:
        watcher.kernel_pid = pid
        Store(store.home).update("executions", exe["id"], kernel_pid=pid)

    def on_sigterm(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, on_sigterm)
    watcher.start()
    params = dict(exe["params"] or {})
    template = template_for(exe["kind"], params.pop("notebook", None))
    params.update(execution_id=exe["id"], mm_home=str(store.home))
    with open(folder / LOG_NAME, "a", buffering=1) as log:
        log.write(f"[mm] {time.strftime('%Y-%m-%d %H:%M:%S')} attempt {exe['attempts']} of "
                  f"{exe['kind']} {exe['id']} on kernel {svc['kernel_name']}\n")
        outcome, error = "success", None
        try:
            execute(template, notebook, params, kernel_name=svc["kernel_name"], log_file=log,
                    cwd=folder, on_kernel_start=kernel_started)
        except PapermillExecutionError as exc:
            outcome = "exception"
            evalue = str(exc.evalue).strip().splitlines()[-1:] or [""]
            error = f"cell {exc.cell_index}: {exc.ename}: {evalue[0][:500]}"
        except Terminated:
            outcome, error = "terminated", "runner received SIGTERM"
        except Exception as exc:  # DeadKernelError, NoSuchKernel, timeouts of nbclient, I/O errors
            outcome, error = _classify(exc)
        finally:
            watcher.done.set()
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the outcome be recorded whole
        if watcher.timed_out:
            outcome, error = "exception", f"execution timeout of {svc['execution_timeout']:g}s exceeded"
        log.write(f"[mm] ended: {outcome}{': ' + error if error else ''}\n")
    status = _record(store, exe, outcome, error)
    from ..services import dispatch

    dispatch(store)
    return status


def _classify(exc: Exception) -> tuple[str, str]:
    name = type(exc).__name__
    if name == "DeadKernelError":
        return "reset", "kernel died"
    if name == "NoSuchKernel":
        return "start-failure", f"kernel {exc} is not installed"
    if isinstance(exc, OSError):
        return "start-failure", f"{name}: {exc}"
    return "exception", f"{name}: {str(exc).strip()[:500]}"


def _record(store: Store, exe: dict, outcome: str, error: str | None) -> str:
    current = store.get("executions", exe["id"])
    if current["status"] != ex.IN_PROGRESS:
        return current["status"]  # an abort (or a reconciler) already decided
    if current["abort_requested"]:
        ex.transition(store, exe["id"], ex.TERMINATED, message="aborted by user", error="aborted by user")
    elif outcome == "success":
        ex.transition(store, exe["id"], ex.SUCCESS, progress=100.0, runner_pid=None, kernel_pid=None)
    elif outcome == "exception":
        ex.on_exception(store, exe["id"], error or "error")
    elif outcome == "start-failure":
        ex.transition(store, exe["id"], ex.FAILED, error=error, message=error)
    else:
        ex.on_reset(store, exe["id"], error or "reset")
    final = store.get("executions", exe["id"])["status"]
    if exe["kind"] == "train" and final in (ex.FAILED, ex.ABORTED, ex.TERMINATED):
        store.conn.execute(
            "UPDATE snapshots SET status = 'failed' WHERE id = ? AND status = 'created'", [exe["snapshot_id"]]
        )
    return final


if __name__ == "__main__":
    run(sys.argv[1])
