"""Executions: the listing every face shows (search, filters, sorting, paging, counts), one
execution's detail, and its metric points since an id.

**The search rule** (one for the CLI, the Python API, the widgets and the sidebar): a text matches
an execution when it is a case-insensitive substring of the execution's name, its model's name or
its version's name, or a prefix of the execution's, the model's or the version's id, or when it is
one of its version's tags, whole (case-insensitive; a part of a tag does not match, and notes are
not searched: they are free text, and a tag is the word a person gives a version to find it by).

The rule is served by indexes, not by scanning executions: models and versions matching the text
are found on their own (small) tables, then their executions through the ``(model_id, status)`` and
``(snapshot_id, status)`` indexes; versions tagged with the text through the tags' ``(key,
snapshot_id)`` index (``key``: the tag in lower case); an execution id prefix through the primary
key; a name substring on the table of distinct execution names (an execution's name is its kind and
its version's name, so there are a few per version; a trigger keeps the table), then those names'
executions through the ``(name, status)`` index. Texts are compared here in Python,
case-insensitively (Unicode). Every listing row carries its version's tags (``snapshot_tags``, in
lower case), so a live view can apply the same rule to a changed row.

The default order (newest first) has two plans, chosen by counts over covering indexes: when few
rows can match they are fetched through those indexes and sorted; otherwise the ``created_at`` index
is walked newest first, which fills a page after about ``page_end * total / candidates`` rows (a
unary ``+`` keeps SQLite from picking the unselective index and sorting everything).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInput
from ..executions import FINISHED, Kind, check_kind, check_status
from ..store import Store

TAGS_OF_ROW = "(SELECT json_group_array(t.key) FROM snapshot_tags t WHERE t.snapshot_id = e.snapshot_id)"
LIST_COLUMNS = ("e.id, e.name, e.kind, e.status, e.progress, e.attempts, e.created_at, e.queued_at, "
                "e.started_at, e.ended_at, e.service, e.model_id, e.snapshot_id, e.error, e.outcome, "
                f"e.rerun_of, e.notebook_uri, m.name AS model_name, s.name AS snapshot_name, {TAGS_OF_ROW} AS snapshot_tags")
ROW_JSON = ("json_object('id', e.id, 'name', e.name, 'kind', e.kind, 'status', e.status, "
            "'progress', coalesce(e.progress, 0.0), 'attempts', e.attempts, 'created_at', e.created_at, "
            "'queued_at', e.queued_at, 'started_at', e.started_at, 'ended_at', e.ended_at, "
            "'duration', CASE WHEN e.started_at IS NULL THEN NULL ELSE coalesce(e.ended_at, ?) - e.started_at END, "
            "'service', e.service, 'model_id', e.model_id, 'model_name', m.name, 'snapshot_id', e.snapshot_id, "
            "'snapshot_name', s.name, 'error', e.error, 'outcome', e.outcome, 'rerun_of', e.rerun_of, "
            f"'snapshot_tags', json({TAGS_OF_ROW}))")
JOINS = "LEFT JOIN models m ON m.id = e.model_id LEFT JOIN snapshots s ON s.id = e.snapshot_id"
SORTS = {
    "created_at": "e.created_at", "started_at": "e.started_at", "ended_at": "e.ended_at",
    "name": "e.name COLLATE NOCASE", "model": "m.name COLLATE NOCASE", "status": "e.status",
    "progress": "e.progress", "duration": "(coalesce(e.ended_at, ?) - e.started_at)",
}
ORDERS = ("asc", "desc")
MAX_SEARCH = 200
MAX_PAGE = 500


@dataclass
class ListQuery:
    """What a listing asks for (every face builds one; ``check`` refuses bad values)."""

    kind: str | None = None
    status: str | None = None
    service: str | None = None
    search: str | None = None
    limit: int = 50
    offset: int = 0
    sort: str = "created_at"
    order: str = "desc"

    def check(self) -> ListQuery:
        """Refuse unknown statuses, kinds, sorts and orders and out-of-range paging (``InvalidInput``)."""
        self.status = check_status(self.status or None)
        self.kind = check_kind(self.kind or None)
        self.service = self.service or None
        self.search = (self.search or "").strip() or None
        if self.sort not in SORTS:
            raise InvalidInput(f"unknown sort {self.sort!r} (one of: {', '.join(SORTS)})")
        if self.order not in ORDERS:
            raise InvalidInput(f"order must be asc or desc, got {self.order!r}")
        if self.search is not None and len(self.search) > MAX_SEARCH:
            raise InvalidInput(f"search text is longer than {MAX_SEARCH} characters")
        for name, value, high in (("limit", self.limit, MAX_PAGE), ("offset", self.offset, 10_000_000)):
            if isinstance(value, bool) or not isinstance(value, int) or not (1 if name == "limit" else 0) <= value <= high:
                raise InvalidInput(f"{name} must be an integer from {1 if name == 'limit' else 0} to {high}, got {value!r}")
        return self


@dataclass
class Plan:
    """The statements a listing runs (so a benchmark can run exactly the same SQL raw)."""

    steps: list[tuple[str, list]] = field(default_factory=list)
    sql: str = ""
    params: list = field(default_factory=list)
    count_sql: str = ""
    count_params: list = field(default_factory=list)
    strategy: str = ""


@dataclass
class Page:
    items: list[dict]
    offset: int
    limit: int
    has_more: bool
    total: int | None
    strategy: str

    def as_dict(self) -> dict:
        return {"items": self.items, "offset": self.offset, "limit": self.limit, "has_more": self.has_more,
                "total": self.total, "strategy": self.strategy}


@dataclass
class _Search:
    """What a search text matched outside the executions table."""

    prefix: tuple[str, str]
    models: list[str]
    versions: list[str]        # every execution of these matches (name substring, id prefix or tag)
    names: list[str]           # execution names holding the text


IN_JSON = "IN (SELECT value FROM json_each(?))"


def _run(store: Store, out: Plan, sql: str, params: list) -> list:
    out.steps.append((sql, params))
    return store.conn.execute(sql, params).fetchall()


def _search(store: Store, out: Plan, text: str) -> _Search:
    """Models and versions whose name holds ``text`` or whose id starts with it, versions tagged
    ``text``, and the execution names that hold it (read from their own small tables and compared
    here, ignoring case; the tag through its index)."""
    low = text.lower()

    def hits(sql: str, ids: bool = True) -> list[str]:
        rows = _run(store, out, sql, [])
        if ids:
            return [i for i, name in rows if low in (name or "").lower() or i.lower().startswith(low)]
        return [name for (name,) in rows if low in name.lower()]

    versions = hits("SELECT id, name FROM snapshots")
    tagged = {i for (i,) in _run(store, out, "SELECT snapshot_id FROM snapshot_tags WHERE key = ?", [low])}
    return _Search((low, low + "\uffff"), hits("SELECT id, name FROM models"),
                   versions + sorted(tagged - set(versions)), hits("SELECT name FROM execution_names", ids=False))


def _marks(values: list) -> str:
    return ", ".join("?" * len(values))


def _matching_rowids(s: _Search, status: str | None) -> tuple[str, list]:
    """A ``SELECT rowid …`` union of index lookups: the executions the search matches."""
    st, st_params = (" AND status = ?", [status]) if status else ("", [])
    # the id prefix through the primary key's index (``+status``: never the unselective status index)
    parts = ["SELECT rowid FROM executions WHERE id >= ? AND id < ?" + st.replace("status", "+status")]
    params: list[Any] = [*s.prefix, *st_params]
    for column, values in (("model_id", s.models), ("snapshot_id", s.versions), ("name", s.names)):
        if values:
            parts.append(f"SELECT rowid FROM executions WHERE {column} {IN_JSON}" + st)
            params += [json.dumps(values), *st_params]
    return " UNION ".join(parts), params


def _search_predicate(s: _Search, plus: str) -> tuple[str, list]:
    """The search as a row predicate (for walking the ``created_at`` index)."""
    terms, params = [f"({plus}e.id >= ? AND {plus}e.id < ?)"], list(s.prefix)
    for column, values in (("model_id", s.models), ("snapshot_id", s.versions), ("name", s.names)):
        if values:
            terms.append(f"{plus}e.{column} {IN_JSON}")
            params.append(json.dumps(values))
    return "(" + " OR ".join(terms) + ")", params


def _candidates(store: Store, out: Plan, q: ListQuery, s: _Search | None) -> int | None:
    """How many rows at most can match, from covering indexes; None when nothing narrows it."""
    if s is not None:
        sql, params = _matching_rowids(s, q.status)
        return _run(store, out, f"SELECT count(*) FROM ({sql})", params)[0][0]
    if q.service:
        where = "service = ?" + (" AND status = ?" if q.status else "")
        return _run(store, out, f"SELECT count(*) FROM executions WHERE {where}",
                    [q.service, *([q.status] if q.status else [])])[0][0]
    if q.status:
        return _run(store, out, "SELECT count(*) FROM executions WHERE status = ?", [q.status])[0][0]
    return None


def plan(store: Store, q: ListQuery, now: float | None = None, *, as_json: bool = False,
         count: bool = False) -> Plan:
    """The page query for a checked ``q`` (after at most a few cheap index-only lookups to choose a
    plan); it selects plain columns, or with ``as_json`` one JSON object per row."""
    out = Plan()
    now = time.time() if now is None else now
    s = _search(store, out, q.search) if q.search else None
    default_order = q.sort == "created_at"
    candidates = _candidates(store, out, q, s) if default_order else None
    size = _run(store, out, "SELECT coalesce(max(rowid), 0) FROM executions", [])[0][0] if candidates is not None else 0
    indexed = candidates is not None and candidates ** 2 <= (q.offset + q.limit + 1) * max(size, 1)
    by_rowids = s is not None and (indexed or not default_order)
    plus = "+" if by_rowids or (default_order and not indexed) else ""
    where: list[str] = []
    params: list[Any] = []
    if by_rowids:
        sql, values = _matching_rowids(s, q.status)
        where.append(f"e.rowid IN ({sql})")
        params += values
    elif s is not None:
        sql, values = _search_predicate(s, plus)
        where.append(sql)
        params += values
    for column, value in (("kind", q.kind), ("status", q.status), ("service", q.service)):
        if value:
            where.append(f"{plus}e.{column} = ?")
            params.append(value)
    sort, order = SORTS[q.sort], q.order.upper()
    sort_params: list[Any] = [now] if "?" in sort else []
    out.strategy = "indexed" if indexed else ("walk" if default_order else "sort")
    where_sql = " WHERE " + " AND ".join(where) if where else ""
    needs_join = q.sort == "model"
    source = f"FROM executions e {JOINS if needs_join else ''}"
    page = [q.limit + 1, q.offset]
    # pick the page's rowids first, so only those rows are joined (and turned into JSON)
    inner = (f"SELECT e.rowid AS rid, {sort} AS k {source}{where_sql} ORDER BY k {order}, rid {order} "
             "LIMIT ? OFFSET ?")
    columns = ROW_JSON if as_json else LIST_COLUMNS
    out.sql = (f"SELECT {columns} FROM ({inner}) p JOIN executions e ON e.rowid = p.rid {JOINS} "
               f"ORDER BY p.k {order}, p.rid {order}")
    out.params = ([now] if as_json else []) + sort_params + params + page
    if count:
        out.count_sql = f"SELECT count(*) FROM executions e{where_sql}"
        out.count_params = list(params)
    return out


def _shaped(rows: list[dict], now: float) -> list[dict]:
    """Listing rows with ``progress`` (0 for none) and ``duration`` in seconds (None before start)."""
    for row in rows:
        row["progress"] = row["progress"] or 0.0
        row["duration"] = (row["ended_at"] or now) - row["started_at"] if row["started_at"] else None
        row["snapshot_tags"] = json.loads(row["snapshot_tags"] or "[]")
    return rows


def list_executions(store: Store, q: ListQuery, *, count: bool = False) -> Page:
    """One page of executions (rows as dicts, with ``duration`` in seconds), whether more follow and,
    with ``count``, how many match in all."""
    q.check()
    now = time.time()
    p = plan(store, q, now, count=count)
    rows = _shaped(store.query(p.sql, p.params), now)
    total = store.conn.execute(p.count_sql, p.count_params).fetchone()[0] if count else None
    return Page(rows[:q.limit], q.offset, q.limit, len(rows) > q.limit, total, p.strategy)


def list_executions_json(store: Store, q: ListQuery, *, count: bool = False) -> str:
    """The same page as a JSON document built by SQLite (what the REST listing answers)."""
    q.check()
    p = plan(store, q, as_json=True, count=count)
    rows = [r[0] for r in store.conn.execute(p.sql, p.params).fetchall()]
    more = len(rows) > q.limit
    total = store.conn.execute(p.count_sql, p.count_params).fetchone()[0] if count else None
    return (f'{{"items":[{",".join(rows[:q.limit])}],"offset":{q.offset},"limit":{q.limit},'
            f'"has_more":{"true" if more else "false"},"total":{json.dumps(total)},"strategy":"{p.strategy}"}}')


def rows_by_id(store: Store, ids: list[str]) -> list[dict]:
    """Listing rows of the given executions (for live updates of a few changed rows)."""
    if not ids:
        return []
    return _shaped(store.query(f"SELECT {LIST_COLUMNS} FROM executions e {JOINS} WHERE e.id IN ({_marks(ids)})", ids),
                   time.time())


def execution(store: Store, ref: str) -> dict:
    """One execution with its model and version names, params, events, and what can be done with it."""
    exe = store.get("executions", ref)
    row = rows_by_id(store, [exe["id"]])[0]
    row.update(params=exe["params"], heartbeat_at=exe["heartbeat_at"], abort_requested=exe["abort_requested"],
               runner=exe.get("runner"), worker=exe.get("worker"), host=exe.get("host"),
               idempotency_key=exe.get("idempotency_key"))
    row["events"] = events(store, exe["id"])[-200:]
    row["can_abort"] = row["status"] not in FINISHED
    row["can_rerun"] = row["status"] in FINISHED
    return row


def events(store: Store, execution_id: str) -> list[dict]:
    return store.query("SELECT id, ts, level, type, message FROM events WHERE execution_id = ? ORDER BY id",
                       [execution_id])


def statuses(store: Store, ids: list[str]) -> dict[str, str]:
    """Execution id → status (ids that no longer exist are left out)."""
    if not ids:
        return {}
    return dict(store.conn.execute(f"SELECT id, status FROM executions WHERE id IN ({_marks(ids)})", ids).fetchall())


def resolve_id(store: Store, ref: str) -> str:
    """The full id of an execution reference (an id, or a unique prefix of one)."""
    exact = store.conn.execute("SELECT id FROM executions WHERE id = ?", [ref]).fetchone() \
        if isinstance(ref, str) else None
    return exact[0] if exact else store.get("executions", ref)["id"]


def by_idempotency_key(store: Store, key: str) -> dict | None:
    return store.first("executions", idempotency_key=key)


def latest(store: Store, snapshot_id: str, kind: Kind | str, *, success: bool = False) -> dict | None:
    """A version's newest execution of ``kind`` (its newest successful one with ``success``)."""
    where = {"snapshot_id": snapshot_id, "kind": kind}
    if success:
        where["status"] = "success"
    return store.first("executions", order="-created_at", **where)


# --- metrics -----------------------------------------------------------------------------------


METRIC_JSON = ("json_object('id', id, 'name', name, 'step', step, 'epoch', epoch, 'value', value, 'ts', ts, "
               "'attempt', attempt)")
LATEST = "coalesce((SELECT attempts FROM executions WHERE id = ?), 1)"


def metrics_since(store: Store, execution_id: str, after_id: int = 0, limit: int = 100_000, *,
                  attempt: int | None = None) -> list[dict]:
    """Metric points of an execution with ``id > after_id`` (indexed; what live views poll): those of
    its latest attempt (a retry's points never mix with the failed attempt's), or of ``attempt``."""
    which, params = ("?", [attempt]) if attempt is not None else (LATEST, [execution_id])
    return store.query(
        f"SELECT id, name, step, epoch, value, ts, attempt FROM metrics WHERE execution_id = ? AND id > ? "
        f"AND attempt = {which} ORDER BY id LIMIT ?", [execution_id, after_id, *params, limit])


def metrics_json(store: Store, ref: str, after: int, limit: int) -> str:
    """New metric points of an execution (``id > after``, at most ``limit``) as a JSON document built
    by SQLite (encoding thousands of points in Python would cost more than the indexed query)."""
    exe_id = resolve_id(store, ref)
    count, last, points = store.conn.execute(
        f"SELECT count(*), max(id), coalesce(json_group_array({METRIC_JSON}), '[]') FROM ("
        f"SELECT id, name, step, epoch, value, ts, attempt FROM metrics WHERE execution_id = ? AND id > ? "
        f"AND attempt = {LATEST} ORDER BY id LIMIT ?)", [exe_id, after, exe_id, limit]).fetchone()
    more = count == limit and store.conn.execute(
        f"SELECT 1 FROM metrics WHERE execution_id = ? AND id > ? AND attempt = {LATEST} LIMIT 1",
        [exe_id, last, exe_id]).fetchone() is not None
    return (f'{{"execution_id":{json.dumps(exe_id)},"last_id":{last if count else after},'
            f'"has_more":{"true" if more else "false"},"points":{points}}}')


def last_values(store: Store, execution_id: str) -> dict[str, float]:
    """The last value of each metric of an execution's latest attempt."""
    rows = store.conn.execute(
        f"SELECT name, value FROM metrics WHERE id IN (SELECT max(id) FROM metrics WHERE execution_id = ? "
        f"AND attempt = {LATEST} GROUP BY name) ORDER BY name", [execution_id, execution_id]).fetchall()
    return dict(rows)


def metric_across_executions(store: Store, name: str, *, limit: int = 1000) -> list[dict]:
    """The last value of metric ``name`` in each execution that logged it (in its latest attempt),
    newest execution first: ``execution_id``, ``execution`` (its name), ``snapshot_id``, ``status``,
    ``value``, ``step``, ``epoch``. One index probe per execution (``(name, execution_id, attempt)``),
    so it never reads the other points of a run."""
    return store.query(
        "SELECT e.id AS execution_id, e.name AS execution, e.snapshot_id, e.status, m.value, m.step, m.epoch "
        "FROM executions AS e JOIN metrics AS m ON m.id = (SELECT max(id) FROM metrics WHERE name = ? "
        "AND execution_id = e.id AND attempt = max(e.attempts, 1)) ORDER BY e.created_at DESC LIMIT ?",
        [name, limit])


def of_versions(store: Store, snapshot_ids: list[str]) -> list[tuple[str, str]]:
    """``(execution id, status)`` of every execution of the given versions, by id."""
    if not snapshot_ids:
        return []
    return [tuple(r) for r in store.conn.execute(
        f"SELECT id, status FROM executions WHERE snapshot_id IN ({_marks(snapshot_ids)}) ORDER BY id",
        snapshot_ids).fetchall()]
