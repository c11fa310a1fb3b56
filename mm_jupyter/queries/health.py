"""A service's health, the one rule every face shows: (level, code, reason).

``error`` when it cannot start executions (its runner says why: a kernel that is not installed, an
unreachable scheduler, no worker with the GPUs asked, workers that cannot use the store, an artifact
root that cannot be written; or its last three executions failed to start), ``warning`` while it is stopping or paused, else ``ok``.
Codes are stable (UIs and tests key on them); reasons are one readable sentence: one line (white
space and line breaks of a runner's or an error's text folded), at most ``REASON_LIMIT`` characters,
the same in every face (a table may shorten it for its column; ``--json`` and REST give it whole).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..artifact_root import cached_problem, root_url
from ..errors import MMError, one_line
from ..executions import ABORTED, FAILED, Outcome
from ..registry import runner_for
from ..store import Store, now
from ..textfmt import clip

START_FAILURES_IN_A_ROW = 3
REASON_LIMIT = 500


@dataclass(frozen=True)
class Health:
    level: str  # "ok" | "warning" | "error"
    code: str
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


OK = Health("ok", "ok", "")


def sentence(text: object, limit: int = REASON_LIMIT) -> str:
    """``text`` as one readable line: runs of white space (line breaks included) folded into one
    space, at most ``limit`` characters (cut with an ellipsis)."""
    return clip(" ".join(str(text or "").split()), limit)


def _health(level: str, code: str, reason: object) -> Health:
    return Health(level, code, sentence(reason))


def service_health(store: Store, service: dict, *, wait: bool = True) -> Health:
    """The health of one service row. ``wait=False`` never blocks on a remote runner (its last known
    state is used and refreshed in the background): for requests, streams and widget loops."""
    try:
        problem = runner_for(service.get("runner")).problem(store, service, wait=wait)
    except MMError as exc:
        return _health("error", "runner-unknown", one_line(exc))
    if problem is not None:
        return _health("error", problem.code, problem.reason)
    unwritable = artifact_root_problem(store, wait=wait)
    if unwritable is not None:
        return _health("error", "artifact-root-unwritable", unwritable)
    recent = store.query(
        "SELECT outcome, error FROM executions WHERE service = ? AND status IN (?, ?) AND ended_at IS NOT NULL "
        "ORDER BY ended_at DESC LIMIT ?", [service["name"], FAILED, ABORTED, START_FAILURES_IN_A_ROW])
    if len(recent) == START_FAILURES_IN_A_ROW and all(r["outcome"] == Outcome.START_FAILURE for r in recent):
        return _health("error", "start-failures", f"the last {START_FAILURES_IN_A_ROW} executions failed to start: "
                       f"{sentence(recent[0]['error'], 300) or 'no reason recorded'}")
    if service.get("draining_until"):
        left = max(0.0, service["draining_until"] - now())
        return _health("warning", "stopping", f"the service is stopping: running executions have {left:.0f} s left "
                       "to finish")
    if service["paused"]:
        return _health("warning", "paused", "the service is paused: new executions stay pending")
    return OK


def artifact_root_problem(store: Store, *, wait: bool = True) -> str | None:
    """Why the store's artifact root cannot be written (every service needs it), else None; the probe's
    result is remembered for some seconds (``artifact_root.cached_problem``); ``wait=False`` never
    blocks on it."""
    return cached_problem(root_url(store.home, store.meta("artifact_root")), wait=wait)


def services_health(store: Store, names: list[str] | None = None, *, wait: bool = False) -> dict[str, Health]:
    """Health by service name (every service, or those named)."""
    rows = store.find("services", order="name") if names is None else store.find("services", name=tuple(names))
    return {row["name"]: service_health(store, row, wait=wait) for row in rows}
