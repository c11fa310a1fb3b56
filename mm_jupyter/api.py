"""The Python API (``import mm_jupyter as mm``): the commands the CLI, the widgets and the server
call (register, create/update versions, train, evaluate, rerun, abort, remove, offline logging),
and the reads a script wants, answered by the read layer (``mm_jupyter.queries``)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from . import secrets as _secrets
from .adapter import RunContext, get_active_run, set_active_run
from .checks import BAD_TEXT, check_json_value, check_labels, check_text
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
from .hashing import file_sha256
from .notebooks import LOG_NAME, template_for
from .processes import hostname
from .queries import catalog
from .queries import executions as q_exe
from .queries import items as q_items
from .queries.dql import parse_filter
from .registry import adapter_class, adapter_module_origin, model_adapter_class, runner_scheme, version_model
from .scheduler import abort as _abort
from .scheduler import dispatch, enqueue, ensure_service
from .scheduler import reconcile as _reconcile
from .scheduler import remove as _remove
from .services import check_settings
from .store import Store, new_id, now
from .tracker import LocalTracker, new_token, token_hash

_STORES: dict[str, Store] = {}
SELECTION_ROLES = ("train", "validation", "test")
REPRO_PACKAGES = ("mm_jupyter", "torch", "torchvision", "ultralytics", "numpy", "papermill", "ipykernel")
NOTES_LIMIT = 10_000
TAG_LIMIT = 50
MAX_TAGS = 100
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
                   config: dict | None = None, description: str = "", codebase: str | None = None,
                   store: Store | None = None) -> dict:
    """Register a model: a name, an adapter (a registered name such as ``yolo`` or
    ``torch-classifier``, ``"module:Class"``, or None for offline logging from your own loop),
    predefined labels and default config. ``codebase``: where the adapter's code comes from when it
    is not installed, a folder or ``git+URL@REVISION``, copied into the store by content hash
    (``mm_jupyter.codebases``; the model's ``codebase`` record)."""
    store = _store(store)
    check_text(name, "model name")
    check_text(description, "description", max_len=10_000, empty_ok=True)
    if store.first("models", name=name):
        raise Conflict(f"model name {name!r} already exists")
    if codebase is not None and not adapter:
        raise InvalidInput("a codebase needs an adapter: give the class inside it as 'module:Class' (--adapter)")
    if labels is not None:
        check_labels(labels)
    defaults: dict = {}
    with _staged_codebase(store, codebase) as record:
        if adapter:
            cls = adapter_class(adapter, record)
            config = cls.check(check_json_value(config, "config"))
            defaults = cls.defaults()
        elif config is not None:
            if not isinstance(config, dict):
                raise InvalidInput("config must be a mapping")
            check_json_value(config, "config")
    return store.insert("models", {"name": name, "adapter": adapter or "", "labels": labels or [],
                                   "config": {**defaults, **(config or {})}, "description": description,
                                   **({"codebase": record} if record else {})})


def _staged_codebase(store: Store, source: str | None) -> AbstractContextManager[dict | None]:
    """``codebases.staged`` for a given codebase (its record, checked then stored), else None."""
    from . import codebases

    return codebases.staged(store.home, source) if source is not None else nullcontext(None)


def set_model_codebase(model: str, codebase: str, *, adapter: str | None = None,
                       store: Store | None = None) -> dict:
    """Give a model a new codebase (a folder or ``git+URL@REVISION``; and a new ``adapter`` reference
    if the class moved): versions trained from now on use it; versions already trained or submitted
    keep the codebase their record names (their reruns and evaluations use it). The model's default
    config follows the new adapter's defaults; values that differed from the old adapter's defaults
    (given at registration) are kept. Returns the model row."""
    from .errors import MMError

    store = _store(store)
    mdl = store.get("models", model)
    ref = adapter or mdl["adapter"]
    if not ref:
        raise InvalidInput(f"model {mdl['name']!r} has no adapter: give the class inside the codebase (--adapter)")
    try:
        old_defaults = model_adapter_class(mdl).defaults() if mdl["adapter"] else {}
    except MMError:  # the old code cannot be loaded here any more: every value counts as given
        old_defaults = {}
    given = {k: v for k, v in (mdl["config"] or {}).items() if k not in old_defaults or old_defaults[k] != v}
    with _staged_codebase(store, codebase) as record:
        cls = adapter_class(ref, record)
        config = {**cls.defaults(), **cls.check(given)}
    store.update("models", mdl["id"], adapter=ref, codebase=record, config=config)
    return store.get("models", mdl["id"])


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
    return model_adapter_class(model).check(merged) if model["adapter"] else merged


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
        store.delete("snapshot_notes", snapshot_id=snap["id"])
        store.delete("snapshot_tags", snapshot_id=snap["id"])
        store.delete("snapshots", id=snap["id"])
    if folder.is_dir() and folder.parent.name == "snapshots":
        shutil.rmtree(folder, ignore_errors=True)
    return snap["id"]


def snapshots(model: str | None = None, store: Store | None = None, *, search: str | None = None) -> list[dict]:
    """Versions (of one model, if given), oldest first; with ``search``, those the search rule matches
    (a part of the version's or model's name, the beginning of an id, or one of its tags whole)."""
    return catalog.snapshots(_store(store), model, search=search)


def version_page(snapshot: str, store: Store | None = None) -> dict:
    """A version with its lineage, config, reproducibility record (and whether its dataset changed
    since), weights, executions, notes and tags (``queries.catalog.version_page``)."""
    return catalog.version_page(_store(store), snapshot)


# --- notes and tags (the user's annotations of a version; its trained record is never rewritten) ---


def _check_notes(text: Any) -> str:
    """Notes: text of at most ``NOTES_LIMIT`` characters (line breaks and tabs allowed, a CR LF pair
    kept as one line break), no other control characters."""
    if not isinstance(text, str):
        raise InvalidInput(f"notes must be text, got {type(text).__name__}")
    text = text.replace("\r\n", "\n")
    if len(text) > NOTES_LIMIT:
        raise InvalidInput(f"notes are {len(text):,} characters long: at most {NOTES_LIMIT:,} are kept "
                           "(shorten them, or keep long text in a file beside the version)")
    if BAD_TEXT.search(text.replace("\n", "").replace("\t", "")):
        raise InvalidInput("notes contain control characters or unpaired surrogates (line breaks and tabs are fine)")
    return text


def _check_tag(tag: Any) -> str:
    """A tag: 1-50 characters (white space at the ends dropped), no control characters."""
    if not isinstance(tag, str):
        raise InvalidInput(f"a tag must be text, got {type(tag).__name__}")
    return check_text(tag.strip(), "tag", max_len=TAG_LIMIT)


def set_notes(snapshot: str, text: str, *, store: Store | None = None) -> dict:
    """Replace a version's notes (at most 10,000 characters). Each edit is a new row: the newest is
    current, the earlier ones stay as its history; saving the current text again writes nothing.
    Returns ``{"snapshot_id", "text", "edited_at", "edits"}`` (``catalog.notes``)."""
    store = _store(store)
    text = _check_notes(text)
    with store.tx():
        snap = store.get("snapshots", snapshot)
        current = catalog.notes(store, snap["id"])
        if current["text"] != text:
            store.insert("snapshot_notes", {"snapshot_id": snap["id"], "text": text, "created_at": now()})
    return catalog.notes(store, snap["id"])


def add_tag(snapshot: str, tag: str, *, store: Store | None = None) -> list[str]:
    """Tag a version (a tag it has already, in any case, changes nothing); returns its tags. The
    search rule finds a version's executions by a tag given whole (``queries.executions``)."""
    store = _store(store)
    tag = _check_tag(tag)
    with store.tx():
        snap = store.get("snapshots", snapshot)
        tags = catalog.tags(store, snap["id"])
        if tag.lower() not in {t.lower() for t in tags}:
            if len(tags) >= MAX_TAGS:
                raise InvalidInput(f"version {snap['id']} has {len(tags)} tags already (at most {MAX_TAGS})")
            store.insert("snapshot_tags", {"snapshot_id": snap["id"], "tag": tag, "key": tag.lower(),
                                           "created_at": now()})
    return catalog.tags(store, snap["id"])


def remove_tag(snapshot: str, tag: str, *, store: Store | None = None) -> list[str]:
    """Remove a tag from a version (matched ignoring case; ``NotFound`` when it has no such tag);
    returns its tags."""
    store = _store(store)
    tag = _check_tag(tag)
    with store.tx():
        snap = store.get("snapshots", snapshot)
        if not store.delete("snapshot_tags", snapshot_id=snap["id"], key=tag.lower()):
            raise NotFound(f"version {snap['id']} has no tag {tag!r}")
    return catalog.tags(store, snap["id"])


def _clone_row(store: Store, src: dict, config: dict, rerun_of: str | None = None) -> dict:
    """The row of a new version equal to ``src`` but with ``config`` edits (nothing written). Its
    subsets are those ``src`` was trained on: the saved filters' queries its record keeps (a filter
    edited or removed since changes nothing), else ``src``'s own."""
    model = store.get("models", src["model_id"])
    merged = _checked_config(version_model(src, model) if rerun_of else model, src["config"], config)
    n = catalog.version_count(store, src["model_id"]) + 1
    return {**{k: src[k] for k in ("model_id", "dataset_id", "labels", "parent_id")},
            "filters": (src.get("repro") or {}).get("resolved_filters") or src["filters"],
            "id": new_id("snapshots"), "name": f"{src['name']}-r{n}" if rerun_of else f"{src['name']}-clone{n}",
            "status": "created", "config": merged, "created_at": now(),
            "repro": {"cloned_from": src["id"], "config_edits": config, **({"rerun_of": rerun_of} if rerun_of else {})}}


def clone_snapshot(snapshot: str, config: dict, store: Store | None = None) -> dict:
    """A new version equal to ``snapshot`` but with ``config`` edits; records where it came from."""
    store = _store(store)
    return store.insert("snapshots", _clone_row(store, store.get("snapshots", snapshot), config))


def save_filter(store: Store, name: str, query: str | dict, dataset_id: str | None = None, *,
                overwrite: bool = False) -> dict:
    """Validate and save a named DQL filter (optionally bound to one dataset); returns its row.
    A name in use is a ``Conflict`` unless ``overwrite``.

    **Saved filters and records.** A version refers to a saved filter by name (``{"filter": NAME}``)
    until its training is submitted; then the filter's query as saved at that moment is what the
    training uses (its ``train_selection`` / ``validation_selection``) and what the version's
    reproducibility record keeps (``repro.resolved_filters``, beside the names in ``repro.filters``);
    an evaluation keeps the query of its test subset the same way (``test_selection``). Reruns and
    clones of a trained version use those recorded queries. So editing a filter (new content, same
    name) changes only versions trained from then on, and removing one breaks no record
    (``delete_filter`` refuses while a version still needs the name)."""
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


def edit_filter(store: Store, name: str, query: str | dict) -> dict:
    """Replace the query of an existing saved filter (checked like ``save_filter``; its dataset binding
    kept); ``NotFound`` if there is none. Versions trained from now on use the new query; trained
    ones keep the query they were trained on (see ``save_filter``)."""
    query = parse_filter(query)
    with store.tx():
        row = q_items.saved_filter(store, name)
        return save_filter(store, row["name"], query, row["dataset_id"], overwrite=True)


def delete_filter(store: Store, name: str) -> None:
    """Remove a saved filter (``NotFound`` if there is none). Refused (``Conflict``, naming them) while
    a version refers to it whose record does not keep its query: one not trained yet (its training
    would look the name up), or one trained before records kept the queries (its rerun would). A
    trained version's record keeps the query it was trained on: removing the filter changes nothing
    for it (see ``save_filter``)."""
    with store.tx():
        q_items.saved_filter(store, name)
        needing = [v for v in catalog.filter_versions(store, name) if not v["recorded"]]
        if needing:
            listed = ", ".join(f"{v['id']} ({v['name']}, {v['status']})" for v in needing[:5])
            more = f" and {len(needing) - 5} more" if len(needing) > 5 else ""
            raise Conflict(f"filter {name!r} is used by version(s) that are not trained yet or keep only its name: "
                           f"{listed}{more}; remove those versions or change their subsets first, or edit the "
                           "filter instead")
        store.delete("filters", name=name)


def _resolved(store: Store, dataset_id: str | None, selection: Any) -> Any:
    """``selection`` with its saved-filter reference replaced by that filter's query as saved now (what
    a training or an evaluation records and runs on); other selections as they are."""
    if not isinstance(selection, dict) or "filter" not in selection:
        return selection
    saved = q_items.saved_filter(store, selection["filter"])
    if saved["dataset_id"] not in (None, dataset_id):
        raise InvalidInput(f"filter {saved['name']!r} belongs to another dataset ({saved['dataset_id']})")
    out = {k: v for k, v in selection.items() if k != "filter"}
    query = saved["query"] if "query" not in out else {"$and": [parse_filter(out["query"]), saved["query"]]}
    return {**out, "query": query}


# --- reproducibility ----------------------------------------------------------------------------


def _file_hash(path: str | None) -> str | None:
    return file_sha256(Path(path)) if path and Path(path).is_file() else None


def reproducibility_record(store: Store, snapshot: dict, model: dict) -> dict:
    """Config, dataset content hash, filters, adapter source hash, codebase (its record, source, content
    hash and git revision), package versions, seed, git rev."""
    versions = {}
    for pkg in REPRO_PACKAGES:
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    codebase = model.get("codebase")
    adapter_src = adapter_module_origin(model["adapter"], codebase) if model["adapter"] else None
    dataset = store.get("datasets", snapshot["dataset_id"]) if snapshot.get("dataset_id") else None
    ds_id = snapshot.get("dataset_id")
    return {**(snapshot.get("repro") or {}),
            "config": snapshot["config"], "filters": snapshot["filters"],
            "resolved_filters": {role: _resolved(store, ds_id, sel)
                                 for role, sel in (snapshot["filters"] or {}).items()},
            "dataset_id": snapshot.get("dataset_id"), "dataset_hash": dataset["content_hash"] if dataset else None,
            "adapter": model["adapter"], "adapter_source_hash": _file_hash(adapter_src),
            "codebase": codebase, "codebase_source": codebase and codebase["source"],
            "codebase_hash": codebase and codebase["hash"], "codebase_revision": codebase and codebase["revision"],
            "packages": versions, "python": platform.python_version(),
            "seed": (snapshot["config"] or {}).get("seed", 0), "git_revision": _git_revision()}


def _git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


# --- pre-trained versions, predictions, deployments ------------------------------------------------


def add_pretrained(model: str, weights: str, name: str | None = None, *, config: dict | None = None,
                   labels: list[str] | None = None, store: Store | None = None) -> dict:
    """A version from weights trained elsewhere (a file or folder): loaded through the model's
    adapter in a kernel (weights it cannot load are refused, nothing created), copied into the store
    in the adapter's layout, status ``pre-trained``. Evaluate it with a dataset, deploy it, or
    fine-tune from it (``parent=``)."""
    from .pretrained import add_pretrained as _add

    store = _store(store)
    row = _new_snapshot(store, model, name, config=config, dataset=None, train=None, validation=None, test=None,
                        labels=labels, parent=None)
    mdl = store.get("models", row["model_id"])
    _check_adapter(mdl, None)
    row["repro"] = reproducibility_record(store, row, mdl)  # the code (and codebase) the weights are used with
    return _add(store, row, weights)


def _images(images: Any) -> list[tuple[str, bytes]]:
    from .serving import read_images

    if isinstance(images, str | os.PathLike | bytes):
        images = [images]
    if not isinstance(images, list | tuple):
        raise InvalidInput("images must be a list of paths, bytes or (name, bytes) pairs")
    out: list[tuple[str, bytes]] = []
    for i, image in enumerate(images):
        if isinstance(image, bytes):
            out.append((f"image-{i}", image))
        elif isinstance(image, tuple) and len(image) == 2 and isinstance(image[1], bytes):
            out.append((str(image[0]), image[1]))
        else:
            out += read_images([image])
    return out


def predict(version: str, images: Any, *, top_k: int = 5, store: Store | None = None) -> list[dict]:
    """One prediction record per image (paths, bytes or ``(name, bytes)``): detection
    ``{"image", "boxes": [{"label", "score", "box": [x1, y1, x2, y2]}]}`` (pixels), classification
    ``{"image", "label", "score", "top_k": [{"label", "score"}]}``. Runs the adapter's ``predict`` in
    the deployment's kernel when one serves the version, else in a short-lived kernel."""
    from .serving import predict as _predict

    store = _store(store)
    snap = store.get("snapshots", version)
    return _predict(store, snap["id"], _images(images), top_k=top_k)["predictions"]


def deploy(version: str, *, kernel: str | None = None, runner: str | None = None, secrets: list[str] | None = None,
           wait: bool = True, store: Store | None = None) -> dict:
    """Keep a version loaded in a warm kernel answering predictions (``mm deploy``); returns the
    deployment (``dp-…``), running when ``wait``. The version shows as ``deployed`` meanwhile."""
    from .serving import deploy as _deploy

    return _deploy(_store(store), version, kernel=kernel, runner=runner, secrets=secrets, wait=wait)


def deployments(*, all: bool = False, store: Store | None = None) -> list[dict]:
    """Deployments with their health, newest first (``all``: stopped and failed ones too)."""
    from .queries import deployments as q_dep
    from .serving import reconcile as _reconcile_deployments

    store = _store(store)
    _reconcile_deployments(store)
    return q_dep.deployments(store, active_only=not all)


def undeploy(deployment: str, store: Store | None = None) -> dict:
    """Stop a deployment: its kernel and process end; its version shows as trained again."""
    from .serving import undeploy as _undeploy

    return _undeploy(_store(store), deployment)


# --- secrets --------------------------------------------------------------------------------------


def set_secret(name: str, value: str, store: Store | None = None) -> dict:
    """Set a secret (kept in ``MM_HOME/secrets.json``, 0600, never in the store); ``{"name", "set_at"}``."""
    return _secrets.set_secret(_store(store).home, name, value)


def list_secrets(store: Store | None = None) -> list[dict]:
    """The secrets' names and when they were set (never their values)."""
    return _secrets.list_secrets(_store(store).home)


def remove_secret(name: str, store: Store | None = None) -> str:
    """Remove a secret (``NotFound`` when unknown); runs already submitted with it then fail at start."""
    return _secrets.remove_secret(_store(store).home, name)


# --- executions ---------------------------------------------------------------------------------


def _submit(store: Store, kind: Kind, snapshot: dict, params: dict, service: dict | None,
            idempotency_key: str | None, rerun_of: str | None = None, snapshot_fields: dict | None = None,
            new_version: dict | None = None) -> dict:
    """Queue an execution: every check first, then the version (when ``new_version`` is given: create
    & train), the service, the queue-room check, the execution row and ``pending`` in one transaction
    (a refused submit writes nothing), then dispatch. The caller looked up ``idempotency_key``
    (``_submitted``); the same key submitted concurrently returns the other submit's execution."""
    import sqlite3

    model = store.get("models", snapshot["model_id"])
    _check_adapter({**model, "adapter": params.get("adapter", model["adapter"]),  # the code it will run
                    "codebase": params.get("codebase")}, params.get("notebook"))
    settings = check_settings(service or {})
    if params.get("secrets"):  # names only; the runner resolves their values when it starts
        params["secrets"] = _secrets.check_known(store.home, params["secrets"])
    if settings.get("secrets"):
        _secrets.check_known(store.home, settings["secrets"])
    _check_service_can_run(store, model["id"], kind, settings)
    row = {"kind": kind, "snapshot_id": snapshot["id"], "model_id": model["id"], "progress": 0.0, "attempts": 0,
           "params": params, "idempotency_key": idempotency_key, "rerun_of": rerun_of,
           "name": execution_name(kind, snapshot["name"])}
    try:
        with store.tx():
            if new_version is not None:
                store.insert("snapshots", new_version)
            exe = enqueue(store, row, settings, snapshot_fields)
    except sqlite3.IntegrityError:  # the same key submitted concurrently
        same = q_exe.by_idempotency_key(store, idempotency_key or "")
        if same is None:
            raise
        return same
    dispatch(store)
    return store.get("executions", exe["id"])


def _submitted(store: Store, idempotency_key: str | None, wait: bool) -> dict | None:
    """The execution a command already made with ``idempotency_key`` (waited for, with ``wait``), or
    None: what every creating command asks first."""
    if idempotency_key is None:
        return None
    check_text(idempotency_key, "idempotency key", max_len=128)
    same = q_exe.by_idempotency_key(store, idempotency_key)
    if same is None:
        return None
    return wait_for(same["id"], store=store) if wait else same


def _check_service_can_run(store: Store, model_id: str, kind: Kind, settings: dict) -> None:
    """Refuse a submit that could never start: the service's kernel is not installed (a local runner),
    or its tracking URL does not answer. A remote runner that is unreachable now keeps the execution
    pending instead."""
    from .queries.health import service_health
    from .services import new_service

    current = catalog.service_of(store, kind, model_id)
    service = {**(current or new_service(model_id, kind, {})), **settings}
    if service.get("tracking_url"):
        from .services import check_combination
        from .tracking_url import ping

        check_combination(service)  # a tracking URL without a Dask runner: the setting's own error first
        ping(service["tracking_url"])  # workers could never report: refused now, nothing created
    if runner_scheme(service.get("runner")) != "local":
        return
    health = service_health(store, service)
    if health.code == "kernel-missing":
        raise Unavailable(f"service {service['name']} cannot run it: {health.reason}")


def _check_adapter(model: dict, notebook: str | None) -> None:
    if not model["adapter"] and not notebook:
        raise InvalidInput(f"model {model['name']!r} has no adapter: log from your own loop with mm.start_run")
    if model["adapter"] and not notebook:
        model_adapter_class(model)  # loadable here, with the packages it needs (one line naming the extra)


def _base_params(snapshot: dict, model: dict, notebook: str | None) -> dict:
    params = {"snapshot_id": snapshot["id"], "model_id": model["id"], "adapter": model["adapter"],
              "dataset_id": snapshot["dataset_id"], "labels": snapshot["labels"], "config": snapshot["config"]}
    if model.get("codebase"):  # the kernel imports the adapter from this folder (checked against its hash)
        params.update(codebase=model["codebase"]["path"], codebase_hash=model["codebase"]["hash"])
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


def _recheck(store: Store, dataset_id: str | None) -> str | None:
    """Re-check a dataset against its files at submit (only changed files are read); a changed
    dataset is re-indexed and its new content hash recorded. Returns the hash."""
    from .datasets import refresh_dataset

    return refresh_dataset(store, dataset_id)["content_hash"] if dataset_id else None


def _non_empty(store: Store, dataset_id: str, selection: dict, role: str) -> None:
    if not q_items.count_items(store, dataset_id, selection):
        raise InvalidInput(f"the {role} subset {json.dumps(selection)[:200]} matches no item of dataset {dataset_id}")


def _train_params(store: Store, snap: dict, model: dict, notebook: str | None) -> dict:
    """A training's parameters, after every check: the version has no weights (a trained version
    is never trained again) and no training waiting or running, a dataset, a non-empty train subset,
    the parent's weights to fine-tune from."""
    _check_adapter(model, notebook)
    if snap.get("weights_uri"):
        raise Conflict(f"version {snap['id']} ({snap['name']}) is {snap['status']}: its weights are never rewritten. "
                       f"Train a new version: `mm rerun` its training (same settings), or `mm train --model "
                       f"{model['name']} --parent {snap['id']}` to fine-tune from it")
    if snap.get("id") and store.count("executions", snapshot_id=snap["id"], kind=Kind.TRAIN,
                                      status=(*QUEUED, IN_PROGRESS, "created")):
        raise Conflict(f"version {snap['id']} already has a training waiting or running")
    if not snap["dataset_id"]:
        raise InvalidInput(f"version {snap['name']} has no dataset to train on")
    filters = snap["filters"] or {}
    _non_empty(store, snap["dataset_id"], filters.get("train") or {"tag": "train"}, "train")
    params = _base_params(snap, model, notebook)
    params.update(train_selection=_resolved(store, snap["dataset_id"], filters["train"]),
                  validation_selection=_resolved(store, snap["dataset_id"], filters["validation"]))
    if snap["parent_id"]:
        parent = store.get("snapshots", snap["parent_id"])
        if not parent["weights_uri"]:
            raise InvalidInput(f"parent version {parent['id']} has no weights yet (train it first)")
        params["parent_weights"] = parent["weights_uri"]
    return params


def _with_secrets(params: dict, secrets: list[str] | None) -> dict:
    """The execution's secret names (checked to exist at submit, resolved by the runner at start)."""
    if secrets:
        params["secrets"] = secrets
    return params


def train(snapshot: str, *, service: dict | None = None, idempotency_key: str | None = None,
          notebook: str | None = None, secrets: list[str] | None = None, wait: bool = False,
          store: Store | None = None) -> dict:
    """Queue a training of a version that was never trained, on its model's train service; returns
    the execution. A trained version is refused (``Conflict``): train a new version instead.
    ``secrets``: names of secrets (``mm secrets set``) put into the kernel's environment."""
    store = _store(store)
    if (same := _submitted(store, idempotency_key, wait)) is not None:
        return same
    snap = store.get("snapshots", snapshot)
    model = store.get("models", snap["model_id"])
    _recheck(store, snap["dataset_id"])
    params = _with_secrets(_train_params(store, snap, model, notebook), secrets)
    exe = _submit(store, Kind.TRAIN, snap, params, service, idempotency_key,
                  snapshot_fields={"repro": reproducibility_record(store, snap, model)})
    return wait_for(exe["id"], store=store) if wait else exe


def create_and_train(model: str, name: str | None = None, *, config: dict | None = None, dataset: str | None = None,
                     train: Any = None, validation: Any = None, test: Any = None, labels: list[str] | None = None,
                     parent: str | None = None, service: dict | None = None, idempotency_key: str | None = None,
                     notebook: str | None = None, secrets: list[str] | None = None, wait: bool = False,
                     store: Store | None = None) -> dict:
    """Create a version and queue its training in one transaction, after every check of both: a
    refused launch (bad subset, unknown kernel, a full queue …) creates no version."""
    store = _store(store)
    if (same := _submitted(store, idempotency_key, wait)) is not None:
        return same
    version = _new_snapshot(store, model, name, config=config, dataset=dataset, train=train, validation=validation,
                            test=test, labels=labels, parent=parent)
    version["id"] = new_id("snapshots")
    version.setdefault("created_at", now())
    mdl = store.get("models", version["model_id"])
    _recheck(store, version["dataset_id"])
    params = _with_secrets(_train_params(store, {**version, "weights_uri": None}, mdl, notebook), secrets)
    version["repro"] = reproducibility_record(store, version, mdl)
    exe = _submit(store, Kind.TRAIN, version, params, service, idempotency_key, new_version=version)
    return wait_for(exe["id"], store=store) if wait else exe


def _own_test_subset(store: Store, snap: dict) -> dict:
    """A version's own test subset: as chosen (a saved filter as it is now), or, once that filter was
    removed, the query the version's training record keeps for it."""
    sel = snap["filters"]["test"]
    recorded = ((snap.get("repro") or {}).get("resolved_filters") or {}).get("test")
    if isinstance(sel, dict) and "filter" in sel and recorded and store.first("filters", name=sel["filter"]) is None:
        return recorded
    return sel


def _evaluate_params(store: Store, snap: dict, model: dict, dataset: str | None, test: Any,
                     slice_by: list[str] | None, notebook: str | None) -> dict:
    """An evaluation's parameters after every check (weights to evaluate, a non-empty test subset,
    known slice fields); they record the hash of the weights evaluated. The adapter comes from the
    codebase the version was trained with (``registry.version_model``)."""
    model = version_model(snap, model)
    _check_adapter(model, notebook)
    if not snap["weights_uri"]:
        raise InvalidInput(f"version {snap['id']} has no weights: train it before evaluating")
    ds = catalog.dataset_row(store, dataset or snap["dataset_id"] or "")
    if test is not None:
        sel = parse_selection(test)
    elif ds["id"] == snap["dataset_id"] and (snap["filters"] or {}).get("test"):
        sel = _own_test_subset(store, snap)
    else:
        sel = catalog.default_selection(store, model, ds["id"], "test")[0]
    _non_empty(store, ds["id"], sel, "test")
    params = _base_params(snap, model, notebook)
    if slice_by is not None:
        from .evaluation import item_slices

        if not (isinstance(slice_by, list) and all(isinstance(f, str) and f for f in slice_by)):
            raise InvalidInput(f"slice_by must be a list of field names, got {str(slice_by)[:200]}")
        item_slices(q_items.select_items(store, ds["id"], sel), slice_by)  # unknown fields fail now, not in the run
    params.update(dataset_id=ds["id"], test_selection=_resolved(store, ds["id"], sel), weights=snap["weights_uri"],
                  slice_by=slice_by, weights_hash=snap.get("weights_hash"))
    return params


def evaluate(snapshot: str, *, dataset: str | None = None, test: Any = None, service: dict | None = None,
             idempotency_key: str | None = None, notebook: str | None = None, wait: bool = False,
             slice_by: list[str] | None = None, secrets: list[str] | None = None,
             store: Store | None = None) -> dict:
    """Queue an evaluation of a trained version on ``test`` of ``dataset`` (default: its own).

    ``slice_by``: fields for the per-slice metrics (``dir``, ``tag``, ``metadata.<field>``, or two
    crossed as ``a*b``); None slices by dir, tag and every metadata field. ``secrets``: names of secrets
    put into the kernel's environment."""
    store = _store(store)
    if (same := _submitted(store, idempotency_key, wait)) is not None:
        return same
    snap = store.get("snapshots", snapshot)
    model = store.get("models", snap["model_id"])
    params = _with_secrets(_evaluate_params(store, snap, model, dataset, test, slice_by, notebook), secrets)
    params["dataset_hash"] = _recheck(store, params["dataset_id"])
    exe = _submit(store, Kind.EVALUATE, snap, params, service, idempotency_key)
    return wait_for(exe["id"], store=store) if wait else exe


def wait_for(execution_id: str, *, timeout: float | None = None, poll: float = 0.2,
             on_update: Callable[[dict], None] | None = None, store: Store | None = None) -> dict:
    """Block until the execution ends (``timeout`` seconds at most, else ``Unavailable``); returns
    its final row."""
    store = _store(store)
    deadline = None if timeout is None else time.monotonic() + timeout
    kicked = time.monotonic()
    checked = 0.0
    while True:
        exe = store.get("executions", execution_id)
        if on_update:
            on_update(exe)
        if exe["status"] in FINISHED:
            return exe
        if deadline and time.monotonic() > deadline:
            raise Unavailable(f"execution {exe['id']} still {exe['status']} after {timeout:g} s")
        if exe["status"] in QUEUED and time.monotonic() - checked > 5:
            _check_can_start(store, exe)
            checked = time.monotonic()
        stale = exe["status"] == IN_PROGRESS and exe["heartbeat_at"] and \
            exe["heartbeat_at"] < now() - heartbeat_stale_after()
        waiting = exe["status"] in QUEUED or (exe["status"] == IN_PROGRESS and not exe["runner_pid"])
        if stale or (waiting and time.monotonic() - kicked > 5):
            _reconcile(store)  # also starts what waits for a slot (a runner that came back, say)
            kicked = time.monotonic()
        time.sleep(poll)


def _check_can_start(store: Store, exe: dict) -> None:
    """``Unavailable`` (with the reason) when a queued execution's service cannot start it: waiting
    would be forever."""
    from .queries.health import service_health

    service = store.first("services", name=exe["service"])
    if service is None or service["paused"]:
        return
    health = service_health(store, service)
    if health.level == "error":
        raise Unavailable(f"execution {exe['id']} cannot start: service {service['name']}: {health.reason} "
                          f"(it stays {exe['status']}; fix the service, or mm abort {exe['id']})")


def rerun(execution_id: str, *, config: dict | None = None, wait: bool = False,
          idempotency_key: str | None = None, store: Store | None = None) -> dict:
    """The ``mm rerun`` action: run an ended execution again with its stored parameters, as a new
    execution (``rerun_of`` it). A training trains a new version (a clone of its version, with
    ``config`` edits if given): a trained version is never rewritten. (Not to be confused with the
    ``rerun`` status: a retry the service queued by itself.)"""
    store = _store(store)
    if (same := _submitted(store, idempotency_key, wait)) is not None:
        return same
    src = store.get("executions", execution_id)
    if src["status"] not in FINISHED:
        raise Conflict(f"execution {src['id']} is {src['status']}: only an ended execution can be rerun")
    params = {k: v for k, v in (src["params"] or {}).items() if k != "mode"}
    if params.get("offline"):
        raise InvalidInput(f"execution {src['id']} was logged from your own loop (offline): run that loop again")
    snap = store.get("snapshots", src["snapshot_id"])
    if src["kind"] != Kind.TRAIN:
        if config:
            raise InvalidInput("--config edits apply to training executions only")
        params.update(weights=snap["weights_uri"], weights_hash=snap.get("weights_hash"),
                      dataset_hash=_recheck(store, params["dataset_id"]))
        exe = _submit(store, Kind.EVALUATE, snap, params, None, idempotency_key, rerun_of=src["id"])
        return wait_for(exe["id"], store=store) if wait else exe
    version = _clone_row(store, snap, config or {}, rerun_of=src["id"])
    model = version_model(snap, store.get("models", snap["model_id"]))  # the code the version was trained with
    _recheck(store, version["dataset_id"])
    params = {**_train_params(store, {**version, "weights_uri": None}, model, params.get("notebook")),
              **{k: v for k, v in params.items() if k in ("notebook", "secrets")}}
    version["repro"] = reproducibility_record(store, version, model)
    exe = _submit(store, Kind.TRAIN, version, params, None, idempotency_key, rerun_of=src["id"], new_version=version)
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


def metrics(execution_id: str, *, after_id: int = 0, attempt: int | None = None,
            store: Store | None = None) -> list[dict]:
    """The metric points of an execution's latest attempt (or of ``attempt``), oldest first."""
    store = _store(store)
    if attempt is not None and (isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1):
        raise InvalidInput(f"attempt must be a positive integer, got {attempt!r}")
    return q_exe.metrics_since(store, q_exe.resolve_id(store, execution_id), after_id, attempt=attempt)


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


def _run_here(store: Store, kind: Kind, snap: dict, params: dict, *, name: str, how: str,
              rerun_of: str | None = None, new_version: dict | None = None,
              snapshot_fields: dict | None = None) -> tuple[dict, str]:
    """An execution that runs in the calling process (no queue, no runner): created ``in-progress``
    on attempt 1 with a fresh token, its liveness told by this process's pid. Returns (row, token)."""
    token = new_token()
    t = now()
    with store.tx():
        if new_version is not None:
            store.insert("snapshots", new_version)
        if snapshot_fields:
            store.update("snapshots", snap["id"], **snapshot_fields)
        svc = ensure_service(store, snap["model_id"], kind)
        exe = store.insert("executions", {
            "kind": kind, "snapshot_id": snap["id"], "model_id": snap["model_id"], "service": svc["name"],
            "status": Status.IN_PROGRESS, "progress": 0.0, "attempts": 1, "params": params, "name": name,
            "started_at": t, "heartbeat_at": t, "host": hostname(), "runner_pid": os.getpid(), "runner": "local",
            "token_hash": token_hash(token), "rerun_of": rerun_of})
        store.add_attempt_token(exe["id"], 1, token_hash(token))
        store.add_event(exe["id"], f"created {how}", type=EventType.CREATED)
    return store.get("executions", exe["id"]), token


def start_here(kind: str, *, snapshot: str | None = None, config: dict | None = None, rerun_of: str | None = None,
               store: Store | None = None) -> tuple[dict, str]:
    """An execution of a train or evaluate notebook run by hand in this kernel — ``papermill
    notebooks/train.ipynb out.ipynb -p snapshot s-… [-p config '{…}']`` — or of a stored executed
    notebook run again (``rerun_of`` its execution, which is never touched; a training then trains a
    new version). Checked like ``train``/``evaluate``; returns (execution row, token)."""
    from .executions import check_kind

    store = _store(store)
    if rerun_of:
        src = store.get("executions", rerun_of)
        kind, stored = Kind(src["kind"]), dict(src["params"] or {})
        snap = store.get("snapshots", src["snapshot_id"])
    else:
        kind, stored = check_kind(kind), {}
        snap = store.get("snapshots", snapshot or "")
    model = store.get("models", snap["model_id"])
    if rerun_of:  # a rerun runs the code the version was trained with
        model = version_model(snap, model)
    new_version = snapshot_fields = None
    if kind == Kind.EVALUATE:
        if config:
            raise InvalidInput("config edits apply to trainings only")
        params = _evaluate_params(store, snap, model, stored.get("dataset_id"), stored.get("test_selection"),
                                  stored.get("slice_by"), None)
    else:
        if rerun_of or config:
            snap = new_version = _clone_row(store, snap, config or {}, rerun_of=rerun_of)
            new_version["repro"] = reproducibility_record(store, new_version, model)
        else:
            snapshot_fields = {"repro": reproducibility_record(store, snap, model)}
        params = _train_params(store, {**snap, "weights_uri": None} if new_version else snap, model, None)
    _recheck(store, params.get("dataset_id"))
    if new_version is not None:
        new_version["repro"] = reproducibility_record(store, new_version, model)
    elif snapshot_fields is not None:
        snapshot_fields = {"repro": reproducibility_record(store, snap, model)}
    how = f"by a stored notebook of {rerun_of} run again" if rerun_of else "by a notebook run with papermill"
    return _run_here(store, kind, snap, {**params, "mode": "papermill"}, name=execution_name(kind, snap["name"]),
                     how=how, rerun_of=rerun_of, new_version=new_version, snapshot_fields=snapshot_fields)


def start_run(snapshot: str, store: Store | None = None) -> OfflineRun:
    """Start an ``in-progress`` execution for your own training loop; ``mm.log_metric`` logs to it.

    Use as a context manager: success on a clean exit, failed (with the error) on an exception.
    """
    store = _store(store)
    snap = store.get("snapshots", snapshot)
    exe, token = _run_here(store, Kind.TRAIN, snap, {"offline": True},
                           name=execution_name(Kind.TRAIN, snap["name"], offline=True),
                           how="in the user's own process (offline run)")
    ctx = OfflineRun(LocalTracker(store, exe["id"], 1, token), store)
    ctx.here = True
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
        (``mm abort``, the sidebar's Abort): the loop should stop, and ``with mm.start_run(...)`` does.
        The flush timer beats too; what it meets is raised by the loop's next ``log_metric``."""
        self._raise_timer_error()
        self.flush_now_from_timer()

    def flush_now_from_timer(self) -> None:
        with self._lock:
            if not self.tracker.heartbeat():
                self.discard_buffer()
                raise RunEnded(f"execution {self.execution_id} is {self.tracker.state()['status']}: "
                               "stop logging to it")
            self._write_buffer()

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
           "set_model_codebase",
           "delete_filter", "edit_filter", "evaluate", "evaluation_results", "get_metrics", "list_executions",
           "log_metric",
           "logs", "metrics", "models", "parse_selection", "reconcile", "register_model", "remove", "remove_snapshot", "rerun",
           "save_filter", "snapshots", "start_run", "train", "update_snapshot", "wait_for"]
