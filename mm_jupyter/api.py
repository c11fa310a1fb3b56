"""The Python API (``import mm_jupyter as mm``): what the CLI, the widgets and the server call."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import platform
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import executions as ex
from .adapter import RunContext, get_active_run, load_adapter_class, set_active_run
from .errors import Conflict, InvalidInput
from .services import check_queue_room, dispatch, ensure_service
from .store import Store, contains_clause, now

_STORES: dict[str, Store] = {}
SELECTION_ROLES = ("train", "validation", "test")
DEFAULT_SELECTIONS = {"train": {"tag": "train"}, "validation": {"tag": "validation"}, "test": {"tag": "test"}}
REPRO_PACKAGES = ("mm_jupyter", "torch", "torchvision", "ultralytics", "numpy", "papermill", "ipykernel")


def connect(home: str | Path | None = None) -> Store:
    """The store at ``home`` (default ``$MM_HOME``), reconciled once per process on first use."""
    key = str(Path(home).expanduser().resolve()) if home else ""
    if key not in _STORES:
        store = Store(home)
        ex.reconcile(store)
        _STORES[key] = store
    return _STORES[key]


def _store(store: Store | None) -> Store:
    return store or connect()


# --- models and snapshots -----------------------------------------------------------------------


def register_model(name: str, adapter: str | None = None, *, labels: list[str] | None = None,
                   config: dict | None = None, description: str = "", store: Store | None = None) -> dict:
    """Register a model: a name, an adapter (``"module:Class"``, ``yolo``, ``torch-classifier``, or
    None for offline logging from your own loop), predefined labels and default config."""
    store = _store(store)
    if not isinstance(name, str) or not name.strip() or len(name) > 128:
        raise InvalidInput(f"model name must be a non-empty string of at most 128 characters, got {name!r}")
    if store.find("models", "name = ?", [name]):
        raise Conflict(f"model name {name!r} already exists")
    defaults: dict = {}
    if adapter:
        cls = _adapter_class(adapter)
        config = cls.check(config)
        defaults = cls.defaults()
    elif config is not None and not isinstance(config, dict):
        raise InvalidInput("config must be a mapping")
    if labels is not None and not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
        raise InvalidInput(f"labels must be a list of strings, got {labels!r}")
    return store.insert("models", {"name": name, "adapter": adapter or "", "labels": labels or [],
                                   "config": {**defaults, **(config or {})}, "description": description})


def _adapter_class(adapter: Any) -> type:
    """``load_adapter_class`` for user text: a relative or malformed module name is a clean error."""
    if not isinstance(adapter, str):
        raise InvalidInput(f"adapter must be 'module:Class', got {adapter!r}")
    try:
        return load_adapter_class(adapter)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"cannot load adapter {adapter!r}: {exc}") from None


def models(store: Store | None = None) -> list[dict]:
    return _store(store).find("models", order="created_at")


def parse_selection(value: Any) -> dict:
    """A subset selection from a dict or CLI text: ``tag:train``, ``dir:images/val``,
    ``filter:NAME``, ``query:{json}`` or a JSON object (a DQL query)."""
    import json

    from .filters import compile_filter

    if value is None or value == {}:
        return {}
    if isinstance(value, str):
        kind, sep, rest = value.partition(":")
        if value.lstrip().startswith("{"):
            kind, rest = "query", value
        elif not sep or kind not in ("tag", "dir", "filter", "query"):
            raise InvalidInput(f"subset {value!r} must be tag:NAME, dir:PATH, filter:NAME or a JSON query")
        if kind == "query":
            try:
                rest = json.loads(rest)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"subset query is not valid JSON: {exc}") from None
        value = {kind: rest}
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in ("tag", "dir", "filter", "query"):
        raise InvalidInput(f"subset must be one of {{'tag'|'dir'|'filter'|'query': ...}}, got {value!r}")
    if "query" in value:
        compile_filter(value["query"])
    return value


def _selections(store: Store, dataset_id: str, given: dict[str, Any]) -> dict:
    from .datasets import count_items

    out = {}
    for role in SELECTION_ROLES:
        sel = parse_selection(given.get(role)) if given.get(role) is not None else DEFAULT_SELECTIONS[role]
        if "filter" in sel:
            from .filters import get_filter

            get_filter(store, sel["filter"])
        count_items(store, dataset_id, sel)
        out[role] = sel
    return out


def _check_labels(labels: Any) -> list[str]:
    """Class names in index order; an empty list means "the model's predefined, else the dataset's"."""
    if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
        raise InvalidInput(f"labels must be a list of non-empty strings, got {labels!r}"[:300])
    if len(set(labels)) != len(labels):
        raise InvalidInput(f"labels contain duplicates: {labels!r}"[:300])
    return labels


def _checked_config(model: dict, base: dict | None, edits: Any) -> dict:
    """``base`` with the ``edits`` mapping applied, checked against the model's adapter (types,
    unknown keys) when it has one."""
    if edits is not None and not isinstance(edits, dict):
        raise InvalidInput(f"config must be a mapping, got {type(edits).__name__}")
    merged = {**(base or {}), **(edits or {})}
    return load_adapter_class(model["adapter"]).check(merged) if model["adapter"] else merged


def create_snapshot(model: str, name: str | None = None, *, config: dict | None = None,
                    dataset: str | None = None, train: Any = None, validation: Any = None,
                    test: Any = None, labels: list[str] | None = None, parent: str | None = None,
                    store: Store | None = None) -> dict:
    """Create a model version: config (checked against the adapter), dataset and subset selections,
    labels (the model's predefined, else the dataset's), and an optional parent to fine-tune from."""
    store = _store(store)
    mdl = store.get("models", model)
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
        from .datasets import get_dataset

        ds = get_dataset(store, dataset)
        filters = _selections(store, ds["id"], {"train": train, "validation": validation, "test": test})
    if labels is not None:
        _check_labels(labels)
    labels = labels or mdl["labels"] or (ds["labels"] if ds else [])
    count = store.conn.execute("SELECT count(*) FROM snapshots WHERE model_id = ?", [mdl["id"]]).fetchone()[0]
    return store.insert("snapshots", {
        "model_id": mdl["id"], "name": name or f"{mdl['name']}-v{count + 1}", "status": "created",
        "config": merged, "dataset_id": ds["id"] if ds else None, "filters": filters, "labels": labels,
        "parent_id": parent_row["id"] if parent_row else None, "repro": {},
    })


def update_snapshot(snapshot: str, *, config: dict | None = None, dataset: str | None = None,
                    train: Any = None, validation: Any = None, test: Any = None,
                    labels: list[str] | None = None, store: Store | None = None) -> dict:
    """Edit a snapshot that was never trained (status ``created``, nothing queued for it): config
    edits (checked against the adapter), dataset, subset selections (the current ones where not
    given), labels. A trained snapshot stays as it was: clone it instead (``mm rerun --config``)."""
    store = _store(store)
    snap = store.get("snapshots", snapshot)
    model = store.get("models", snap["model_id"])
    fields: dict[str, Any] = {"config": _checked_config(model, snap["config"], config)}
    dataset_id = snap["dataset_id"]
    if dataset is not None:
        from .datasets import get_dataset

        dataset_id = fields["dataset_id"] = get_dataset(store, dataset)["id"]
    if dataset_id:
        current = snap["filters"] or {}
        given = {"train": train, "validation": validation, "test": test}
        fields["filters"] = _selections(store, dataset_id, {r: given[r] if given[r] is not None else current.get(r)
                                                            for r in SELECTION_ROLES})
    elif any(v is not None for v in (train, validation, test)):
        raise InvalidInput(f"snapshot {snap['id']} has no dataset: give one with the subsets")
    if labels:
        fields["labels"] = _check_labels(labels)
    encoded = store._encode("snapshots", fields)
    sets = ", ".join(f"{k} = ?" for k in encoded)
    values = list(encoded.values())
    marks = ", ".join("?" * len(ex.FINISHED))
    with store.tx():
        changed = store.conn.execute(
            f"UPDATE snapshots SET {sets} WHERE id = ? AND status = 'created' AND NOT EXISTS ("
            f"SELECT 1 FROM executions WHERE snapshot_id = snapshots.id AND kind = 'train' "
            f"AND status NOT IN ({marks}))", [*values, snap["id"], *ex.FINISHED]).rowcount
    if not changed:
        raise Conflict(f"snapshot {snap['id']} is {store.get('snapshots', snap['id'])['status']} or has a training "
                       "queued: only a never-trained snapshot can be edited (clone it for new settings)")
    return store.get("snapshots", snap["id"])


def snapshots(model: str | None = None, store: Store | None = None) -> list[dict]:
    store = _store(store)
    if model:
        return store.find("snapshots", "model_id = ?", [store.get("models", model)["id"]], order="created_at")
    return store.find("snapshots", order="created_at")


def clone_snapshot(snapshot: str, config: dict, store: Store | None = None) -> dict:
    """A new snapshot equal to ``snapshot`` but with ``config`` edits; records where it came from."""
    store = _store(store)
    src = store.get("snapshots", snapshot)
    merged = _checked_config(store.get("models", src["model_id"]), src["config"], config)
    return store.insert("snapshots", {
        **{k: src[k] for k in ("model_id", "dataset_id", "filters", "labels", "parent_id")},
        "name": f"{src['name']}-clone", "status": "created", "config": merged,
        "repro": {"cloned_from": src["id"], "config_edits": config},
    })


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
    adapter_src = None
    if model["adapter"]:
        from .adapter import BUILTIN_ADAPTERS

        module = BUILTIN_ADAPTERS.get(model["adapter"], model["adapter"]).partition(":")[0]
        spec = importlib.util.find_spec(module)
        adapter_src = spec.origin if spec else None
    dataset = store.get("datasets", snapshot["dataset_id"]) if snapshot.get("dataset_id") else None
    return {**(snapshot.get("repro") or {}),
            "config": snapshot["config"], "filters": snapshot["filters"],
            "dataset_id": snapshot.get("dataset_id"), "dataset_hash": dataset["content_hash"] if dataset else None,
            "adapter": model["adapter"], "adapter_source_hash": _file_hash(adapter_src),
            "packages": versions, "python": platform.python_version(),
            "seed": (snapshot["config"] or {}).get("seed", 0), "git_revision": _git_revision()}


def _git_revision() -> str | None:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


# --- executions ---------------------------------------------------------------------------------


def _submit(store: Store, kind: str, snapshot: dict, params: dict, service: dict | None,
            idempotency_key: str | None, rerun_of: str | None = None,
            snapshot_fields: dict | None = None) -> dict:
    """Queue an execution: service, queue-room check, row, snapshot updates and ``pending`` in one
    transaction (a refused submit writes nothing), then dispatch."""
    model = store.get("models", snapshot["model_id"])
    _check_adapter(model, params.get("notebook"))
    if idempotency_key:
        same = store.find("executions", "idempotency_key = ?", [idempotency_key])
        if same:
            return same[0]
    row = {"kind": kind, "snapshot_id": snapshot["id"], "model_id": model["id"],
           "status": ex.CREATED, "progress": 0.0, "attempts": 0, "params": params,
           "idempotency_key": idempotency_key, "rerun_of": rerun_of,
           "name": f"{kind} {snapshot['name']}"}
    import sqlite3

    try:
        with store.tx():
            svc = ensure_service(store, model["id"], kind, service)
            check_queue_room(store, svc)
            exe = store.insert("executions", {**row, "service": svc["name"]})
            if snapshot_fields:
                store.update("snapshots", snapshot["id"], **snapshot_fields)
            store.add_event(exe["id"], f"created on service {svc['name']}")
            ex.transition(store, exe["id"], ex.PENDING)
    except sqlite3.IntegrityError:  # the same token submitted concurrently
        return store.find("executions", "idempotency_key = ?", [idempotency_key])[0]
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
    from .notebooks import template_for

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
    exe = _submit(store, "train", snap, params, service, idempotency_key,
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
    from .datasets import get_dataset

    ds = get_dataset(store, dataset or snap["dataset_id"] or "")
    sel = parse_selection(test) if test is not None else (snap["filters"] or {}).get("test", DEFAULT_SELECTIONS["test"])
    from .datasets import count_items

    count_items(store, ds["id"], sel)
    params = _base_params(snap, model, notebook)
    if slice_by is not None:
        from .datasets import select_items
        from .evaluation import item_slices

        if not (isinstance(slice_by, list) and all(isinstance(f, str) and f for f in slice_by)):
            raise InvalidInput(f"slice_by must be a list of field names, got {slice_by!r}")
        item_slices(select_items(store, ds["id"], sel), slice_by)  # unknown fields fail now, not in the run
    params.update(dataset_id=ds["id"], test_selection=sel, weights=snap["weights_uri"], slice_by=slice_by)
    exe = _submit(store, "evaluate", snap, params, service, idempotency_key)
    return wait_for(exe["id"], store=store) if wait else exe


def wait_for(execution_id: str, *, timeout: float | None = None, poll: float = 0.2,
             on_update: Callable[[dict], None] | None = None, store: Store | None = None) -> dict:
    """Block until the execution ends (``timeout`` seconds at most); returns its final row."""
    store = _store(store)
    deadline = None if timeout is None else time.monotonic() + timeout
    kicked = time.monotonic()
    while True:
        exe = store.get("executions", execution_id)
        if on_update:
            on_update(exe)
        if exe["status"] in ex.FINISHED:
            return exe
        if deadline and time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_id} still {exe['status']} after {timeout}s")
        stale = exe["status"] == ex.IN_PROGRESS and exe["heartbeat_at"] and \
            exe["heartbeat_at"] < now() - ex.heartbeat_stale_after()
        if stale or (exe["status"] in ex.QUEUED and time.monotonic() - kicked > 5):
            ex.reconcile(store)  # also starts what waits for a slot (a runner that came back, say)
            kicked = time.monotonic()
        time.sleep(poll)


def rerun(execution_id: str, *, config: dict | None = None, wait: bool = False,
          store: Store | None = None) -> dict:
    """Re-execute an ended execution with its stored parameters (a new execution, ``rerun_of`` it);
    with ``config`` edits, first clone its snapshot with those edits."""
    store = _store(store)
    src = store.get("executions", execution_id)
    if src["status"] not in ex.FINISHED:
        raise Conflict(f"execution {src['id']} is {src['status']}: only an ended execution can be rerun")
    params = dict(src["params"])
    snap = store.get("snapshots", src["snapshot_id"])
    if config:
        if src["kind"] != "train":
            raise InvalidInput("--config edits apply to training executions only")
        snap = clone_snapshot(snap["id"], config, store=store)
        params.update(snapshot_id=snap["id"], config=snap["config"])
        model = store.get("models", snap["model_id"])
        store.update("snapshots", snap["id"], repro=reproducibility_record(store, snap, model))
    exe = _submit(store, src["kind"], snap, params, None, None, rerun_of=src["id"])
    return wait_for(exe["id"], store=store) if wait else exe


def abort(execution_id: str, store: Store | None = None) -> dict:
    return ex.abort(_store(store), execution_id)


def remove(execution_id: str, store: Store | None = None) -> None:
    ex.remove(_store(store), execution_id)


def list_executions(*, kind: str | None = None, status: str | None = None, search: str | None = None,
                    limit: int = 50, offset: int = 0, store: Store | None = None) -> list[dict]:
    """Executions newest first; ``search`` matches model name or id, execution or snapshot id/name."""
    store = _store(store)
    ex.check_status_filter(status)
    if kind is not None and kind not in ex.KINDS:
        raise InvalidInput(f"unknown kind {kind!r} (train or evaluate)")
    where, params = [], []
    if kind:
        where.append("e.kind = ?")
        params.append(kind)
    if status:
        where.append("e.status = ?")
        params.append(status)
    if search:
        clause, values = contains_clause(("m.name", "e.model_id", "e.id", "e.name"), search)
        where.append(clause)
        params += values
    sql = ("SELECT e.*, m.name AS model_name FROM executions e LEFT JOIN models m ON m.id = e.model_id"
           + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY e.created_at DESC LIMIT ? OFFSET ?")
    return [store._decode("executions", r) for r in store.query(sql, [*params, int(limit), int(offset)])]


def metrics(execution_id: str, *, after_id: int = 0, store: Store | None = None) -> list[dict]:
    store = _store(store)
    exe = store.get("executions", execution_id)
    return store.metrics_since(exe["id"], after_id)


get_metrics = metrics  # ``mm.get_metrics``: ``mm.metrics`` is the metrics package


def evaluation_results(execution_id: str, store: Store | None = None) -> dict:
    """The stored results of a successful evaluate execution: overall, per class, per slice, per item."""
    from .evaluation import load_results

    store = _store(store)
    exe = store.get("executions", execution_id)
    folder = store.execution_dir(exe)
    if exe["kind"] != "evaluate" or not (folder / "results.json").is_file():
        raise InvalidInput(f"execution {exe['id']} has no evaluation results ({exe['kind']}, {exe['status']})")
    return load_results(folder)


def logs(execution_id: str, store: Store | None = None) -> str:
    store = _store(store)
    exe = store.get("executions", execution_id)
    path = store.execution_dir(exe) / "log.txt"
    return path.read_text(errors="replace") if path.exists() else ""


# --- offline logging from a user's own loop ----------------------------------------------------


def start_run(snapshot: str, store: Store | None = None) -> RunContext:
    """Start an ``in-progress`` execution for your own training loop; ``mm.log_metric`` logs to it.

    Use as a context manager: success on a clean exit, failed (with the error) on an exception.
    """
    store = _store(store)
    snap = store.get("snapshots", snapshot)
    svc = ensure_service(store, snap["model_id"], "train")
    exe = store.insert("executions", {
        "kind": "train", "snapshot_id": snap["id"], "model_id": snap["model_id"], "service": svc["name"],
        "status": ex.CREATED, "progress": 0.0, "attempts": 0, "params": {"offline": True},
        "name": f"train {snap['name']} (offline)",
    })
    ex.transition(store, exe["id"], ex.PENDING)
    t = now()
    store.update("executions", exe["id"], status=ex.IN_PROGRESS, started_at=t, heartbeat_at=t, attempts=1,
                 host=socket.gethostname(), runner_pid=os.getpid())
    ctx = OfflineRun(store, exe["id"])
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
        super().flush()
        beat = self.store.conn.execute("UPDATE executions SET heartbeat_at = ? WHERE id = ? AND status = ?",
                                       [now(), self.execution_id, ex.IN_PROGRESS])
        if beat.rowcount == 0:
            status = self.store.get("executions", self.execution_id)["status"]
            raise RunEnded(f"execution {self.execution_id} is {status}: stop logging to it")

    def end(self, error: str | None = None) -> None:
        try:
            self.close()
        except RunEnded:
            self._release()
            return
        to = ex.FAILED if error else ex.SUCCESS
        ex.transition(self.store, self.execution_id, to, error=error, progress=100.0 if not error else None)

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
