"""The Tracker: every write a running attempt makes goes through one, and only while it is that
attempt's to make.

The runner process (``attempt``), the notebook's ``RunContext`` and the offline API
(``mm.start_run``) report status, heartbeats, progress, metric batches, log lines, events, the
outcome and the version's update through this interface, never with SQL of their own. Each attempt
has a secret token (``new_token``; the store keeps only its hash): a write is accepted only for the
execution's current attempt, while it is in progress, with that attempt's token. An ended run, an
old attempt (a zombie after a partition) or a forged token changes nothing (``AttemptEnded``).
``LocalTracker`` writes to the SQLite store on this host (the embedded default); a tracker that
reports over HTTP for workers on other hosts implements the same methods.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from . import tracking_url
from .errors import Conflict
from .executions import IN_PROGRESS, EventType, Outcome, Status, record_outcome
from .store import Store, now


def new_token() -> str:
    """A fresh 256-bit attempt token."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the store keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


TOKEN_FILE = ".attempt-token"
TOKEN_ENV, ATTEMPT_ENV = tracking_url.TOKEN_ENV, tracking_url.ATTEMPT_ENV  # how a runner hands them to its kernel


def hand_over_token(folder: Path, token: str) -> None:
    """Leave an attempt's token for its runner process in the execution's folder (owner-only; the
    runner process reads and deletes it as it starts, wherever a runner started it)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / TOKEN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)


def take_token(folder: Path) -> str:
    """The token left for this runner process ("" when there is none); the file is deleted."""
    path = folder / TOKEN_FILE
    try:
        token = path.read_text().strip()
    except OSError:
        return ""
    path.unlink(missing_ok=True)
    return token


class AttemptEnded(Conflict):
    """A write for an attempt that is not the execution's running one (it ended, was retried or
    aborted, or the token is not its own): nothing was written."""


class Tracker(ABC):
    """The writes of one attempt of one execution."""

    execution_id: str
    attempt: int

    @abstractmethod
    def describe(self) -> dict:
        """``{"execution", "snapshot", "model"}``: the rows the run needs to start."""

    @abstractmethod
    def started(self, *, runner_pid: int | None, host: str | None) -> bool:
        """The runner process took the attempt; False when it is not this attempt's to run any more."""

    @abstractmethod
    def heartbeat(self) -> bool:
        """Still alive; False once the attempt no longer runs (aborted, reconciled, ended)."""

    @abstractmethod
    def kernel_started(self, pid: int) -> None: ...

    @abstractmethod
    def notebook(self, path: str) -> None:
        """Where the executed notebook is written."""

    @abstractmethod
    def progress(self, percent: float) -> None: ...

    @abstractmethod
    def metric_points(self, points: list[tuple]) -> None:
        """A batch of metric points, ``(name, step, epoch, value, ts)`` tuples, written whole."""

    @abstractmethod
    def event(self, message: str, level: str = "info", type: EventType = EventType.LOG) -> None: ...

    @abstractmethod
    def update_version(self, **fields: Any) -> None:
        """The trained version's new fields (status, weights, weights hash); only a version that has
        no weights yet can get them."""

    @abstractmethod
    def outcome(self, outcome: Outcome, error: str | None = None, *, retry: bool = True) -> Status:
        """How the attempt ended; returns the execution's status afterwards (``retry=False``: an
        exception fails at once)."""

    @abstractmethod
    def state(self) -> dict:
        """``{"status", "attempts", "abort_requested"}`` now."""

    def close(self) -> None:  # noqa: B027 (optional: most trackers hold nothing)
        """Release what the tracker holds."""


class LocalTracker(Tracker):
    """A tracker writing straight to the store on this host (its own connection when given a home)."""

    def __init__(self, store: Store | str | Path, execution_id: str, attempt: int, token: str):
        self._own = not isinstance(store, Store)
        self.store = Store(store, create=False) if self._own else store
        self.execution_id = execution_id
        self.attempt = int(attempt)
        self._hash = token_hash(token or "")
        self._snapshot: str | None = None

    def _where(self) -> dict:
        return {"status": IN_PROGRESS, "attempts": self.attempt, "token_hash": self._hash}

    def _set(self, **fields: Any) -> bool:
        return self.store.update_if("executions", self.execution_id, fields, **self._where())

    def is_current(self) -> bool:
        """Whether this is the execution's running attempt, with its own token."""
        return self.store.count("executions", id=self.execution_id, **self._where()) == 1

    def refused(self) -> AttemptEnded:
        """The one-line error for a write that this attempt may no longer make."""
        exe = self.store.first("executions", id=self.execution_id)
        if exe is None:
            return AttemptEnded(f"execution {self.execution_id} was removed: nothing is written to it")
        if exe["status"] == IN_PROGRESS and exe["attempts"] == self.attempt:
            why = "this run's token is not the attempt's own"
        else:
            why = f"it is {exe['status']} (attempt {exe['attempts']}), this run is attempt {self.attempt}"
        return AttemptEnded(f"execution {self.execution_id} takes no more writes from this run ({why}); "
                            f"a run is written once: run it again with `mm rerun {self.execution_id}` or "
                            f"`papermill notebooks/{exe['kind']}.ipynb out.ipynb -p snapshot {exe['snapshot_id']}`")

    def _must(self, changed: bool) -> None:
        if not changed:
            raise self.refused()

    def describe(self) -> dict:
        exe = self.store.get("executions", self.execution_id)
        return {"execution": exe, "snapshot": self.store.get("snapshots", exe["snapshot_id"]),
                "model": self.store.get("models", exe["model_id"])}

    def started(self, *, runner_pid: int | None, host: str | None) -> bool:
        return self._set(runner_pid=runner_pid, host=host, heartbeat_at=now())

    def heartbeat(self) -> bool:
        return self._set(heartbeat_at=now())

    def kernel_started(self, pid: int) -> None:
        self._set(kernel_pid=pid)

    def notebook(self, path: str) -> None:
        self._set(notebook_uri=path)

    def progress(self, percent: float) -> None:
        self._must(self._set(progress=round(max(0.0, min(100.0, float(percent))), 2)))

    def metric_points(self, points: list[tuple]) -> None:
        with self.store.tx():
            self._must(self.is_current())
            self.store.insert_metric_points(self.execution_id, self._snapshot_id(), self.attempt, points)

    def _snapshot_id(self) -> str:
        if self._snapshot is None:
            self._snapshot = self.store.get("executions", self.execution_id)["snapshot_id"]
        return self._snapshot

    def event(self, message: str, level: str = "info", type: EventType = EventType.LOG) -> None:
        with self.store.tx():
            self._must(self.is_current())
            self.store.add_event(self.execution_id, message, level, type)

    def update_version(self, **fields: Any) -> None:
        with self.store.tx():
            self._must(self.is_current())
            exe = self.store.get("executions", self.execution_id)
            if not self.store.update_if("snapshots", exe["snapshot_id"], fields, weights_uri=None):
                raise Conflict(f"version {exe['snapshot_id']} already has weights: a trained version is never "
                               "rewritten (train a new version)")

    def outcome(self, outcome: Outcome, error: str | None = None, *, retry: bool = True) -> Status:
        with self.store.tx():
            if not self.is_current():
                return Status(self.state()["status"])
            return record_outcome(self.store, self.execution_id, self.attempt, outcome, error, retry=retry)

    def state(self) -> dict:
        exe = self.store.get("executions", self.execution_id)
        return {k: exe[k] for k in ("status", "attempts", "abort_requested")}

    def close(self) -> None:
        if self._own:
            self.store.close()
