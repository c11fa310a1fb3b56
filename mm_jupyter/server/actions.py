"""The write side of the REST API: register, create, train, evaluate, abort, rerun, remove, pause.

Every body is checked field by field (``Body``) before anything is written; the API re-checks the
values themselves (config types against the adapter, subsets against the dataset, service settings).
"""

from __future__ import annotations

from typing import Any

from .. import api
from ..errors import InvalidInput
from ..filters import save_filter
from ..services import check_settings, set_paused
from ..store import Store
from .inputs import Body
from .listing import shape
from .queries import execution, service, snapshot


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


def _existing(store: Store, key: str | None) -> dict | None:
    if not key:
        return None
    rows = store.find("executions", "idempotency_key = ?", [key])
    return rows[0] if rows else None


def register_model(store: Store, data: Any) -> dict:
    body = Body(data)
    name = body.text("name", required=True)
    adapter = body.text("adapter")
    labels, config = body.strings("labels"), body.get("config", dict)
    description = body.text("description") or ""
    body.done()
    return api.register_model(name, adapter, labels=labels, config=config, description=description, store=store)


def _create_snapshot(store: Store, data: Any, where: str) -> dict:
    body = Body(data, where)
    fields = {"model": body.text("model", required=True), "name": body.text("name") or None,
              "config": body.get("config", dict), "dataset": body.text("dataset"),
              "train": body.selection("train"), "validation": body.selection("validation"),
              "test": body.selection("test"), "labels": body.strings("labels"), "parent": body.text("parent")}
    body.done()
    model = fields.pop("model")
    return api.create_snapshot(model, store=store, **fields)


def create_snapshot(store: Store, data: Any) -> dict:
    return _create_snapshot(store, data, "request body")


def train(store: Store, data: Any) -> dict:
    """``{"snapshot": id}`` trains a version as it is; ``{"create": {...}}`` creates one, then trains it."""
    body = Body(data)
    ref, create = body.text("snapshot"), body.get("create", dict)
    settings, key = _service_settings(body), _key(body)
    body.done()
    if (ref is None) == (create is None):
        raise InvalidInput("give exactly one of 'snapshot' (train a version) or 'create' (create & train)")
    same = _existing(store, key)
    if same:
        return {"execution": execution(store, same["id"]), "snapshot": snapshot(store, same["snapshot_id"]),
                "created": False}
    snap_id = ref and store.get("snapshots", ref)["id"]
    if create is not None:
        snap_id = _create_snapshot(store, create, "create")["id"]
    exe = api.train(snap_id, service=settings, idempotency_key=key, store=store)
    return {"execution": execution(store, exe["id"]), "snapshot": snapshot(store, snap_id), "created": True}


def evaluate(store: Store, data: Any) -> dict:
    body = Body(data)
    ref = body.text("snapshot", required=True)
    dataset, test = body.text("dataset"), body.selection("test")
    settings, key = _service_settings(body), _key(body)
    body.done()
    same = _existing(store, key)
    if same:
        return {"execution": execution(store, same["id"]), "created": False}
    exe = api.evaluate(ref, dataset=dataset, test=test, service=settings, idempotency_key=key, store=store)
    return {"execution": execution(store, exe["id"]), "created": True}


def abort(store: Store, ref: str) -> dict:
    return shape(api.abort(ref, store=store))


def rerun(store: Store, ref: str, data: Any) -> dict:
    body = Body(data if data is not None else {})
    config = body.get("config", dict)
    body.done()
    return execution(store, api.rerun(ref, config=config or None, store=store)["id"])


def remove(store: Store, ref: str) -> dict:
    exe_id = store.get("executions", ref)["id"]
    api.remove(exe_id, store=store)
    return {"removed": exe_id}


def pause(store: Store, name: str, paused: bool) -> dict:
    set_paused(store, name, paused)
    return service(store, name)


def add_filter(store: Store, data: Any) -> dict:
    body = Body(data)
    name = body.text("name", required=True)
    query = body.get("query", (dict, str), required=True)
    dataset = body.text("dataset")
    overwrite = bool(body.get("overwrite", bool, default=False))
    body.done()
    return save_filter(store, name, query, dataset, overwrite=overwrite)
