"""The store: one SQLite file (WAL, busy timeout) holding every entity of mm-jupyter, and its
artifact folder.

The store is the single source of truth. This module and ``mm_jupyter.queries`` are the only places
that hold SQL: this one the schema, its migrations and every write (plus single-row reads by key);
``queries`` every read a face or the scheduler makes. Everyone else calls methods.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import NotFound, StoreError


def _import_database() -> type:
    """``sqlite_utils.Database``, imported without its optional pandas and numpy when they are not
    loaded yet: they only add column-type guesses this store never uses (its tables are declared),
    and cost every ``mm`` command and runner process about 0.45 s and 60 MB."""
    blocked = [name for name in ("pandas", "numpy") if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # import fails: sqlite_utils goes without
    try:
        from sqlite_utils import Database as database
    finally:
        for name in blocked:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]
    return database


Database = _import_database()

SCHEMA_VERSION = 10
JSON_COLUMNS = {
    "models": ("labels", "config", "codebase"),
    "snapshots": ("config", "labels", "filters", "repro"),
    "datasets": ("labels",),
    "items": ("tags", "metadata", "annotations"),
    "filters": ("query",),
    "executions": ("params",),
    "services": ("secrets",),
    "deployments": ("secrets",),
}
ID_PREFIX = {"models": "m", "snapshots": "s", "datasets": "d", "executions": "e", "deployments": "dp"}
KEY = {"services": "name", "filters": "name", "meta": "key"}
METRIC_COLUMNS = ("execution_id", "snapshot_id", "name", "step", "epoch", "value", "ts", "attempt")
Where = dict[str, Any]


def default_home() -> Path:
    """The mm-jupyter home folder: ``$MM_HOME`` or ``~/.mm_jupyter``."""
    return Path(os.environ.get("MM_HOME") or Path.home() / ".mm_jupyter").expanduser()


def new_id(table: str) -> str:
    """A short random id with a prefix telling its kind (``m-``, ``s-``, ``d-``, ``e-``)."""
    return f"{ID_PREFIX[table]}-{uuid.uuid4().hex[:10]}"


def now() -> float:
    return time.time()


def like_escape(text: str) -> str:
    """``text`` for a ``LIKE … ESCAPE '\\'`` pattern, its ``%`` and ``_`` taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class _CheckedConnection(sqlite3.Connection):
    """A connection that checks, before every statement, that its file is still the one it opened
    (``Store.check_identity``): no read or write ever reaches a deleted or replaced store."""

    check: Callable[[], None] | None = None

    def execute(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:  # type: ignore[override]
        if self.check is not None:
            self.check()
        return super().execute(*args, **kwargs)

    def executemany(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:  # type: ignore[override]
        if self.check is not None:
            self.check()
        return super().executemany(*args, **kwargs)


def _column(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a column name: {name!r}")  # code, never user text
    return name


def conditions(where: Where) -> tuple[str, list]:
    """``(sql, params)`` for ``col = value`` / ``col IS NULL`` / ``col IN (...)`` (a tuple, list or
    set) joined with AND; an empty mapping matches everything."""
    parts: list[str] = []
    params: list[Any] = []
    for col, value in where.items():
        col = _column(col)
        if value is None:
            parts.append(f"{col} IS NULL")
        elif isinstance(value, tuple | list | set | frozenset):
            values = list(value)
            parts.append(f"{col} IN ({', '.join('?' * len(values))})" if values else "0")
            params += values
        else:
            parts.append(f"{col} = ?")
            params.append(value)
    return (" AND ".join(parts) or "1"), params


def ordering(order: str | tuple[str, ...] | None) -> str:
    """``ORDER BY`` text for column names, ``-name`` meaning descending."""
    if not order:
        return ""
    cols = (order,) if isinstance(order, str) else order
    return " ORDER BY " + ", ".join(f"{_column(c[1:])} DESC" if c.startswith("-") else _column(c) for c in cols)


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


def _migrate_4(db: Database) -> None:
    """v4: typed events and outcomes (nothing parses message text), indexes for the search rule."""
    db.execute("ALTER TABLE events ADD COLUMN type TEXT NOT NULL DEFAULT 'log'")
    db.execute("UPDATE events SET type = 'status' WHERE message LIKE 'status -> %'")
    db.execute("UPDATE events SET type = 'created' WHERE message LIKE 'created on service %'")
    db.execute("ALTER TABLE executions ADD COLUMN outcome TEXT")
    db.execute("UPDATE executions SET outcome = 'start-failure' WHERE status IN ('failed', 'aborted') AND "
               "(error LIKE '%is not installed%' OR error LIKE 'cannot start runner%')")
    db.execute("CREATE INDEX idx_executions_snapshot_status ON executions(snapshot_id, status)")
    db.execute("CREATE INDEX idx_executions_model_status ON executions(model_id, status)")
    db.execute("CREATE INDEX idx_events_type ON events(type, id)")
    # the search rule's name match: the distinct execution names (a few per version, kept by a
    # trigger) are compared in full, then their executions found through the (name, status) index
    db.execute("CREATE TABLE execution_names (name TEXT PRIMARY KEY) WITHOUT ROWID")
    db.execute("CREATE TRIGGER execution_names_insert AFTER INSERT ON executions WHEN new.name IS NOT NULL "
               "BEGIN INSERT OR IGNORE INTO execution_names (name) VALUES (new.name); END")
    db.execute("CREATE TRIGGER execution_names_update AFTER UPDATE OF name ON executions WHEN new.name IS NOT NULL "
               "BEGIN INSERT OR IGNORE INTO execution_names (name) VALUES (new.name); END")
    db.execute("INSERT OR IGNORE INTO execution_names (name) SELECT DISTINCT name FROM executions "
               "WHERE name IS NOT NULL")
    db.execute("CREATE INDEX idx_executions_name_status ON executions(name, status)")


def _migrate_5(db: Database) -> None:
    """v5: records you can trust: attempt tokens (hashes only), metric points per attempt, weights
    hashes, content hashes per dataset file, idempotent version creation."""
    db.execute("ALTER TABLE executions ADD COLUMN token_hash TEXT")
    db.execute("ALTER TABLE metrics ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1")
    db.execute("UPDATE metrics SET attempt = coalesce((SELECT max(attempts, 1) FROM executions e "
               "WHERE e.id = metrics.execution_id), 1)")  # before v5 only the last attempt is known
    db.execute("ALTER TABLE snapshots ADD COLUMN weights_hash TEXT")
    db.execute("ALTER TABLE snapshots ADD COLUMN idempotency_key TEXT")
    db.execute("CREATE UNIQUE INDEX idx_snapshots_idempotency ON snapshots(idempotency_key) "
               "WHERE idempotency_key IS NOT NULL")
    db.execute("ALTER TABLE datasets ADD COLUMN hashed_at REAL")
    db["dataset_files"].create(
        {"dataset_id": str, "path": str, "size": int, "mtime_ns": int, "ctime_ns": int, "ino": int, "sha256": str},
        pk=("dataset_id", "path"),
    )


def _migrate_6(db: Database) -> None:
    """v6: one metric across every execution (leaderboards, compare) through an index on its name."""
    db.execute("CREATE INDEX idx_metrics_name ON metrics(name, execution_id, attempt)")


def _migrate_7(db: Database) -> None:
    """v7: a version's notes and tags, the user's annotations kept apart from its trained record (which
    is never rewritten): notes are appended (each edit a row; the newest is current, the rest its
    history), tags are a set per version (``key``: the tag in lower case, what the search rule
    compares, served by an index). AUTOINCREMENT ids never come back, so the event stream sees every
    change in the largest id handed out."""
    db.execute("CREATE TABLE snapshot_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, snapshot_id TEXT NOT NULL, "
               "text TEXT NOT NULL, created_at REAL NOT NULL)")
    db.execute("CREATE INDEX idx_snapshot_notes ON snapshot_notes(snapshot_id, id)")
    db.execute("CREATE TABLE snapshot_tags (id INTEGER PRIMARY KEY AUTOINCREMENT, snapshot_id TEXT NOT NULL, "
               "tag TEXT NOT NULL, key TEXT NOT NULL, created_at REAL NOT NULL)")
    db.execute("CREATE UNIQUE INDEX idx_snapshot_tags ON snapshot_tags(snapshot_id, key)")
    db.execute("CREATE INDEX idx_snapshot_tags_key ON snapshot_tags(key, snapshot_id)")


def _migrate_8(db: Database) -> None:
    """v8: the names of the secrets a service's runs get in their kernel's environment (a JSON list;
    the values live outside the store, in ``secrets.json``)."""
    db.execute("ALTER TABLE services ADD COLUMN secrets TEXT")


def _migrate_9(db: Database) -> None:
    """v9: a model's codebase (where its adapter's code comes from: a folder copied into the store by
    content hash, or a git revision; JSON, NULL for an installed module) and deployments (a version
    kept loaded in a warm kernel answering predictions: its process, address and health; the key its
    callers present is kept as a hash only)."""
    db.execute("ALTER TABLE models ADD COLUMN codebase TEXT")
    db.execute("CREATE TABLE deployments (id TEXT PRIMARY KEY, snapshot_id TEXT NOT NULL, model_id TEXT NOT NULL, "
               "kernel_name TEXT, runner TEXT NOT NULL DEFAULT 'local', status TEXT NOT NULL, secrets TEXT, "
               "address TEXT, pid INTEGER, key_hash TEXT, error TEXT, restarts INTEGER NOT NULL DEFAULT 0, "
               "created_at REAL NOT NULL, started_at REAL, ended_at REAL, heartbeat_at REAL)")
    db.execute("CREATE INDEX idx_deployments_snapshot ON deployments(snapshot_id, status)")


def _migrate_10(db: Database) -> None:
    """v10: remote runners. ``attempt_tokens``: the hash of every attempt's token, written once when
    the attempt is claimed, so the runner API tells a zombie (an old attempt of the execution) from a
    forged token and from another execution's; ``runner_batches``: the batch ids a remote runner sent,
    each stored once (a retried batch writes nothing); a service's ``tracking_url`` (where its remote
    workers report; NULL: workers open the store directly)."""
    db.execute("CREATE TABLE attempt_tokens (token_hash TEXT PRIMARY KEY, execution_id TEXT NOT NULL, "
               "attempt INTEGER NOT NULL, created_at REAL NOT NULL)")
    db.execute("CREATE INDEX idx_attempt_tokens_execution ON attempt_tokens(execution_id, attempt)")
    db.execute("CREATE TABLE runner_batches (execution_id TEXT NOT NULL, batch_id TEXT NOT NULL, "
               "attempt INTEGER NOT NULL, received_at REAL NOT NULL, PRIMARY KEY (execution_id, batch_id))")
    db.execute("ALTER TABLE services ADD COLUMN tracking_url TEXT")


MIGRATIONS: list[Callable[[Database], None]] = [_migrate_1, _migrate_2, _migrate_3, _migrate_4, _migrate_5,
                                                _migrate_6, _migrate_7, _migrate_8, _migrate_9, _migrate_10]


# --- the store ----------------------------------------------------------------------------------


class Store:
    """Typed access to the mm-jupyter SQLite store and its artifact folder.

    ``Store()`` opens ``$MM_HOME/mm.db`` (creating and migrating it as needed); ``Store(home)``
    opens another home folder; ``read_only=True`` gives a query-only connection with a short busy
    timeout (for a server's event loop); ``create=False`` refuses a missing file; ``expect_id`` and
    ``expect_file`` (another connection's ``identity``) refuse a file that is not that store (a
    second connection of a server, say). Each instance holds one connection: use one per thread.

    The file's identity (device and inode) is remembered at open and checked by the connection
    before every statement (``_CheckedConnection``): a store deleted or replaced while in use is a
    ``StoreError``, never a split between the old file and a new empty one.
    """

    def __init__(self, home: str | os.PathLike | None = None, *, migrate_to: int = SCHEMA_VERSION,
                 read_only: bool = False, create: bool = True, expect_id: str | None = None,
                 expect_file: tuple[int, int] | None = None):
        self.home = Path(home).expanduser().resolve() if home else default_home().resolve()
        self.db_path = self.home / "mm.db"
        self.artifacts = self.home / "artifacts"
        if not create and not self.db_path.is_file():
            raise StoreError(f"there is no store at {self.db_path} any more (deleted or moved while in use?)")
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.db_path, timeout=60, isolation_level=None,
                                        check_same_thread=False, factory=_CheckedConnection)
            stat = os.stat(self.db_path)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open store at {self.db_path}: {exc}") from None
        self._identity = (stat.st_dev, stat.st_ino)
        if expect_file is not None and self._identity != tuple(expect_file):
            self.conn.close()
            raise StoreError(f"{self.db_path} is another store than the one this process opened first "
                             "(replaced while in use?): restart to use it")
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
        self._metric_columns = METRIC_COLUMNS if migrate_to >= 5 else METRIC_COLUMNS[:-1]
        self.id = self.store_id
        self.conn.check = self.check_identity
        if expect_id is not None and self.id != expect_id:
            self.conn.close()
            raise StoreError(f"{self.db_path} is another store than the one this process opened first "
                             "(replaced while in use?): restart to use it")
        if read_only:
            self.conn.execute("PRAGMA busy_timeout = 200")
            self.conn.execute("PRAGMA query_only = 1")

    # -- plumbing --

    @property
    def schema_version(self) -> int:
        row = self.conn.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone() if self.db["meta"].exists() else None
        return int(row[0]) if row else 0

    @property
    def identity(self) -> tuple[int, int]:
        """The store file's (device, inode) when it was opened."""
        return self._identity

    def check_identity(self) -> None:
        """``StoreError`` when the store's file was deleted or replaced since it was opened."""
        try:
            stat = os.stat(self.db_path)
        except OSError:
            raise StoreError(f"the store file {self.db_path} was deleted while in use: nothing more is read or "
                             "written (restart to use a new store)") from None
        if (stat.st_dev, stat.st_ino) != self._identity:
            raise StoreError(f"the store file {self.db_path} was replaced while in use: nothing more is read or "
                             "written through this connection (restart to use it)")

    @property
    def store_id(self) -> str:
        """The store's identity (a random id written at creation; a copy of the file keeps it)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
        return row[0] if row else ""

    def meta(self, key: str) -> str | None:
        """A value of the store's ``meta`` table (None when unset)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                          "excluded.value", [key, value])

    def data_version(self) -> int:
        """Changes when another connection commits (cheap: what live views poll first)."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

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
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:  # also when COMMIT itself failed (busy, disk full)
                self.conn.execute("ROLLBACK")
            raise

    @contextmanager
    def savepoint(self) -> Iterator[Database]:
        """A part of the current transaction that an exception undoes alone (the rest stays); outside
        a transaction, a transaction of its own."""
        if not self.conn.in_transaction:
            with self.tx() as db:
                yield db
            return
        self.conn.execute("SAVEPOINT mm_part")
        try:
            yield self.db
        except BaseException:
            self.conn.execute("ROLLBACK TO mm_part")
            self.conn.execute("RELEASE mm_part")
            raise
        self.conn.execute("RELEASE mm_part")

    def close(self) -> None:
        self.conn.close()

    def query(self, sql: str, params: Iterable[Any] | dict = ()) -> list[dict]:
        """Run a parameterized read query (rows as dicts; JSON columns are left encoded). For
        ``mm_jupyter.queries``: everyone else calls a query or a method."""
        cur = self.conn.execute(sql, params)
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    @staticmethod
    def encode(table: str, row: dict) -> dict:
        out = dict(row)
        for col in JSON_COLUMNS.get(table, ()):
            if col in out and out[col] is not None:
                out[col] = json.dumps(out[col], sort_keys=True)
        return out

    @staticmethod
    def decode(table: str, row: dict | None) -> dict | None:
        """Decode the JSON columns of ``table`` in ``row`` (in place)."""
        if row is None:
            return None
        for col in JSON_COLUMNS.get(table, ()):
            if isinstance(row.get(col), str):
                row[col] = json.loads(row[col])
        return row

    # -- rows by key and by equality --

    def insert(self, table: str, row: dict) -> dict:
        """Insert one row (JSON columns encoded), giving it a fresh id when it has none."""
        row = dict(row)
        if table in ID_PREFIX and not row.get("id"):
            row["id"] = new_id(table)
        if table not in ("items", "metrics", "events"):
            row.setdefault("created_at", now())
        self.db[table].insert(self.encode(table, row))
        return row

    def update(self, table: str, pk: str, **fields: Any) -> None:
        self.db[table].update(pk, self.encode(table, fields))

    def update_if(self, table: str, pk: str, fields: dict, **where: Any) -> bool:
        """Update row ``pk`` only while it matches ``where`` (see ``conditions``): one conditional
        statement, so two processes racing can never both win. Returns whether it changed."""
        encoded = self.encode(table, fields)
        sets = ", ".join(f"{_column(k)} = ?" for k in encoded)
        cond, params = conditions({KEY.get(table, "id"): pk, **where})
        cur = self.conn.execute(f"UPDATE {_column(table)} SET {sets} WHERE {cond}", [*encoded.values(), *params])
        return cur.rowcount == 1

    def update_where(self, table: str, fields: dict, **where: Any) -> int:
        """Update every row matching ``where``; returns how many changed."""
        encoded = self.encode(table, fields)
        sets = ", ".join(f"{_column(k)} = ?" for k in encoded)
        cond, params = conditions(where)
        return self.conn.execute(f"UPDATE {_column(table)} SET {sets} WHERE {cond}",
                                 [*encoded.values(), *params]).rowcount

    def get(self, table: str, ref: str, *, by_name: bool = True) -> dict:
        """A row by id, by unique name, or by a unique id prefix (at least 4 characters)."""
        kind = table.rstrip("s")
        if not isinstance(ref, str) or not ref:
            raise NotFound(f"{kind} id must be a non-empty string, got {ref!r}")
        pk = KEY.get(table, "id")
        rows = self.query(f"SELECT * FROM {_column(table)} WHERE {pk} = ?", [ref])
        if not rows and by_name and pk == "id" and "name" in self.db[table].columns_dict:
            rows = self.query(f"SELECT * FROM {_column(table)} WHERE name = ?", [ref])
        if not rows and pk == "id" and len(ref) >= 4:
            rows = self.query(
                f"SELECT * FROM {_column(table)} WHERE id >= ? AND id < ? LIMIT 2", [ref, ref + "\uffff"]
            )
        if len(rows) > 1:
            raise NotFound(f"{kind} {ref!r} is ambiguous: give more of its id")
        if not rows:
            raise NotFound(f"unknown {kind} {ref!r}")
        return self.decode(table, rows[0])

    def find(self, table: str, *, order: str | tuple[str, ...] | None = None, limit: int | None = None,
             offset: int = 0, **where: Any) -> list[dict]:
        """Rows of ``table`` (JSON decoded) matching ``where`` (``col=value``, ``col=None``,
        ``col=(a, b)``), ordered by column names (``-col`` descending)."""
        cond, params = conditions(where)
        sql = f"SELECT * FROM {_column(table)} WHERE {cond}{ordering(order)}"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return [self.decode(table, r) for r in self.query(sql, params)]

    def first(self, table: str, *, order: str | tuple[str, ...] | None = None, **where: Any) -> dict | None:
        rows = self.find(table, order=order, limit=1, **where)
        return rows[0] if rows else None

    def count(self, table: str, **where: Any) -> int:
        cond, params = conditions(where)
        return self.conn.execute(f"SELECT count(*) FROM {_column(table)} WHERE {cond}", params).fetchone()[0]

    def delete(self, table: str, **where: Any) -> int:
        """Delete the rows matching ``where`` (at least one condition); returns how many."""
        if not where:
            raise ValueError("delete needs a condition")
        cond, params = conditions(where)
        return self.conn.execute(f"DELETE FROM {_column(table)} WHERE {cond}", params).rowcount

    # -- metrics and events (hot paths, batched) --

    def insert_metrics(self, rows: list[dict]) -> None:
        """Insert metric points in one transaction (the batched write path)."""
        if not rows:
            return
        cols = self._metric_columns
        with self.tx():
            self.conn.executemany(
                f"INSERT INTO metrics ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})",
                [{"step": None, "epoch": None, "snapshot_id": None, "ts": now(), "attempt": 1, **r} for r in rows],
            )

    def insert_metric_points(self, execution_id: str, snapshot_id: str | None, attempt: int,
                             points: Sequence[tuple]) -> None:
        """A run's metric points, ``(name, step, epoch, value, ts)`` tuples, in one transaction (the
        live write path: positional rows, no per-point dicts)."""
        if not points:
            return
        if "attempt" in self._metric_columns:
            sql = ("INSERT INTO metrics (execution_id, snapshot_id, name, step, epoch, value, ts, attempt) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            rows: Iterable[tuple] = ((execution_id, snapshot_id, *p, attempt) for p in points)
        else:
            sql = "INSERT INTO metrics (execution_id, snapshot_id, name, step, epoch, value, ts) VALUES (?, ?, ?, ?, ?, ?, ?)"
            rows = ((execution_id, snapshot_id, *p) for p in points)
        with self.tx():
            self.conn.executemany(sql, rows)

    def add_event(self, execution_id: str | None, message: str, level: str = "info", type: str = "log") -> None:
        """An event of an execution: ``type`` says what it is (``status``, ``created``, ``log``, …)
        so that nobody has to parse ``message``."""
        self.conn.execute(
            "INSERT INTO events (execution_id, ts, level, message, type) VALUES (?, ?, ?, ?, ?)",
            [execution_id, now(), level, message, type],
        )

    def insert_items(self, dataset_id: str, rows: Iterable[tuple]) -> None:
        """Items of a dataset: ``(path, name, dir, tags, metadata, annotations)`` tuples, JSON encoded."""
        self.conn.executemany(
            "INSERT INTO items (dataset_id, path, name, dir, tags, metadata, annotations) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", [(dataset_id, *row) for row in rows])

    def set_item_tags(self, changes: list[tuple[str, int]]) -> None:
        """``(tags JSON, item id)`` pairs."""
        self.conn.executemany("UPDATE items SET tags = ? WHERE id = ?", changes)

    # -- remote runners: attempt tokens and batch ids --

    def add_attempt_token(self, execution_id: str, attempt: int, token_hash: str) -> None:
        """Remember the hash of a claimed attempt's token (written once, never changed)."""
        self.conn.execute("INSERT INTO attempt_tokens (token_hash, execution_id, attempt, created_at) "
                          "VALUES (?, ?, ?, ?)", [token_hash, execution_id, int(attempt), now()])

    def attempt_for_token(self, token_hash: str) -> dict | None:
        """``{"token_hash", "execution_id", "attempt", "created_at"}`` of the attempt a token hash was
        given to, or None for a hash never handed out."""
        rows = self.query("SELECT * FROM attempt_tokens WHERE token_hash = ?", [token_hash])
        return rows[0] if rows else None

    def record_batch(self, execution_id: str, attempt: int, batch_id: str) -> bool:
        """Note a remote runner's batch id; False when it was seen before (then nothing of the batch is
        written again). Call it inside the transaction that writes the batch."""
        cur = self.conn.execute("INSERT OR IGNORE INTO runner_batches (execution_id, batch_id, attempt, received_at) "
                                "VALUES (?, ?, ?, ?)", [execution_id, batch_id, int(attempt), now()])
        return cur.rowcount == 1

    # -- artifact paths --

    def snapshot_dir(self, model_id: str, snapshot_id: str) -> Path:
        return self.artifacts / "models" / model_id / "snapshots" / snapshot_id

    def execution_dir(self, execution: dict) -> Path:
        return self.snapshot_dir(execution["model_id"], execution["snapshot_id"]) / "executions" / \
            execution["id"]

    def inside_artifacts(self, path: str | os.PathLike) -> Path:
        """Resolve ``path`` and refuse anything outside the artifact root (``NotFound``: no such
        artifact, never an absolute path in the message)."""
        try:
            resolved = (self.artifacts / path).resolve()
        except (OSError, ValueError, TypeError):  # a NUL byte, a name too long, not a path
            raise NotFound(f"no artifact at {str(path)[:80]!r}") from None
        root = self.artifacts.resolve()
        if resolved != root and root not in resolved.parents:
            raise NotFound(f"no artifact at {str(path)[:80]!r} (outside the artifact root)")
        return resolved


def probe_store(home: str | os.PathLike, expected_id: str, nonce_key: str | None = None,
                nonce: str | None = None) -> str | None:
    """Why this machine cannot use the store at ``home`` (a read-only look that never creates one),
    or None when it opens the very store whose id is ``expected_id``. Given ``nonce_key`` and
    ``nonce``, also the live file itself: ``meta[nonce_key]`` (space-separated values) must hold
    ``nonce``, the value its owner just wrote there, which a copy of the file (same store id) lacks."""
    import socket

    path = Path(home) / "mm.db"
    host = socket.gethostname()
    if not path.is_file():
        return f"no store at {path} on {host} (workers must share the MM_HOME path)"
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
            seen = conn.execute("SELECT value FROM meta WHERE key = ?", [nonce_key]).fetchone() if nonce_key else None
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"cannot read the store at {path}: {exc}"
    if not row or row[0] != expected_id:
        return f"{path} on {host} is a different store (not the submitter's)"
    if nonce_key and nonce and nonce not in (seen[0] if seen and seen[0] else "").split():
        return (f"{path} on {host} is not the live store: it has the submitter's store id but not the value the "
                "submitter just wrote into it (a copy of the file, or a stale view of it)")
    return None


class Connections:
    """One ``Store`` per thread on one home (a server's workers, the runner API's threads): the first
    connection may create the store (``create``); every later one must find that very store (a
    deleted or replaced ``mm.db`` is a ``StoreError``, never a new empty store)."""

    def __init__(self, home: str | os.PathLike, *, create: bool = True):
        self.home = Path(home)
        self.create = create
        self.store_id: str | None = None  # the store every connection must open (set by the first)
        self.identity: tuple[int, int] | None = None
        self._local = threading.local()
        self._stores: list[Store] = []
        self._lock = threading.Lock()

    def open(self, **options: Any) -> Store:
        """A new connection (kept to be closed by ``close``)."""
        with self._lock:
            first = self.store_id is None
        if first:
            store = Store(self.home, create=self.create, **options)
            with self._lock:
                self.store_id = self.store_id or store.id
                self.identity = self.identity or store.identity
        else:
            store = Store(self.home, create=False, expect_id=self.store_id, expect_file=self.identity, **options)
        with self._lock:
            self._stores.append(store)
        return store

    def store(self) -> Store:
        """This thread's connection (opened on first use)."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = self.open()
        return store

    def close(self) -> None:
        """Close every connection opened here."""
        with self._lock:
            stores, self._stores = self._stores, []
        for store in stores:
            try:
                store.close()
            except Exception:  # closing from another thread may be refused; the process is ending
                pass
