"""Choosing a data subset in a form: tagged items, a saved (DQL) filter, or a folder.

Default mode (the seed's rule): when the model has a predefined filter for the role and that filter
equals the tagged-items filter ignoring white space, "Tagged Items"; a predefined filter that differs,
"DQL Filter" with it selected; no predefined filter, "Tagged Items". A model's predefined filter for
a role is the saved filter named ``<model name>.<role>`` (else ``<role>``) usable on the dataset.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import ipywidgets as w

from ..datasets import SPLIT_TAGS, count_items
from ..errors import InvalidInput, MMError, NotFound
from ..filters import get_filter, list_filters, parse_filter
from ..store import Store
from .common import inline_error, one_line
from .fields import LABEL, WIDE, Listener

TAGGED, FILTER, FOLDER = "Tagged Items", "DQL Filter", "Folder"
CUSTOM = "(custom query)"
ROLE_TAGS = {"train": "train", "validation": "validation", "test": "test"}


def _compact(query: Any) -> str:
    text = query if isinstance(query, str) else json.dumps(query, sort_keys=True)
    return re.sub(r"\s+", "", text)


def tagged_items_filters(role: str) -> set[str]:
    """The DQL spellings of "items tagged for ``role``", compacted (white space removed)."""
    tags = list(dict.fromkeys([role, SPLIT_TAGS.get(role, role)]))
    forms: list[Any] = [{"tags": tags[0]}, {"tags": {"$eq": tags[0]}}, {"tags": {"$in": tags}},
                        {"tags": {"$in": [tags[0]]}}]
    return {_compact(f) for f in forms}


def predefined_filter(store: Store, model: dict, dataset_id: str | None, role: str) -> dict | None:
    """The model's predefined filter for ``role`` (a saved filter row), if any fits the dataset."""
    for name in (f"{model['name']}.{role}", role):
        try:
            row = get_filter(store, name)
        except NotFound:
            continue
        if row.get("dataset_id") in (None, dataset_id):
            return row
    return None


def default_selection(store: Store, model: dict, dataset_id: str | None, role: str) -> dict:
    """The subset a form starts with for ``role`` when no snapshot says otherwise."""
    row = predefined_filter(store, model, dataset_id, role)
    if row is None or _compact(row["query"]) in tagged_items_filters(role):
        return {"tag": ROLE_TAGS[role]}
    return {"filter": row["name"]}


def dataset_folders(store: Store, dataset_id: str) -> list[str]:
    dirs = {r[0] or "" for r in store.conn.execute("SELECT DISTINCT dir FROM items WHERE dataset_id = ?",
                                                   [dataset_id])}
    out = set()
    for d in dirs:
        parts = d.split("/") if d else []
        out.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return sorted(out)


class SubsetPicker(w.VBox):
    """The train / validation / test subset of a dataset, with its item count (or an inline error)."""

    def __init__(self, store: Store, role: str, title: str, on_change: Listener, *, required: bool = True):
        self.store, self.role, self.required = store, role, required
        self.dataset_id: str | None = None
        self.error = ""
        self.custom_query: dict | None = None
        self._on_change = on_change
        self.mode = w.ToggleButtons(options=[TAGGED, FILTER, FOLDER], value=TAGGED, style={"button_width": "110px"})
        self.tag = w.Text(value=ROLE_TAGS[role], description="Tag", style=LABEL, layout=WIDE)
        self.filter = w.Dropdown(options=[], description="Saved filter", style=LABEL, layout=WIDE)
        self.query = w.Textarea(description="Query (JSON)", style=LABEL, layout=w.Layout(width="420px", height="80px"))
        self.show = w.ToggleButton(value=False, description="Show filter", icon="eye", layout=w.Layout(width="120px"))
        self.shown = w.HTML()
        self.folder = w.Dropdown(options=[], description="Folder", style=LABEL, layout=WIDE)
        self.count = w.HTML()
        self.body = w.VBox()
        super().__init__([w.HTML(f"<b>{html.escape(title)}</b>"), self.mode, self.body, self.count],
                         layout=w.Layout(margin="4px 0 8px 0"))
        for control in (self.mode, self.tag, self.filter, self.query, self.folder, self.show):
            control.observe(self._changed, names="value")

    # -- state --

    def set_dataset(self, dataset_id: str | None) -> None:
        self.dataset_id = dataset_id
        names = [f["name"] for f in list_filters(self.store, dataset_id)] if dataset_id else []
        self.filter.options = [*names, CUSTOM]
        self.folder.options = dataset_folders(self.store, dataset_id) if dataset_id else []
        self._changed(None)

    def select(self, selection: dict | None) -> None:
        """Show ``selection`` (``{"tag"|"filter"|"dir"|"query": ...}``) in the picker."""
        selection = selection or {"tag": ROLE_TAGS[self.role]}
        key, value = next(iter(selection.items()))
        if key == "tag":
            self.tag.value, self.mode.value = str(value), TAGGED
        elif key == "filter":
            if value not in self.filter.options:
                self.filter.options = [value, *self.filter.options]
            self.filter.value, self.mode.value = value, FILTER
        elif key == "dir":
            if value not in self.folder.options:
                self.folder.options = [value, *self.folder.options]
            self.folder.value, self.mode.value = value, FOLDER
        else:
            query = parse_filter(value)
            if _compact(query) in tagged_items_filters(self.role):
                self.tag.value, self.mode.value = ROLE_TAGS[self.role], TAGGED
            else:
                self.query.value = json.dumps(query, indent=1)
                self.filter.value, self.mode.value = CUSTOM, FILTER
        self._changed(None)

    def selection(self) -> dict:
        """The chosen subset as a selection dict; ``InvalidInput`` when it is incomplete."""
        if self.mode.value == TAGGED:
            if not self.tag.value.strip():
                raise InvalidInput(f"{self.role} tag must not be empty")
            return {"tag": self.tag.value.strip()}
        if self.mode.value == FOLDER:
            if self.folder.value is None:
                raise InvalidInput(f"choose a folder for the {self.role} subset")
            return {"dir": self.folder.value}
        if self.filter.value == CUSTOM:
            return {"query": parse_filter(self.query.value or "{}")}
        if self.filter.value is None:
            raise InvalidInput(f"choose a saved filter for the {self.role} subset")
        return {"filter": self.filter.value}

    def filter_json(self) -> str:
        """The JSON filter of the current DQL choice (what "Show filter" displays)."""
        if self.filter.value == CUSTOM:
            return self.query.value
        if self.filter.value:
            return json.dumps(get_filter(self.store, self.filter.value)["query"], indent=1)
        return ""

    def _changed(self, _change: Any) -> None:
        dql = self.mode.value == FILTER
        parts: list[w.Widget] = {TAGGED: [self.tag], FOLDER: [self.folder]}.get(self.mode.value, [])
        if dql:
            parts = [w.HBox([self.filter, self.show])]
            if self.filter.value == CUSTOM:
                parts.append(self.query)
            elif self.show.value:
                parts.append(self.shown)
        self.body.children = parts
        try:
            if dql and self.show.value:
                self.shown.value = f"<pre style='font-size:11px;margin:2px 0'>{html.escape(self.filter_json())}</pre>"
            n = count_items(self.store, self.dataset_id, self.selection()) if self.dataset_id else 0
            self.error = "" if n or not self.required else f"no items of the dataset match this {self.role} subset"
            self.count.value = inline_error(self.error) or f'<span style="color:#555;font-size:12px">{n:,} items</span>'
        except MMError as exc:
            self.error = one_line(exc)
            self.count.value = inline_error(self.error)
        if self._on_change:
            self._on_change()
