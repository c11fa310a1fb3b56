"""The Tracker: every write a running attempt makes goes through one.

The runner process (``attempt``), the notebook's ``RunContext`` and the offline API
(``mm.start_run``) report status, heartbeats, progress, metric batches, log lines, events, the
outcome and the version's update through this interface, never with SQL of their own.
``LocalTracker`` writes to the SQLite store on this host (the embedded default); a tracker that
reports over HTTP for workers on other hosts implements the same methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from .executions import IN_PROGRESS, EventType, Outcome, Status, record_outcome
from .store import Store, now


class Tracker(ABC):
    """The writes of one attempt of one execution (``attempt`` None: whichever is current)."""

    execution_id: str
    attempt: int | None

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
    def metrics(self, rows: list[dict]) -> None:
        """A batch of metric points (``name``, ``value``, ``step``, ``epoch``, ``ts``)."""

    @abstractmethod
    def event(self, message: str, level: str = "info", type: EventType = EventType.LOG) -> None: ...

    @abstractmethod
    def update_version(self, **fields: Any) -> None:
        """The trained version's new fields (status, weights)."""

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

    def __init__(self, store: Store | str | Path, execution_id: str, attempt: int | None = None):
        self._own = not isinstance(store, Store)
        self.store = Store(store) if self._own else store
        self.execution_id = execution_id
        self.attempt = attempt

    def _where(self) -> dict:
        return {"status": IN_PROGRESS} if self.attempt is None else {"status": IN_PROGRESS, "attempts": self.attempt}

    def _set(self, **fields: Any) -> bool:
        return self.store.update_if("executions", self.execution_id, fields, **self._where())

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
        self._set(progress=round(max(0.0, min(100.0, float(percent))), 2))

    def metrics(self, rows: list[dict]) -> None:
        self.store.insert_metrics(rows)

    def event(self, message: str, level: str = "info", type: EventType = EventType.LOG) -> None:
        self.store.add_event(self.execution_id, message, level, type)

    def update_version(self, **fields: Any) -> None:
        exe = self.store.get("executions", self.execution_id)
        self.store.update("snapshots", exe["snapshot_id"], **fields)

    def outcome(self, outcome: Outcome, error: str | None = None, *, retry: bool = True) -> Status:
        attempt = self.attempt if self.attempt is not None else self.state()["attempts"]
        return record_outcome(self.store, self.execution_id, attempt, outcome, error, retry=retry)

    def state(self) -> dict:
        exe = self.store.get("executions", self.execution_id)
        return {k: exe[k] for k in ("status", "attempts", "abort_requested")}

    def close(self) -> None:
        if self._own:
            self.store.close()
