"""The executions listing: search, status and kind filters, sorting and paging in cheap SQL.

The default order (newest first) is served by one of two plans, chosen by a count over a covering
index: when few rows can match (a rare status, a model's own executions) they are fetched through
that index and sorted; otherwise the ``created_at`` index is walked newest first, which fills a page
after about ``page_end * total / candidates`` rows (unary ``+`` keeps SQLite from picking the
unselective index and sorting everything). The plan with the smaller expected row count wins.
Search matches a model's name or id (substring, resolved on the small ``models`` table, then the
``(service, status)`` index) or an execution id (prefix, the primary key index). Each row comes out
of SQLite already as a JSON object (``json_object``): the server only joins a page of them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from ..executions import KINDS, STATUSES
from ..services import service_name
from ..store import Store, contains_clause

COLUMNS = ("e.id, e.name, e.kind, e.status, e.progress, e.attempts, e.created_at, e.queued_at, "
           "e.started_at, e.ended_at, e.service, e.model_id, e.snapshot_id, e.error, e.rerun_of, "
           "m.name AS model_name")
ROW_JSON = ("json_object('id', e.id, 'name', e.name, 'kind', e.kind, 'status', e.status, "
            "'progress', coalesce(e.progress, 0.0), 'attempts', e.attempts, 'created_at', e.created_at, "
            "'queued_at', e.queued_at, 'started_at', e.started_at, 'ended_at', e.ended_at, "
            "'duration', CASE WHEN e.started_at IS NULL THEN NULL ELSE coalesce(e.ended_at, ?) - e.started_at END, "
            "'service', e.service, 'model_id', e.model_id, 'model_name', m.name, 'snapshot_id', e.snapshot_id, "
            "'error', e.error, 'rerun_of', e.rerun_of)")
FROM = "FROM executions e LEFT JOIN models m ON m.id = e.model_id"
SORTS = {
    "created_at": "e.created_at", "started_at": "e.started_at", "ended_at": "e.ended_at",
    "name": "e.name COLLATE NOCASE", "model": "m.name COLLATE NOCASE", "status": "e.status",
    "progress": "e.progress", "duration": "(coalesce(e.ended_at, ?) - e.started_at)",
}
ORDERS = ("asc", "desc")
MAX_MODELS = 500  # more matching models than this: match on the name in SQL instead


@dataclass
class ListQuery:
    kind: str | None = None
    status: str | None = None
    search: str | None = None
    limit: int = 50
    offset: int = 0
    sort: str = "created_at"
    order: str = "desc"


@dataclass
class Plan:
    """The statements a listing runs (so a benchmark can run exactly the same SQL raw)."""

    steps: list[tuple[str, list]] = field(default_factory=list)
    sql: str = ""
    params: list = field(default_factory=list)
    strategy: str = ""


def _id_prefix(search: str) -> tuple[str, str]:
    prefix = search.lower()
    if not prefix.startswith("e-"):
        prefix = "e-" + prefix
    return prefix, prefix + "\uffff"


def plan(store: Store, q: ListQuery, now: float | None = None, *, as_json: bool = True) -> Plan:
    """Build the page query for ``q`` (running at most two cheap index-only counts to choose); it
    selects one JSON object per row, or with ``as_json=False`` the plain columns."""
    out = Plan()
    now = time.time() if now is None else now
    where: list[str] = []
    params: list[Any] = []
    kinds = [q.kind] if q.kind else list(KINDS)
    search = (q.search or "").strip()
    model_ids: list[str] | None = None
    if search:
        clause, values = contains_clause(("name", "id"), search)
        sql = f"SELECT id FROM models WHERE {clause} LIMIT ?"
        out.steps.append((sql, [*values, MAX_MODELS + 1]))
        model_ids = [r[0] for r in store.conn.execute(sql, [*values, MAX_MODELS + 1])]
    default_order = q.sort == "created_at"
    candidates = _candidates(store, out, q, kinds, search, model_ids) if default_order else None
    indexed = candidates is not None and candidates ** 2 <= (q.offset + q.limit + 1) * _table_size(store, out)
    by_rowids = indexed and bool(search) and model_ids is not None and len(model_ids) <= MAX_MODELS
    plus = "+" if by_rowids or (default_order and not indexed) else ""
    if q.kind:
        where.append("e.kind = ?")
        params.append(q.kind)
    if q.status:
        where.append(f"{plus}e.status = ?")
        params.append(q.status)
    if search:
        lo, hi = _id_prefix(search)
        terms = [f"({plus}e.id >= ? AND {plus}e.id < ?)"]
        term_params: list[Any] = [lo, hi]
        if model_ids is not None and len(model_ids) <= MAX_MODELS:
            if model_ids:
                terms.append(f"{plus}e.model_id IN ({', '.join('?' * len(model_ids))})")
                term_params += model_ids
        else:
            clause, values = contains_clause(("m.name", "e.model_id"), search)
            terms.append(clause)
            term_params += values
        where.append("(" + " OR ".join(terms) + ")")
        params += term_params
    if by_rowids:
        services = [service_name(k, m) for m in model_ids for k in kinds]
        sub = ["SELECT rowid FROM executions WHERE id >= ? AND id < ?"]
        sub_params: list[Any] = list(_id_prefix(search))
        if services:
            status = " AND status = ?" if q.status else ""
            sub.append(f"SELECT rowid FROM executions WHERE service IN ({', '.join('?' * len(services))}){status}")
            sub_params += services + ([q.status] if q.status else [])
        where.insert(0, f"e.rowid IN ({' UNION '.join(sub)})")
        params = sub_params + params
    sort, order = SORTS[q.sort], q.order.upper()
    sort_params: list[Any] = [now] if "?" in sort else []
    out.strategy = "indexed" if indexed else ("walk" if default_order else "sort")
    where_sql = " WHERE " + " AND ".join(where) if where else ""
    page = [q.limit + 1, q.offset]
    if as_json:  # pick the page's rowids first, so only those rows are turned into JSON
        out.sql = (f"SELECT {ROW_JSON} FROM (SELECT e.rowid AS rid, {sort} AS k {FROM}{where_sql} "
                   f"ORDER BY k {order}, rid {order} LIMIT ? OFFSET ?) p JOIN executions e ON e.rowid = p.rid "
                   f"LEFT JOIN models m ON m.id = e.model_id ORDER BY p.k {order}, p.rid {order}")
        out.params = [now] + sort_params + params + page
    else:
        out.sql = f"SELECT {COLUMNS} {FROM}{where_sql} ORDER BY {sort} {order}, e.rowid {order} LIMIT ? OFFSET ?"
        out.params = params + sort_params + page
    return out


def _table_size(store: Store, out: Plan) -> int:
    """The executions table's size, estimated in O(1) by its largest rowid."""
    sql = "SELECT coalesce(max(rowid), 0) FROM executions"
    out.steps.append((sql, []))
    return store.conn.execute(sql).fetchone()[0]


def _candidates(store: Store, out: Plan, q: ListQuery, kinds: list[str], search: str,
                model_ids: list[str] | None) -> int | None:
    """How many rows at most can match, from covering indexes; None when nothing narrows it."""
    if search and model_ids is not None and len(model_ids) <= MAX_MODELS:
        total = 0
        lo, hi = _id_prefix(search)
        sql = "SELECT count(*) FROM executions WHERE id >= ? AND id < ?"
        out.steps.append((sql, [lo, hi]))
        total += store.conn.execute(sql, [lo, hi]).fetchone()[0]
        services = [service_name(k, m) for m in model_ids for k in kinds]
        if services:
            status = " AND status = ?" if q.status else ""
            sql = f"SELECT count(*) FROM executions WHERE service IN ({', '.join('?' * len(services))}){status}"
            args = services + ([q.status] if q.status else [])
            out.steps.append((sql, args))
            total += store.conn.execute(sql, args).fetchone()[0]
        return total
    if q.status:
        sql = "SELECT count(*) FROM executions WHERE status = ?"
        out.steps.append((sql, [q.status]))
        return store.conn.execute(sql, [q.status]).fetchone()[0]
    return None


def list_page_json(store: Store, q: ListQuery) -> str:
    """One page of executions as a JSON document: ``items``, ``has_more``, ``offset``, ``limit``."""
    p = plan(store, q)
    rows = [r[0] for r in store.conn.execute(p.sql, p.params).fetchall()]
    more = len(rows) > q.limit
    return (f'{{"items":[{",".join(rows[:q.limit])}],"offset":{q.offset},"limit":{q.limit},'
            f'"has_more":{"true" if more else "false"},"strategy":"{p.strategy}"}}')


def list_page(store: Store, q: ListQuery) -> dict:
    """One page of executions (``items``), whether more follow, and the plan used."""
    return json.loads(list_page_json(store, q))


def shape(row: dict, t: float | None = None) -> dict:
    """An execution row as the sidebar shows it (with its duration in seconds, or None)."""
    t = time.time() if t is None else t
    started, ended = row.get("started_at"), row.get("ended_at")
    row["duration"] = (ended or t) - started if started else None
    row["progress"] = row.get("progress") or 0.0
    return row


def check_query(q: ListQuery) -> ListQuery:
    """Refuse unknown statuses, kinds, sorts and orders (``InvalidInput``)."""
    from ..errors import InvalidInput

    if q.status is not None and q.status not in STATUSES:
        raise InvalidInput(f"unknown status {q.status!r} (one of: {', '.join(STATUSES)})")
    if q.kind is not None and q.kind not in KINDS:
        raise InvalidInput(f"unknown kind {q.kind!r} (train or evaluate)")
    if q.sort not in SORTS:
        raise InvalidInput(f"unknown sort {q.sort!r} (one of: {', '.join(SORTS)})")
    if q.order not in ORDERS:
        raise InvalidInput(f"order must be asc or desc, got {q.order!r}")
    if q.search is not None and len(q.search) > 200:
        raise InvalidInput("search text is longer than 200 characters")
    return q
