"""Choosing a data subset in a form: tagged items, a saved (DQL) filter, or a folder.

The form starts from the core's default-subset rule (``queries.catalog.default_selection``, the
same the sidebar uses): a predefined filter equal to the tagged-items filter shows "Tagged Items",
one that differs "DQL Filter" with it selected, none "Tagged Items".
"""

from __future__ import annotations

import html
import json
from typing import Any

import ipywidgets as w

from ..errors import InvalidInput, MMError
from ..queries.catalog import compact_query, default_selection, tagged_items_filters
from ..queries.dql import parse_filter
from ..queries.items import count_items, folder_counts, saved_filter, saved_filters
from ..store import Store
from .common import inline_error, one_line
from .fields import LABEL, WIDE, Listener

TAGGED, FILTER, FOLDER = "Tagged Items", "DQL Filter", "Folder"
CUSTOM = "(custom query)"
ROLE_TAGS = {"train": "train", "validation": "validation", "test": "test"}


__all__ = ["CUSTOM", "FILTER", "FOLDER", "TAGGED", "SubsetPicker", "default_selection", "tagged_items_filters"]


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
        names = [f["name"] for f in saved_filters(self.store, dataset_id)] if dataset_id else []
        self.filter.options = [*names, CUSTOM]
        folders = folder_counts(self.store, dataset_id) if dataset_id else []
        self.folder.options = [(f"{f['dir']} ({f['count']:,})", f["dir"]) for f in folders]
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
            if value not in [v for _, v in self.folder.options]:
                self.folder.options = [(str(value), value), *self.folder.options]
            self.folder.value, self.mode.value = value, FOLDER
        else:
            query = parse_filter(value)
            if compact_query(query) in tagged_items_filters(self.role):
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
            return json.dumps(saved_filter(self.store, self.filter.value)["query"], indent=1)
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
