"""``TrainForm`` and ``EvaluateForm``: the training window (three steps) and the evaluation form.

Every value is validated as it is typed; an invalid one is shown next to its field and disables the
submit buttons, so nothing reaches the store. Submitting goes through ``mm_jupyter.api`` with an
idempotency key that changes only when the form does (a double click queues one execution).
"""

from __future__ import annotations

import html
import uuid
from typing import Any

import ipywidgets as w

from .. import api
from ..errors import InvalidInput, MMError, NotFound
from ..queries import catalog
from ..queries.executions import by_idempotency_key
from ..registry import model_adapter_class
from ..store import Store
from .common import adapter_check, error_box, inline_error, one_line, open_store
from .fields import LABEL, WIDE, ConfigEditor, ServiceSettings
from .subsets import SubsetPicker

STEPS = ("1 · Data & Instructions", "2 · Model Configuration", "3 · Service Settings")
MODEL_LABELS, DATASET_LABELS = "Model's predefined labels", "Dataset's labels"


class Steps(w.VBox):
    """A form's steps: a step picker above the current step's page."""

    def __init__(self, titles: tuple[str, ...], pages: list[w.Widget]):
        self.picker = w.ToggleButtons(options=list(titles), style={"button_width": "190px"})
        self.pages = w.Stack(children=pages, selected_index=0,
                             layout=w.Layout(border="1px solid #ddd", padding="8px", margin="4px 0"))
        self.picker.observe(lambda c: setattr(self.pages, "selected_index", self.picker.index), names="value")
        super().__init__([self.picker, self.pages])

    def show(self, step: int) -> None:
        self.picker.index = step


def resolve_target(store: Store, ref: str) -> tuple[dict, dict | None]:
    """``(model, snapshot or None)`` for a model or snapshot id/name (``s-…`` ids are snapshots)."""
    if not isinstance(ref, str) or not ref:
        raise InvalidInput(f"give a model or snapshot id or name, got {ref!r}")
    order = ("snapshots", "models") if ref.startswith("s-") else ("models", "snapshots")
    for table in order:
        try:
            row = store.get(table, ref)
        except NotFound:
            continue
        if table == "models":
            return row, None
        return store.get("models", row["model_id"]), row
    raise NotFound(f"unknown model or snapshot {ref!r}")


def _service_row(store: Store, kind: str, model_id: str) -> dict | None:
    return catalog.service_of(store, kind, model_id)


class _Form(w.VBox):
    """Shared plumbing: the store, the result line, the error box and the idempotency token."""

    def __init__(self) -> None:
        super().__init__(layout=w.Layout(width="100%"))
        self.error = ""
        self.execution: dict | None = None
        self.result = w.HTML()
        self._ready = False
        self._token = uuid.uuid4().hex

    def _fail(self, exc: BaseException) -> None:
        self.error = one_line(exc)
        self.children = [error_box(self.error)]

    def _say(self, text: str, ok: bool = True) -> None:
        self.result.value = (f'<span style="color:#1e6b2a;font-size:12px">✓ {html.escape(text)}</span>' if ok
                             else inline_error(text))

    def _changed(self) -> None:
        if self._ready:
            self._token = uuid.uuid4().hex
            self._update()

    def _update(self) -> None:
        raise NotImplementedError

    def _dataset_dropdown(self, store: Store, value: str | None) -> w.Dropdown:
        options = [(f"{d['name']} ({d['n_items']:,} items)", d["id"]) for d in catalog.datasets(store)]
        ids = [v for _, v in options]
        return w.Dropdown(options=options, value=value if value in ids else (ids[0] if ids else None),
                          description="Dataset", style=LABEL, layout=WIDE)

    def _submitted(self, exe: dict) -> dict:
        self.execution = exe
        self._say(f"{exe['kind']} execution {exe['id']} is {exe['status']} on {exe['service']}")
        return exe


class TrainForm(_Form):
    """The training window for a model (a new snapshot) or a snapshot, in three steps.

    *Train* trains the snapshot given (or the model's latest untrained one) with the form's values;
    a trained snapshot is never trained again (its weights are fixed: *Train* is disabled and says
    so). *Create & Train* creates a new snapshot from the form (fine-tuning from the given snapshot's
    weights when asked) and trains it, in one step: a refused launch creates no snapshot.
    """

    def __init__(self, model_or_snapshot: str, *, home: str | None = None):
        super().__init__()
        try:
            self.store = open_store(home)
            self.model, given = resolve_target(self.store, model_or_snapshot)
            if not self.model["adapter"]:
                raise InvalidInput(f"model {self.model['name']!r} has no adapter: train it from your own loop "
                                   "with mm.start_run")
            self.adapter = model_adapter_class(self.model)
            self._build(given)
        except MMError as exc:
            self._fail(exc)

    def _build(self, given: dict | None) -> None:
        store, model = self.store, self.model
        self.target = given or catalog.newest(store, "snapshots", model_id=model["id"], status="created")
        self.snapshot: dict | None = given
        self.given = given
        start = catalog.defaults(store, model["id"], None, given["id"] if given else None)
        versions = catalog.snapshots(store, model["id"])
        self.version = w.Dropdown(options=[("New version", "")] + [(f"{v['name']} ({v['status']})", v["id"])
                                                                   for v in versions],
                                  value=given["id"] if given else "", description="Version", style=LABEL,
                                  layout=WIDE)
        self.version.observe(lambda c: self._version_changed(c["new"]), names="value")
        self.name = w.Text(placeholder=f"{model['name']}-v{len(versions) + 1}", description="New snapshot name",
                           style=LABEL, layout=WIDE)
        self.dataset = self._dataset_dropdown(store, start["dataset_id"])
        self.labels = w.RadioButtons(options=[DATASET_LABELS], description="Labels", style=LABEL)
        self.labels_shown = w.HTML()
        self.train_subset = SubsetPicker(store, "train", "Train subset", self._changed)
        self.validation_subset = SubsetPicker(store, "validation", "Validation subset", self._changed,
                                              required=False)
        self.finetune = w.Checkbox(value=False, description="Fine-tune from this snapshot's weights",
                                   indent=False)
        has_weights = bool(given and given.get("weights_uri"))
        values = (given or {}).get("config") or model["config"] or {}
        self.config = ConfigEditor(self.adapter.config_fields(), values, self._changed)
        self.service = ServiceSettings("train", _service_row(store, "train", model["id"]), self._changed)
        self.data_message = w.HTML()
        data_step = w.VBox([self.version, self.name, self.dataset, self.data_message, w.HBox([self.labels, self.labels_shown]),
                            self.train_subset, self.validation_subset, *([self.finetune] if has_weights else [])])
        self.steps = Steps(STEPS, [data_step, self.config, self.service])
        self.train_button = w.Button(description="Train", button_style="primary", icon="play")
        self.create_button = w.Button(description="Create & Train", button_style="success", icon="plus")
        self.train_button.on_click(lambda _b: self.submit(create=False))
        self.create_button.on_click(lambda _b: self.submit(create=True))
        self.hint = w.HTML()
        what = f"snapshot {given['name']} ({given['id']})" if given else f"model {model['name']} ({model['id']})"
        self.children = [w.HTML(f"<b>Train</b> {html.escape(what)}"), self.steps,
                         w.HBox([self.train_button, self.create_button, self.hint]), self.result]
        for control in (self.dataset, self.labels, self.finetune):
            control.observe(lambda _c: self._changed(), names="value")
        self.dataset.observe(lambda _c: self._dataset_changed(), names="value")
        self._dataset_changed()
        self._ready = True
        self._update()

    def _version_changed(self, snapshot_id: str) -> None:
        """Another version chosen: the form starts again from it (its dataset, subsets, config), as
        ``TrainForm(snapshot_id)`` would; "New version" starts from the model."""
        self._ready = False
        self._build(self.store.get("snapshots", snapshot_id) if snapshot_id else None)

    def _dataset_changed(self) -> None:
        """Labels and subsets for the chosen dataset: the given version's own on its dataset, else
        the default-subset rule (``queries.catalog.defaults``, as the sidebar)."""
        ready, self._ready = self._ready, False
        ds = self.dataset.value
        base = self.given
        dataset = self.store.get("datasets", ds) if ds else None
        options = ([MODEL_LABELS] if self.model["labels"] else []) + [DATASET_LABELS]
        self._label_lists = {MODEL_LABELS: self.model["labels"] or [],
                             DATASET_LABELS: (dataset or {}).get("labels") or []}
        self.labels.options = options
        if base and base.get("labels") and base["labels"] == self._label_lists[DATASET_LABELS] \
                and base["labels"] != self._label_lists[MODEL_LABELS]:
            self.labels.value = DATASET_LABELS
        self.data_message.value = "" if ds else inline_error("no datasets are registered: mm.register_dataset(...)")
        start = catalog.defaults(self.store, self.model["id"], ds, base["id"] if base else None) if ds else None
        for role, picker in (("train", self.train_subset), ("validation", self.validation_subset)):
            picker.set_dataset(ds)
            picker.select(start["subsets"][role] if start else None)
        self._ready = ready
        self._changed()

    # -- values and validation --

    def errors(self) -> dict[str, str]:
        """Every invalid field and its message (empty when the form can be submitted)."""
        out = {f"config.{k}": v for k, v in self.config.errors().items()}
        out.update({f"service.{k}": v for k, v in self.service.errors().items()})
        if not self.dataset.value:
            out["dataset"] = "no dataset chosen"
        for picker in (self.train_subset, self.validation_subset):
            if picker.error:
                out[picker.role] = picker.error
        return out

    def values(self) -> dict[str, Any]:
        """The form's values (``InvalidInput`` naming the first invalid field)."""
        errors = self.errors()
        if errors:
            key, message = next(iter(errors.items()))
            raise InvalidInput(f"{key}: {message}")
        return {"name": self.name.value.strip() or None, "dataset": self.dataset.value,
                "labels": self._label_lists[self.labels.value],
                "train": self.train_subset.selection(), "validation": self.validation_subset.selection(),
                "config": adapter_check(self.adapter, self.config.values()),
                "service": self.service.values(), "finetune": self.finetune.value}

    def _differs(self, v: dict) -> bool:
        snap = self.target or {}
        filters = snap.get("filters") or {}
        return (snap.get("config") != v["config"] or snap.get("dataset_id") != v["dataset"]
                or filters.get("train") != v["train"] or filters.get("validation") != v["validation"]
                or (snap.get("labels") or []) != v["labels"])

    def _update(self) -> None:
        self.labels_shown.value = (f'<span style="font-size:11px;color:#555">'
                                   f'{html.escape(", ".join(self._label_lists[self.labels.value]) or "(none)")}</span>')
        errors = self.errors()
        self.create_button.disabled = bool(errors)
        hint = ""
        if errors:
            hint = f"fix {len(errors)} field(s): {next(iter(errors.values()))}"
        elif self.target is None:
            hint = "no untrained snapshot: Create & Train makes one"
        elif self.target.get("weights_uri"):
            hint = (f"snapshot {self.target['id']} is {self.target['status']}: its weights are fixed, "
                    "Create & Train makes a new one")
        elif self.target["status"] != "created" and self._differs(self.values()):
            hint = f"snapshot {self.target['id']} is {self.target['status']}: its settings are fixed, use Create & Train"
        self.train_button.disabled = bool(errors) or self.target is None or bool(hint)
        self.hint.value = inline_error(hint) if errors else f'<span style="font-size:12px;color:#666">{html.escape(hint)}</span>'

    # -- submitting --

    def submit(self, create: bool = False) -> dict | None:
        """What the buttons do: queue the training; returns the execution row, or None (the error is shown)."""
        if self.error:
            return None
        try:
            v = self.values()
            if create:
                exe = self._create_and_train(v)
            else:
                exe = self._train(v)
        except MMError as exc:
            self._say(one_line(exc), ok=False)
            return None
        self._update()
        return self._submitted(exe)

    def _create_and_train(self, v: dict) -> dict:
        key = f"trainform-{self._token}"
        existing = by_idempotency_key(self.store, key)
        if existing:  # the same form submitted twice: one snapshot, one execution
            return existing
        parent = self.target["id"] if v["finetune"] and self.target and self.target.get("weights_uri") else None
        exe = api.create_and_train(self.model["id"], v["name"], config=v["config"], dataset=v["dataset"],
                                   train=v["train"], validation=v["validation"], labels=v["labels"], parent=parent,
                                   service=v["service"], idempotency_key=key, store=self.store)
        self.snapshot = self.store.get("snapshots", exe["snapshot_id"])
        return exe

    def _train(self, v: dict) -> dict:
        if self.target is None:
            raise InvalidInput("no untrained snapshot to train: use Create & Train")
        target = self.store.get("snapshots", self.target["id"])
        if target.get("weights_uri"):
            raise InvalidInput(f"snapshot {target['id']} is {target['status']}: its weights are fixed, use Create & Train")
        if self._differs(v):
            if target["status"] != "created":
                raise InvalidInput(f"snapshot {target['id']} is {target['status']}: use Create & Train for new settings")
            api.update_snapshot(target["id"], config=v["config"], dataset=v["dataset"], train=v["train"],
                                validation=v["validation"], labels=v["labels"] or None, store=self.store)
        self.target = self.snapshot = self.store.get("snapshots", target["id"])
        return api.train(target["id"], service=v["service"], idempotency_key=f"trainform-{self._token}-{target['id']}",
                         store=self.store)


class EvaluateForm(_Form):
    """Evaluate a trained snapshot: dataset (the snapshot's by default), test subset, service settings."""

    def __init__(self, snapshot: str, *, home: str | None = None):
        super().__init__()
        try:
            self.store = open_store(home)
            self.snapshot = self.store.get("snapshots", snapshot)
            self.model = self.store.get("models", self.snapshot["model_id"])
            self._build()
        except MMError as exc:
            self._fail(exc)

    def _build(self) -> None:
        snap = self.snapshot
        self.dataset = self._dataset_dropdown(self.store, snap["dataset_id"])
        self.test_subset = SubsetPicker(self.store, "test", "Test subset", self._changed)
        self.service = ServiceSettings("evaluate", _service_row(self.store, "evaluate", self.model["id"]),
                                       self._changed)
        self.evaluate_button = w.Button(description="Evaluate", button_style="primary", icon="check")
        self.evaluate_button.on_click(lambda _b: self.submit())
        self.hint = w.HTML()
        self.steps = Steps(("1 · Data", "2 · Service Settings"), [w.VBox([self.dataset, self.test_subset]),
                                                                 self.service])
        self.children = [w.HTML(f"<b>Evaluate</b> snapshot {html.escape(snap['name'])} ({snap['id']})"),
                         self.steps, w.HBox([self.evaluate_button, self.hint]), self.result]
        self.dataset.observe(lambda _c: self._dataset_changed(), names="value")
        self._dataset_changed()
        self._ready = True
        self._update()

    def _dataset_changed(self) -> None:
        ds = self.dataset.value
        self.test_subset.set_dataset(ds)
        start = catalog.defaults(self.store, self.model["id"], ds, self.snapshot["id"]) if ds else None
        self.test_subset.select(start["subsets"]["test"] if start else None)
        self._changed()

    def errors(self) -> dict[str, str]:
        out = {f"service.{k}": v for k, v in self.service.errors().items()}
        if not self.dataset.value:
            out["dataset"] = "no dataset chosen"
        if self.test_subset.error:
            out["test"] = self.test_subset.error
        return out

    def _update(self) -> None:
        errors = self.errors()
        self.evaluate_button.disabled = bool(errors)
        weights = self.store.get("snapshots", self.snapshot["id"])["weights_uri"]
        hint = next(iter(errors.values()), "") or ("" if weights else "no weights yet: train the snapshot first")
        self.hint.value = inline_error(hint)

    def submit(self) -> dict | None:
        """What *Evaluate* does: returns the execution row, or None (the error is shown)."""
        if self.error:
            return None
        errors = self.errors()
        try:
            if errors:
                key, message = next(iter(errors.items()))
                raise InvalidInput(f"{key}: {message}")
            exe = api.evaluate(self.snapshot["id"], dataset=self.dataset.value, test=self.test_subset.selection(),
                               service=self.service.values(), idempotency_key=f"evalform-{self._token}",
                               store=self.store)
        except MMError as exc:
            self._say(one_line(exc), ok=False)
            return None
        return self._submitted(exe)
