"""The store: one SQLite file (WAL, busy timeout) holding every entity of mm-jupyter.

The store is the single source of truth: the CLI, the widgets, the server extension, the runners
and the notebooks' ``RunContext`` all read and write it, never each other.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from .errors import NotFound, StoreError

SCHEMA_VERSION = 3
JSON_COLUMNS = {
    "models": ("labels", "config"),
    "snapshots": ("config", "labels", "filters", "repro"),
    "datasets": ("labels",),
    "items": ("tags", "metadata", "annotations"),
    "filters": ("query",),
    "executions": ("params",),
}
ID_PREFIX = {"models": "m", "snapshots": "s", "datasets": "d", "executions": "e"}


def default_home() -> Path:
    """The mm-jupyter home folder: ``$MM_HOME`` or ``~/.mm_jupyter``."""
    return Path(os.environ.get("MM_HOME") or Path.home() / ".mm_jupyter").expanduser()


def new_id(table: str) -> str:
    """A short random id with a prefix telling its kind (``m-``, ``s-``, ``d-``, ``e-``)."""
    return f"{ID_PREFIX[table]}-{uuid.uuid4().hex[:10]}"


def now() -> float:
    return time.time()


def contains_clause(columns: tuple[str, ...], text: str) -> tuple[str, list[str]]:
    """``(sql, params)`` matching rows where any of ``columns`` contains ``text`` (its ``%``/``_``
    taken literally), for a WHERE clause."""
    like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return "(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns) + ")", [like] * len(columns)


# --- migrations ---------------------------------------------------------------------------------


def _migrate_1(db: Database) -> None:
    db["models"].create(
        {"id": str, "name": str, "adapter": str, "labels": str, "config": str, "description": str,
         "created_at": float},
        pk="id", not_null={"name"},
    )
    db["models"].create_index(["name"], unique=True)
    db["datasets"].create(
        {"id": str, "name": str, "root": str, "format": str, "labels": str, "content_hash": str,
         "created_at": float},
        pk="id", not_null={"name"},
    )
    db["datasets"].create_index(["name"], unique=True)
    db["items"].create(
        {"id": int, "dataset_id": str, "path": str, "name": str, "dir": str, "tags": str,
         "metadata": str, "annotations": str},
        pk="id", foreign_keys=[("dataset_id", "datasets", "id")],
    )
    db["items"].create_index(["dataset_id", "path"], unique=True)
    db["filters"].create(
        {"name": str, "dataset_id": str, "query": str, "created_at": float}, pk="name",
    )
    db["snapshots"].create(
        {"id": str, "model_id": str, "name": str, "status": str, "config": str, "dataset_id": str,
         "filters": str, "labels": str, "parent_id": str, "weights_uri": str, "repro": str,
         "created_at": float},
        pk="id", foreign_keys=[("model_id", "models", "id")],
    )
    db["snapshots"].create_index(["model_id"])
    db["services"].create(
        {"name": str, "model_id": str, "kind": str, "kernel_name": str, "concurrency": int,
         "max_instances": int, "queue_size": int, "execution_timeout": float, "drain_time": float,
         "on_reset": str, "max_attempts": int, "paused": int, "runner": str, "created_at": float},
        pk="name",
    )
    db["executions"].create(
        {"id": str, "kind": str, "snapshot_id": str, "model_id": str, "service": str, "status": str,
         "progress": float, "attempts": int, "created_at": float, "queued_at": float,
         "started_at": float, "ended_at": float, "heartbeat_at": float, "error": str,
         "notebook_uri": str, "params": str, "runner_pid": int, "kernel_pid": int, "host": str},
        pk="id",
    )
    db["executions"].create_index(["status"])
    db["executions"].create_index(["service", "status"])
    db["executions"].create_index(["created_at"])
    db["metrics"].create(
        {"id": int, "execution_id": str, "snapshot_id": str, "name": str, "step": int, "epoch": int,
         "value": float, "ts": float},
        pk="id",
    )
    db["metrics"].create_index(["execution_id", "id"])
    db["metrics"].create_index(["snapshot_id", "name"])
    db["events"].create(
        {"id": int, "execution_id": str, "ts": float, "level": str, "message": str}, pk="id",
    )
    db["events"].create_index(["execution_id", "id"])


def _migrate_2(db: Database) -> None:
    """v2: idempotent submits, rerun lineage, abort requests, readable execution names."""
    db.execute("ALTER TABLE executions ADD COLUMN idempotency_key TEXT")
    db.execute("ALTER TABLE executions ADD COLUMN rerun_of TEXT")
    db.execute("ALTER TABLE executions ADD COLUMN abort_requested INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE executions ADD COLUMN name TEXT")
    db.execute(
        "UPDATE executions SET name = kind || ' ' || coalesce("
        "(SELECT name FROM snapshots WHERE snapshots.id = executions.snapshot_id), snapshot_id)"
    )
    db.execute(
        "CREATE UNIQUE INDEX idx_executions_idempotency ON executions(idempotency_key) "
        "WHERE idempotency_key IS NOT NULL"
    )


def _migrate_3(db: Database) -> None:
    """v3: scale-out: which runner/worker runs an attempt, GPU services, service drains, store identity."""
    db.execute("ALTER TABLE executions ADD COLUMN runner TEXT")
    db.execute("ALTER TABLE executions ADD COLUMN worker TEXT")
    db.execute("ALTER TABLE services ADD COLUMN gpus INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE services ADD COLUMN draining_until REAL")
    db["meta"].insert({"key": "store_id", "value": uuid.uuid4().hex}, pk="key", ignore=True)


MIGRATIONS: list[Callable[[Database], None]] = [_migrate_1, _migrate_2, _migrate_3]


# --- the store ----------------------------------------------------------------------------------


class Store:
    """Typed access to the mm-jupyter SQLite store and its artifact folder.

    ``Store()`` opens ``$MM_HOME/mm.db`` (creating and migrating it as needed); ``Store(home)``
    opens another home folder. Each instance holds one connection: use one per thread/process.
    """

    def __init__(self, home: str | os.PathLike | None = None, *, migrate_to: int = SCHEMA_VERSION):
        self.home = Path(home).expanduser().resolve() if home else default_home().resolve()
        self.db_path = self.home / "mm.db"
        self.artifacts = self.home / "artifacts"
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.db_path, timeout=60, isolation_level=None,
                                        check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open store at {self.db_path}: {exc}") from None
        self.conn.execute("PRAGMA busy_timeout = 60000")
        try:
            mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.db_path} is not an mm-jupyter store: {exc}") from None
        if mode.lower() != "wal":
            raise StoreError(f"cannot enable WAL on {self.db_path} (journal mode {mode})")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.db = Database(self.conn)
        self._migrate(migrate_to)

    # -- plumbing --

    @property
    def schema_version(self) -> int:
        row = self.conn.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone() if self.db["meta"].exists() else None
        return int(row[0]) if row else 0

    def _migrate(self, target: int) -> None:
        with self.tx():
            if not self.db["meta"].exists():
                self.db["meta"].create({"key": str, "value": str}, pk="key")
            current = self.schema_version
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.db_path} has schema v{current}, newer than this mm-jupyter "
                    f"(v{SCHEMA_VERSION}): upgrade mm-jupyter"
                )
            for version in range(current + 1, target + 1):
                MIGRATIONS[version - 1](self.db)
                self.db["meta"].upsert({"key": "schema_version", "value": str(version)}, pk="key")

    @contextmanager
    def tx(self) -> Iterator[Database]:
        """A write transaction taken up front (``BEGIN IMMEDIATE``), so readers never block it."""
        if self.conn.in_transaction:
            yield self.db
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    def query(self, sql: str, params: Iterable[Any] | dict = ()) -> list[dict]:
        """Run a parameterized read query (rows as dicts; JSON columns are left encoded)."""
        cur = self.conn.execute(sql, params)
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    @staticmethod
    def _encode(table: str, row: dict) -> dict:
        out = dict(row)
        for col in JSON_COLUMNS.get(table, ()):
            if col in out and out[col] is not None:
                out[col] = json.dumps(out[col], sort_keys=True)
        return out

    @staticmethod
    def _decode(table: str, row: dict | None) -> dict | None:
        if row is None:
            return None
        for col in JSON_COLUMNS.get(table, ()):
            if isinstance(row.get(col), str):
                row[col] = json.loads(row[col])
        return row

    def insert(self, table: str, row: dict) -> dict:
        """Insert one row (JSON columns encoded), giving it a fresh id when it has none."""
        row = dict(row)
        if table in ID_PREFIX and not row.get("id"):
            row["id"] = new_id(table)
        if table not in ("items", "metrics", "events"):
            row.setdefault("created_at", now())
        self.db[table].insert(self._encode(table, row))
        return row

    def update(self, table: str, pk: str, **fields: Any) -> None:
        self.db[table].update(pk, self._encode(table, fields))

    def get(self, table: str, ref: str, *, by_name: bool = True) -> dict:
        """A row by id, by unique name, or by a unique id prefix (at least 4 characters)."""
        kind = table.rstrip("s")
        if not isinstance(ref, str) or not ref:
            raise NotFound(f"{kind} id must be a non-empty string, got {ref!r}")
        pk = "name" if table in ("services", "filters") else "id"
        rows = self.query(f"SELECT * FROM {table} WHERE {pk} = ?", [ref])
        if not rows and by_name and pk == "id" and "name" in self.db[table].columns_dict:
            rows = self.query(f"SELECT * FROM {table} WHERE name = ?", [ref])
        if not rows and pk == "id" and len(ref) >= 4:
            rows = self.query(
                f"SELECT * FROM {table} WHERE id >= ? AND id < ? LIMIT 2", [ref, ref + "\uffff"]
            )
        if len(rows) > 1:
            raise NotFound(f"{kind} {ref!r} is ambiguous: give more of its id")
        if not rows:
            raise NotFound(f"unknown {kind} {ref!r}")
        return self._decode(table, rows[0])

    def find(self, table: str, where: str = "", params: Iterable[Any] | dict = (), *,
             order: str = "", limit: int | None = None, offset: int = 0) -> list[dict]:
        """Rows of ``table`` (JSON decoded). ``where``/``order`` are code, never user text: values go in
        ``params``."""
        sql = f"SELECT * FROM {table}" + (f" WHERE {where}" if where else "")
        sql += f" ORDER BY {order}" if order else ""
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return [self._decode(table, r) for r in self.query(sql, params)]

    # -- metrics and events (hot paths, batched) --

    def insert_metrics(self, rows: list[dict]) -> None:
        """Insert metric points in one transaction (the batched write path)."""
        if not rows:
            return
        with self.tx():
            self.conn.executemany(
                "INSERT INTO metrics (execution_id, snapshot_id, name, step, epoch, value, ts) "
                "VALUES (:execution_id, :snapshot_id, :name, :step, :epoch, :value, :ts)",
                [{"step": None, "epoch": None, "snapshot_id": None, "ts": now(), **r} for r in rows],
            )

    def metrics_since(self, execution_id: str, after_id: int = 0, limit: int = 100_000) -> list[dict]:
        """Metric points of an execution with ``id > after_id`` (indexed; used by live views)."""
        return self.query(
            "SELECT id, name, step, epoch, value, ts FROM metrics WHERE execution_id = ? AND id > ? "
            "ORDER BY id LIMIT ?", [execution_id, after_id, limit],
        )

    def add_event(self, execution_id: str | None, message: str, level: str = "info") -> None:
        self.conn.execute(
            "INSERT INTO events (execution_id, ts, level, message) VALUES (?, ?, ?, ?)",
            [execution_id, now(), level, message],
        )

    def events(self, execution_id: str) -> list[dict]:
        return self.query(
            "SELECT id, ts, level, message FROM events WHERE execution_id = ? ORDER BY id",
            [execution_id],
        )

    # -- artifact paths --

    def snapshot_dir(self, model_id: str, snapshot_id: str) -> Path:
        return self.artifacts / "models" / model_id / "snapshots" / snapshot_id

    def execution_dir(self, execution: dict) -> Path:
        return self.snapshot_dir(execution["model_id"], execution["snapshot_id"]) / "executions" / \
            execution["id"]

    def inside_artifacts(self, path: str | os.PathLike) -> Path:
        """Resolve ``path`` and refuse anything outside the artifact root."""
        try:
            resolved = (self.artifacts / path).resolve()
        except (OSError, ValueError, TypeError) as exc:  # a NUL byte, a name too long, not a path
            raise StoreError(f"path {str(path)[:200]!r} is not a valid artifact path: {exc}") from None
        root = self.artifacts.resolve()
        if resolved != root and root not in resolved.parents:
            raise StoreError(f"path {str(path)!r} is outside the artifact root")
        return resolved
