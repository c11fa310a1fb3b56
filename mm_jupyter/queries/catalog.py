"""Catalog reads: models, versions, datasets, saved filters, services with health, registered
adapters, and what a launch form starts with (the one default-subset rule).

**The default-subset rule** (the seed's): a model's predefined filter for a role (``train``,
``validation``, ``test``) is the saved filter named ``<model name>.<role>`` or ``<model id>.<role>``
(bound to the dataset or to none). With one, its query is compared, without spaces and line breaks,
with the Tagged Items filter of the role (``{"tags": "<role>"}`` and its equivalent spellings):
equal → Tagged Items (``{"tag": role}``), else that filter (``{"filter": name}``); with none →
Tagged Items. The widgets' forms and the sidebar's both start from ``defaults``.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..artifact_root import ArtifactRoot, elsewhere, files_of
from ..errors import InvalidInput, MMError, NotFound, one_line
from ..executions import KINDS, STATUSES, Kind
from ..kernels import installed_kernels, kernel_labels
from ..registry import adapter_class, adapters, runners
from ..services import DEFAULTS, DRAIN_TIME, ON_RESET, service_name
from ..store import Store
from .deployments import deployed_ids, deployments, serving_ids, shown_status
from .health import service_health, services_health
from .items import (
    SPLIT_TAGS,
    compile_selection,
    dataset_size,
    folder_counts,
    parse_selection,
    saved_filter,
    saved_filters,
    tag_counts,
)
from .queue import queue_length, running_count

ROLES = ("train", "validation", "test")


# --- adapters ------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def adapter_info(ref: str, codebase: str | None = None) -> dict:
    """A model adapter's task, configuration fields (``BaseModelAdapter.config_fields``) and load error, if any
    (``codebase``: the store folder it is imported from, when the model has one)."""
    if not ref:
        return {"task": None, "config_schema": None, "error": None}
    try:
        cls = adapter_class(ref, codebase)
    except MMError as exc:
        return {"task": None, "config_schema": None, "error": one_line(exc)}
    return {"task": getattr(cls, "task", None), "config_schema": cls.config_fields(), "error": None}


def registered_adapters() -> list[dict]:
    """The registry's adapters (name and reference), for pickers."""
    return [{"name": name, "ref": ref} for name, ref in sorted(adapters().items())]


def meta(store: Store) -> dict:
    """What forms need up front: statuses, kinds, service defaults and choices, kernels, adapters."""
    from ..executions import ACTIVE, FINISHED

    return {"statuses": list(STATUSES), "finished": list(FINISHED), "active": list(ACTIVE),
            "kinds": list(KINDS), "service_defaults": {**DEFAULTS, "drain_time": DRAIN_TIME},
            "on_reset": list(ON_RESET), "kernels": sorted(installed_kernels()), "kernel_labels": kernel_labels(),
            "home": str(store.home),
            "adapters": registered_adapters(), "runners": sorted(runners())}


# --- models and versions -------------------------------------------------------------------------


def models(store: Store, *, with_health: bool = True) -> list[dict]:
    """Every model (oldest first) with its number of versions and its services' health."""
    rows = store.query(
        "SELECT m.*, (SELECT count(*) FROM snapshots s WHERE s.model_id = m.id) AS n_snapshots "
        "FROM models m ORDER BY m.created_at, m.name")
    health = {name: h.as_dict() for name, h in services_health(store).items()} if with_health else {}
    for row in rows:
        store.decode("models", row)
        if with_health:
            row["services"] = {k: health.get(service_name(k, row["id"])) for k in KINDS}
    return rows


def model(store: Store, ref: str) -> dict:
    """A model with its adapter's config schema and task, its versions and its services."""
    row = store.get("models", ref)
    info = adapter_info(row["adapter"], (row.get("codebase") or {}).get("path"))
    versions = store.find("snapshots", model_id=row["id"], order="created_at")
    for version in versions:
        version["trained"] = bool(version.get("weights_uri"))
    row.update(config_schema=info["config_schema"], task=info["task"], adapter_error=info["error"],
               builtin=row["adapter"] in adapters(), snapshots=versions,
               services={k: service(store, service_name(k, row["id"]), missing_ok=True) for k in KINDS})
    return row


def version_count(store: Store, model_id: str) -> int:
    return store.count("snapshots", model_id=model_id)


def version_matches(text: str, version: dict) -> bool:
    """The search rule (``queries.executions``) for a version: ``text`` is a case-insensitive part of its
    name or its model's name, the beginning of its id or its model's id, or one of its tags whole."""
    low = text.strip().lower()
    return (not low or any(low in (version.get(k) or "").lower() for k in ("name", "model_name"))
            or any((version.get(k) or "").lower().startswith(low) for k in ("id", "model_id"))
            or low in (t.lower() for t in version.get("tags") or ()))


def snapshots(store: Store, model_ref: str | None = None, *, search: str | None = None) -> list[dict]:
    """Versions (oldest first) with their model's and dataset's names, their last training's status
    and their tags; with ``search``, only those the search rule matches (``version_matches``)."""
    where, params = "", []
    if model_ref:
        where, params = " WHERE s.model_id = ?", [store.get("models", model_ref)["id"]]
    rows = store.query(
        "SELECT s.*, m.name AS model_name, d.name AS dataset_name, "
        "(SELECT e.status FROM executions e WHERE e.snapshot_id = s.id AND e.kind = 'train' "
        " ORDER BY e.created_at DESC LIMIT 1) AS last_train_status "
        "FROM snapshots s LEFT JOIN models m ON m.id = s.model_id LEFT JOIN datasets d ON d.id = s.dataset_id"
        + where + " ORDER BY s.created_at", params)
    tagged = tags_by_version(store)
    deployed = deployed_ids(store)
    for row in rows:
        store.decode("snapshots", row)
        row["status"] = shown_status(store, row, deployed)
        row["trained"] = bool(row["weights_uri"])
        row["tags"] = tagged.get(row["id"], [])
    if search and search.strip():
        if len(search) > 200:
            raise InvalidInput("search text is longer than 200 characters")
        rows = [row for row in rows if version_matches(search, row)]
    return rows


# --- a version's notes, tags, weights and page -----------------------------------------------------


def tags(store: Store, snapshot_id: str) -> list[str]:
    """A version's tags, in the order they were added."""
    return [r["tag"] for r in store.query("SELECT tag FROM snapshot_tags WHERE snapshot_id = ? ORDER BY id",
                                          [snapshot_id])]


def tags_by_version(store: Store) -> dict[str, list[str]]:
    """Every tagged version's tags (version id → tags in the order they were added)."""
    out: dict[str, list[str]] = {}
    for row in store.query("SELECT snapshot_id, tag FROM snapshot_tags ORDER BY id"):
        out.setdefault(row["snapshot_id"], []).append(row["tag"])
    return out


def notes(store: Store, snapshot_id: str, *, history: bool = False) -> dict:
    """A version's current notes (its newest edit; ``""`` when none): ``text``, ``edited_at``, ``edits``
    (how many were saved), and with ``history`` every edit, newest first (``text``, ``edited_at``)."""
    rows = store.query("SELECT text, created_at AS edited_at FROM snapshot_notes WHERE snapshot_id = ? "
                       "ORDER BY id DESC" + ("" if history else " LIMIT 1"), [snapshot_id])
    edits = len(rows) if history else store.count("snapshot_notes", snapshot_id=snapshot_id)
    out = {"snapshot_id": snapshot_id, "text": rows[0]["text"] if rows else "",
           "edited_at": rows[0]["edited_at"] if rows else None, "edits": edits}
    if history:
        out["history"] = rows
    return out


def version_notes(store: Store, ref: str, history: bool = False) -> dict:
    """``notes`` of the version ``ref`` (an id, a name or a unique id prefix)."""
    return notes(store, store.get("snapshots", ref)["id"], history=history)


def version_tags(store: Store, ref: str) -> dict:
    """``{"snapshot_id", "tags"}`` of the version ``ref``."""
    snap_id = store.get("snapshots", ref)["id"]
    return {"snapshot_id": snap_id, "tags": tags(store, snap_id)}


NO_WEIGHTS = "no weights yet: train this version first"


def weights_folder(store: Store, snapshot: dict) -> Path | None:
    """The folder of a version's weights (under the artifact root), or None when it has none."""
    uri = snapshot.get("weights_uri")
    if not uri:
        return None
    try:
        folder = store.inside_artifacts(uri)
    except NotFound:
        return None
    return folder if folder.is_dir() else None


def weights(store: Store, snapshot: dict, folder: Path | None = None) -> dict:
    """What a version's weights are: ``available``, ``files`` (``name`` relative to the folder, ``size``
    in bytes), ``size`` (all files), ``hash`` (``weights_hash``) and ``message`` (why none). ``folder``:
    its ``weights_folder`` when the caller has it."""
    if folder is None and (outside := elsewhere(store, snapshot.get("weights_uri"))) is not None:
        return _weights_elsewhere(snapshot, *outside)
    folder = folder or weights_folder(store, snapshot)
    if folder is None:
        message = NO_WEIGHTS if not snapshot.get("weights_uri") else \
            f"the weights of version {snapshot['id']} are missing from the artifact folder"
        return {"available": False, "files": [], "size": 0, "hash": snapshot.get("weights_hash"), "message": message}
    files = [{"name": p.relative_to(folder).as_posix(), "size": p.stat().st_size}
             for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()]
    return {"available": bool(files), "files": files, "size": sum(f["size"] for f in files),
            "hash": snapshot.get("weights_hash"), "message": "" if files else "the weights folder is empty"}


def _weights_elsewhere(snapshot: dict, root: ArtifactRoot, key: str) -> dict:
    """``weights`` of a version whose weights live at a URL (or under a configured ``file://`` root)."""
    try:
        listed = files_of(root, key, snapshot.get("weights_hash"))
    except Exception as exc:  # an MMError, or the store's backend (botocore, gcsfs, …) raises its own kinds
        listed, message = [], f"the weights of version {snapshot['id']} cannot be listed: {one_line(exc)}"
    else:
        message = "" if listed else f"the weights of version {snapshot['id']} are missing at {snapshot['weights_uri']}"
    files = [{"name": name, "size": size} for name, size in listed]
    return {"available": bool(files), "files": files, "size": sum(f["size"] for f in files),
            "hash": snapshot.get("weights_hash"), "message": message}


def weights_file(store: Store, ref: str, name: str | None) -> tuple[dict, Path, list[dict]]:
    """``(version, folder, files)`` to download a version's weights (one file by ``name``, or every
    file); ``NotFound`` (one line) when it has none or no file of that name."""
    snap = store.get("snapshots", ref)
    folder = weights_folder(store, snap)
    info = weights(store, snap, folder)
    if not info["available"] or folder is None:
        raise NotFound(f"version {snap['id']} ({snap['name']}) has {info['message']}"
                       if info["message"] == NO_WEIGHTS else info["message"])
    if name is None:
        return snap, folder, info["files"]
    chosen = [f for f in info["files"] if f["name"] == name]
    if not chosen:
        raise NotFound(f"version {snap['id']} has no weights file {name[:80]!r} (it has: "
                       f"{', '.join(f['name'] for f in info['files'][:10])})")
    return snap, folder, chosen


def _brief(row: dict | None) -> dict | None:
    return None if row is None else {"id": row["id"], "name": row["name"], "status": row["status"],
                                     "trained": bool(row.get("weights_uri")), "created_at": row["created_at"]}


def dataset_state(store: Store, snapshot: dict) -> dict | None:
    """The version's dataset now against its training: ``trained_hash`` (the content hash its record
    keeps), ``current_hash`` (the dataset's hash as last checked, ``checked_at``) and ``changed``
    (None before a training or without a dataset)."""
    ds = store.first("datasets", id=snapshot["dataset_id"]) if snapshot.get("dataset_id") else None
    if ds is None:
        return None
    trained = (snapshot.get("repro") or {}).get("dataset_hash")
    current = ds["content_hash"]
    changed = None if not (trained and current) else trained != current
    return {"id": ds["id"], "name": ds["name"], "trained_hash": trained, "current_hash": current,
            "checked_at": ds.get("hashed_at"), "changed": changed}


VERSION_EXECUTIONS = 100


def version_page(store: Store, ref: str) -> dict:
    """Everything the version page shows: the version (name, model, status, config, labels, subsets),
    its parent and children, its reproducibility record and whether its dataset changed since
    (``dataset``), its weights (``weights``), its newest executions, its notes and its tags."""
    snap = store.get("snapshots", ref)
    model = store.first("models", id=snap["model_id"]) or {}
    parent = store.first("snapshots", id=snap["parent_id"]) if snap.get("parent_id") else None
    children = store.find("snapshots", parent_id=snap["id"], order=("created_at", "id"))
    runs = store.query(
        "SELECT id, name, kind, status, progress, created_at, started_at, ended_at, service, error FROM executions "
        "WHERE snapshot_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?", [snap["id"], VERSION_EXECUTIONS])
    count = store.count("executions", snapshot_id=snap["id"])
    repro = snap.get("repro") or {}
    served = deployments(store, snapshot_id=snap["id"])
    return {"id": snap["id"], "name": snap["name"], "status": shown_status(store, snap, serving_ids(served)),
            "created_at": snap["created_at"], "deployments": served[:10],
            "model_id": snap["model_id"], "model_name": model.get("name"), "adapter": model.get("adapter"),
            "trained": bool(snap.get("weights_uri")), "config": snap["config"] or {}, "labels": snap["labels"] or [],
            "filters": snap["filters"] or {}, "dataset_id": snap["dataset_id"],
            "parent": _brief(parent) if parent else ({"id": snap["parent_id"], "name": None, "status": "removed",
                                                       "trained": False, "created_at": None}
                                                      if snap.get("parent_id") else None),
            "children": [_brief(c) for c in children],
            "repro": repro, "recorded": bool(repro.get("dataset_hash") or repro.get("packages")),
            "dataset": dataset_state(store, snap), "weights": weights(store, snap),
            "executions": runs, "executions_total": count,
            "notes": notes(store, snap["id"]), "tags": tags(store, snap["id"])}


def snapshot(store: Store, ref: str) -> dict:
    row = store.get("snapshots", ref)
    row["status"] = shown_status(store, row)
    row["trained"] = bool(row.get("weights_uri"))
    row["model_name"] = store.get("models", row["model_id"])["name"]
    return row


def newest(store: Store, table: str, **where: Any) -> dict | None:
    """The newest row of ``table`` matching ``where``."""
    return store.first(table, order="-created_at", **where)


# --- datasets and filters ------------------------------------------------------------------------


def dataset_row(store: Store, ref: str) -> dict:
    """A dataset row by id, name or unique id prefix (``NotFound`` otherwise), with ``n_items``."""
    row = store.get("datasets", ref)
    row["n_items"] = dataset_size(store, row["id"])
    return row


def datasets(store: Store) -> list[dict]:
    """Every dataset (oldest first), each with ``n_items``."""
    rows = store.find("datasets", order=("created_at", "name"))
    for row in rows:
        row["n_items"] = dataset_size(store, row["id"])
    return rows


def dataset(store: Store, ref: str) -> dict:
    """A dataset with the tags and folders its items carry (for subset pickers) and its filters; a
    folder's count is what ``{"dir": folder}`` selects (its items and those below)."""
    row = dataset_row(store, ref)
    row["tags"] = tag_counts(store, row["id"])
    row["dirs"] = folder_counts(store, row["id"])
    row["filters"] = saved_filters(store, row["id"])
    return row


def filters(store: Store, dataset_ref: str | None = None) -> list[dict]:
    return saved_filters(store, store.get("datasets", dataset_ref)["id"] if dataset_ref else None)


def filter_row(store: Store, name: str) -> dict:
    return saved_filter(store, name)


def filter_versions(store: Store, name: str) -> list[dict]:
    """The versions whose subsets refer to saved filter ``name`` (oldest first): ``id``, ``name``,
    ``model_id``, ``status``, ``roles`` (those that name it), ``trained``, and ``recorded``: trained,
    with a record that keeps the query of each of those roles as it was at its training (editing
    or removing the filter changes nothing for it; see ``api.save_filter``)."""
    rows = store.query(
        "SELECT id, name, model_id, status, weights_uri, filters, repro FROM snapshots WHERE "
        + " OR ".join(f"json_extract(filters, '$.{role}.filter') = ?" for role in ROLES)
        + " ORDER BY created_at, id", [name] * len(ROLES))
    out = []
    for row in rows:
        store.decode("snapshots", row)
        chosen, kept = row["filters"] or {}, (row["repro"] or {}).get("resolved_filters") or {}
        roles = [r for r in ROLES if isinstance(chosen.get(r), dict) and chosen[r].get("filter") == name]
        trained = bool(row["weights_uri"])
        out.append({"id": row["id"], "name": row["name"], "model_id": row["model_id"], "status": row["status"],
                    "roles": roles, "trained": trained,
                    "recorded": trained and all(isinstance(kept.get(r), dict) and "filter" not in kept[r]
                                                for r in roles)})
    return out


def filter_detail(store: Store, name: str) -> dict:
    """A saved filter with the versions that refer to it (``filter_versions``)."""
    return {**saved_filter(store, name), "versions": filter_versions(store, name)}


def selection_query(store: Store, selection: dict) -> dict | None:
    """The filter a selection stands for (what "Show filter" displays), or None for all items."""
    if "query" in selection:
        return selection["query"] if isinstance(selection["query"], dict) else None
    if "filter" in selection:
        return saved_filter(store, selection["filter"])["query"]
    if "tag" in selection:
        return {"tags": selection["tag"]}
    if "dir" in selection:
        return {"dir": selection["dir"]}
    return None


def count_selection(store: Store, dataset_ref: str, selection: Any) -> dict:
    """How many items of a dataset a selection picks, and the filter it stands for."""
    ds = store.get("datasets", dataset_ref)
    sel = parse_selection(selection)
    where, params = compile_selection(store, ds, sel)
    count = store.conn.execute(f"SELECT count(*) FROM items WHERE {where}", params).fetchone()[0]
    return {"dataset_id": ds["id"], "selection": sel, "count": count, "filter": selection_query(store, sel)}


# --- services ------------------------------------------------------------------------------------


def _with_health(store: Store, row: dict, wait: bool = False) -> dict:
    """A service row with its health and how many of its executions wait (``pending``: pending or
    re-queued for a retry) and run (``running``)."""
    row["health"] = service_health(store, row, wait=wait).as_dict()
    row["secrets"] = row.get("secrets") or []  # names only (None before schema v8)
    row["pending"] = queue_length(store, row["name"])
    row["running"] = running_count(store, row["name"])
    return row


def services(store: Store, model_ref: str | None = None, *, wait: bool = False) -> list[dict]:
    """Services (by name) with their health; ``wait`` probes remote runners now (the CLI) instead of
    answering from their last background probe (requests, streams, widgets)."""
    where = {"model_id": store.get("models", model_ref)["id"]} if model_ref else {}
    return [_with_health(store, r, wait) for r in store.find("services", order="name", **where)]


def service(store: Store, name: str, *, missing_ok: bool = False, wait: bool = False) -> dict | None:
    row = store.first("services", name=name)
    if row is None:
        if missing_ok:
            return None
        store.get("services", name)  # NotFound with the usual message
    return _with_health(store, row, wait)


def service_of(store: Store, kind: Kind | str, model_id: str) -> dict | None:
    """A model's service of ``kind`` as stored (None before its first execution)."""
    return store.first("services", name=service_name(kind, model_id))


# --- what a form starts with -------------------------------------------------------------------------


def compact_query(query: Any) -> str:
    text = query if isinstance(query, str) else json.dumps(query, sort_keys=True)
    return re.sub(r"\s+", "", text)


def tagged_items_filters(role: str) -> set[str]:
    """The DQL spellings of "items tagged for ``role``", compacted (white space removed)."""
    tags = list(dict.fromkeys([role, SPLIT_TAGS.get(role, role)]))
    forms: list[Any] = [{"tags": tags[0]}, {"tags": {"$eq": tags[0]}}, {"tags": {"$in": tags}},
                        {"tags": {"$in": [tags[0]]}}]
    return {compact_query(f) for f in forms}


def predefined_filter(store: Store, model: dict, dataset_id: str | None, role: str) -> dict | None:
    """The model's predefined filter for ``role`` (a saved filter row), if one fits the dataset."""
    for name in (f"{model['name']}.{role}", f"{model['id']}.{role}"):
        row = store.first("filters", name=name)
        if row and row.get("dataset_id") in (None, dataset_id):
            return row
    return None


def default_selection(store: Store, model: dict, dataset_id: str | None, role: str) -> tuple[dict, str]:
    """The subset a form starts with for ``role`` by the default-subset rule, and where it came from
    (``"tagged items"`` or ``"predefined filter"``)."""
    if role not in ROLES:
        raise InvalidInput(f"unknown subset role {role!r} (one of: {', '.join(ROLES)})")
    row = predefined_filter(store, model, dataset_id, role)
    if row is None or compact_query(row["query"]) in tagged_items_filters(role):
        return {"tag": role}, "tagged items"
    return {"filter": row["name"]}, "predefined filter"


def defaults(store: Store, model_ref: str, dataset_ref: str | None = None, snapshot_ref: str | None = None) -> dict:
    """A launch form's starting values for a model: config, labels, dataset and the train /
    validation / test subsets (a given version's own subsets on its dataset, else the
    default-subset rule), with where each subset came from."""
    mdl = store.get("models", model_ref)
    snap = store.get("snapshots", snapshot_ref) if snapshot_ref else None
    if snap and snap["model_id"] != mdl["id"]:
        raise InvalidInput(f"snapshot {snap['id']} belongs to model {snap['model_id']}, not {mdl['id']}")
    ds_ref = dataset_ref or (snap or {}).get("dataset_id")
    if not ds_ref:  # the model's latest version's dataset, else the newest dataset
        last = store.conn.execute("SELECT dataset_id FROM snapshots WHERE model_id = ? AND dataset_id IS NOT NULL "
                                  "ORDER BY created_at DESC LIMIT 1", [mdl["id"]]).fetchone()
        newest_ds = store.first("datasets", order="-created_at")
        ds_ref = last[0] if last else (newest_ds["id"] if newest_ds else None)
    ds = dataset_row(store, ds_ref) if ds_ref else None
    subsets, sources = {}, {}
    for role in ROLES:
        own = (snap.get("filters") or {}).get(role) if snap and ds and snap.get("dataset_id") == ds["id"] else None
        if own:
            subsets[role], sources[role] = own, "version"
        else:
            subsets[role], sources[role] = default_selection(store, mdl, ds["id"] if ds else None, role)
    config = dict(snap["config"] if snap else mdl["config"] or {})
    labels = (snap or {}).get("labels") or mdl["labels"] or (ds["labels"] if ds else [])
    return {"model_id": mdl["id"], "snapshot_id": snap["id"] if snap else None,
            "dataset_id": ds["id"] if ds else None, "config": config, "labels": labels,
            "subsets": subsets, "sources": sources}
