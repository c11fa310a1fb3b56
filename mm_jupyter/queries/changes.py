"""What the live event stream polls: events since an id, the active executions' state, counts."""

from __future__ import annotations

from ..executions import ACTIVE
from ..store import Store

_A = ", ".join("?" * len(ACTIVE))


def last_event_id(store: Store) -> int:
    return store.conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]


def events_since(store: Store, after_id: int, limit: int = 5000) -> list[dict]:
    """Events (every execution's) with ``id > after_id``, oldest first; each has its ``type``."""
    return store.query("SELECT id, execution_id, ts, level, type, message FROM events WHERE id > ? "
                       "ORDER BY id LIMIT ?", [after_id, limit])


def active_state(store: Store) -> dict[str, tuple]:
    """Execution id → (status, progress, attempts, heartbeat) of every active execution."""
    rows = store.conn.execute(
        f"SELECT id, status, progress, attempts, heartbeat_at FROM executions WHERE status IN ({_A})",
        list(ACTIVE)).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def executions_count(store: Store) -> int:
    return store.conn.execute("SELECT count(*) FROM executions").fetchone()[0]


def catalog_signature(store: Store) -> tuple:
    """Models and versions: counts and newest rows (changes when one is added or removed anywhere:
    the CLI, Python, another window), and versions' notes and tags (the largest id each table handed
    out, which every edit raises, and the tags' count, which a removal lowers)."""
    return tuple(store.conn.execute(
        "SELECT (SELECT count(*) FROM models), (SELECT max(rowid) FROM models), "
        "(SELECT count(*) FROM snapshots), (SELECT max(rowid) FROM snapshots), "
        "(SELECT seq FROM sqlite_sequence WHERE name = 'snapshot_notes'), "
        "(SELECT seq FROM sqlite_sequence WHERE name = 'snapshot_tags'), (SELECT count(*) FROM snapshot_tags)"
    ).fetchone())


def services_signature(store: Store) -> tuple:
    """Every service row as a tuple: changes when any setting does."""
    return tuple(store.conn.execute("SELECT * FROM services ORDER BY name"))


def execution_folder_row(store: Store, execution_id: str) -> dict | None:
    """The fields that place an execution's artifact folder (None once it is removed)."""
    return store.first("executions", id=execution_id)
