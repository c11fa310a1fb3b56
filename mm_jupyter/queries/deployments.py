"""Deployments as every face shows them: the listing with health, the one serving a version, and a
version's shown status (``deployed`` while a deployment serves it, its own status otherwise).

Health of a deployment, like a service's (level, code, reason): ``ok`` while running with a fresh
heartbeat; ``warning`` while starting or stopping; ``error`` when it failed (its reason) or its
heartbeat is older than ``STALE_AFTER`` seconds (its process is gone); a stopped one has none.
"""

from __future__ import annotations

from ..store import Store, now
from .health import Health, sentence

ACTIVE = ("starting", "running")
LIVE = ("starting", "running", "stopping")
STALE_AFTER = 15.0
COLUMNS = ("id, snapshot_id, model_id, kernel_name, runner, status, secrets, address, pid, error, restarts, "
           "created_at, started_at, ended_at, heartbeat_at")


def health(row: dict, at: float | None = None) -> Health | None:
    """The deployment's health (None once it stopped)."""
    at = now() if at is None else at
    status = row["status"]
    if status == "stopped":
        return None
    if status == "failed":
        return Health("error", "failed", sentence(row.get("error") or "the deployment failed"))
    beat = row.get("heartbeat_at") or row.get("created_at") or at
    if status in ACTIVE and at - beat > STALE_AFTER:
        return Health("error", "no-heartbeat", sentence(f"no heartbeat for {at - beat:.0f} s: its process is gone"))
    if status == "running":
        return Health("ok", "ok", "")
    return Health("warning", status, f"the deployment is {status}")


def _rows(store: Store, where: str = "", params: list | tuple = ()) -> list[dict]:
    rows = store.query(
        f"SELECT d.{COLUMNS.replace(', ', ', d.')}, s.name AS snapshot_name, m.name AS model_name "
        "FROM deployments d LEFT JOIN snapshots s ON s.id = d.snapshot_id LEFT JOIN models m ON m.id = d.model_id"
        + where + " ORDER BY d.created_at DESC", list(params))
    at = now()
    for row in rows:
        store.decode("deployments", row)
        h = health(row, at)
        row["health"] = h.as_dict() if h else None
    return rows


def deployments(store: Store, *, active_only: bool = False, snapshot_id: str | None = None) -> list[dict]:
    """Deployments, newest first, each with its version's and model's names and its health."""
    clauses, params = [], []
    if active_only:
        clauses.append(f"d.status IN ({', '.join('?' * len(LIVE))})")
        params += LIVE
    if snapshot_id:
        clauses.append("d.snapshot_id = ?")
        params.append(snapshot_id)
    return _rows(store, (" WHERE " + " AND ".join(clauses)) if clauses else "", params)


def deployment(store: Store, ref: str) -> dict:
    """One deployment by id or id prefix (``NotFound`` otherwise), with its health."""
    row = store.get("deployments", ref, by_name=False)
    return _rows(store, " WHERE d.id = ?", [row["id"]])[0]


def serving(store: Store, snapshot_id: str) -> dict | None:
    """The newest running deployment of a version whose heartbeat is fresh (the one predictions use)."""
    for row in deployments(store, active_only=True, snapshot_id=snapshot_id):
        if row["status"] == "running" and row["health"] and row["health"]["level"] == "ok":
            return row
    return None


def deployed_ids(store: Store) -> set[str]:
    """Versions a deployment serves (starting or running): shown as ``deployed``."""
    rows = store.query(f"SELECT DISTINCT snapshot_id FROM deployments WHERE status IN ({', '.join('?' * len(ACTIVE))})",
                       list(ACTIVE))
    return {r["snapshot_id"] for r in rows}


def shown_status(store: Store, snapshot: dict, deployed: set[str] | None = None) -> str:
    """``deployed`` while a deployment serves the version (``deployed``: the ids of such versions, read
    once for a listing), else its stored status."""
    deployed = deployed_ids(store) if deployed is None else deployed
    return "deployed" if snapshot["id"] in deployed else snapshot["status"]


def serving_ids(rows: list[dict]) -> set[str]:
    """The versions among deployment ``rows`` that a starting or running deployment serves."""
    return {r["snapshot_id"] for r in rows if r["status"] in ACTIVE}
