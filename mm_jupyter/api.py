"""The Python API (``import mm_jupyter as mm``): the commands the CLI, the widgets and the server
call (register, create/update versions, train, evaluate, rerun, abort, remove, offline logging),
and the reads a script wants, answered by the read layer (``mm_jupyter.queries``)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .adapter import RunContext, get_active_run, set_active_run
from .checks import check_json_value, check_labels, check_text
from .errors import Conflict, InvalidInput, NotFound, Unavailable
from .executions import (
    FINISHED,
    IN_PROGRESS,
    QUEUED,
    EventType,
    Kind,
    Outcome,
    Status,
    execution_name,
    heartbeat_stale_after,
)
from .notebooks import LOG_NAME, template_for
from .processes import hostname
from .queries import catalog
from .queries import executions as q_exe
from .queries import items as q_items
from .queries.dql import parse_filter
from .registry import adapter_class, adapter_module_origin
from .scheduler import abort as _abort
from .scheduler import dispatch, enqueue, ensure_service
from .scheduler import reconcile as _reconcile
from .scheduler import remove as _remove
from .store import Store, now
from .tracker import LocalTracker

_STORES: dict[str, Store] = {}
SELECTION_ROLES = ("train", "validation", "test")
REPRO_PACKAGES = ("mm_jupyter", "torch", "torchvision", "ultralytics", "numpy", "papermill", "ipykernel")
FILTER_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def connect(home: str | Path | None = None) -> Store:
    """The store at ``home`` (default ``$MM_HOME``), one per process and home. Opening it has no
    side effects: lost runs are reconciled by ``reconcile`` (at ``mm`` start, by the server)."""
    key = str(Path(home).expanduser().resolve()) if home else ""
    if key not in _STORES:
        _STORES[key] = Store(home)
    return _STORES[key]


def _store(store: Store | None) -> Store:
    return store or connect()


def reconcile(store: Store | None = None) -> list[str]:
    """End or re-queue runs whose runner died, finish service drains, start what waits; returns the
    execution ids it ended or re-queued."""
    return _reconcile(_store(store))


# --- models and versions ------------------------------------------------------------------------


def register_model(name: str, adapter: str | None = None, *, labels: list[str] | None = None,
                   config: dict | None = None, description: str = "", store: Store | None = None) -> dict:
    """Register a model: a name, an adapter (a registered name such as ``yolo`` or
    ``torch-classifier``, ``"module:Class"``, or None for offline logging from your own loop),
    predefined labels and default config."""
    store = _store(store)
    check_text(name, "model name")
    check_text(description, "description", max_len=10_000, empty_ok=True)
    if store.first("models", name=name):
        raise Conflict(f"model name {name!r} already exists")
    defaults: dict = {}
    if adapter:
        cls = adapter_class(adapter)
        config = cls.check(check_json_value(config, "config"))
        defaults = cls.defaults()
    elif config is not None:
        if not isinstance(config, dict):
            raise InvalidInput("config must be a mapping")
        check_json_value(config, "config")
    if labels is not None:
        check_labels(labels)
    return store.insert("models", {"name": name, "adapter": adapter or "", "labels": labels or [],
                                   "config": {**defaults, **(config or {})}, "description": description})


def models(store: Store | None = None) -> list[dict]:
    """Every model, oldest first (with its number of versions and its services' health)."""
    return catalog.models(_store(store))


def parse_selection(value: Any) -> dict:
    """A subset selection from a dict or CLI text (see ``mm_jupyter.queries.items``)."""
    return q_items.parse_selection(value)


def _selections(store: Store, dataset_id: str, given: dict[str, Any], model: dict) -> dict:
    """The train/validation/test selections, given or by the default-subset rule; each checked
    against the dataset now (a bad filter or an unknown saved filter is refused here)."""
    out = {}
    for role in SELECTION_ROLES:
        if given.get(role) is not None:
            sel = parse_selection(given[role])
        else:
            sel = catalog.default_selection(store, model, dataset_id, role)[0]
        q_items.count_items(store, dataset_id, sel)
        out[role] = sel
    return out


def _checked_config(model: dict, base: dict | None, edits: Any) -> dict:
    """``base`` with the ``edits`` mapping applied, checked against the model's adapter (types,
    unknown keys, bounds) when it has one."""
    if edits is not None and not isinstance(edits, dict):
        raise InvalidInput(f"config must be a mapping, got {type(edits).__name__}")
    check_json_value(edits, "config")
    merged = {**(base or {}), **(edits or {})}
    return adapter_class(model["adapter"]).check(merged) if model["adapter"] else merged


def create_snapshot(model: str, name: str | None = None, *, config: dict | None = None,
                    dataset: str | None = None, train: Any = None, validation: Any = None,
                    test: Any = None, labels: list[str] | None = None, parent: str | None = None,
                    idempotency_key: str | None = None, store: Store | None = None) -> dict:
    """Create a model version: config (checked against the adapter), dataset and subset selections
    (the default-subset rule where not given), labels (the model's predefined, else the
    dataset's), and an optional parent to fine-tune from. The same ``idempotency_key`` twice
    creates one version (the second call returns it)."""
    import sqlite3

    store = _store(store)
    if idempotency_key is not None:
        check_text(idempotency_key, "idempotency key", max_len=128)
        same = store.first("snapshots", idempotency_key=idempotency_key)
        if same:
            return same
    row = _new_snapshot(store, model, name, config=config, dataset=dataset, train=train, validation=validation,
                        test=test, labels=labels, parent=parent)
    try:
        return store.insert("snapshots", {**row, "idempotency_key": idempotency_key})
    except sqlite3.IntegrityError:  # the same key, concurrently
        return store.get("snapshots", store.first("snapshots", idempotency_key=idempotency_key)["id"])


def _new_snapshot(store: Store, model: str, name: str | None, *, config: dict | None, dataset: str | None,
                  train: Any, validation: Any, test: Any, labels: list[str] | None, parent: str | None) -> dict:
    """The row of a new version, every field checked (nothing written)."""
    mdl = store.get("models", model)
    if name is not None:
        check_text(name, "version name")
    merged = _checked_config(mdl, mdl["config"], config)
    parent_row = None
    if parent:
        parent_row = store.get("snapshots", parent)
        if parent_row["model_id"] != mdl["id"]:
            raise InvalidInput(f"parent snapshot {parent_row['id']} belongs to another model "
                               f"({parent_row['model_id']}), not {mdl['id']}")
    ds = None
    filters: dict = {}
    if dataset:
        ds = catalog.dataset_row(store, dataset)
        filters = _selections(store, ds["id"], {"train": train, "validation": validation, "test": test}, mdl)
    elif any(v is not None for v in (train, validation, test)):
        raise InvalidInput("subsets need a dataset: give one with them")
    if labels is not None and labels != []:
        check_labels(labels)
    labels = labels or mdl["labels"] or (ds["labels"] if ds else [])
    return {"model_id": mdl["id"], "name": name or f"{mdl['name']}-v{catalog.version_count(store, mdl['id']) + 1}",
            "status": "created", "config": merged, "dataset_id": ds["id"] if ds else None, "filters": filters,
            "labels": labels, "parent_id": parent_row["id"] if parent_row else None, "repro": {}}


def update_snapshot(snapshot: str, *, config: dict | None = None, dataset: str | None = None,
                    train: Any = None, validation: Any = None, test: Any = None,
                    labels: list[str] | None = None, store: Store | None = None) -> dict:
    """Edit a version that was never trained (status ``created``, nothing queued for it): config
    edits (checked against the adapter), dataset, subset selections (the current ones where not
    given), labels. A trained version stays as it was: clone it instead (``mm rerun --config``)."""
    store = _store(store)
    snap = store.get("snapshots", snapshot)
    model = store.get("models", snap["model_id"])
    fields: dict[str, Any] = {"config": _checked_config(model, snap["config"], config)}
    dataset_id = snap["dataset_id"]
    if dataset is not None:
        dataset_id = fields["dataset_id"] = catalog.dataset_row(store, dataset)["id"]
    if dataset_id:
        current = snap["filters"] or {}
        given = {"train": train, "validation": validation, "test": test}
        fields["filters"] = _selections(store, dataset_id, {r: given[r] if given[r] is not None else current.get(r)
                                                            for r in SELECTION_ROLES}, model)
    elif any(v is not None for v in (train, validation, test)):
        raise InvalidInput(f"snapshot {snap['id']} has no dataset: give one with the subsets")
    if labels:
        fields["labels"] = check_labels(labels)
    with store.tx():
        busy = store.count("executions", snapshot_id=snap["id"], kind=Kind.TRAIN, status=(*QUEUED, IN_PROGRESS))
        changed = not busy and store.update_if("snapshots", snap["id"], fields, status="created")
    if not changed:
        raise Conflict(f"snapshot {snap['id']} is {store.get('snapshots', snap['id'])['status']} or has a training "
                       "queued: only a never-trained snapshot can be edited (clone it for new settings)")
    return store.get("snapshots", snap["id"])


def remove_snapshot(snapshot: str, store: Store | None = None) -> str:
    """Delete a version with its ended executions (their metrics, events, notebooks) and its weights;
    refused while it has an execution that has not ended or versions fine-tuned from it. Returns
    its id."""
    import shutil

    store = _store(store)
    snap = store.get("snapshots", snapshot)
    folder = store.inside_artifacts(store.snapshot_dir(snap["model_id"], snap["id"]))
    with store.tx():
        active = store.count("executions", snapshot_id=snap["id"], status=(*QUEUED, IN_PROGRESS, "created"))
        if active:
            raise Conflict(f"version {snap['id']} has {active} execution(s) that have not ended: abort them first")
        children = [c["id"] for c in store.find("snapshots", parent_id=snap["id"])]
        if children:
            raise Conflict(f"version {snap['id']} is the parent of {', '.join(children[:5])}: remove those first")
        ids = [e["id"] for e in store.find("executions", snapshot_id=snap["id"])]
        store.delete("metrics", execution_id=tuple(ids))
        store.delete("events", execution_id=tuple(ids))
        store.delete("executions", snapshot_id=snap["id"])
        store.delete("snapshots", id=snap["id"])
    if folder.is_dir() and folder.parent.name == "snapshots":
        shutil.rmtree(folder, ignore_errors=True)
    return snap["id"]


def snapshots(model: str | None = None, store: Store | None = None) -> list[dict]:
    """Versions (of one model, if given), oldest first."""
    return catalog.snapshots(_store(store), model)


def clone_snapshot(snapshot: str, config: dict, store: Store | None = None) -> dict:
    """A new version equal to ``snapshot`` but with ``config`` edits; records where it came from."""
    store = _store(store)
    src = store.get("snapshots", snapshot)
    merged = _checked_config(store.get("models", src["model_id"]), src["config"], config)
    return store.insert("snapshots", {
        **{k: src[k] for k in ("model_id", "dataset_id", "filters", "labels", "parent_id")},
        "name": f"{src['name']}-clone", "status": "created", "config": merged,
        "repro": {"cloned_from": src["id"], "config_edits": config},
    })


def save_filter(store: Store, name: str, query: str | dict, dataset_id: str | None = None, *,
                overwrite: bool = False) -> dict:
    """Validate and save a named DQL filter (optionally bound to one dataset); returns its row.
    A name in use is a ``Conflict`` unless ``overwrite``."""
    if not isinstance(name, str) or not 1 <= len(name) <= 64 or set(name) - FILTER_NAME_CHARS:
        raise InvalidInput(f"filter name {str(name)[:80]!r} must be 1-64 letters, digits, '_', '.' or '-'")
    query = parse_filter(query)
    if dataset_id is not None:
        dataset_id = store.get("datasets", dataset_id)["id"]
    with store.tx():
        if store.first("filters", name=name):
            if not overwrite:
                raise Conflict(f"filter {name!r} already exists")
            store.delete("filters", name=name)
        return store.insert("filters", {"name": name, "dataset_id": dataset_id, "query": query})


def delete_filter(store: Store, name: str) -> None:
    """Remove a saved filter (``NotFound`` if there is none)."""
    q_items.saved_filter(store, name)
    store.delete("filters", name=name)


# --- reproducibility ----------------------------------------------------------------------------


def _file_hash(path: str | None) -> str | None:
    if not path or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def reproducibility_record(store: Store, snapshot: dict, model: dict) -> dict:
    """Config, dataset content hash, filters, adapter source hash, package versions, seed, git rev."""
    versions = {}
    for pkg in REPRO_PACKAGES:
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    adapter_src = adapter_module_origin(model["adapter"]) if model["adapter"] else None
    dataset = store.get("datasets", snapshot["dataset_id"]) if snapshot.get("dataset_id") else None
    return {**(snapshot.get("repro") or {}),
            "config": snapshot["config"], "filters": snapshot["filters"],
            "dataset_id": snapshot.get("dataset_id"), "dataset_hash": dataset["content_hash"] if dataset else None,
            "adapter": model["adapter"], "adapter_source_hash": _file_hash(adapter_src),
            "packages": versions, "python": platform.python_version(),
            "seed": (snapshot["config"] or {}).get("seed", 0), "git_revision": _git_revision()}


def _git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


# --- executions ---------------------------------------------------------------------------------


def _submit(store: Store, kind: Kind, snapshot: dict, params: dict, service: dict | None,
            idempotency_key: str | None, rerun_of: str | None = None,
            snapshot_fields: dict | None = None) -> dict:
    """Queue an execution: service, queue-room check, row, version updates and ``pending`` in one
    transaction (a refused submit writes nothing), then dispatch."""
    import sqlite3

    model = store.get("models", snapshot["model_id"])
    _check_adapter(model, params.get("notebook"))
    if idempotency_key:
        check_text(idempotency_key, "idempotency key", max_len=128)
        same = q_exe.by_idempotency_key(store, idempotency_key)
        if same:
            return same
    row = {"kind": kind, "snapshot_id": snapshot["id"], "model_id": model["id"], "progress": 0.0, "attempts": 0,
           "params": params, "idempotency_key": idempotency_key, "rerun_of": rerun_of,
           "name": execution_name(kind, snapshot["name"])}
    try:
        exe = enqueue(store, row, service, snapshot_fields)
    except sqlite3.IntegrityError:  # the same key submitted concurrently
        return q_exe.by_idempotency_key(store, idempotency_key or "") or store.get("executions", "")
    dispatch(store)
    return store.get("executions", exe["id"])


def _check_adapter(model: dict, notebook: str | None) -> None:
    if not model["adapter"] and not notebook:
        raise InvalidInput(f"model {model['name']!r} has no adapter: log from your own loop with mm.start_run")


def _base_params(snapshot: dict, model: dict, notebook: str | None) -> dict:
    params = {"snapshot_id": snapshot["id"], "model_id": model["id"], "adapter": model["adapter"],
              "dataset_id": snapshot["dataset_id"], "labels": snapshot["labels"], "config": snapshot["config"]}
    if notebook:
        params["notebook"] = _user_notebook(notebook)
    return params


def _user_notebook(notebook: Any) -> str:
    """The absolute path of a user's own notebook (checked: exists, has a ``parameters`` cell)."""
    if not isinstance(notebook, str) or "\x00" in notebook or len(notebook) > 4096:
        raise InvalidInput(f"notebook must be a path to an .ipynb file, got {str(notebook)[:200]!r}")
    try:
        return str(template_for("train", notebook))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"notebook {notebook[:200]!r} cannot be read: {exc.__class__.__name__}") from None


def train(snapshot: str, *, service: dict | None = None, idempotency_key: str | None = None,
          notebook: str | None = None, wait: bool = False, store: Store | None = None) -> dict:
    """Queue a training execution of ``snapshot`` on its model's train service; returns the execution."""
    store = _store(store)
    snap = store.get("snapshots", snapshot)
    model = store.get("models", snap["model_id"])
    _check_adapter(model, notebook)
    if not snap["dataset_id"]:
        raise InvalidInput(f"snapshot {snap['id']} has no dataset to train on")
    params = _base_params(snap, model, notebook)
    params.update(train_selection=snap["filters"]["train"], validation_selection=snap["filters"]["validation"])
    if snap["parent_id"]:
        parent = store.get("snapshots", snap["parent_id"])
        if not parent["weights_uri"]:
            raise InvalidInput(f"parent snapshot {parent['id']} has no weights yet (train it first)")
        params["parent_weights"] = parent["weights_uri"]
    exe = _submit(store, Kind.TRAIN, snap, params, service, idempotency_key,
                  snapshot_fields={"repro": reproducibility_record(store, snap, model)})
    return wait_for(exe["id"], store=store) if wait else exe


def evaluate(snapshot: str, *, dataset: str | None = None, test: Any = None, service: dict | None = None,
             idempotency_key: str | None = None, notebook: str | None = None, wait: bool = False,
             slice_by: list[str] | None = None, store: Store | None = None) -> dict:
    """Queue an evaluation of a trained ``snapshot`` on ``test`` of ``dataset`` (default: its own).

    ``slice_by``: fields for the per-slice metrics (``dir``, ``tag``, ``metadata.<field>``, or two
    crossed as ``a*b``); None slices by dir, tag and every metadata field."""
    store = _store(store)
    snap = store.get("snapshots", snapshot)
    model = store.get("models", snap["model_id"])
    if not snap["weights_uri"]:
        raise InvalidInput(f"snapshot {snap['id']} has no weights: train it before evaluating")
    ds = catalog.dataset_row(store, dataset or snap["dataset_id"] or "")
    if test is not None:
        sel = parse_selection(test)
    elif ds["id"] == snap["dataset_id"] and (snap["filters"] or {}).get("test"):
        sel = snap["filters"]["test"]
    else:
        sel = catalog.default_selection(store, model, ds["id"], "test")[0]
    q_items.count_items(store, ds["id"], sel)
    params = _base_params(snap, model, notebook)
    if slice_by is not None:
        from .evaluation import item_slices

        if not (isinstance(slice_by, list) and all(isinstance(f, str) and f for f in slice_by)):
            raise InvalidInput(f"slice_by must be a list of field names, got {slice_by!r}")
        item_slices(q_items.select_items(store, ds["id"], sel), slice_by)  # unknown fields fail now, not in the run
    params.update(dataset_id=ds["id"], test_selection=sel, weights=snap["weights_uri"], slice_by=slice_by)
    exe = _submit(store, Kind.EVALUATE, snap, params, service, idempotency_key)
    return wait_for(exe["id"], store=store) if wait else exe


def wait_for(execution_id: str, *, timeout: float | None = None, poll: float = 0.2,
             on_update: Callable[[dict], None] | None = None, store: Store | None = None) -> dict:
    """Block until the execution ends (``timeout`` seconds at most, else ``Unavailable``); returns
    its final row."""
    store = _store(store)
    deadline = None if timeout is None else time.monotonic() + timeout
    kicked = time.monotonic()
    while True:
        exe = store.get("executions", execution_id)
        if on_update:
            on_update(exe)
        if exe["status"] in FINISHED:
            return exe
        if deadline and time.monotonic() > deadline:
            raise Unavailable(f"execution {exe['id']} still {exe['status']} after {timeout:g} s")
        stale = exe["status"] == IN_PROGRESS and exe["heartbeat_at"] and \
            exe["heartbeat_at"] < now() - heartbeat_stale_after()
        if stale or (exe["status"] in QUEUED and time.monotonic() - kicked > 5):
            _reconcile(store)  # also starts what waits for a slot (a runner that came back, say)
            kicked = time.monotonic()
        time.sleep(poll)


def rerun(execution_id: str, *, config: dict | None = None, wait: bool = False,
          idempotency_key: str | None = None, store: Store | None = None) -> dict:
    """The ``mm rerun`` action: re-execute an ended execution with its stored parameters (a new
    execution, ``rerun_of`` it); with ``config`` edits, first clone its version with those edits.
    (Not to be confused with the ``rerun`` status: a retry the service queued by itself.)"""
    store = _store(store)
    src = store.get("executions", execution_id)
    if idempotency_key is not None:
        check_text(idempotency_key, "idempotency key", max_len=128)
        same = q_exe.by_idempotency_key(store, idempotency_key)
        if same:
            return wait_for(same["id"], store=store) if wait else same
    if src["status"] not in FINISHED:
        raise Conflict(f"execution {src['id']} is {src['status']}: only an ended execution can be rerun")
    params = dict(src["params"])
    if params.get("offline"):
        raise InvalidInput(f"execution {src['id']} was logged from your own loop (offline): run that loop again")
    snap = store.get("snapshots", src["snapshot_id"])
    if config:
        if src["kind"] != Kind.TRAIN:
            raise InvalidInput("--config edits apply to training executions only")
        snap = clone_snapshot(snap["id"], config, store=store)
        params.update(snapshot_id=snap["id"], config=snap["config"])
        model = store.get("models", snap["model_id"])
        store.update("snapshots", snap["id"], repro=reproducibility_record(store, snap, model))
    exe = _submit(store, Kind(src["kind"]), snap, params, None, idempotency_key, rerun_of=src["id"])
    return wait_for(exe["id"], store=store) if wait else exe


def abort(execution_id: str, store: Store | None = None) -> dict:
    """Stop an execution (``terminated``), its kernel and runner process trees gone."""
    return _abort(_store(store), execution_id)


def remove(execution_id: str, store: Store | None = None) -> str:
    """Delete an ended execution with its metrics, events and artifacts; returns its full id."""
    return _remove(_store(store), execution_id)


def list_executions(*, kind: str | None = None, status: str | None = None, search: str | None = None,
                    service: str | None = None, limit: int = 50, offset: int = 0, sort: str = "created_at",
                    order: str = "desc", store: Store | None = None) -> list[dict]:
    """Executions newest first (the search rule of every face: a substring of the execution's, the
    model's or the version's name, or a prefix of one of their ids)."""
    q = q_exe.ListQuery(kind=kind, status=status, service=service, search=search, limit=limit, offset=offset,
                        sort=sort, order=order)
    return q_exe.list_executions(_store(store), q).items


def metrics(execution_id: str, *, after_id: int = 0, store: Store | None = None) -> list[dict]:
    """Every metric point of an execution (``id > after_id``), oldest first."""
    store = _store(store)
    return q_exe.metrics_since(store, q_exe.resolve_id(store, execution_id), after_id)


get_metrics = metrics  # ``mm.get_metrics``: ``mm.metrics`` is the metrics package


def evaluation_results(execution_id: str, store: Store | None = None) -> dict:
    """The stored results of a successful evaluate execution: overall, per class, per slice, per item."""
    from .evaluation import load_results

    store = _store(store)
    exe = store.get("executions", execution_id)
    folder = store.execution_dir(exe)
    if exe["kind"] != Kind.EVALUATE or not (folder / "results.json").is_file():
        raise InvalidInput(f"execution {exe['id']} has no evaluation results ({exe['kind']}, {exe['status']})")
    return load_results(folder)


def logs(execution_id: str, store: Store | None = None) -> str:
    """An execution's log so far."""
    store = _store(store)
    path = store.execution_dir(store.get("executions", execution_id)) / LOG_NAME
    return path.read_text(errors="replace") if path.exists() else ""


def log_path(execution_id: str, store: Store | None = None) -> Path:
    store = _store(store)
    return store.execution_dir(store.get("executions", execution_id)) / LOG_NAME


# --- offline logging from a user's own loop ----------------------------------------------------


def start_run(snapshot: str, store: Store | None = None) -> OfflineRun:
    """Start an ``in-progress`` execution for your own training loop; ``mm.log_metric`` logs to it.

    Use as a context manager: success on a clean exit, failed (with the error) on an exception.
    """
    store = _store(store)
    snap = store.get("snapshots", snapshot)
    with store.tx():
        svc = ensure_service(store, snap["model_id"], Kind.TRAIN)
        exe = store.insert("executions", {
            "kind": Kind.TRAIN, "snapshot_id": snap["id"], "model_id": snap["model_id"], "service": svc["name"],
            "status": Status.IN_PROGRESS, "progress": 0.0, "attempts": 1, "params": {"offline": True},
            "name": execution_name(Kind.TRAIN, snap["name"], offline=True), "started_at": now(),
            "heartbeat_at": now(), "host": hostname(), "runner_pid": os.getpid(), "runner": "local"})
        store.add_event(exe["id"], "created in the user's own process (offline run)", type=EventType.CREATED)
    ctx = OfflineRun(LocalTracker(store, exe["id"], attempt=1), store)
    set_active_run(ctx)
    return ctx


class OfflineRun(RunContext):
    """A ``RunContext`` for a loop that runs in the user's own process (no runner heartbeat)."""

    def log_metric(self, name: str, value: float, step: int | None = None, epoch: int | None = None) -> None:
        super().log_metric(name, value, step, epoch)
        if step is None:
            self.step += 1

    def flush(self) -> None:
        """Store the buffered points and beat; raises ``RunEnded`` once the run was ended elsewhere
        (``mm abort``, the sidebar's Abort): the loop should stop, and ``with mm.start_run(...)`` does."""
        if not self.tracker.heartbeat():
            self._buffer = []
            raise RunEnded(f"execution {self.execution_id} is {self.tracker.state()['status']}: stop logging to it")
        super().flush()

    def end(self, error: str | None = None) -> None:
        try:
            self.close()
        except RunEnded:
            self._release()
            return
        self.tracker.outcome(Outcome.EXCEPTION if error else Outcome.SUCCESS, error, retry=False)

    def _release(self) -> None:
        if get_active_run() is self:
            set_active_run(None)

    def __enter__(self) -> OfflineRun:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None and issubclass(exc_type, RunEnded):
            self._release()
            return True  # aborted from outside: the with-block ends quietly, the status stays as set
        self.end(f"{exc_type.__name__}: {exc}" if exc_type else None)
        return False


class RunEnded(Conflict):
    """The offline run was ended from outside (aborted) while its loop still logs."""


def log_metric(name: str, value: float, step: int | None = None, epoch: int | None = None) -> None:
    """Log a metric point to the active run (a notebook execution or ``mm.start_run``)."""
    ctx = get_active_run()
    if ctx is None:
        raise InvalidInput("no active run: call mm.start_run(snapshot) first (or run inside an execution)")
    ctx.log_metric(name, value, step=step, epoch=epoch)


__all__ = ["NotFound", "OfflineRun", "RunEnded", "abort", "clone_snapshot", "connect", "create_snapshot",
           "delete_filter", "evaluate", "evaluation_results", "get_metrics", "list_executions", "log_metric",
           "logs", "metrics", "models", "parse_selection", "reconcile", "register_model", "remove", "remove_snapshot", "rerun",
           "save_filter", "snapshots", "start_run", "train", "update_snapshot", "wait_for"]
