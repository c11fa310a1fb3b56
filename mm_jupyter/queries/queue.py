"""What the scheduler reads: queues (FIFO by the time an execution was queued), running attempts,
services that wait to start something or to finish a drain."""

from __future__ import annotations

from ..executions import IN_PROGRESS, QUEUED
from ..store import Store

_Q = ", ".join("?" * len(QUEUED))


def queue_length(store: Store, service: str) -> int:
    """Executions waiting on ``service`` (pending or re-queued for a retry)."""
    return store.count("executions", service=service, status=QUEUED)


def running_count(store: Store, service: str) -> int:
    return store.count("executions", service=service, status=IN_PROGRESS)


def services_with_queue(store: Store, *, remote_only: bool = False) -> list[dict]:
    """Unpaused services with executions waiting (only those with a remote runner, if asked)."""
    remote = " AND s.runner != 'local'" if remote_only else ""
    return store.query(
        f"SELECT DISTINCT s.* FROM services s JOIN executions e ON e.service = s.name "
        f"WHERE e.status IN ({_Q}) AND s.paused = 0{remote}", list(QUEUED))


def queued_count(store: Store) -> int:
    """Executions waiting for a slot on an unpaused service (cheap: the status index)."""
    return store.conn.execute(
        f"SELECT count(*) FROM executions e JOIN services s ON s.name = e.service "
        f"WHERE e.status IN ({_Q}) AND s.paused = 0", list(QUEUED)).fetchone()[0]


def next_queued(store: Store, service: str, n: int) -> list[str]:
    """The ids of the first ``n`` executions waiting on ``service``, first in first out."""
    return [r[0] for r in store.conn.execute(
        f"SELECT id FROM executions WHERE service = ? AND status IN ({_Q}) "
        "ORDER BY queued_at, created_at, rowid LIMIT ?", [service, *QUEUED, n])]


def in_progress(store: Store, service: str | None = None) -> list[dict]:
    """Running executions (of one service, if given)."""
    where = {"status": IN_PROGRESS}
    if service:
        where["service"] = service
    return store.find("executions", **where)


def reporting_services(store: Store) -> set[str]:
    """The services whose workers report over the network (a tracking URL)."""
    return {r["name"] for r in store.query("SELECT name FROM services WHERE tracking_url IS NOT NULL "
                                           "AND tracking_url != ''")}


def draining(store: Store) -> list[dict]:
    """Services being stopped (a drain deadline is set)."""
    return store.query("SELECT * FROM services WHERE draining_until IS NOT NULL")
