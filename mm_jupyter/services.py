"""Service settings: the executor pool an execution runs on, its defaults and their checks.

A service (``mgmt-<kind>-<model id>``) holds the kernel name (the "machine type"), the runner
(``local`` or a registered scheme such as ``dask://host:port``), ``concurrency × max_instances``
slots, the queue size, the execution timeout, the drain time, ``on_reset``, ``max_attempts`` and the
names of the secrets its runs get (``secrets``). A Dask service may name a ``tracking_url`` (a Jupyter
server or ``mm serve``): its attempts then run on workers that share nothing with this machine and
report through that server's runner API.
The queue itself is ``scheduler``'s; a service's health is ``queries.health``'s.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import InvalidInput
from .kernels import check_kernel
from .registry import runner_class, runner_scheme
from .secrets import check_names
from .tracking_url import check_tracking_url

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
    "tracking_url": None,
}
DRAIN_TIME = {"train": 300.0, "evaluate": 600.0}
ON_RESET = ("fail", "rerun")
POSITIVE_INTS = ("concurrency", "max_instances", "queue_size", "max_attempts")
LIMITS = {"concurrency": 1024, "max_instances": 1024, "queue_size": 1_000_000, "max_attempts": 100, "gpus": 64}
MAX_SECONDS = 30 * 24 * 3600.0
SETTINGS = (*DEFAULTS, "drain_time", "secrets")  # secrets: names (``secrets.py``), [] clears them


def service_name(kind: str, model_id: str) -> str:
    return f"mgmt-{kind}-{model_id}"


def check_settings(settings: Any) -> dict[str, Any]:
    """Validate service settings (as given by a form, the CLI or the API); returns them typed."""
    if not isinstance(settings, dict):
        raise InvalidInput(f"service settings must be a mapping, got {type(settings).__name__}")
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if value is None:
            continue
        if key not in SETTINGS:
            raise InvalidInput(f"unknown service setting {str(key)[:80]!r} (known: {', '.join(SETTINGS)})")
        out[key] = check_setting(key, value)
    return out


def check_setting(key: str, value: Any) -> Any:
    """One setting checked (type and bounds); returns it typed."""
    if key in (*POSITIVE_INTS, "gpus"):
        low = 0 if key == "gpus" else 1
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= LIMITS[key]:
            kind = "a non-negative" if low == 0 else "a positive"
            raise InvalidInput(f"service setting {key} must be {kind} integer up to {LIMITS[key]}, "
                               f"got {str(value)[:40]}")
    elif key in ("execution_timeout", "drain_time"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or not 0 < value <= MAX_SECONDS:
            raise InvalidInput(f"service setting {key} must be a positive number of seconds "
                               f"(at most {MAX_SECONDS:g}), got {str(value)[:40]}")
        value = float(value)
    elif key == "on_reset" and value not in ON_RESET:
        raise InvalidInput(f"service setting on_reset must be one of {ON_RESET}, got {str(value)[:40]!r}")
    elif key == "kernel_name":
        check_kernel(value)
    elif key == "secrets":
        value = check_names(value)
    elif key == "runner":
        if not isinstance(value, str):
            raise InvalidInput(f"runner must be 'local' or 'dask://host:port', got {value!r}")
        value = runner_class(value).check_address(value)
    elif key == "tracking_url":
        value = check_tracking_url(value) if value != "" else None  # "" clears it: the direct one-host path
    elif key == "paused":
        if value not in (0, 1) or (not isinstance(value, bool) and not isinstance(value, int)):
            raise InvalidInput(f"service setting paused must be true or false, got {value!r}")
        value = int(value)
    return value


def check_combination(service: dict[str, Any]) -> None:
    """Settings that only make sense together: GPUs are asked of a Dask scheduler's workers."""
    if int(service.get("gpus") or 0) and runner_scheme(service.get("runner")) == "local":
        raise InvalidInput("service setting gpus needs a dask://host:port runner "
                           "(the local runner uses the machine as it is)")
    if service.get("tracking_url") and runner_scheme(service.get("runner")) == "local":
        raise InvalidInput("service setting tracking_url needs a dask://host:port runner (a local run writes "
                           "to the store directly)")


def new_service(model_id: str, kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The row of a model's service of ``kind`` with the defaults and ``settings`` (checked)."""
    row = {"name": service_name(kind, model_id), "model_id": model_id, "kind": kind, **DEFAULTS,
           "drain_time": DRAIN_TIME[kind], **settings}
    check_combination(row)
    return row
