"""The read side of the REST API: models, snapshots, datasets, filters, services and executions."""

from __future__ import annotations

import json
import time
from typing import Any

from .. import executions as ex
from ..adapter import BUILTIN_ADAPTERS, load_adapter_class
from ..datasets import compile_selection, get_dataset, list_datasets
from ..errors import InvalidInput, MMError, NotFound
from ..filters import get_filter, list_filters
from ..services import DEFAULTS, DRAIN_TIME, ON_RESET, health, installed_kernels, service_name
from ..store import JSON_COLUMNS, Store
from .artifacts import notebook_relpath
from .errors import one_line
from .listing import COLUMNS, FROM, shape

ROLES = ("train", "validation", "test")
PY_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "json", dict: "json"}
_KERNELS: dict[str, Any] = {"at": 0.0, "value": {}}
KERNELS_TTL = 30.0


def decode(table: str, row: dict) -> dict:
    """Decode the JSON columns of a row read with a hand-written query."""
    for col in JSON_COLUMNS.get(table, ()):
        if isinstance(row.get(col), str):
            row[col] = json.loads(row[col])
    return row


def kernels() -> dict[str, str]:
    """Installed kernels (name → resource dir), re-read at most every 30 s."""
    if time.monotonic() - _KERNELS["at"] > KERNELS_TTL:
        _KERNELS["value"] = installed_kernels()
        _KERNELS["at"] = time.monotonic()
    return _KERNELS["value"]


def meta(store: Store) -> dict:
    """What forms need up front: statuses, kinds, service defaults and choices, installed kernels."""
    return {"statuses": list(ex.STATUSES), "finished": list(ex.FINISHED), "active": list(ex.ACTIVE),
            "kinds": list(ex.KINDS), "service_defaults": {**DEFAULTS, "drain_time": DRAIN_TIME},
            "on_reset": list(ON_RESET), "kernels": sorted(kernels()), "home": str(store.home)}


# --- models and snapshots ------------------------------------------------------------------------


def config_schema(adapter: str) -> tuple[list[dict] | None, str | None, str | None]:
    """The adapter's configuration as form fields (name, type, default), its task, or a load error."""
    if not adapter:
        return None, None, None
    try:
        cls = load_adapter_class(adapter)
    except MMError as exc:
        return None, None, one_line(exc)
    fields = [{"name": k, "type": PY_TYPES.get(type(v), "any"), "default": v}
              for k, v in cls.configuration.items()]
    return fields, getattr(cls, "task", None), None


def models(store: Store) -> list[dict]:
    rows = store.query(
        "SELECT m.id, m.name, m.adapter, m.labels, m.description, m.created_at, "
        "(SELECT count(*) FROM snapshots s WHERE s.model_id = m.id) AS n_snapshots "
        "FROM models m ORDER BY m.created_at, m.name")
    health_by = services_health(store)
    for row in rows:
        decode("models", row)
        row["services"] = {k: health_by.get(service_name(k, row["id"])) for k in ex.KINDS}
    return rows


def model(store: Store, ref: str) -> dict:
    row = store.get("models", ref)
    fields, task, error = config_schema(row["adapter"])
    versions = store.find("snapshots", "model_id = ?", [row["id"]], order="created_at")
    for version in versions:
        version["trained"] = bool(version.get("weights_uri"))
    row.update(config_schema=fields, task=task, adapter_error=error,
               builtin=row["adapter"] in BUILTIN_ADAPTERS, snapshots=versions,
               services={k: service(store, service_name(k, row["id"]), missing_ok=True) for k in ex.KINDS})
    return row


def snapshots(store: Store, model_ref: str | None = None) -> list[dict]:
    where, params = "", []
    if model_ref:
        where, params = "s.model_id = ?", [store.get("models", model_ref)["id"]]
    rows = store.query(
        "SELECT s.id, s.model_id, s.name, s.status, s.config, s.dataset_id, s.filters, s.labels, "
        "s.parent_id, s.weights_uri, s.created_at, m.name AS model_name, d.name AS dataset_name, "
        "(SELECT e.status FROM executions e WHERE e.snapshot_id = s.id AND e.kind = 'train' "
        " ORDER BY e.created_at DESC LIMIT 1) AS last_train_status "
        "FROM snapshots s LEFT JOIN models m ON m.id = s.model_id LEFT JOIN datasets d ON d.id = s.dataset_id"
        + (f" WHERE {where}" if where else "") + " ORDER BY s.created_at", params)
    for row in rows:
        decode("snapshots", row)
        row["trained"] = bool(row.pop("weights_uri"))
    return rows


def snapshot(store: Store, ref: str) -> dict:
    row = store.get("snapshots", ref)
    row["trained"] = bool(row.get("weights_uri"))
    row["model_name"] = store.get("models", row["model_id"])["name"]
    return row


def defaults(store: Store, model_ref: str, dataset_ref: str | None, snapshot_ref: str | None) -> dict:
    """A launch form's starting values for a model: config, labels and train/validation/test subsets.

    Subsets follow the "predefined filters" rule: the chosen snapshot's own selections (same
    dataset); else a saved filter named ``<model name>.<role>`` or ``<model id>.<role>`` bound to that
    dataset or to none; else the items tagged with the role.
    """
    mdl = store.get("models", model_ref)
    snap = store.get("snapshots", snapshot_ref) if snapshot_ref else None
    if snap and snap["model_id"] != mdl["id"]:
        raise InvalidInput(f"snapshot {snap['id']} belongs to model {snap['model_id']}, not {mdl['id']}")
    ds_ref = dataset_ref or (snap or {}).get("dataset_id")
    if not ds_ref:  # the model's latest version's dataset, else the newest dataset
        last = store.find("snapshots", "model_id = ? AND dataset_id IS NOT NULL", [mdl["id"]],
                          order="created_at DESC", limit=1)
        newest = store.find("datasets", order="created_at DESC", limit=1)
        ds_ref = last[0]["dataset_id"] if last else (newest[0]["id"] if newest else None)
    ds = get_dataset(store, ds_ref) if ds_ref else None
    subsets, sources = {}, {}
    for role in ROLES:
        subsets[role], sources[role] = _default_selection(store, mdl, ds, snap, role)
    config = dict(snap["config"] if snap else mdl["config"] or {})
    labels = (snap or {}).get("labels") or mdl["labels"] or (ds["labels"] if ds else [])
    return {"model_id": mdl["id"], "snapshot_id": snap["id"] if snap else None,
            "dataset_id": ds["id"] if ds else None, "config": config, "labels": labels,
            "subsets": subsets, "sources": sources}


def _default_selection(store: Store, mdl: dict, ds: dict | None, snap: dict | None,
                       role: str) -> tuple[dict, str]:
    if snap and ds and snap.get("dataset_id") == ds["id"] and (snap.get("filters") or {}).get(role):
        return snap["filters"][role], "snapshot"
    for name in (f"{mdl['name']}.{role}", f"{mdl['id']}.{role}"):
        rows = store.find("filters", "name = ?", [name])
        if rows and (ds is None or rows[0]["dataset_id"] in (None, ds["id"])):
            return {"filter": name}, "saved filter"
    return {"tag": role}, "tag"


# --- datasets and filters ------------------------------------------------------------------------


def datasets(store: Store) -> list[dict]:
    return list_datasets(store)


def dataset(store: Store, ref: str, limit: int = 500) -> dict:
    """A dataset with the tags and folders its items carry (for subset pickers) and its filters."""
    row = get_dataset(store, ref)
    row["tags"] = store.query(
        "SELECT j.value AS tag, count(*) AS count FROM items, json_each(items.tags) j "
        "WHERE items.dataset_id = ? GROUP BY j.value ORDER BY j.value LIMIT ?", [row["id"], limit])
    row["dirs"] = store.query(
        "SELECT dir, count(*) AS count FROM items WHERE dataset_id = ? GROUP BY dir ORDER BY dir LIMIT ?",
        [row["id"], limit])
    row["filters"] = list_filters(store, row["id"])
    return row


def selection_query(store: Store, selection: dict) -> dict | None:
    """The filter a selection stands for (what "Show filter" displays), or None for all items."""
    if "query" in selection:
        return selection["query"] if isinstance(selection["query"], dict) else None
    if "filter" in selection:
        return get_filter(store, selection["filter"])["query"]
    if "tag" in selection:
        return {"tags": selection["tag"]}
    if "dir" in selection:
        return {"dir": selection["dir"]}
    return None


def count_selection(store: Store, dataset_ref: str, selection: Any) -> dict:
    """How many items of a dataset a selection picks, and the filter it stands for."""
    from ..api import parse_selection

    ds = store.get("datasets", dataset_ref)
    sel = parse_selection(selection)
    where, params = compile_selection(store, ds, sel)
    count = store.conn.execute(f"SELECT count(*) FROM items WHERE {where}", params).fetchone()[0]
    return {"dataset_id": ds["id"], "selection": sel, "count": count, "filter": selection_query(store, sel)}


def filters(store: Store, dataset_ref: str | None = None) -> list[dict]:
    return list_filters(store, store.get("datasets", dataset_ref)["id"] if dataset_ref else None)


# --- services ------------------------------------------------------------------------------------


def _with_health(store: Store, row: dict) -> dict:
    """The row with its health; a remote runner's reachability comes from its last background probe
    (never a network wait in a request or in the live stream's poll)."""
    level, reason = health(store, row, kernels(), wait=False)
    row["health"] = {"level": level, "reason": reason}
    return row


def services_health(store: Store) -> dict[str, dict]:
    return {r["name"]: _with_health(store, r)["health"] for r in store.find("services")}


def services(store: Store, model_ref: str | None = None) -> list[dict]:
    if model_ref:
        rows = store.find("services", "model_id = ?", [store.get("models", model_ref)["id"]], order="name")
    else:
        rows = store.find("services", order="name")
    return [_with_health(store, r) for r in rows]


def service(store: Store, name: str, missing_ok: bool = False) -> dict | None:
    rows = store.find("services", "name = ?", [name])
    if not rows:
        if missing_ok:
            return None
        raise NotFound(f"unknown service {name!r}")
    return _with_health(store, rows[0])


# --- executions ----------------------------------------------------------------------------------


METRIC_JSON = ("json_object('id', id, 'name', name, 'step', step, 'epoch', epoch, 'value', value, "
               "'ts', ts)")


def metrics_json(store: Store, ref: str, after: int, limit: int) -> str:
    """New metric points of an execution (``id > after``, at most ``limit``) as a JSON document.

    SQLite builds the JSON itself (``json_group_array``): this is what every live chart polls, and
    encoding thousands of points in Python would cost more than the indexed query.
    """
    exact = store.conn.execute("SELECT id FROM executions WHERE id = ?", [ref]).fetchone()
    exe_id = exact[0] if exact else store.get("executions", ref)["id"]
    count, last, points = store.conn.execute(
        f"SELECT count(*), max(id), coalesce(json_group_array({METRIC_JSON}), '[]') FROM ("
        "SELECT id, name, step, epoch, value, ts FROM metrics WHERE execution_id = ? AND id > ? "
        "ORDER BY id LIMIT ?)", [exe_id, after, limit]).fetchone()
    more = count == limit and store.conn.execute(
        "SELECT 1 FROM metrics WHERE execution_id = ? AND id > ? LIMIT 1", [exe_id, last]).fetchone() is not None
    return (f'{{"execution_id":{json.dumps(exe_id)},"last_id":{last if count else after},'
            f'"has_more":{"true" if more else "false"},"points":{points}}}')


def execution(store: Store, ref: str) -> dict:
    """One execution with its model and snapshot names, events, params and executed notebook path."""
    exe_id = store.get("executions", ref)["id"]
    row = store.query(f"SELECT {COLUMNS}, e.params, e.notebook_uri, e.heartbeat_at, e.abort_requested, "
                      f"s.name AS snapshot_name {FROM} LEFT JOIN snapshots s ON s.id = e.snapshot_id "
                      "WHERE e.id = ?", [exe_id])[0]
    decode("executions", row)
    row = shape(row)
    row["events"] = store.events(exe_id)[-200:]
    row["notebook_path"] = notebook_relpath(store, row)
    row.pop("notebook_uri", None)
    row["can_abort"] = row["status"] not in ex.FINISHED
    row["can_rerun"] = row["status"] in ex.FINISHED
    return row
