"""The local runner: each execution is its own process group running papermill on a local kernel.

``start`` spawns ``python -m mm_jupyter.runners.local <execution_id> <attempt>`` detached (new
session); that process heartbeats, enforces the execution timeout, runs the notebook, records the
outcome and dispatches the next queued execution. Nothing needs to stay running between executions.
The Dask runner starts this same process on a worker (``MM_SUPERVISOR_PID`` set): then it also
ends itself, as a lost worker, when the worker process that supervises it dies.
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
from typing import TextIO

from .. import executions as ex
from ..notebooks import LOG_NAME, NOTEBOOK_NAME, execute, template_for
from ..store import Store, now

STORAGE_ERRORS = ("No space left on device", "Read-only file system", "Disk quota exceeded",
                  "File too large")


def runner_command(exe: dict) -> list[str]:
    return [sys.executable, "-m", "mm_jupyter.runners.local", exe["id"], str(exe["attempts"])]


def start(store: Store, exe: dict) -> int | None:
    """Spawn the runner process of a claimed (``in-progress``) execution; returns its pid."""
    folder = store.execution_dir(exe)
    try:
        folder = store.inside_artifacts(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "runner.log", "ab") as out:
            proc = subprocess.Popen(
                runner_command(exe), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, env={**os.environ, "MM_HOME": str(store.home)}, cwd=folder,
            )
    except Exception as exc:  # OSError (disk full, read-only), StoreError (a path outside artifacts)
        ex.transition(store, exe["id"], ex.FAILED, error=f"cannot start runner: {exc}",
                      message=f"cannot start runner: {exc}", attempt=exe["attempts"])
        return None
    store.conn.execute("UPDATE executions SET runner_pid = ?, host = ? WHERE id = ? AND attempts = ?",
                       [proc.pid, socket.gethostname(), exe["id"], exe["attempts"]])
    threading.Thread(target=proc.wait, daemon=True).start()  # reap it: no zombies in long-lived parents
    return proc.pid


def stop(store: Store, exe: dict) -> None:
    """Interrupt the kernel, then SIGTERM → SIGKILL the runner's and the kernel's process groups."""
    ex.kill_execution_processes(exe)


def problem(store: Store, service: dict, wait: bool = True) -> str | None:
    """The local runner is always there (start failures show in the service's health)."""
    return None


class Terminated(BaseException):
    """SIGTERM reached the runner (an abort, a drain or a shutdown)."""


def storage_problem(folder: Path) -> str | None:
    """Why nothing more can be written to ``folder`` (read-only, full), or None (cheap: no write)."""
    try:
        stat = os.statvfs(folder)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    if stat.f_flag & os.ST_RDONLY:
        return f"[Errno 30] Read-only file system: {str(folder)!r}"
    if not os.access(folder, os.W_OK):
        return f"[Errno 13] Permission denied (read-only folder): {str(folder)!r}"
    if stat.f_bavail == 0 and stat.f_blocks:
        return f"[Errno 28] No space left on device: {str(folder)!r}"
    return None


class Watcher(threading.Thread):
    """Heartbeat, execution-timeout, storage and supervisor guard of one running execution (own
    connection). A storage problem seen on two heartbeats in a row ends the run as ``failed``."""

    def __init__(self, home: Path, exe: dict, timeout: float, folder: Path | None = None):
        super().__init__(daemon=True)
        self.home, self.exe_id, self.timeout, self.folder = home, exe["id"], timeout, folder
        self.started = time.monotonic()
        self.kernel_pid: int | None = None
        self.timed_out = False
        self.storage_error: str | None = None
        self._storage_seen: str | None = None
        self.supervisor_lost = False
        supervisor = os.environ.get("MM_SUPERVISOR_PID")
        self.supervisor = int(supervisor) if supervisor and supervisor.isdigit() else None
        self.done = threading.Event()

    def run(self) -> None:
        store = Store(self.home)
        interval = ex.heartbeat_interval()
        while not self.done.wait(interval):
            try:
                store.conn.execute("UPDATE executions SET heartbeat_at = ? WHERE id = ?", [now(), self.exe_id])
            except Exception as exc:  # a busy store must not end the heartbeat thread
                print(f"[mm] heartbeat failed: {exc}", file=sys.stderr, flush=True)
            if not self.timed_out and time.monotonic() - self.started > self.timeout:
                self.timed_out = True
                store.add_event(self.exe_id, f"execution timeout of {self.timeout:g}s exceeded", "error")
                threading.Thread(target=self._stop_kernel, daemon=True).start()
            if self.supervisor and not self.supervisor_lost and os.getppid() != self.supervisor:
                self.supervisor_lost = True  # the Dask worker that ran us died: we are orphans now
                self._stop_kernel(grace=0.0)
            self._check_storage(store)
        store.close()

    def _check_storage(self, store: Store) -> None:
        if self.folder is None or self.storage_error or not self.folder.is_dir():
            return
        problem = storage_problem(self.folder)
        if problem and problem == self._storage_seen:
            self.storage_error = problem
            store.add_event(self.exe_id, f"artifact storage failed: {problem}", "error")
            threading.Thread(target=self._stop_kernel, daemon=True).start()
        self._storage_seen = problem

    def _stop_kernel(self, grace: float = 5.0) -> None:
        """Interrupt the running cell; kill the kernel if it does not give up within ``grace`` s."""
        pid = self.kernel_pid
        if not pid:
            return
        if grace:
            ex._signal_group(pid, signal.SIGINT)
        if not ex._wait_gone([pid], grace) and not self.done.is_set():
            ex._signal_group(pid, signal.SIGKILL)


class SafeLog:
    """The execution's log file; a failing disk never breaks the run's bookkeeping (first error kept)."""

    def __init__(self, path: Path):
        self.error: OSError | None = None
        try:
            self.fh: TextIO | None = open(path, "a", buffering=1)
        except OSError as exc:
            self.fh, self.error = None, exc

    def _guarded(self, name: str, *args: str) -> None:
        """Call the file's method ``name``; an OSError is kept (the first one), not raised."""
        if self.fh is not None:
            try:
                getattr(self.fh, name)(*args)
            except OSError as exc:
                self.error = self.error or exc

    def write(self, text: str) -> int:
        self._guarded("write", text)
        return len(text)

    def flush(self) -> None:
        self._guarded("flush")

    def close(self) -> None:
        self._guarded("close")


def run(execution_id: str, attempt: int | None = None) -> str:
    """Run one claimed execution (attempt ``attempt``) to its end; returns the status it ended in."""
    store = Store()
    exe = store.get("executions", execution_id)
    if exe["status"] != ex.IN_PROGRESS or (attempt is not None and exe["attempts"] != attempt):
        return exe["status"]  # aborted, reconciled or retried meanwhile: not ours to run any more
    svc = store.get("services", exe["service"])
    store.update("executions", exe["id"], runner_pid=os.getpid(), host=socket.gethostname(),
                 heartbeat_at=now())
    watcher = Watcher(store.home, exe, float(svc["execution_timeout"]), store.execution_dir(exe))

    def on_sigterm(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, on_sigterm)
    watcher.start()
    try:
        outcome, error = _execute(store, exe, svc, watcher)
    except Terminated:
        outcome, error = "terminated", "runner received SIGTERM"
    except Exception as exc:  # anything the runner itself hit (the disk, the store): recorded, not lost
        outcome, error = _classify(exc)
    finally:
        watcher.done.set()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the outcome be recorded whole
    if watcher.supervisor_lost:
        outcome, error = "reset", "dask worker lost (the worker process running it died)"
    elif watcher.storage_error:
        outcome, error = "storage", f"OSError: {watcher.storage_error}"
    elif watcher.timed_out:
        outcome, error = "exception", f"execution timeout of {svc['execution_timeout']:g}s exceeded"
    status = _record(store, exe, outcome, error)
    if not watcher.supervisor:  # under Dask the supervising task dispatches, over its worker's connection
        from ..services import dispatch

        dispatch(store)
    return status


def _execute(store: Store, exe: dict, svc: dict, watcher: Watcher) -> tuple[str, str | None]:
    """Papermill on the service's kernel, the notebook and log beside the weights; (outcome, error)."""
    from papermill.exceptions import PapermillExecutionError

    folder = store.inside_artifacts(store.execution_dir(exe))
    folder.mkdir(parents=True, exist_ok=True)
    notebook = folder / NOTEBOOK_NAME
    store.update("executions", exe["id"], notebook_uri=str(notebook))

    def kernel_started(pid: int) -> None:
        watcher.kernel_pid = pid
        Store(store.home).update("executions", exe["id"], kernel_pid=pid)

    params = dict(exe["params"] or {})
    template = template_for(exe["kind"], params.pop("notebook", None))
    params.update(execution_id=exe["id"], mm_home=str(store.home))
    log = SafeLog(folder / LOG_NAME)
    log.write(f"[mm] {time.strftime('%Y-%m-%d %H:%M:%S')} attempt {exe['attempts']} of "
              f"{exe['kind']} {exe['id']} on kernel {svc['kernel_name']}\n")
    outcome, error = "success", None
    try:
        execute(template, notebook, params, kernel_name=svc["kernel_name"], log_file=log,
                cwd=folder, on_kernel_start=kernel_started)
    except PapermillExecutionError as exc:
        evalue = str(exc.evalue).strip().splitlines()[-1:] or [""]
        outcome = "storage" if _storage_error(str(exc.evalue)) else "exception"
        error = f"cell {exc.cell_index}: {exc.ename}: {evalue[0][:500]}"
    except Terminated:
        outcome, error = "terminated", "runner received SIGTERM"
    except Exception as exc:  # DeadKernelError, NoSuchKernel, timeouts of nbclient, I/O errors
        outcome, error = _classify(exc)
    if outcome == "success" and log.error is not None:
        outcome, error = _classify(log.error)
    log.write(f"[mm] ended: {outcome}{': ' + error if error else ''}\n")
    log.close()
    return outcome, error


def _storage_error(text: str) -> bool:
    return any(mark in text for mark in STORAGE_ERRORS)


def _classify(exc: BaseException) -> tuple[str, str]:
    name = type(exc).__name__
    if name == "DeadKernelError":
        return "reset", "kernel died"
    if name == "NoSuchKernel":
        return "start-failure", f"kernel {exc} is not installed"
    if _storage_error(str(exc)):
        return "storage", f"{name}: {str(exc)[:500]}"
    if isinstance(exc, OSError):
        return "start-failure", f"{name}: {exc}"
    return "exception", f"{name}: {str(exc).strip()[:500]}"


def _record(store: Store, exe: dict, outcome: str, error: str | None) -> str:
    """Apply the outcome of this attempt, unless an abort or a reconciler already decided."""
    attempt = exe["attempts"]
    current = store.get("executions", exe["id"])
    if current["status"] != ex.IN_PROGRESS or current["attempts"] != attempt:
        return current["status"]
    if current["abort_requested"]:
        ex.transition(store, exe["id"], ex.TERMINATED, message="aborted by user", error="aborted by user",
                      attempt=attempt)
    elif outcome == "success":
        ex.transition(store, exe["id"], ex.SUCCESS, progress=100.0, runner_pid=None, kernel_pid=None,
                      attempt=attempt)
    elif outcome == "exception":
        ex.on_exception(store, exe["id"], error or "error", attempt=attempt)
    elif outcome == "storage":
        message = f"artifact storage failed: {error}"
        ex.transition(store, exe["id"], ex.FAILED, error=message, message=message, runner_pid=None,
                      kernel_pid=None, attempt=attempt)
    elif outcome == "start-failure":
        ex.transition(store, exe["id"], ex.FAILED, error=error, message=error, runner_pid=None,
                      kernel_pid=None, attempt=attempt)
    else:
        ex.on_reset(store, exe["id"], error or "reset", attempt=attempt)
    final = store.get("executions", exe["id"])["status"]
    if exe["kind"] == "train" and final in (ex.FAILED, ex.ABORTED, ex.TERMINATED):
        store.conn.execute(
            "UPDATE snapshots SET status = 'failed' WHERE id = ? AND status = 'created'", [exe["snapshot_id"]]
        )
    return final


def skip_slow_optional_imports() -> None:
    """Where jupyter's ``jsonschema[format-nongpl]`` is installed, importing papermill (nbformat →
    jsonschema) imports ``rfc3987_syntax``, which builds a parser for ~2 s, only to check the ``iri``
    string format that notebooks never use. A runner process (one per execution) goes without it:
    jsonschema treats it as not installed. Measured: papermill's import 2.7 s → 0.6 s."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def main(argv: list[str]) -> None:
    skip_slow_optional_imports()
    run(argv[0], int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else None)


if __name__ == "__main__":
    main(sys.argv[1:])
