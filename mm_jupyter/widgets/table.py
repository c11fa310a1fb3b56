"""``ExecutionsTable``: the training/evaluation executions table (anywidget), paged and live."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anywidget
import traitlets as t

from .. import api
from ..errors import MMError
from ..executions import KINDS, STATUSES
from ..queries.executions import ListQuery, list_executions
from ..queries.health import services_health
from ..store import Store
from .common import one_line, open_store, when
from .live import HUB

HERE = Path(__file__).parent
LOG_TAIL = 20_000


def query_executions(store: Store, *, kind: str = "", status: str = "", search: str = "", service: str = "",
                     limit: int = 25, offset: int = 0) -> tuple[list[dict], int]:
    """One page of executions (newest first) and how many match, by the read layer's listing (the
    search rule of every face)."""
    page = list_executions(store, ListQuery(kind=kind or None, status=status or None, service=service or None,
                                            search=search or None, limit=limit, offset=offset), count=True)
    return page.items, page.total or 0


class ExecutionsTable(anywidget.AnyWidget):
    """Executions (of ``kind`` ``train``/``evaluate``, or both): name, created at, status, progress,
    duration, service, with search, a status filter, paging and a row menu (copy ids, abort, remove,
    rerun, open notebook, show logs). Services that cannot start executions show an error icon,
    paused ones a warning. Updates live (once a second) without re-creating the widget."""

    _esm = HERE / "table.js"
    _css = HERE / "table.css"

    rows = t.List(t.Dict()).tag(sync=True)
    total = t.Int(0).tag(sync=True)
    page = t.Int(0).tag(sync=True)
    page_size = t.Int(25).tag(sync=True)
    search = t.Unicode("").tag(sync=True)
    status = t.Unicode("").tag(sync=True)
    service = t.Unicode("").tag(sync=True)
    kind = t.Unicode("").tag(sync=True)
    statuses = t.List(t.Unicode(), list(STATUSES)).tag(sync=True)
    server_time = t.Float(0.0).tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    message = t.Unicode("").tag(sync=True)

    poll_interval = 1.0

    def __init__(self, kind: str | None = None, *, page_size: int = 25, home: str | None = None,
                 live: bool = True):
        super().__init__(kind=kind or "", page_size=page_size)
        self.store: Store | None = None
        self.on_msg(self._on_msg)
        try:
            if kind is not None and kind not in KINDS:
                raise MMError(f"kind must be one of {', '.join(KINDS)} or None, got {kind!r}")
            self.store = open_store(home)
        except MMError as exc:
            self.error = one_line(exc)
            return
        self.observe(self._filters_changed, names=["search", "status", "service", "page_size"])
        self.observe(lambda _c: self.refresh(), names=["page"])
        self.refresh()
        if live:
            HUB.add(self)

    # -- reading --

    def poll(self) -> bool:
        if self.comm is None:  # closed
            return False
        self.refresh()
        return True

    def refresh(self) -> None:
        """Re-read the current page; traits change (and a message goes out) only if rows did."""
        if self.store is None:
            return
        try:
            rows, total = query_executions(
                self.store, kind=self.kind, status=self.status, search=self.search.strip(),
                service=self.service, limit=self.page_size, offset=self.page * self.page_size)
        except Exception as exc:
            self.error = one_line(exc)
            return
        if self.page and not rows and total:
            self.page = (total - 1) // self.page_size  # the page emptied: show the last one
            return
        out = [self._row(r, h) for r, h in zip(rows, self._health(rows), strict=True)]
        with self.hold_sync():
            if out != self.rows or total != self.total:
                self.rows, self.total = out, total
                self.server_time = time.time()
            if self.error:
                self.error = ""

    def _health(self, rows: list[dict]) -> list[tuple[str, str]]:
        names = sorted({r["service"] for r in rows if r["service"]})
        state = services_health(self.store, names) if names else {}
        return [(state[r["service"]].level, state[r["service"]].reason) if r["service"] in state else ("ok", "")
                for r in rows]

    @staticmethod
    def _row(r: dict, state: tuple[str, str]) -> dict:
        return {"id": r["id"], "name": r["name"] or r["id"], "kind": r["kind"], "model_id": r["model_id"],
                "model_name": r["model_name"] or "", "snapshot_id": r["snapshot_id"], "service": r["service"],
                "status": r["status"], "progress": float(r["progress"] or 0.0), "attempts": r["attempts"] or 0,
                "created": when(r["created_at"]), "started_at": r["started_at"], "ended_at": r["ended_at"],
                "error": (r["error"] or "")[:300], "notebook": r["notebook_uri"] or "",
                "health": state[0], "health_reason": state[1]}

    def _filters_changed(self, _change: Any) -> None:
        if self.page:
            self.page = 0  # refreshes
        else:
            self.refresh()

    # -- actions (from the row menu) --

    def _on_msg(self, _widget: Any, content: dict, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("action"):
            self.action(str(content["action"]), str(content.get("id", "")))

    def action(self, name: str, execution_id: str) -> dict | None:
        """Run a row-menu action (``abort``, ``remove``, ``rerun``, ``logs``, ``open``)."""
        if self.store is None:
            return None
        reply: dict | None = None
        try:
            if name == "abort":
                api.abort(execution_id, store=self.store)
                self.message = f"aborted {execution_id}"
            elif name == "remove":
                self.message = f"removed {api.remove(execution_id, store=self.store)}"
            elif name == "rerun":
                new = api.rerun(execution_id, store=self.store)
                self.message = f"{execution_id} runs again as {new['id']}"
            elif name == "logs":
                text = api.logs(execution_id, store=self.store)
                reply = {"type": "logs", "id": execution_id, "text": text[-LOG_TAIL:] or "(no log yet)"}
            elif name == "open":
                exe = self.store.get("executions", execution_id)
                path = exe["notebook_uri"] or str(self.store.execution_dir(exe) / "notebook.ipynb")
                reply = {"type": "open", "id": execution_id, "path": path, "exists": Path(path).is_file()}
            else:
                raise MMError(f"unknown action {name!r}")
        except MMError as exc:
            self.message = f"{name} {execution_id}: {one_line(exc)}"
        if reply is not None:
            self.send(reply)
        self.refresh()
        return reply

    def close(self) -> None:
        HUB.discard(self)
        super().close()
