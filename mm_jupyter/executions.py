"""The execution state machine: statuses, kinds, runner outcomes and the transitions between them.

Every status change is one conditional statement (``transition``): it moves only from a status that
allows it and, given an attempt, only while the execution is still on that attempt, so two deciders
racing (an abort and a runner finishing, a reconciler and a retry) can never both win. Nothing here
starts or stops a process (that is ``scheduler``) and nothing reads message text.
"""

from __future__ import annotations

import os
from enum import Enum

from .errors import InvalidInput
from .store import Store, now


class _Text(str, Enum):
    """A string enum whose values print and format as the plain string."""

    __str__ = str.__str__
    __format__ = str.__format__


class Status(_Text):
    CREATED = "created"
    PENDING = "pending"
    IN_PROGRESS = "in-progress"
    SUCCESS = "success"
    FAILED = "failed"
    ABORTED = "aborted"
    TERMINATED = "terminated"
    RERUN = "rerun"  # a retry queued by the service (not the ``mm rerun`` action, which makes a new execution)


class Kind(_Text):
    TRAIN = "train"
    EVALUATE = "evaluate"


class Outcome(_Text):
    """How one attempt ended, as its runner saw it (stored in ``executions.outcome``)."""

    SUCCESS = "success"
    EXCEPTION = "exception"          # the notebook raised: retried while attempts allow
    TIMEOUT = "timeout"              # the execution timeout ran out: like an exception
    INVALID = "invalid"              # bad input or config, a missing module, an empty subset: never retried
    START_FAILURE = "start-failure"  # the kernel or runner could not start: never retried
    STORAGE = "storage"              # the disk is full or read-only: never retried
    RESET = "reset"                  # the kernel, runner or worker died: the service's on_reset
    TERMINATED = "terminated"        # the runner was told to stop (abort, drain, shutdown)


class EventType(_Text):
    """What an event row is about (``events.type``): what live views count and filter on."""

    CREATED = "created"
    STATUS = "status"
    LOG = "log"
    SUBMITTED = "submitted"


CREATED, PENDING, IN_PROGRESS = Status.CREATED, Status.PENDING, Status.IN_PROGRESS
SUCCESS, FAILED, ABORTED = Status.SUCCESS, Status.FAILED, Status.ABORTED
TERMINATED, RERUN = Status.TERMINATED, Status.RERUN
STATUSES = tuple(Status)
QUEUED = (PENDING, RERUN)
ACTIVE = (CREATED, PENDING, RERUN, IN_PROGRESS)
FINISHED = (SUCCESS, FAILED, ABORTED, TERMINATED)
KINDS = tuple(Kind)

TRANSITIONS: dict[Status, tuple[Status, ...]] = {
    CREATED: (PENDING, TERMINATED, FAILED),
    PENDING: (IN_PROGRESS, TERMINATED, FAILED),
    RERUN: (IN_PROGRESS, TERMINATED, FAILED),
    IN_PROGRESS: (SUCCESS, FAILED, RERUN, ABORTED, TERMINATED),
}
NOT_RETRIED = (Outcome.INVALID, Outcome.START_FAILURE, Outcome.STORAGE)
DEFAULT_RESET = {"on_reset": "fail", "max_attempts": 3}


def heartbeat_interval() -> float:
    return float(os.environ.get("MM_HEARTBEAT_INTERVAL", "2"))


def heartbeat_stale_after() -> float:
    """Seconds without a heartbeat after which an in-progress execution counts as lost."""
    return float(os.environ.get("MM_HEARTBEAT_STALE", "30"))


def remote_heartbeat_stale_after() -> float:
    """The same for a run on a worker that reports over the network (a tracking URL): its spool rides
    out a cut of the network or of the server, so it is judged lost only after a longer silence."""
    return max(heartbeat_stale_after(), float(os.environ.get("MM_REMOTE_HEARTBEAT_STALE", "120")))


def execution_name(kind: str, version_name: str, offline: bool = False) -> str:
    """An execution's name: its kind and its version's name (what the search rule matches)."""
    return f"{kind} {version_name}" + (" (offline)" if offline else "")


def transition(store: Store, execution_id: str, to: Status, *, message: str | None = None,
               attempt: int | None = None, **fields) -> bool:
    """Move an execution to ``to`` if its current status allows it; returns whether it moved.

    With ``attempt``, it only moves while the execution is still on that attempt: a late verdict
    about an old attempt never touches its retry."""
    to = Status(to)
    allowed_from = tuple(s for s, targets in TRANSITIONS.items() if to in targets)
    fields = {"status": to, **fields}
    if to in FINISHED:
        fields.setdefault("ended_at", now())
    if to in QUEUED:
        fields.setdefault("queued_at", now())
    where = {"status": allowed_from} if attempt is None else {"status": allowed_from, "attempts": attempt}
    with store.tx():
        moved = store.update_if("executions", execution_id, fields, **where)
        if moved:
            store.add_event(execution_id, f"status -> {to}" + (f": {message}" if message else ""),
                            "error" if to in (FAILED, ABORTED) else "info", EventType.STATUS)
    return moved


def _reset_settings(store: Store, execution: dict) -> dict:
    """The execution's service's on_reset and max_attempts; a service removed meanwhile counts as
    the defaults (on_reset fail), so a lost run is still ended instead of blocking reconciliation."""
    svc = store.first("services", name=execution["service"]) if execution["service"] else None
    return {k: (svc or DEFAULT_RESET)[k] for k in DEFAULT_RESET}


def on_exception(store: Store, execution_id: str, error: str, attempt: int | None = None,
                 outcome: Outcome = Outcome.EXCEPTION) -> Status:
    """An exception (or timeout) in the notebook: retry while attempts allow, else ``failed``.
    Returns the status it moved to, or the current one when another verdict came first."""
    exe = store.get("executions", execution_id)
    limit = _reset_settings(store, exe)["max_attempts"]
    if exe["attempts"] < limit:
        to, message = RERUN, f"attempt {exe['attempts']}/{limit} failed, retrying: {error}"
    else:
        to, message = FAILED, error
    return _decide(store, execution_id, to, error, message, attempt, outcome)


def on_reset(store: Store, execution_id: str, reason: str, attempt: int | None = None) -> Status:
    """The kernel, runner or worker died: the service's on_reset decides (``rerun`` or ``aborted``).
    Returns the status it moved to, or the current one when another verdict came first."""
    exe = store.get("executions", execution_id)
    svc = _reset_settings(store, exe)
    if svc["on_reset"] == "rerun" and exe["attempts"] < svc["max_attempts"]:
        to, message = RERUN, f"{reason}; on_reset=rerun, re-queued"
    else:
        to = ABORTED
        message = reason if svc["on_reset"] == "fail" else f"{reason}; no attempts left"
    return _decide(store, execution_id, to, reason, message, attempt, Outcome.RESET)


def fail(store: Store, execution_id: str, error: str, outcome: Outcome, attempt: int | None = None) -> Status:
    """End an execution ``failed`` at once, without a retry (bad input, start or storage failure)."""
    return _decide(store, execution_id, FAILED, error, error, attempt, outcome)


def _decide(store: Store, execution_id: str, to: Status, error: str, message: str, attempt: int | None,
            outcome: Outcome) -> Status:
    moved = transition(store, execution_id, to, error=error, message=message, runner_pid=None,
                       kernel_pid=None, attempt=attempt, outcome=outcome)
    return to if moved else Status(store.get("executions", execution_id)["status"])


def record_outcome(store: Store, execution_id: str, attempt: int, outcome: Outcome, error: str | None,
                   *, retry: bool = True) -> Status:
    """Apply what the runner saw of attempt ``attempt``, unless an abort or a reconciler already
    decided; returns the execution's status afterwards. ``retry=False``: an exception fails at once
    (a user's own loop, which nobody can run again for them)."""
    current = store.get("executions", execution_id)
    if current["status"] != IN_PROGRESS or current["attempts"] != attempt:
        return Status(current["status"])
    outcome = Outcome(outcome)
    if current["abort_requested"]:
        transition(store, execution_id, TERMINATED, message="aborted by user", error="aborted by user",
                   attempt=attempt, outcome=Outcome.TERMINATED)
    elif outcome == Outcome.SUCCESS:
        transition(store, execution_id, SUCCESS, progress=100.0, runner_pid=None, kernel_pid=None,
                   attempt=attempt, outcome=outcome)
    elif outcome in (Outcome.EXCEPTION, Outcome.TIMEOUT) and retry:
        on_exception(store, execution_id, error or "error", attempt=attempt, outcome=outcome)
    elif outcome in (*NOT_RETRIED, Outcome.EXCEPTION, Outcome.TIMEOUT):
        message = f"artifact storage failed: {error}" if outcome == Outcome.STORAGE else (error or outcome)
        fail(store, execution_id, message, outcome, attempt=attempt)
    else:
        on_reset(store, execution_id, error or "reset", attempt=attempt)
    final = Status(store.get("executions", execution_id)["status"])
    if current["kind"] == Kind.TRAIN and final in (FAILED, ABORTED, TERMINATED):
        store.update_if("snapshots", current["snapshot_id"], {"status": "failed"}, status="created")
    return final


def check_status(status: str | None) -> Status | None:
    """``status`` as a ``Status`` (None stays None); ``InvalidInput`` naming the known ones."""
    if status is None:
        return None
    try:
        return Status(status)
    except ValueError:
        raise InvalidInput(f"unknown status {status!r} (one of: {', '.join(STATUSES)})") from None


def check_kind(kind: str | None) -> Kind | None:
    if kind is None:
        return None
    try:
        return Kind(kind)
    except ValueError:
        raise InvalidInput(f"unknown kind {kind!r} (train or evaluate)") from None
