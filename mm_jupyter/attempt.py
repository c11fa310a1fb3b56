"""The runner process of one attempt: ``python -m mm_jupyter.attempt <execution_id> <attempt>``.

It takes the attempt (if it is still its to run), heartbeats, enforces the execution timeout and
watches the artifact storage from a thread, runs the notebook with papermill on the service's
kernel (IPC transport), records the outcome through its tracker, and hands back to the scheduler
(the next queued execution starts). Every write goes through a ``Tracker``. Started by the local
runner directly and by the Dask runner on a worker (``MM_SUPERVISOR_PID`` set: then it also ends
itself, as a lost worker, when the worker process that supervises it dies).
"""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, TypeVar

from .executions import EventType, Outcome, Status, heartbeat_interval
from .kernel_pool import after_run, claim_for_run, run_adapter
from .notebooks import LOG_NAME, NOTEBOOK_NAME, execute, template_for
from .processes import hostname, signal_group, wait_gone
from .scheduler import dispatch
from .secrets import Redactor, check_names, resolve
from .store import Store
from .tracker import ATTEMPT_ENV, TOKEN_ENV, LocalTracker, Tracker, take_token

STORAGE_ERRNOS = {errno.ENOSPC: "No space left on device", errno.EROFS: "Read-only file system",
                  errno.EDQUOT: "Disk quota exceeded", errno.EFBIG: "File too large"}
SQLITE_FULL = 13
FULL_TEXTS = ("database or disk is full",)  # a kernel's SQLite error, of which we only have the text
INVALID_ERRORS = ("ModuleNotFoundError", "ImportError", "InvalidInput")
T = TypeVar("T")


class Terminated(BaseException):
    """SIGTERM reached the runner (an abort, a drain or a shutdown)."""


def say(message: str) -> None:
    """A line on the runner's stderr (its ``runner.log``), never an error: that file may sit on the
    very disk that is full, and the runner must live to record how the run ended."""
    try:
        print(message, file=sys.stderr, flush=True)
    except OSError:
        pass


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
    """Heartbeat, execution-timeout, storage and supervisor guard of one running attempt (its own
    tracker and connection). A storage problem seen on two heartbeats in a row ends the run; a
    heartbeat refused (the attempt was ended elsewhere) stops the kernel."""

    def __init__(self, tracker: Tracker, timeout: float, folder: Path | None = None):
        super().__init__(daemon=True)
        self.tracker, self.timeout, self.folder = tracker, timeout, folder
        self.started = time.monotonic()
        self.kernel_pid: int | None = None
        self.timed_out = False
        self.revoked = False
        self.storage_error: str | None = None
        self._storage_seen: str | None = None
        self.supervisor_lost = False
        supervisor = os.environ.get("MM_SUPERVISOR_PID")
        self.supervisor = int(supervisor) if supervisor and supervisor.isdigit() else None
        self.done = threading.Event()

    def run(self) -> None:
        interval = heartbeat_interval()
        while not self.done.wait(interval):
            try:
                alive = self.tracker.heartbeat()
            except Exception as exc:  # a busy store must not end the heartbeat thread
                say(f"[mm] heartbeat failed: {exc}")
                alive = True
            if not alive and not self.revoked and not self.done.is_set():
                self.revoked = True  # aborted, drained or reconciled meanwhile: not ours to run any more
                threading.Thread(target=self._stop_kernel, daemon=True).start()
            if not self.timed_out and time.monotonic() - self.started > self.timeout:
                self.timed_out = True
                self.tracker.event(f"execution timeout of {self.timeout:g}s exceeded", "error")
                threading.Thread(target=self._stop_kernel, daemon=True).start()
            if self.supervisor and not self.supervisor_lost and os.getppid() != self.supervisor:
                self.supervisor_lost = True  # the Dask worker that ran us died: we are orphans now
                self._stop_kernel(grace=0.0)
            self._check_storage()
        self.tracker.close()

    def _check_storage(self) -> None:
        if self.folder is None or self.storage_error or not self.folder.is_dir():
            return
        problem = storage_problem(self.folder)
        if problem and problem == self._storage_seen:
            self.storage_error = problem
            self.tracker.event(f"artifact storage failed: {problem}", "error")
            threading.Thread(target=self._stop_kernel, daemon=True).start()
        self._storage_seen = problem

    def _stop_kernel(self, grace: float = 5.0) -> None:
        """Interrupt the running cell; kill the kernel if it does not give up within ``grace`` s."""
        pid = self.kernel_pid
        if not pid:
            return
        if grace:
            signal_group(pid, signal.SIGINT)
        if not wait_gone([pid], grace) and not self.done.is_set():
            signal_group(pid, signal.SIGKILL)


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


def run(execution_id: str, attempt: int) -> Status:
    """Run attempt ``attempt`` of a claimed execution to its end; returns the status it ended in."""
    store = Store(create=False)
    exe = store.get("executions", execution_id)
    token = take_token(store.execution_dir(exe))
    tracker = LocalTracker(store, execution_id, attempt, token)
    if not persist(lambda: tracker.started(runner_pid=os.getpid(), host=hostname()), "recording the start"):
        return Status(tracker.state()["status"])  # aborted, reconciled or retried meanwhile: not ours
    svc = store.get("services", exe["service"])
    folder = store.execution_dir(exe)
    watcher = Watcher(LocalTracker(store.home, execution_id, attempt, token), float(svc["execution_timeout"]),
                      folder)
    outcome, error = watched(watcher, lambda: _execute(store, tracker, exe, svc, watcher, token),
                             float(svc["execution_timeout"]))
    status = persist(lambda: tracker.outcome(outcome, error), "recording the outcome")
    if not watcher.supervisor:  # under Dask the supervising task hands back, over its worker's connection
        persist(lambda: dispatch(store), "starting the next execution", wait=60.0)
    return status


def watched(watcher: Watcher, body: Callable[[], tuple[Outcome, str | None]],
            timeout: float) -> tuple[Outcome, str | None]:
    """Run ``body`` (the notebook) under ``watcher`` with SIGTERM turned into ``Terminated``; the
    (outcome, error) of the attempt, the watcher's findings (lost supervisor, storage, timeout) first."""

    def on_sigterm(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, on_sigterm)
    watcher.start()
    try:
        outcome, error = body()
    except Terminated:
        outcome, error = Outcome.TERMINATED, "runner received SIGTERM"
    except Exception as exc:  # anything the runner itself hit (the disk, the store): recorded, not lost
        outcome, error = classify(exc)
        if storage_full(exc):
            outcome = Outcome.STORAGE
    finally:
        watcher.done.set()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the outcome be recorded whole
    if watcher.supervisor_lost:
        outcome, error = Outcome.RESET, "dask worker lost (the worker process running it died)"
    elif watcher.storage_error:
        outcome, error = Outcome.STORAGE, f"OSError: {watcher.storage_error}"
    elif watcher.timed_out:
        outcome, error = Outcome.TIMEOUT, f"execution timeout of {timeout:g}s exceeded"
    return outcome, error


def _execute(store: Store, tracker: Tracker, exe: dict, svc: dict, watcher: Watcher,
             token: str) -> tuple[Outcome, str | None]:
    """Papermill on the service's kernel, the notebook and log beside the weights; (outcome, error)."""
    folder = store.inside_artifacts(store.execution_dir(exe))
    folder.mkdir(parents=True, exist_ok=True)
    notebook = folder / NOTEBOOK_NAME
    tracker.notebook(str(notebook))

    def kernel_started(pid: int) -> None:
        watcher.kernel_pid = pid
        tracker.kernel_started(pid)

    params = dict(exe["params"] or {})
    template = template_for(exe["kind"], params.pop("notebook", None))
    params.update(execution_id=exe["id"], mm_home=str(store.home), attempt=tracker.attempt)
    # the token reaches the kernel through its environment, never the notebook (which others may read)
    os.environ[TOKEN_ENV], os.environ[ATTEMPT_ENV] = token, str(tracker.attempt)
    log = SafeLog(folder / LOG_NAME)
    # secrets too (names in the params and the service, values resolved now: one removed since the
    # submit fails the run, naming it); what the kernel prints of them is redacted
    wanted = params.pop("secrets", None) or []
    try:
        values = resolve(store.home, check_names([*wanted, *(svc.get("secrets") or [])]))
    except Exception as exc:
        log.write(f"[mm] cannot start: {exc}\n")
        log.close()
        return Outcome.INVALID, str(exc)
    os.environ.update(values)
    redactor = Redactor(values)
    log.write(f"[mm] {time.strftime('%Y-%m-%d %H:%M:%S')} attempt {exe['attempts']} of "
              f"{exe['kind']} {exe['id']} on kernel {svc['kernel_name']}\n")
    # a warm kernel of this (kernel, adapter) when the pool has one (kernel_pool); else a fresh one
    adapter, private = run_adapter(params, dask=bool(watcher.supervisor)), {TOKEN_ENV, ATTEMPT_ENV, *values}
    km = adapter and claim_for_run(str(store.home), svc["kernel_name"], adapter, private, str(folder),
                                   kernel_started, say)
    ended = run_notebook(template, notebook, params, kernel_name=svc["kernel_name"], log=log, folder=folder,
                         watcher=watcher, tracker=tracker, redactor=redactor, on_kernel_start=kernel_started,
                         km=km or None)
    if adapter and ended[0] != Outcome.TERMINATED and not watcher.revoked:
        after_run(str(store.home), svc["kernel_name"], adapter, private, say)
    return ended


def run_notebook(template: Path, notebook: Path, params: dict, *, kernel_name: str, log: SafeLog, folder: Path,
                 watcher: Watcher, tracker: Tracker, redactor: Redactor,
                 on_kernel_start: Callable[[int], None], km: Any = None) -> tuple[Outcome, str | None]:
    """Papermill on ``kernel_name`` in ``folder``; (outcome, error), the error redacted, the end written
    to ``log`` (which is closed)."""
    from papermill.exceptions import PapermillExecutionError

    outcome, error = Outcome.SUCCESS, None
    try:
        execute(template, notebook, params, kernel_name=kernel_name, log_file=log,
                cwd=folder, on_kernel_start=on_kernel_start, redactor=redactor, km=km)
    except PapermillExecutionError as exc:
        evalue = redactor.text(str(exc.evalue)).strip().splitlines()[-1:] or [""]
        error = f"cell {exc.cell_index}: {exc.ename}: {evalue[0][:500]}"
        if _storage_text(str(exc.evalue)):
            outcome = Outcome.STORAGE
        elif exc.ename in INVALID_ERRORS:
            outcome = Outcome.INVALID
        else:
            outcome = Outcome.EXCEPTION
    except Terminated:
        outcome, error = Outcome.TERMINATED, "runner received SIGTERM"
    except Exception as exc:  # DeadKernelError, NoSuchKernel, timeouts of nbclient, I/O errors
        outcome, error = classify(exc)
    if outcome == Outcome.SUCCESS and log.error is not None:
        outcome, error = classify(log.error)
    if error is not None:
        error = redactor.text(error)
    log.write(f"[mm] ended: {outcome}{': ' + error if error else ''}\n")
    log.close()
    if watcher.revoked and outcome != Outcome.SUCCESS:
        tracker.event("the attempt was ended elsewhere while it ran", "info", EventType.LOG)
    return outcome, error


def _storage_text(text: str) -> bool:
    """A kernel-side exception (we only have its text) caused by a full or read-only disk."""
    return any(f"[Errno {code}]" in text or name in text for code, name in STORAGE_ERRNOS.items()) or \
        any(t in text for t in FULL_TEXTS)


def storage_full(exc: BaseException) -> bool:
    """Whether an exception of this process means the disk under the store is full."""
    if isinstance(exc, sqlite3.OperationalError):
        return getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL or any(t in str(exc) for t in FULL_TEXTS)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def persist(fn: Callable[[], T], what: str, wait: float = 3600.0) -> T:
    """``fn()``, retried while the disk is full (at most ``wait`` seconds): what a run records at its
    start and end is recorded once space returns, instead of the run being lost."""
    deadline, delay = time.monotonic() + wait, 0.25
    while True:
        try:
            return fn()
        except (sqlite3.OperationalError, OSError) as exc:
            if not storage_full(exc) or time.monotonic() > deadline:
                raise
            say(f"[mm] {what}: the disk is full ({exc}); retrying until space returns")
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def classify(exc: BaseException) -> tuple[Outcome, str]:
    """The outcome of an exception the runner itself caught."""
    name = type(exc).__name__
    if name == "DeadKernelError":
        return Outcome.RESET, "kernel died"
    if name == "NoSuchKernel":
        return Outcome.START_FAILURE, f"kernel {getattr(exc, 'name', str(exc))!r} is not installed"
    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
        return Outcome.STORAGE, f"{name}: {str(exc)[:500]}"
    if isinstance(exc, OSError):
        return Outcome.START_FAILURE, f"{name}: {exc}"
    return Outcome.EXCEPTION, f"{name}: {str(exc).strip()[:500]}"


def skip_slow_optional_imports() -> None:
    """Where jupyter's ``jsonschema[format-nongpl]`` is installed, importing papermill (nbformat →
    jsonschema) imports ``rfc3987_syntax``, which builds a parser for ~2 s, only to check the ``iri``
    string format that notebooks never use. A runner process (one per attempt) goes without it:
    jsonschema treats it as not installed. Measured: papermill's import 2.7 s → 0.6 s."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def main(argv: list[str]) -> None:
    skip_slow_optional_imports()
    if len(argv) < 2 or not argv[1].isdigit():
        raise SystemExit("usage: python -m mm_jupyter.attempt EXECUTION_ID ATTEMPT")
    run(argv[0], int(argv[1]))


if __name__ == "__main__":
    main(sys.argv[1:])
