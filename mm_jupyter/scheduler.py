"""The scheduler: services as queues, FIFO dispatch, drains, reconciliation, abort and remove.

It is the only module that starts or stops runners. A service has ``concurrency × max_instances``
slots; executions beyond them wait ``pending`` (or ``rerun`` when re-queued for a retry) and start
first in, first out by the time they were queued. At most ``queue_size`` wait: a submit past that
is refused (``Conflict``) and writes nothing. A paused service starts nothing; stopping a service
pauses it, gives its running executions ``drain_time`` seconds, then ends those left per its
``on_reset``. Reconciliation (at every ``mm`` start, at server start and on the server's timer)
finds runs whose runner is gone or whose heartbeat is stale, finishes drains and starts what waits.
"""

from __future__ import annotations

import shutil
import time
from typing import Any

from .errors import Conflict, one_line
from .executions import (
    ABORTED,
    CREATED,
    FAILED,
    FINISHED,
    IN_PROGRESS,
    PENDING,
    RERUN,
    TERMINATED,
    EventType,
    Outcome,
    fail,
    heartbeat_stale_after,
    on_reset,
    remote_heartbeat_stale_after,
    transition,
)
from .processes import hostname, pid_alive, runner_alive
from .queries import queue
from .registry import runner_for, runner_scheme
from .secrets import check_known
from .services import check_combination, check_setting, check_settings, new_service, service_name
from .store import Store, now
from .tracker import hand_over_token, new_token, token_hash
from .tracking_url import ping

DASK_START_TIMEOUT = 600.0


# --- services -----------------------------------------------------------------------------------


def _known_secrets(store: Store, settings: dict) -> None:
    """A service's secret names must be set (``NotFound`` naming the first that is not)."""
    if settings.get("secrets"):
        check_known(store.home, settings["secrets"])


def ensure_service(store: Store, model_id: str, kind: str, settings: dict | None = None) -> dict:
    """The service of a model and kind, created with the defaults on first use; ``settings`` (checked)
    update it."""
    name = service_name(kind, model_id)
    settings = check_settings(settings or {})
    _known_secrets(store, settings)
    existing = store.first("services", name=name)
    if existing:
        if settings:
            check_combination({**existing, **settings})
            store.update("services", name, **settings)
        return store.get("services", name)
    row = new_service(model_id, kind, settings)
    store.db["services"].insert({**row, "created_at": now()}, ignore=True)
    if settings:
        store.update("services", name, **settings)
    return store.get("services", name)


def configure(store: Store, name: str, settings: dict[str, Any]) -> dict:
    """Change an existing service's settings (checked); returns the service."""
    svc = store.get("services", name)
    settings = check_settings(settings)
    check_combination({**svc, **settings})
    _known_secrets(store, settings)
    if settings.get("tracking_url"):
        ping(settings["tracking_url"])  # its workers could never report: refused, nothing changed
    if settings:
        store.update("services", svc["name"], **settings)
    dispatch(store)
    return store.get("services", svc["name"])


def set_paused(store: Store, name: str, paused: bool) -> dict:
    """Pause (new executions stay pending) or resume a service; resuming also cancels a drain."""
    svc = store.get("services", name)
    fields: dict[str, Any] = {"paused": int(paused)}
    if not paused:
        fields["draining_until"] = None
    store.update("services", svc["name"], **fields)
    if not paused:
        dispatch(store)
    return store.get("services", svc["name"])


def check_queue_room(store: Store, service: dict) -> None:
    """Refuse a submit when ``queue_size`` executions already wait (call it in the submit's transaction)."""
    waiting = queue.queue_length(store, service["name"])
    if waiting >= service["queue_size"]:
        raise Conflict(f"service {service['name']} queue is full: {waiting} executions wait "
                       f"(queue_size {service['queue_size']}); retry when some have started")


def enqueue(store: Store, row: dict, settings: dict | None = None, snapshot_fields: dict | None = None) -> dict:
    """Create an execution and queue it on its model's service in one transaction (a refused submit
    writes nothing); the caller dispatches after."""
    with store.tx():
        svc = ensure_service(store, row["model_id"], row["kind"], settings)
        check_queue_room(store, svc)
        exe = store.insert("executions", {**row, "service": svc["name"], "status": CREATED})
        if snapshot_fields:
            store.update("snapshots", row["snapshot_id"], **snapshot_fields)
        store.add_event(exe["id"], f"created on service {svc['name']}", type=EventType.CREATED)
        transition(store, exe["id"], PENDING)
    return exe


# --- the queue ----------------------------------------------------------------------------------


def claim_queued(store: Store, skip: frozenset[str] | set[str] = frozenset()) -> list[dict]:
    """Atomically move queued executions into free slots (FIFO per service, unpaused services not in
    ``skip``); returns those claimed, each marked with the runner its attempt goes to."""
    claimed: list[dict] = []
    with store.tx():
        for svc in queue.services_with_queue(store):
            if svc["name"] in skip:
                continue
            free = svc["concurrency"] * svc["max_instances"] - queue.running_count(store, svc["name"])
            for exe_id in queue.next_queued(store, svc["name"], max(free, 0)):
                t = now()
                exe = store.get("executions", exe_id)
                token = new_token()
                transition(store, exe_id, IN_PROGRESS, attempt=exe["attempts"], started_at=t, heartbeat_at=t,
                           attempts=exe["attempts"] + 1, progress=0, runner_pid=None, kernel_pid=None, host=None,
                           worker=None, runner=svc["runner"], ended_at=None, outcome=None,
                           token_hash=token_hash(token))
                store.add_attempt_token(exe_id, exe["attempts"] + 1, token_hash(token))
                claimed.append({**store.get("executions", exe_id), "token": token,
                                "tracking_url": svc.get("tracking_url")})
    return claimed


def blocked_services(store: Store) -> set[str]:
    """Services with queued executions whose runner cannot start them now (unreachable, no worker
    with the GPUs asked): their executions stay pending instead of failing."""
    return {svc["name"] for svc in queue.services_with_queue(store, remote_only=True)
            if runner_for(svc["runner"]).problem(store, svc)}


def dispatch(store: Store) -> list[str]:
    """Start every queued execution that has a free slot on its (unpaused, reachable) service."""
    started = []
    for exe in claim_queued(store, blocked_services(store)):
        if exe["tracking_url"]:  # a worker that shares nothing: the token goes with the task
            runner_for(exe["runner"]).start(store, exe, store.get("services", exe["service"]), on_done=dispatch_home)
            started.append(exe["id"])
            continue
        exe.pop("tracking_url")
        try:
            hand_over_token(store.inside_artifacts(store.execution_dir(exe)), exe.pop("token"))
        except Exception as exc:  # the disk is full or read-only, a path outside the artifact root
            fail(store, exe["id"], f"cannot start runner: {one_line(exc)}", Outcome.START_FAILURE,
                 attempt=exe["attempts"])
            continue
        svc = store.get("services", exe["service"])
        runner_for(exe["runner"]).start(store, exe, svc, on_done=dispatch_home)
        started.append(exe["id"])
    return started


def dispatch_home(home: str) -> None:
    """``dispatch`` on the store at ``home`` (what a runner calls once an attempt ran elsewhere)."""
    store = Store(home)
    try:
        dispatch(store)
    finally:
        store.close()


def stop_attempt(store: Store, exe: dict) -> None:
    """Stop an attempt's processes wherever its runner put them."""
    runner_for(exe.get("runner") or "local").stop(store, exe)


# --- stopping a service -------------------------------------------------------------------------


def stop(store: Store, name: str, *, drain_time: float | None = None, wait: bool = True,
         poll: float = 0.2) -> dict:
    """Stop a service: pause it (its queue keeps waiting), give its running executions ``drain_time``
    seconds (default: the service's) to finish, then end those left per its on_reset.

    With ``wait=False`` it returns at once; the end of the drain is then applied by the next
    ``reconcile`` (any ``mm`` start, the server's timer) after the deadline."""
    svc = store.get("services", name)
    drain = svc["drain_time"] if drain_time is None else check_setting("drain_time", drain_time)
    deadline = now() + drain
    store.update("services", svc["name"], paused=1, draining_until=deadline)
    while wait and queue.running_count(store, svc["name"]) and now() < deadline:
        time.sleep(poll)
    if wait:
        finish_drains(store, force=svc["name"])
    return store.get("services", svc["name"])


def finish_drains(store: Store, force: str | None = None) -> list[str]:
    """End the running executions of stopped services whose drain time ran out (or of ``force``);
    returns the execution ids ended."""
    ended: list[str] = []
    for svc in queue.draining(store):
        running = queue.in_progress(store, svc["name"])
        if running and (svc["draining_until"] <= now() or svc["name"] == force):
            for exe in running:
                reason = f"service {svc['name']} stopped: not finished within its drain time"
                on_reset(store, exe["id"], reason, attempt=exe["attempts"])
                stop_attempt(store, exe)
                ended.append(exe["id"])
            running = []
        if not running:
            store.update_if("services", svc["name"], {"draining_until": None}, draining_until=svc["draining_until"])
    return ended


# --- reconciliation -----------------------------------------------------------------------------


_UP_SINCE = time.time()  # when this process started judging heartbeats


def lost_reason(exe: dict, host: str, at: float, remote: bool = False) -> str | None:
    """Why an in-progress execution counts as lost (its runner is gone, its heartbeat is stale), or None.
    A ``remote`` run (its worker reports to a tracking URL) gets ``remote_heartbeat_stale_after``, counted
    from no earlier than this process's start: a server that was down is not the worker's silence."""
    params = exe["params"] or {}
    here = bool(params.get("offline")) or params.get("mode") == "papermill"  # runs in a user's process
    if exe["host"] == host and exe["runner_pid"]:
        alive = pid_alive(exe["runner_pid"]) if here else runner_alive(exe["runner_pid"])
        if not alive:
            return "runner process is gone" if not here else "the process running it is gone"
        if not here:
            return None  # a live runner on this host enforces its own timeout (also while its disk is full)
    if here:
        return None
    beat = exe["heartbeat_at"] or exe["started_at"] or 0
    waiting_for_worker = runner_scheme(exe.get("runner")) != "local" and not exe["runner_pid"]
    if waiting_for_worker:
        if beat < at - max(DASK_START_TIMEOUT, heartbeat_stale_after()):
            return f"no worker of {exe['runner']} started it within {at - beat:.0f} s"
        return None
    stale = heartbeat_stale_after()
    if remote:
        beat, stale = max(beat, _UP_SINCE), remote_heartbeat_stale_after()
    if beat < at - stale:
        return f"heartbeat stale for {at - beat:.0f} s (runner, kernel or server died)"
    return None


def reconcile(store: Store) -> list[str]:
    """Apply on_reset to in-progress executions whose runner is gone or whose heartbeat is stale,
    end the runs of services whose drain time ran out, then start what waits for a free slot.
    Returns the execution ids it ended or re-queued."""
    host, at = hostname(), now()
    handled = []
    running = queue.in_progress(store)
    for address in sorted({e["runner"] for e in running if runner_scheme(e.get("runner")) != "local"}):
        for failure in runner_for(address).start_failures(store):
            if fail(store, failure.execution_id, failure.reason, Outcome.START_FAILURE,
                    attempt=failure.attempt) == FAILED:
                handled.append(failure.execution_id)
    reporting = queue.reporting_services(store)
    for exe in queue.in_progress(store):
        reason = lost_reason(exe, host, at, remote=exe["service"] in reporting)
        if reason and on_reset(store, exe["id"], reason, attempt=exe["attempts"]) in (RERUN, ABORTED):
            stop_attempt(store, exe)
            handled.append(exe["id"])
    handled += finish_drains(store)
    if queue.queued_count(store):
        dispatch(store)
    return handled


# --- user actions -------------------------------------------------------------------------------


def abort(store: Store, execution_id: str) -> dict:
    """Stop an execution: ``terminated``, with its kernel and runner process trees gone."""
    exe = store.get("executions", execution_id)
    if exe["status"] in FINISHED:
        raise Conflict(f"execution {exe['id']} already ended ({exe['status']}): nothing to abort")
    store.update("executions", exe["id"], abort_requested=1)
    if exe["status"] == IN_PROGRESS:
        stop_attempt(store, exe)
    transition(store, exe["id"], TERMINATED, message="aborted by user", error="aborted by user",
               runner_pid=None, kernel_pid=None, outcome="terminated")
    dispatch(store)
    return store.get("executions", exe["id"])


def remove(store: Store, execution_id: str) -> str:
    """Delete an ended execution's row, metrics, events and artifacts (never the version's weights);
    returns its id."""
    exe = store.get("executions", execution_id)
    if exe["status"] not in FINISHED:
        raise Conflict(f"execution {exe['id']} is {exe['status']}: abort it before removing it")
    folder = store.inside_artifacts(store.execution_dir(exe))
    with store.tx():
        store.delete("metrics", execution_id=exe["id"])
        store.delete("events", execution_id=exe["id"])
        store.delete("executions", id=exe["id"])
    if folder.is_dir() and (folder / "..").resolve().name == "executions":
        shutil.rmtree(folder, ignore_errors=True)
    return exe["id"]
