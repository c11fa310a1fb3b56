"""The write side of the REST API: register, create, train, evaluate, abort, rerun, remove, pause.

Every body is checked field by field (``Body``) before anything is written; the API re-checks the
values themselves (config types against the adapter, subsets against the dataset, service settings).
"""

from __future__ import annotations

from typing import Any

from .. import api
from ..errors import InvalidInput
from ..queries import catalog
from ..queries import executions as q_exe
from ..scheduler import set_paused
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


def _existing(store: Store, key: str | None) -> dict | None:
    return q_exe.by_idempotency_key(store, key) if key else None


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
        return {"execution": execution_view(store, same["id"]),
                "snapshot": catalog.snapshot(store, same["snapshot_id"]), "created": False}
    snap_id = ref and store.get("snapshots", ref)["id"]
    if create is not None:
        snap_id = _create_snapshot(store, create, "create")["id"]
    exe = api.train(snap_id, service=settings, idempotency_key=key, store=store)
    return {"execution": execution_view(store, exe["id"]), "snapshot": catalog.snapshot(store, snap_id),
            "created": True}


def evaluate(store: Store, data: Any) -> dict:
    body = Body(data)
    ref = body.text("snapshot", required=True)
    dataset, test = body.text("dataset"), body.selection("test")
    settings, key = _service_settings(body), _key(body)
    body.done()
    same = _existing(store, key)
    if same:
        return {"execution": execution_view(store, same["id"]), "created": False}
    exe = api.evaluate(ref, dataset=dataset, test=test, service=settings, idempotency_key=key, store=store)
    return {"execution": execution_view(store, exe["id"]), "created": True}


def abort(store: Store, ref: str) -> dict:
    return execution_view(store, api.abort(ref, store=store)["id"])


def rerun(store: Store, ref: str, data: Any) -> dict:
    body = Body(data if data is not None else {})
    config = body.get("config", dict)
    body.done()
    return execution_view(store, api.rerun(ref, config=config or None, store=store)["id"])


def remove(store: Store, ref: str) -> dict:
    return {"removed": api.remove(ref, store=store)}


def pause(store: Store, name: str, paused: bool) -> dict:
    set_paused(store, name, paused)
    return catalog.service(store, name)


def add_filter(store: Store, data: Any) -> dict:
    body = Body(data)
    name = body.text("name", required=True)
    query = body.get("query", (dict, str), required=True)
    dataset = body.text("dataset")
    overwrite = bool(body.get("overwrite", bool, default=False))
    body.done()
    return api.save_filter(store, name, query, dataset, overwrite=overwrite)
