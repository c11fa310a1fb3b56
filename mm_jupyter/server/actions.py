"""The write side of the REST API: register, create, train, evaluate, abort, rerun, remove, pause.

Every body is checked field by field (``Body``) before anything is written; the API re-checks the
values themselves (config types against the adapter, subsets against the dataset, service settings).

Every command that creates takes an ``idempotency_key`` (8-128 characters) and answers ``(row,
created)``: the same key again answers what it created (``created`` false), a key already used for
another request is a ``Conflict``. Executions and versions keep their key in the store (unique
indexes); models and filters have unique names instead, so with a key a second request equal to the
row of that name is answered that row, a different one is a ``Conflict``.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

from .. import api, codebases
from ..errors import Conflict, InvalidInput
from ..queries import catalog
from ..queries import executions as q_exe
from ..queries.dql import parse_filter
from ..registry import adapter_class
from ..scheduler import configure, set_paused, stop
from ..services import check_settings
from ..store import Store
from .artifacts import execution_view
from .inputs import Body


def _service_settings(body: Body) -> dict | None:
    """Service settings of a launch (checked by ``services.check_settings``; pausing has its route)."""
    settings = body.get("service", dict)
    if settings is None:
        return None
    if "paused" in settings:
        raise InvalidInput("service setting 'paused' is set with POST /services/<name>/pause or /resume")
    return check_settings(settings)


def _key(body: Body) -> str | None:
    key = body.text("idempotency_key")
    if key is not None and not 8 <= len(key) <= 128:
        raise InvalidInput("idempotency_key must be 8 to 128 characters")
    return key


def _reused(key: str) -> Conflict:
    return Conflict(f"idempotency_key {key[:40]!r} was already used for another request: use a new key")


def _existing(store: Store, key: str | None, kind: str, *, snapshot_id: str | None = None,
              rerun_of: str | None = None) -> dict | None:
    """The execution an earlier request with ``key`` created, if it was the same kind of request."""
    same = q_exe.by_idempotency_key(store, key) if key else None
    if same is None:
        return None
    if (same["kind"] != kind or (snapshot_id is not None and same["snapshot_id"] != snapshot_id)
            or same.get("rerun_of") != rerun_of):
        raise _reused(key)
    return same


def _derived_key(key: str | None, purpose: str) -> str | None:
    """A key of its own for what one request creates on the side (the version a train creates), so a
    retry finds it, and the same key given to another route does not."""
    return key and f"{purpose}:{hashlib.sha256(key.encode()).hexdigest()[:48]}"


def register_model(store: Store, data: Any) -> tuple[dict, bool]:
    body = Body(data)
    name = body.text("name", required=True)
    adapter = body.text("adapter")
    labels, config = body.strings("labels"), body.get("config", dict)
    description = body.text("description") or ""
    codebase = body.text("codebase")
    key = _key(body)
    body.done()
    same = store.first("models", name=name) if key else None
    if same is None:
        try:
            return api.register_model(name, adapter, labels=labels, config=config, description=description,
                                      codebase=codebase, store=store), True
        except sqlite3.IntegrityError:  # the same name, registered by another process meanwhile
            same = store.first("models", name=name)
            if same is None or not key:
                raise Conflict(f"model name {name!r} already exists") from None
    expected = {"adapter": adapter or "", "labels": labels or [], "description": description,
                "config": adapter_class(adapter, same.get("codebase")).check(config) if adapter else config or {}}
    if any(same[field] != value for field, value in expected.items()) or \
            (same.get("codebase") or {}).get("source") != codebases.source_of(codebase):
        raise Conflict(f"model name {name!r} already exists with another adapter, labels, config or description")
    return same, False


def _snapshot_fields(body: Body) -> dict:
    """A version's fields from a request body (checked field by field)."""
    return {"model": body.text("model", required=True), "name": body.text("name") or None,
            "config": body.get("config", dict), "dataset": body.text("dataset"),
            "train": body.selection("train"), "validation": body.selection("validation"),
            "test": body.selection("test"), "labels": body.strings("labels"), "parent": body.text("parent")}


def _create_snapshot(store: Store, data: Any, where: str, key: str | None = None) -> tuple[dict, bool]:
    body = Body(data, where)
    fields = _snapshot_fields(body)
    if where == "request body":
        key = _key(body)
    body.done()
    model = fields.pop("model")
    same = store.first("snapshots", idempotency_key=key) if key else None
    if same is not None:
        if same["model_id"] != store.get("models", model)["id"]:
            raise _reused(key)
        return same, False
    return api.create_snapshot(model, store=store, idempotency_key=key, **fields), True


def create_snapshot(store: Store, data: Any) -> tuple[dict, bool]:
    return _create_snapshot(store, data, "request body")


def remove_snapshot(store: Store, ref: str) -> dict:
    return {"removed": api.remove_snapshot(ref, store=store)}


def train(store: Store, data: Any) -> dict:
    """``{"snapshot": id}`` trains a version as it is; ``{"create": {...}}`` creates one, then trains it."""
    body = Body(data)
    ref, create = body.text("snapshot"), body.get("create", dict)
    settings, key, secrets = _service_settings(body), _key(body), body.strings("secrets")
    body.done()
    if (ref is None) == (create is None):
        raise InvalidInput("give exactly one of 'snapshot' (train a version) or 'create' (create & train)")
    snap_id = ref and store.get("snapshots", ref)["id"]
    same = _existing(store, key, "train", snapshot_id=snap_id)
    if same:
        return {"execution": execution_view(store, same["id"]),
                "snapshot": catalog.snapshot(store, same["snapshot_id"]), "created": False}
    if create is not None:  # the version and its training in one step: a refused launch creates no version
        fields_body = Body(create, "create")
        fields = _snapshot_fields(fields_body)
        fields_body.done()
        exe = api.create_and_train(fields.pop("model"), service=settings, idempotency_key=key, secrets=secrets,
                                   store=store, **fields)
    else:
        exe = api.train(snap_id, service=settings, idempotency_key=key, secrets=secrets, store=store)
    return {"execution": execution_view(store, exe["id"]), "snapshot": catalog.snapshot(store, exe["snapshot_id"]),
            "created": True}


def evaluate(store: Store, data: Any) -> dict:
    body = Body(data)
    ref = body.text("snapshot", required=True)
    dataset, test = body.text("dataset"), body.selection("test")
    settings, key, secrets = _service_settings(body), _key(body), body.strings("secrets")
    body.done()
    same = _existing(store, key, "evaluate", snapshot_id=store.get("snapshots", ref)["id"] if key else None)
    if same:
        return {"execution": execution_view(store, same["id"]), "created": False}
    exe = api.evaluate(ref, dataset=dataset, test=test, service=settings, idempotency_key=key, secrets=secrets,
                       store=store)
    return {"execution": execution_view(store, exe["id"]), "created": True}


def abort(store: Store, ref: str) -> dict:
    return execution_view(store, api.abort(ref, store=store)["id"])


def rerun(store: Store, ref: str, data: Any) -> tuple[dict, bool]:
    body = Body(data if data is not None else {})
    config, key = body.get("config", dict), _key(body)
    body.done()
    src = store.get("executions", ref)
    same = _existing(store, key, src["kind"], rerun_of=src["id"])
    if same:
        return execution_view(store, same["id"]), False
    return execution_view(store, api.rerun(src["id"], config=config or None, idempotency_key=key, store=store)["id"]), True


def remove(store: Store, ref: str) -> dict:
    return {"removed": api.remove(ref, store=store)}


def pause(store: Store, name: str, paused: bool) -> dict:
    set_paused(store, name, paused)
    return catalog.service(store, name)


def stop_service(store: Store, name: str, data: Any) -> dict:
    """Stop a service (``scheduler.stop`` without waiting): it takes no new work, its running
    executions get ``drain_time`` seconds (the body's, else the service's) to finish."""
    body = Body(data if data is not None else {})
    drain = body.get("drain_time", (int, float))
    body.done()
    stop(store, name, drain_time=drain, wait=False)
    return catalog.service(store, name)


def configure_service(store: Store, name: str, data: Any) -> dict:
    """Change a service's settings (``services.check_settings``; pausing has its own routes)."""
    body = Body(data)
    if "paused" in body.data:
        raise InvalidInput("service setting 'paused' is set with POST /services/<name>/pause or /resume")
    settings = {key: body.data[key] for key in body.data}
    body.seen.update(settings)
    if not settings:
        raise InvalidInput("request body: give at least one service setting to change")
    configure(store, name, settings)
    return catalog.service(store, name)


# --- a version's notes and tags -------------------------------------------------------------------------


def set_notes(store: Store, ref: str, data: Any) -> dict:
    """``{"text": notes}`` (``""`` clears them): a new edit, the earlier ones kept as history."""
    body = Body(data)
    text = body.data.get("text")  # read here, not by Body.get: api.set_notes says how long notes may be
    body.seen.add("text")
    body.done()
    if text is None:
        raise InvalidInput("request body: field 'text' is required (the notes; \"\" clears them)")
    return api.set_notes(ref, text, store=store)


def change_tags(store: Store, ref: str, data: Any) -> dict:
    """``{"add": [...], "remove": [...]}`` in one transaction: a bad tag changes nothing."""
    body = Body(data)
    add, remove = body.strings("add") or [], body.strings("remove") or []
    body.done()
    if not add and not remove:
        raise InvalidInput("request body: give tags to 'add' or to 'remove'")
    snap = store.get("snapshots", ref)
    with store.tx():
        for tag in remove:
            api.remove_tag(snap["id"], tag, store=store)
        for tag in add:
            api.add_tag(snap["id"], tag, store=store)
    return {"snapshot_id": snap["id"], "tags": catalog.tags(store, snap["id"])}


def add_filter(store: Store, data: Any) -> tuple[dict, bool]:
    body = Body(data)
    name = body.text("name", required=True)
    query = body.query("query", required=True)
    dataset = body.text("dataset")
    overwrite = bool(body.get("overwrite", bool, default=False))
    key = _key(body)
    body.done()
    if key:
        same = _same_filter(store, name, query, dataset)
        if same:
            return same, False
    try:
        return api.save_filter(store, name, query, dataset, overwrite=overwrite), True
    except Conflict:
        same = _same_filter(store, name, query, dataset) if key else None  # saved meanwhile by another process
        if same is None:
            raise
        return same, False


def _same_filter(store: Store, name: str, query: dict, dataset: str | None) -> dict | None:
    """The saved filter ``name`` when it is this query on this dataset."""
    row = store.first("filters", name=name)
    if row is None:
        return None
    dataset_id = store.get("datasets", dataset)["id"] if dataset is not None else None
    return row if row["query"] == parse_filter(query) and row["dataset_id"] == dataset_id else None
