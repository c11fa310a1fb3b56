"""The execution state machine: statuses, transitions, attempts, on-reset handling, reconciliation."""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

from .errors import Conflict, InvalidInput
from .store import Store, now

CREATED, PENDING, IN_PROGRESS = "created", "pending", "in-progress"
SUCCESS, FAILED, ABORTED, TERMINATED, RERUN = "success", "failed", "aborted", "terminated", "rerun"
STATUSES = (CREATED, PENDING, IN_PROGRESS, SUCCESS, FAILED, ABORTED, TERMINATED, RERUN)
QUEUED = (PENDING, RERUN)
ACTIVE = (CREATED, PENDING, RERUN, IN_PROGRESS)
FINISHED = (SUCCESS, FAILED, ABORTED, TERMINATED)
KINDS = ("train", "evaluate")

TRANSITIONS: dict[str, tuple[str, ...]] = {
    CREATED: (PENDING, TERMINATED, FAILED),
    PENDING: (IN_PROGRESS, TERMINATED, FAILED),
    RERUN: (IN_PROGRESS, TERMINATED, FAILED),
    IN_PROGRESS: (SUCCESS, FAILED, RERUN, ABORTED, TERMINATED),
}


def heartbeat_interval() -> float:
    return float(os.environ.get("MM_HEARTBEAT_INTERVAL", "2"))


def heartbeat_stale_after() -> float:
    """Seconds without a heartbeat after which an in-progress execution counts as lost."""
    return float(os.environ.get("MM_HEARTBEAT_STALE", "30"))


def transition(store: Store, execution_id: str, to: str, *, message: str | None = None,
               attempt: int | None = None, **fields) -> bool:
    """Move an execution to ``to`` if its current status allows it; returns whether it moved.

    The check and the write are one conditional UPDATE, so two processes racing (an abort and a
    runner finishing, say) can never both win. With ``attempt``, it only moves while the execution is
    still on that attempt: a late verdict about an old attempt never touches its retry.
    """
    allowed_from = [s for s, targets in TRANSITIONS.items() if to in targets]
    fields = {"status": to, **fields}
    if to in FINISHED:
        fields.setdefault("ended_at", now())
    if to in QUEUED:
        fields.setdefault("queued_at", now())
    sets = ", ".join(f"{k} = ?" for k in fields)
    marks = ", ".join("?" * len(allowed_from))
    guard, extra = ("", []) if attempt is None else (" AND attempts = ?", [attempt])
    with store.tx():
        cur = store.conn.execute(
            f"UPDATE executions SET {sets} WHERE id = ? AND status IN ({marks}){guard}",
            [*fields.values(), execution_id, *allowed_from, *extra],
        )
        moved = cur.rowcount == 1
        if moved:
            store.add_event(execution_id, f"status -> {to}" + (f": {message}" if message else ""),
                            "error" if to in (FAILED, ABORTED) else "info")
    return moved


def service_of(store: Store, execution: dict) -> dict:
    """The execution's service; one removed meanwhile counts as the defaults (``on_reset`` fail), so a
    lost run is still ended instead of blocking reconciliation."""
    rows = store.find("services", "name = ?", [execution["service"]]) if execution["service"] else []
    if rows:
        return rows[0]
    from .services import DEFAULTS

    return {**DEFAULTS, "name": execution["service"]}


def on_exception(store: Store, execution_id: str, error: str, attempt: int | None = None) -> str:
    """An exception (or timeout) in the notebook: retry while attempts allow, else ``failed``.
    Returns the status it moved to, or the current one when another verdict came first."""
    exe = store.get("executions", execution_id)
    svc = service_of(store, exe)
    if exe["attempts"] < svc["max_attempts"]:
        to = RERUN
        message = f"attempt {exe['attempts']}/{svc['max_attempts']} failed, retrying: {error}"
    else:
        to = FAILED
        message = error
    moved = transition(store, execution_id, to, error=error, message=message, runner_pid=None,
                       kernel_pid=None, attempt=attempt)
    return to if moved else store.get("executions", execution_id)["status"]


def on_reset(store: Store, execution_id: str, reason: str, attempt: int | None = None) -> str:
    """The kernel, runner or worker died: the service's on_reset decides (``rerun`` or ``aborted``).
    Returns the status it moved to, or the current one when another verdict came first."""
    exe = store.get("executions", execution_id)
    svc = service_of(store, exe)
    if svc["on_reset"] == "rerun" and exe["attempts"] < svc["max_attempts"]:
        to, message = RERUN, f"{reason}; on_reset=rerun, re-queued"
    else:
        to = ABORTED
        message = reason if svc["on_reset"] == "fail" else f"{reason}; no attempts left"
    moved = transition(store, execution_id, to, error=reason, message=message, runner_pid=None,
                       kernel_pid=None, attempt=attempt)
    return to if moved else store.get("executions", execution_id)["status"]


# --- process liveness -------------------------------------------------------------------------


def pid_alive(pid: int | None, must_contain: str = "") -> bool:
    """Whether ``pid`` is a live (non-zombie) process on this host whose command line has a marker."""
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        if must_contain:
            return must_contain.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
        return True
    except (OSError, IndexError):
        return False


RUNNER_MARK = "mm_jupyter.runners.local"


def dask_start_timeout() -> float:
    """Seconds a Dask-submitted attempt may wait for a worker before it counts as lost."""
    return float(os.environ.get("MM_DASK_START_TIMEOUT", "600"))


def lost_reason(exe: dict, host: str, at: float) -> str | None:
    """Why an in-progress execution counts as lost (its runner is gone, its heartbeat is stale), or None."""
    offline = bool((exe["params"] or {}).get("offline"))
    marker = "" if offline else RUNNER_MARK
    if exe["host"] == host and exe["runner_pid"] and not pid_alive(exe["runner_pid"], marker):
        return "runner process is gone"
    if offline:
        return None
    beat = exe["heartbeat_at"] or exe["started_at"] or 0
    waiting_for_worker = (exe.get("runner") or "local").startswith("dask://") and not exe["runner_pid"]
    if waiting_for_worker:
        if beat < at - max(dask_start_timeout(), heartbeat_stale_after()):
            return f"no Dask worker started it within {at - beat:.0f}s"
        return None
    if beat < at - heartbeat_stale_after():
        return f"heartbeat stale for {at - beat:.0f}s (runner, kernel or server died)"
    return None


def reconcile(store: Store) -> list[str]:
    """Find in-progress executions whose runner is gone or whose heartbeat is stale; apply on_reset.
    Also ends the runs of services whose drain time ran out, then starts what waits for a free slot.

    Called at the start of every ``mm`` process (and by the server now and then), so no execution
    stays ``in-progress`` forever after a crash of the server, the runner, a worker or the machine,
    and none stays queued because the process that would have started it died.
    """
    from . import runners

    host = socket.gethostname()
    at = now()
    handled = []
    for exe in store.find("executions", "status = ?", [IN_PROGRESS]):
        reason = lost_reason(exe, host, at)
        if reason and on_reset(store, exe["id"], reason, attempt=exe["attempts"]) in (RERUN, ABORTED):
            runners.stop(store, exe)
            handled.append(exe["id"])
    from .services import dispatch, finish_drains

    handled += finish_drains(store)
    if queued_count(store):
        dispatch(store)
    return handled


def queued_count(store: Store) -> int:
    """Executions waiting for a slot on an unpaused service (cheap: the status index)."""
    marks = ", ".join("?" * len(QUEUED))
    return store.conn.execute(
        f"SELECT count(*) FROM executions e JOIN services s ON s.name = e.service "
        f"WHERE e.status IN ({marks}) AND s.paused = 0", list(QUEUED),
    ).fetchone()[0]


# --- stopping processes -----------------------------------------------------------------------


def _signal_group(pid: int | None, sig: int) -> None:
    if not pid:
        return
    try:
        os.killpg(os.getpgid(pid), sig)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def kill_execution_processes(exe: dict, grace: float = 5.0) -> None:
    """Interrupt the kernel, then SIGTERM → SIGKILL the runner's and the kernel's process groups."""
    import signal

    runner, kernel = exe.get("runner_pid"), exe.get("kernel_pid")
    if exe.get("host") not in (None, socket.gethostname()):
        return
    if runner and not pid_alive(runner, RUNNER_MARK):
        runner = None
    if kernel and not pid_alive(kernel):
        kernel = None
    if not (runner or kernel):
        return
    _signal_group(kernel, signal.SIGINT)
    _wait_gone([kernel], 1.0)
    _signal_group(runner, signal.SIGTERM)
    if not _wait_gone([runner, kernel], grace):
        _signal_group(kernel, signal.SIGTERM)
        if not _wait_gone([runner, kernel], 2.0):
            _signal_group(runner, signal.SIGKILL)
            _signal_group(kernel, signal.SIGKILL)
            _wait_gone([runner, kernel], 2.0)


def _wait_gone(pids: list[int | None], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(pid_alive(p) for p in pids if p):
            return True
        time.sleep(0.05)
    return not any(pid_alive(p) for p in pids if p)


# --- user actions -----------------------------------------------------------------------------


def abort(store: Store, execution_id: str) -> dict:
    """Stop an execution: ``terminated``, with its kernel and runner process trees gone."""
    exe = store.get("executions", execution_id)
    if exe["status"] in FINISHED:
        raise Conflict(f"execution {exe['id']} already ended ({exe['status']}): nothing to abort")
    store.update("executions", exe["id"], abort_requested=1)
    if exe["status"] == IN_PROGRESS:
        from . import runners

        runners.stop(store, exe)
    transition(store, exe["id"], TERMINATED, message="aborted by user", error="aborted by user",
               runner_pid=None, kernel_pid=None)
    from .services import dispatch

    dispatch(store)
    return store.get("executions", exe["id"])


def remove(store: Store, execution_id: str) -> None:
    """Delete an ended execution's row, metrics, events and artifacts (never the snapshot's weights)."""
    exe = store.get("executions", execution_id)
    if exe["status"] not in FINISHED:
        raise Conflict(f"execution {exe['id']} is {exe['status']}: abort it before removing it")
    folder = store.inside_artifacts(store.execution_dir(exe))
    with store.tx():
        for table in ("metrics", "events"):
            store.conn.execute(f"DELETE FROM {table} WHERE execution_id = ?", [exe["id"]])
        store.conn.execute("DELETE FROM executions WHERE id = ?", [exe["id"]])
    if folder.is_dir() and (folder / "..").resolve().name == "executions":
        shutil.rmtree(folder, ignore_errors=True)


def check_status_filter(status: str | None) -> None:
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"unknown status {status!r} (one of: {', '.join(STATUSES)})")
