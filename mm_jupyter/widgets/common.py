"""Shared bits of the widgets: opening the store, one-line error boxes, small formatters."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Any

import ipywidgets as w

from .. import api
from ..adapter import check_config
from ..errors import MMError, one_line
from ..queries.catalog import adapter_info
from ..store import Store

__all__ = ["adapter_check", "adapter_task", "error_box", "fmt_value", "inline_error", "one_line",
           "open_store", "when"]
ERROR_STYLE = "color:#b00020;font-size:12px"


def open_store(home: str | Path | None) -> Store:
    """The store at ``home`` (``$MM_HOME`` by default); ``MMError`` with one line if it cannot open."""
    try:
        return api.connect(home)
    except MMError:
        raise
    except Exception as exc:  # e.g. a home that is a file, a database from something else
        raise MMError(f"cannot open the mm-jupyter store at {home or '$MM_HOME'}: {exc}") from None


def error_box(message: str) -> w.HTML:
    """A red one-line error in place of a widget (never a traceback)."""
    return w.HTML(f'<div class="mm-error" style="{ERROR_STYLE};padding:6px;border:1px solid #f3c0c8;'
                  f'background:#fff5f6;border-radius:4px">⛔ {html.escape(message)}</div>')


def inline_error(message: str) -> str:
    return f'<span style="{ERROR_STYLE}">{html.escape(message)}</span>' if message else ""


def adapter_check(cls: type, values: dict) -> dict:
    """``values`` checked against the adapter's defaults (``InvalidInput`` names the bad key)."""
    check = getattr(cls, "check", None)
    return check(values) if callable(check) else check_config(cls.configuration, values, cls.__name__)


def adapter_task(adapter: str | None) -> str | None:
    """``detect`` / ``classify`` for a model's adapter, from the registry (None for no adapter or an
    unloadable one)."""
    return adapter_info(adapter or "")["task"]


def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return "-" if value is None else str(value)
