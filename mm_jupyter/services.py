"""Services: the executor pool an execution runs on (settings, queue, dispatch, stop/drain, health).

A service has ``concurrency × max_instances`` slots. Executions beyond the free slots wait as
``pending`` (or ``rerun``, when re-queued) and start first in, first out (by the time they were
queued; a retry queues again at the back). At most ``queue_size`` wait at once: a submit past that
is refused with a ``Conflict`` naming the service. A paused service starts nothing (its health is a
warning); stopping a service pauses it, gives its running executions ``drain_time`` seconds to
finish, then ends those left per the service's on_reset.
"""

from __future__ import annotations

import time
from typing import Any

from . import runners
from .errors import Conflict, InvalidInput
from .executions import IN_PROGRESS, QUEUED, on_reset
from .store import Store, now

DEFAULTS: dict[str, Any] = {
    "kernel_name": "python3",
    "concurrency": 1,
    "max_instances": 1,
    "queue_size": 1000,
    "execution_timeout": 3600.0,
    "on_reset": "fail",
    "max_attempts": 3,
    "paused": 0,
    "runner": "local",
    "gpus": 0,
}
DRAIN_TIME = {"train": 300.0, "evaluate": 600.0}
ON_RESET = ("fail", "rerun")
POSITIVE_INTS = ("concurrency", "max_instances", "queue_size", "max_attempts")
LIMITS = {"concurrency": 1024, "max_instances": 1024, "queue_size": 1_000_000, "max_attempts": 100, "gpus": 64}
MAX_SECONDS = 30 * 24 * 3600.0


def service_name(kind: str, model_id: str) -> str:
    return f"mgmt-{kind}-{model_id}"


def check_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Validate service settings (as given by a form, the CLI or the API); returns them typed."""
    if not isinstance(settings, dict):
        raise InvalidInput(f"service settings must be a mapping, got {type(settings).__name__}")
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if value is None:
            continue
        if key not in DEFAULTS and key != "drain_time":
            raise InvalidInput(f"unknown service setting {key!r} (known: {', '.join([*DEFAULTS, 'drain_time'])})")
        out[key] = _check_setting(key, value)
    return out


def _check_setting(key: str, value: Any) -> Any:
    if key in (*POSITIVE_INTS, "gpus"):
        low = 0 if key == "gpus" else 1
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= LIMITS[key]:
            kind = "a non-negative" if low == 0 else "a positive"
            raise InvalidInput(f"service setting {key} must be {kind} integer up to {LIMITS[key]}, got {value!r}")
    elif key in ("execution_timeout", "drain_time"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_SECONDS:
            raise InvalidInput(f"service setting {key} must be a positive number of seconds "
                               f"(at most {MAX_SECONDS:g}), got {value!r}")
        value = float(value)
    elif key == "on_reset" and value not in ON_RESET:
        raise InvalidInput(f"service setting on_reset must be one of {ON_RESET}, got {value!r}")
    elif key == "kernel_name":
        check_kernel(value)
    elif key == "runner":
        value = runners.check_address(value)
    elif key == "paused":
        if value not in (0, 1) or (not isinstance(value, bool) and not isinstance(value, int)):
            raise InvalidInput(f"service setting paused must be true or false, got {value!r}")
        value = int(value)
    return value


def check_combination(service: dict[str, Any]) -> None:
    """Settings that only make sense together: GPUs are asked of a Dask scheduler's workers."""
    if int(service.get("gpus") or 0) and service.get("runner", "local") == "local":
        raise InvalidInput("service setting gpus needs a dask://host:port runner "
                           "(the local runner uses the machine as it is)")


def installed_kernels() -> dict[str, str]:
    from jupyter_client.kernelspec import KernelSpecManager

    return KernelSpecManager().find_kernel_specs()


def check_kernel(name: str) -> None:
    """Raise ``InvalidInput`` unless a Jupyter kernel of that name is installed."""
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"kernel name must be a non-empty string, got {name!r}")
    kernels = installed_kernels()
    if name not in kernels:
        raise InvalidInput(f"kernel {name!r} is not installed (installed: {', '.join(sorted(kernels)) or 'none'})")


def ensure_service(store: Store, model_id: str, kind: str, settings: dict | None = None) -> dict:
    """The service of a model and kind, created with the defaults on first use; ``settings`` update it."""
    name = service_name(kind, model_id)
    settings = check_settings(settings or {})
    existing = store.find("services", "name = ?", [name])
    if existing:
        if settings:
            check_combination({**existing[0], **settings})
            store.update("services", name, **settings)
        return store.get("services", name)
    row = {"name": name, "model_id": model_id, "kind": kind, **DEFAULTS,
           "drain_time": DRAIN_TIME[kind], **settings, "created_at": now()}
    check_combination(row)
    store.db["services"].insert(row, ignore=True)
    if settings:
        store.update("services", name, **settings)
    return store.get("services", name)


def configure(store: Store, name: str, settings: dict[str, Any]) -> dict:
    """Change an existing service's settings (checked); returns the service."""
    svc = store.get("services", name)
    settings = check_settings(settings)
    check_combination({**svc, **settings})
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


# --- the queue ----------------------------------------------------------------------------------


def queue_length(store: Store, name: str) -> int:
    marks = ", ".join("?" * len(QUEUED))
    return store.conn.execute(
        f"SELECT count(*) FROM executions WHERE service = ? AND status IN ({marks})", [name, *QUEUED]
    ).fetchone()[0]


def running_count(store: Store, name: str) -> int:
    return store.conn.execute(
        "SELECT count(*) FROM executions WHERE service = ? AND status = ?", [name, IN_PROGRESS]
    ).fetchone()[0]


def check_queue_room(store: Store, service: dict) -> None:
    """Refuse a submit when ``queue_size`` executions already wait (call it in the submit's transaction)."""
    waiting = queue_length(store, service["name"])
    if waiting >= service["queue_size"]:
        raise Conflict(f"service {service['name']} queue is full: {waiting} executions wait "
                       f"(queue_size {service['queue_size']}); retry when some have started")


def claim_queued(store: Store, skip: frozenset[str] | set[str] = frozenset()) -> list[dict]:
    """Atomically move queued executions into free slots (FIFO per service, unpaused services not in
    ``skip``); returns those claimed, each marked with the runner its attempt goes to."""
    claimed: list[dict] = []
    marks = ", ".join("?" * len(QUEUED))
    with store.tx():
        services = store.query(
            f"SELECT DISTINCT s.* FROM services s JOIN executions e ON e.service = s.name "
            f"WHERE e.status IN ({marks}) AND s.paused = 0", list(QUEUED),
        )
        for svc in services:
            if svc["name"] in skip:
                continue
            free = svc["concurrency"] * svc["max_instances"] - running_count(store, svc["name"])
            if free <= 0:
                continue
            rows = store.query(
                f"SELECT id FROM executions WHERE service = ? AND status IN ({marks}) "
                f"ORDER BY queued_at, created_at, rowid LIMIT ?", [svc["name"], *QUEUED, free],
            )
            for row in rows:
                t = now()
                store.conn.execute(
                    "UPDATE executions SET status = ?, started_at = ?, heartbeat_at = ?, "
                    "attempts = attempts + 1, progress = 0, runner_pid = NULL, kernel_pid = NULL, "
                    "host = NULL, worker = NULL, runner = ?, ended_at = NULL WHERE id = ?",
                    [IN_PROGRESS, t, t, svc["runner"], row["id"]],
                )
                store.add_event(row["id"], "status -> in-progress")
                claimed.append(store.get("executions", row["id"]))
    return claimed


def blocked_services(store: Store) -> set[str]:
    """Services with queued executions whose runner cannot start them now (unreachable, no worker
    with the GPUs asked): their executions stay pending instead of failing."""
    marks = ", ".join("?" * len(QUEUED))
    rows = store.query(
        f"SELECT DISTINCT s.* FROM services s JOIN executions e ON e.service = s.name "
        f"WHERE e.status IN ({marks}) AND s.paused = 0 AND s.runner != 'local'", list(QUEUED),
    )
    return {svc["name"] for svc in rows if runners.probe_service(store, svc)}


def dispatch(store: Store) -> list[str]:
    """Start every queued execution that has a free slot on its (unpaused, reachable) service."""
    started = []
    for exe in claim_queued(store, blocked_services(store)):
        runners.start(store, exe)
        started.append(exe["id"])
    return started


# --- stopping a service -------------------------------------------------------------------------


def stop(store: Store, name: str, *, drain_time: float | None = None, wait: bool = True,
         poll: float = 0.2) -> dict:
    """Stop a service: pause it (its queue keeps waiting), give its running executions ``drain_time``
    seconds (default: the service's) to finish, then end those left per its on_reset.

    With ``wait=False`` it returns at once; the end of the drain is then applied by the next
    ``reconcile`` (any ``mm`` start, the server's poller) after the deadline."""
    svc = store.get("services", name)
    drain = svc["drain_time"] if drain_time is None else _check_setting("drain_time", drain_time)
    deadline = now() + drain
    store.update("services", svc["name"], paused=1, draining_until=deadline)
    while wait and running_count(store, svc["name"]) and now() < deadline:
        time.sleep(poll)
    if wait:
        finish_drains(store, force=svc["name"])
    return store.get("services", svc["name"])


def finish_drains(store: Store, force: str | None = None) -> list[str]:
    """End the running executions of stopped services whose drain time ran out (or of ``force``);
    returns the execution ids ended."""
    ended: list[str] = []
    for svc in store.find("services", "draining_until IS NOT NULL"):
        running = store.find("executions", "service = ? AND status = ?", [svc["name"], IN_PROGRESS])
        if running and (svc["draining_until"] <= now() or svc["name"] == force):
            for exe in running:
                reason = f"service {svc['name']} stopped: not finished within its drain time"
                on_reset(store, exe["id"], reason, attempt=exe["attempts"])
                runners.stop(store, exe)
                ended.append(exe["id"])
            running = []
        if not running:
            store.conn.execute("UPDATE services SET draining_until = NULL WHERE name = ? AND draining_until = ?",
                               [svc["name"], svc["draining_until"]])
    return ended


# --- health -------------------------------------------------------------------------------------


START_FAILURE_MARKS = ("is not installed", "cannot start runner")


def health(store: Store, service: dict, kernels: dict | None = None, *, wait: bool = True) -> tuple[str, str]:
    """The indication a UI shows for a service: ``("error", reason)`` when it cannot start executions
    (kernel missing, runner unreachable or without a fitting worker, its last 3 executions failed to
    start), ``("warning", reason)`` when stopping or paused, else ``("ok", "")``. Pass ``kernels``
    (name → path) to avoid re-reading the kernel specs; ``wait=False`` never blocks on a remote
    runner (its last known state is used and refreshed in the background)."""
    runner = service.get("runner") or "local"
    if runner == "local":
        kernels = installed_kernels() if kernels is None else kernels
        if service["kernel_name"] not in kernels:
            return "error", f"kernel {service['kernel_name']!r} is not installed"
    else:
        reason = runners.probe_service(store, service, wait=wait)
        if reason:
            return "error", reason
    recent = store.query(
        "SELECT error FROM executions WHERE service = ? AND status IN ('failed', 'aborted') "
        "AND ended_at IS NOT NULL ORDER BY ended_at DESC LIMIT 3", [service["name"]],
    )
    if len(recent) == 3 and all(any(m in (r["error"] or "") for m in START_FAILURE_MARKS) for r in recent):
        return "error", f"repeated start failures: {recent[0]['error']}"
    if service.get("draining_until"):
        left = max(0.0, service["draining_until"] - now())
        return "warning", f"stopping: running executions have {left:.0f}s left to finish"
    if service["paused"]:
        return "warning", "service is paused: new executions stay pending"
    return "ok", ""
