"""Services: the executor pool an execution runs on (settings, queue, dispatch of pending runs)."""

from __future__ import annotations

from typing import Any

from .errors import Conflict, InvalidInput
from .executions import IN_PROGRESS, QUEUED
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
}
DRAIN_TIME = {"train": 300.0, "evaluate": 600.0}
ON_RESET = ("fail", "rerun")


def service_name(kind: str, model_id: str) -> str:
    return f"mgmt-{kind}-{model_id}"


def check_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Validate service settings (as given by a form, the CLI or the API); returns them typed."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if value is None:
            continue
        if key not in DEFAULTS and key != "drain_time":
            raise InvalidInput(f"unknown service setting {key!r} (known: {', '.join([*DEFAULTS, 'drain_time'])})")
        if key in ("concurrency", "max_instances", "queue_size", "max_attempts"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidInput(f"service setting {key} must be a positive integer, got {value!r}")
        elif key in ("execution_timeout", "drain_time"):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise InvalidInput(f"service setting {key} must be a positive number of seconds, got {value!r}")
            value = float(value)
        elif key == "on_reset" and value not in ON_RESET:
            raise InvalidInput(f"service setting on_reset must be one of {ON_RESET}, got {value!r}")
        elif key == "kernel_name":
            check_kernel(value)
        elif key == "runner" and value != "local":
            raise InvalidInput(f"runner {value!r} is not available (only 'local' for now)")
        out[key] = value
    return out


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
            store.update("services", name, **settings)
        return store.get("services", name)
    row = {"name": name, "model_id": model_id, "kind": kind, **DEFAULTS,
           "drain_time": DRAIN_TIME[kind], **settings, "created_at": now()}
    store.db["services"].insert(row, ignore=True)
    if settings:
        store.update("services", name, **settings)
    return store.get("services", name)


def set_paused(store: Store, name: str, paused: bool) -> dict:
    store.get("services", name)
    store.update("services", name, paused=int(paused))
    if not paused:
        dispatch(store)
    return store.get("services", name)


def queue_length(store: Store, name: str) -> int:
    marks = ", ".join("?" * len(QUEUED))
    return store.conn.execute(
        f"SELECT count(*) FROM executions WHERE service = ? AND status IN ({marks})", [name, *QUEUED]
    ).fetchone()[0]


def check_queue_room(store: Store, service: dict) -> None:
    if queue_length(store, service["name"]) >= service["queue_size"]:
        raise Conflict(f"service {service['name']} queue is full ({service['queue_size']} pending)")


def claim_queued(store: Store) -> list[dict]:
    """Atomically move queued executions into free slots (FIFO per service); returns those claimed."""
    claimed: list[dict] = []
    marks = ", ".join("?" * len(QUEUED))
    with store.tx():
        services = store.query(
            f"SELECT DISTINCT s.* FROM services s JOIN executions e ON e.service = s.name "
            f"WHERE e.status IN ({marks}) AND s.paused = 0", list(QUEUED),
        )
        for svc in services:
            running = store.conn.execute(
                "SELECT count(*) FROM executions WHERE service = ? AND status = ?",
                [svc["name"], IN_PROGRESS],
            ).fetchone()[0]
            free = svc["concurrency"] * svc["max_instances"] - running
            if free <= 0:
                continue
            rows = store.query(
                f"SELECT id FROM executions WHERE service = ? AND status IN ({marks}) "
                f"ORDER BY queued_at, created_at LIMIT ?", [svc["name"], *QUEUED, free],
            )
            for row in rows:
                t = now()
                store.conn.execute(
                    "UPDATE executions SET status = ?, started_at = ?, heartbeat_at = ?, "
                    "attempts = attempts + 1, progress = 0, runner_pid = NULL, kernel_pid = NULL, "
                    "ended_at = NULL WHERE id = ?", [IN_PROGRESS, t, t, row["id"]],
                )
                store.add_event(row["id"], "status -> in-progress")
                claimed.append(store.get("executions", row["id"]))
    return claimed


def dispatch(store: Store) -> list[str]:
    """Start every queued execution that has a free slot on its (unpaused) service."""
    from .runners import local

    started = []
    for exe in claim_queued(store):
        local.start(store, exe)
        started.append(exe["id"])
    return started


START_FAILURE_MARKS = ("is not installed", "cannot start runner")


def health(store: Store, service: dict, kernels: dict | None = None) -> tuple[str, str]:
    """The indication a UI shows for a service: ``("error", reason)`` when it cannot start executions
    (kernel missing, its last 3 executions failed to start), ``("warning", reason)`` when paused,
    else ``("ok", "")``. Pass ``kernels`` (name → path) to avoid re-reading the kernel specs."""
    kernels = installed_kernels() if kernels is None else kernels
    if service["kernel_name"] not in kernels:
        return "error", f"kernel {service['kernel_name']!r} is not installed"
    recent = store.query(
        "SELECT error FROM executions WHERE service = ? AND status IN ('failed', 'aborted') "
        "AND ended_at IS NOT NULL ORDER BY ended_at DESC LIMIT 3", [service["name"]],
    )
    if len(recent) == 3 and all(any(m in (r["error"] or "") for m in START_FAILURE_MARKS) for r in recent):
        return "error", f"repeated start failures: {recent[0]['error']}"
    if service["paused"]:
        return "warning", "service is paused: new executions stay pending"
    return "ok", ""
