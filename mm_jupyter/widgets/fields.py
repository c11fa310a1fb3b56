"""Form fields with inline validation: typed config values, service settings, data subsets."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ..adapter import coerce_value
from ..errors import InvalidInput, MMError
from ..kernels import kernel_labels
from ..services import DEFAULTS, DRAIN_TIME, ON_RESET, check_combination, check_settings
from .common import inline_error, one_line

LABEL = {"description_width": "170px"}
WIDE = w.Layout(width="420px")
Listener = Callable[[], None]
RUNNER_HINT = "local, or dask://host:port (a Dask scheduler)"
TRACKING_URL_HINT = ("with a dask:// runner: workers that share nothing with this machine report here (a Jupyter "
                     "server or mm serve); empty: workers open this store")


class Field(w.VBox):
    """A labelled text input parsed by ``parse``; a parse error is shown under it and makes it invalid."""

    def __init__(self, label: str, text: str, parse: Callable[[str], Any], *, hint: str = "",
                 on_change: Listener | None = None):
        self.input = w.Text(value=text, description=label, style=LABEL, layout=WIDE)
        self.message = w.HTML()
        self.parse = parse
        self.error = ""
        self.value: Any = None
        self._on_change = on_change
        super().__init__([w.HBox([self.input, _hint(hint)]), self.message], layout=w.Layout(margin="0 0 2px 0"))
        self.input.observe(self._changed, names="value")
        self.validate()

    def validate(self) -> bool:
        try:
            self.value, self.error = self.parse(self.input.value), ""
        except MMError as exc:
            self.value, self.error = None, one_line(exc)
        self.message.value = inline_error(self.error)
        return not self.error

    def _changed(self, _change: Any) -> None:
        self.validate()
        if self._on_change:
            self._on_change()


def _hint(text: str) -> w.HTML:
    return w.HTML(f'<span style="color:#777;font-size:11px">{html.escape(text)}</span>')


def parse_typed(key: str, default: Any) -> Callable[[str], Any]:
    """A parser of a config field's text to the type of its adapter default."""

    def parse(text: str) -> Any:
        text = text.strip()
        if default is None or isinstance(default, list | dict):
            if not text:
                return None if default is None else type(default)()
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                if default is not None:
                    raise InvalidInput(f"{key} must be JSON ({type(default).__name__}), got {text!r}") from None
                value = text
        elif isinstance(default, int) and not isinstance(default, bool):
            try:
                value = int(text)
            except ValueError:
                raise InvalidInput(f"{key} must be an integer, got {text!r}") from None
        elif isinstance(default, float):
            try:
                value = float(text)
            except ValueError:
                raise InvalidInput(f"{key} must be a number, got {text!r}") from None
        else:
            value = text
        return coerce_value(key, value, default)

    return parse


def to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


class ConfigEditor(w.VBox):
    """One field per configuration key (``BaseModelAdapter.config_fields``): typed by its default,
    with its type, default and help text beside it."""

    def __init__(self, fields: list[dict], values: dict, on_change: Listener):
        self.fields: dict[str, Field | w.Checkbox] = {}
        rows: list[w.Widget] = []
        for spec in fields:
            key, default = spec["name"], spec["default"]
            value = values.get(key, default)
            hint = f"{spec['type']}, default {to_text(default) or 'none'}"
            if isinstance(default, bool):
                box = w.Checkbox(value=bool(value), description=key, style=LABEL, indent=False)
                box.observe(lambda _c: on_change(), names="value")
                self.fields[key] = box
                rows.append(w.HBox([box, _hint(hint)]))
            else:
                self.fields[key] = Field(key, to_text(value), parse_typed(key, default), hint=hint,
                                         on_change=on_change)
                rows.append(self.fields[key])
            if spec.get("help"):
                rows.append(w.HTML(f'<div class="mm-config-help" style="color:#555;font-size:11px;margin:-2px 0 4px '
                                   f'174px;max-width:520px">{html.escape(spec["help"])}</div>'))
        empty = [w.HTML("<i>This adapter has no configuration.</i>")] if not fields else []
        super().__init__([*rows, *empty])

    def set(self, key: str, value: Any) -> None:
        """Set a field from a Python value (as a user would type it)."""
        field = self.fields[key]
        if isinstance(field, w.Checkbox):
            field.value = bool(value)
        else:
            field.input.value = to_text(value)

    def errors(self) -> dict[str, str]:
        return {k: f.error for k, f in self.fields.items() if isinstance(f, Field) and f.error}

    def values(self) -> dict:
        return {k: f.value for k, f in self.fields.items()}


class ServiceSettings(w.VBox):
    """Kernel (machine type), runner, tracking URL, concurrency, execution timeout, drain time,
    on-reset action, attempts. ``values`` holds the runner and the tracking URL only when they differ
    from the service's current ones (a plain submit changes neither)."""

    def __init__(self, kind: str, current: dict | None, on_change: Listener):
        current = {**DEFAULTS, "drain_time": DRAIN_TIME[kind], **(current or {})}
        self.current_runner = current["runner"] or "local"
        self.current_tracking_url = current.get("tracking_url") or ""
        self.runner = Field("Runner", self.current_runner, self._parse_runner, hint=RUNNER_HINT,
                            on_change=lambda: self._runner_changed(on_change))
        self.tracking_url = Field("Tracking URL", self.current_tracking_url, self._parse_tracking_url,
                                  on_change=on_change)
        self.tracking_url.input.placeholder = "http://host:port"
        tracking_hint = w.HTML(f'<div class="mm-tracking-url-hint" style="color:#777;font-size:11px;margin:-2px 0 4px '
                               f'174px;max-width:520px">{html.escape(TRACKING_URL_HINT)}</div>')
        labels = kernel_labels()
        kernels = sorted(labels)
        options = [(labels[k], k) for k in kernels]
        if current["kernel_name"] not in kernels:
            options.append((current["kernel_name"], current["kernel_name"]))
        self.kernel = w.Dropdown(options=options, value=current["kernel_name"],
                                 description="Machine type (kernel)", style=LABEL, layout=WIDE)
        self.kernel_message = w.HTML()
        self.on_reset = w.Dropdown(options=list(ON_RESET), value=current["on_reset"],
                                   description="On reset", style=LABEL, layout=WIDE)
        self.fields = {
            "concurrency": self._field("Concurrency", "concurrency", current, int, on_change),
            "execution_timeout": self._field("Execution timeout (s)", "execution_timeout", current, float,
                                             on_change),
            "drain_time": self._field("Drain time (s)", "drain_time", current, float, on_change),
            "max_attempts": self._field("Max attempts", "max_attempts", current, int, on_change),
        }
        for control in (self.kernel, self.on_reset):
            control.observe(lambda _c: on_change(), names="value")
        self.kernel.observe(lambda _c: self._check_kernel(), names="value")
        self._check_kernel()
        super().__init__([self.kernel, self.kernel_message, self.runner, self.tracking_url, tracking_hint,
                          self.fields["concurrency"], self.fields["execution_timeout"], self.fields["drain_time"],
                          self.on_reset, self.fields["max_attempts"]])

    @staticmethod
    def _parse_runner(text: str) -> str:
        return check_settings({"runner": text.strip()})["runner"]

    def _parse_tracking_url(self, text: str) -> str:
        """The URL as the core stores it ("" clears it); a URL with the local runner is refused here as
        the core refuses it (``services.check_combination``)."""
        url = check_settings({"tracking_url": text}).get("tracking_url") or ""
        if url and self.runner.value is not None:
            check_combination({"runner": self.runner.value, "tracking_url": url})
        return url

    def _runner_changed(self, on_change: Listener) -> None:
        self.tracking_url.validate()  # a tracking URL is valid only with a Dask runner
        on_change()

    @staticmethod
    def _field(label: str, key: str, current: dict, kind: type, on_change: Listener) -> Field:
        def parse(text: str) -> Any:
            try:
                value = kind(text.strip())
            except ValueError:
                noun = "an integer" if kind is int else "a number"
                raise InvalidInput(f"{key} must be {noun}, got {text!r}") from None
            return check_settings({key: value})[key]

        value = current[key]
        text = str(int(value)) if kind is float and float(value).is_integer() else str(value)
        return Field(label, text, parse, on_change=on_change)

    def _check_kernel(self) -> None:
        try:
            check_settings({"kernel_name": self.kernel.value})
            self.kernel_error = ""
        except MMError as exc:
            self.kernel_error = one_line(exc)
        self.kernel_message.value = inline_error(self.kernel_error)

    def errors(self) -> dict[str, str]:
        out = {k: f.error for k, f in self.fields.items() if f.error}
        if self.kernel_error:
            out["kernel_name"] = self.kernel_error
        for key, field in (("runner", self.runner), ("tracking_url", self.tracking_url)):
            if field.error:
                out[key] = field.error
        return out

    def values(self) -> dict:
        out = {"kernel_name": self.kernel.value, "on_reset": self.on_reset.value,
               **{k: f.value for k, f in self.fields.items()}}
        if self.runner.value is not None and self.runner.value != self.current_runner:
            out["runner"] = self.runner.value
        if self.tracking_url.value is not None and self.tracking_url.value != self.current_tracking_url:
            out["tracking_url"] = self.tracking_url.value  # "" clears it
        return out
