"""The adapter contract (``BaseModelAdapter``) and what a running notebook talks to (``RunContext``).

Adapters are found by name through the registry (``mm_jupyter.registry``); ``Item``,
``Prediction``, ``TrainData`` and ``EvalData`` live in ``mm_jupyter.items`` (re-exported here).
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .errors import InvalidInput
from .executions import EventType
from .items import EvalData, Item, Prediction, TrainData
from .store import Store
from .tracker import LocalTracker, Tracker

__all__ = ["COMMON_CONFIG", "BaseModelAdapter", "EvalData", "Item", "Prediction", "RunContext", "TrainData",
           "check_config", "coerce_value", "get_active_run", "scalars", "seed_everything", "set_active_run"]

TASKS = ("detect", "classify")


def check_config(defaults: dict, overrides: dict | None, owner: str = "adapter") -> dict:
    """Merge ``overrides`` into ``defaults``; unknown keys and wrong types raise ``InvalidInput``."""
    if overrides is None:
        return dict(defaults)
    if not isinstance(overrides, dict):
        raise InvalidInput(f"config for {owner} must be a mapping, got {type(overrides).__name__}")
    merged = dict(defaults)
    for key, value in overrides.items():
        if key not in defaults:
            known = ", ".join(sorted(defaults)) or "none"
            raise InvalidInput(f"unknown config key {key!r} for {owner} (known: {known})")
        default = defaults[key]
        merged[key] = coerce_value(key, value, default, owner)
    return merged


def coerce_value(key: str, value: Any, default: Any, owner: str = "adapter") -> Any:
    """``value`` checked against the type of ``default`` (ints widen to floats; None takes anything)."""
    if default is None or value is None:
        return value
    expected = type(default)
    if expected is bool:
        ok = isinstance(value, bool)
    elif expected is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, expected)
    if not ok:
        raise InvalidInput(
            f"config key {key!r} for {owner} must be {expected.__name__}, got {value!r}"
        )
    return value


# Keys every adapter's config has: evaluation during training (the ElasticDL design). The training
# evaluates the latest weights on the validation subset (a seeded sample of ``eval_steps`` items,
# stratified by class; None = all) no
# sooner than ``eval_start_delay_secs`` after it starts, no more often than every ``eval_throttle_secs``,
# and once more at the end; the results are logged as ``eval/<metric>`` on the training's timeline.
COMMON_CONFIG: dict[str, Any] = {"eval_start_delay_secs": 0.0, "eval_throttle_secs": 60.0, "eval_steps": None}
DAY = 24 * 3600.0
COMMON_BOUNDS: dict[str, tuple[float, float]] = {"eval_start_delay_secs": (0, 30 * DAY),
                                                 "eval_throttle_secs": (0, 30 * DAY), "eval_steps": (1, 10**9)}
COMMON_HELP: dict[str, str] = {
    "eval_start_delay_secs": "Seconds after the training starts before it first evaluates on the validation subset.",
    "eval_throttle_secs": "At least this many seconds between two evaluations during training (one more runs at the end).",
    "eval_steps": "Validation items per evaluation during training: empty for all, N for a seeded sample of N "
                  "stratified by class.",
}
CONFIG_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "json", dict: "json"}
MAX_INT = 2**53  # any whole number of a config beyond this is refused (JSON readers lose precision)
MAX_FLOAT = 1e15


class BaseModelAdapter:
    """Wraps one model architecture for mm-jupyter.

    Subclasses set ``task`` (``"detect"`` or ``"classify"``) and ``configuration`` (defaults, whose
    types are enforced per snapshot), and implement ``load``/``save``/``train``/``predict``;
    ``evaluate`` defaults to predicting every item and computing the task's metrics. Extra metrics:
    ``metric_functions = {"name": fn(items, predictions, labels) -> float}`` are computed and stored
    with the built-in ones, in evaluations and in evaluation during training.
    """

    task: str = "detect"
    configuration: dict[str, Any] = {}
    bounds: dict[str, tuple[float, float]] = {}  # inclusive (low, high) of numeric config keys
    config_help: dict[str, str] = {}  # one sentence per configuration key, shown by the forms and the CLI
    requires: tuple[str, ...] = ()  # importable modules it needs beyond mm-jupyter's own dependencies
    extra: str = "ml"  # the mm-jupyter extra that installs them
    metric_functions: dict[str, Callable[[list[Item], list[Prediction], list[str]], float]] = {}

    def __init__(self, config: dict | None = None, labels: list[str] | None = None):
        self.config = self.check(config)
        self.labels = list(labels or [])

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The adapter's configuration defaults plus the keys common to every adapter."""
        return {**COMMON_CONFIG, **cls.configuration}

    @classmethod
    def config_fields(cls) -> list[dict[str, Any]]:
        """Every configuration key (the adapter's own, then the common ones) as the forms show it: ``name``, ``type``
        (boolean, integer, number, string, json, any), ``default``, ``help`` and ``low``/``high`` bounds."""
        bounds = {**COMMON_BOUNDS, **cls.bounds}
        helps = {**COMMON_HELP, **cls.config_help}
        defaults = cls.defaults()
        order = [*cls.configuration, *(k for k in COMMON_CONFIG if k not in cls.configuration)]
        return [{"name": key, "type": CONFIG_TYPES.get(type(default), "any"), "default": default,
                 "help": helps.get(key, ""), "low": bounds.get(key, (None, None))[0],
                 "high": bounds.get(key, (None, None))[1]}
                for key, default in ((k, defaults[k]) for k in order)]

    @classmethod
    def check(cls, config: dict | None) -> dict[str, Any]:
        """``config`` merged into the defaults; unknown keys, wrong types and bad values raise."""
        merged = check_config(cls.defaults(), config, cls.__name__)
        steps = merged.get("eval_steps")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)):
            raise InvalidInput(f"config key 'eval_steps' for {cls.__name__} must be None or a positive int, got "
                               f"{str(steps)[:40]}")
        bounds = {**COMMON_BOUNDS, **cls.bounds}
        for key, value in merged.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if not math.isfinite(value) or abs(value) > (MAX_INT if isinstance(value, int) else MAX_FLOAT):
                raise InvalidInput(f"config key {key!r} for {cls.__name__} is out of range: {str(value)[:40]}")
            if key in bounds and not bounds[key][0] <= value <= bounds[key][1]:
                low, high = bounds[key]
                raise InvalidInput(f"config key {key!r} for {cls.__name__} must be from {low:g} to {high:g}, "
                                   f"got {str(value)[:40]}")
        return merged

    def load(self, local_path: str) -> None:
        raise NotImplementedError

    def save(self, local_path: str) -> None:
        raise NotImplementedError

    def train(self, data: TrainData, ctx: RunContext) -> None:
        raise NotImplementedError

    def predict(self, batch: list[Item]) -> list[Prediction]:
        raise NotImplementedError

    def introspection(self) -> tuple[Any, list[tuple[str, Any]], Callable[[Item], Any]]:
        """For ``mm_jupyter.introspect``: ``(torch module, [(layer name, submodule)], item -> input
        tensor)``. Adapters of torch CNNs override it; the default has none."""
        raise NotImplementedError

    def evaluate(self, data: EvalData, ctx: RunContext) -> dict:
        """Predict every item, store the predictions, compute and log the task's metrics."""
        from .evaluation import evaluate_predictions

        batch_size = int(self.config.get("batch", 16) or 16)
        preds: list[Prediction] = []
        for start in range(0, len(data.items), batch_size):
            preds.extend(self.predict(data.items[start:start + batch_size]))
            ctx.report_progress(90 * min(len(preds), len(data.items)) / max(1, len(data.items)))
        ctx.save_predictions(preds)
        results = evaluate_predictions(self.task, data.items, preds, data.labels, self.metric_functions,
                                       slice_by=data.slice_by, seed=ctx.seed)
        ctx.log_metrics(scalars(results))
        return results


def scalars(results: dict) -> dict[str, float]:
    """The numeric top-level entries of a results dict (what gets logged as metric rows)."""
    return {k: float(v) for k, v in results.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (when something imported it: importing torch just to seed it
    would cost a second or two in every kernel), deterministically on CPU. The notebook steps call it
    again once the adapter's module is loaded; an adapter importing torch later seeds with ``ctx.seed``."""
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


class RunContext:
    """What an execution's code talks to: metrics, progress, log lines, weights and predictions.

    Every write goes through the attempt's ``Tracker``. Metric points are buffered and written in
    batches: by a timer at most ``flush_every`` seconds after the first point of a batch (so a loop
    that logs once a minute is still live within a second), at ``batch_size`` points, and on
    ``flush`` / ``close`` / progress reports. The timer's thread and the caller's share one lock, so
    batches are written whole and in order. An error the timer meets (the run was aborted or ended
    elsewhere) is raised by the next ``log_metric`` / ``flush`` of the caller. ``store`` is for reads
    (the dataset's items); a run on a worker without a store has none, and is given its ``workdir``
    (the run folder) and ``weights_dir`` instead. ``last_values`` keeps the last value of each metric
    it logged.
    """

    def __init__(self, tracker: Tracker, store: Store | None = None, *, workdir: str | Path | None = None,
                 weights_dir: str | Path | None = None, flush_every: float = 0.3, batch_size: int = 5000):
        if store is None and (workdir is None or weights_dir is None):
            raise InvalidInput("a run without a store needs its workdir and weights_dir")
        self.tracker = tracker
        self.store = store
        self.remote: dict | None = None  # the attempt's spec, for a run on a worker that has no store
        spec = tracker.describe()
        self.execution, self.snapshot, self.model = spec["execution"], spec["snapshot"], spec["model"]
        self.params: dict = dict(self.execution.get("params") or {})
        self.here = False  # runs in the user's kernel or process, not under a runner (its steps record the end)
        self.finished = False
        self.weights_hash: str | None = None  # of the weights loaded for an evaluation
        self.execution_id = self.execution["id"]
        self.snapshot_id = self.snapshot["id"]
        self.config: dict = dict(self.snapshot.get("config") or {})
        self.seed = int(self.config.get("seed", 0) or 0)
        if store is not None:
            self.snapshot_dir = store.snapshot_dir(self.model["id"], self.snapshot_id)
        self.weights_dir = Path(weights_dir) if weights_dir is not None else self.snapshot_dir / "weights"
        if store is None:
            self.snapshot_dir = self.weights_dir.parent
        self.workdir = Path(workdir) if workdir is not None else store.execution_dir(self.execution)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.last_values: dict[str, float] = {}  # the last value logged of each metric (by this context)
        self._buffer: list[tuple] = []
        self._lock = threading.RLock()
        self._timer: threading.Timer | None = None
        self._timer_error: BaseException | None = None
        self.flush_every = flush_every
        self.batch_size = batch_size
        self.step = 0
        self._started = time.monotonic()
        self._last_eval: float | None = None

    @classmethod
    def open(cls, home: str, execution_id: str, token: str, attempt: int) -> RunContext:
        """The context of attempt ``attempt`` of ``execution_id`` in the store at ``home``, writing with
        the attempt's ``token`` (the notebooks go through ``runtime.open_run``)."""
        store = Store(home, create=False)
        ctx = cls(LocalTracker(store, execution_id, attempt, token), store)
        set_active_run(ctx)
        return ctx

    def log_metric(self, name: str, value: float, step: int | None = None,
                   epoch: int | None = None) -> None:
        if not isinstance(name, str) or not name or len(name) > 200:
            raise InvalidInput(f"metric name must be a non-empty string of at most 200 characters, got {name!r}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"metric {name!r} value must be a number, got {value!r}") from None
        if self._timer_error is not None:
            self._raise_timer_error()
        point = (name, self.step if step is None else int(step), None if epoch is None else int(epoch), value,
                 time.time())
        self.last_values[name] = value
        with self._lock:
            buffer = self._buffer
            buffer.append(point)
            if len(buffer) < self.batch_size:
                if self._timer is None and self.flush_every > 0:
                    self._timer = threading.Timer(self.flush_every, self._timed_flush)
                    self._timer.daemon = True
                    self._timer.start()
                return
        self.flush()

    def log_metrics(self, values: dict[str, float], step: int | None = None,
                    epoch: int | None = None) -> None:
        for name, value in values.items():
            self.log_metric(name, value, step=step, epoch=epoch)
        self.flush()

    def flush(self) -> None:
        """Write the buffered points now (the caller's thread)."""
        self._raise_timer_error()
        self._write_buffer()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _write_buffer(self) -> None:
        with self._lock:
            self._cancel_timer()
            rows, self._buffer = self._buffer, []
            if rows:
                self.tracker.metric_points(rows)

    def _timed_flush(self) -> None:
        try:
            with self._lock:
                self._timer = None
                self.flush_now_from_timer()
        except BaseException as exc:  # raised in the caller's thread at its next call
            self._timer_error = exc

    def flush_now_from_timer(self) -> None:
        """What the timer does when it fires (subclasses add checks, e.g. whether the run still runs)."""
        self._write_buffer()

    def _raise_timer_error(self) -> None:
        error, self._timer_error = self._timer_error, None
        if error is not None:
            raise error

    def discard_buffer(self) -> None:
        """Drop the points not written yet (the run ended: nothing more is written for it)."""
        with self._lock:
            self._cancel_timer()
            self._buffer = []

    def report_progress(self, percent: float) -> None:
        """Set the execution's progress (0–100); also flushes buffered metrics."""
        self.flush()
        with self._lock:
            self.tracker.progress(percent)

    def maybe_evaluate(self, adapter: BaseModelAdapter, items: list[Item], *, epoch: int | None = None,
                       step: int | None = None, final: bool = False,
                       predict: Callable[[list[Item]], list[Prediction]] | None = None) -> dict | None:
        """Evaluation during training: if due (see ``COMMON_CONFIG``) or ``final``, evaluate the latest
        weights on ``items`` (via ``predict``, default ``adapter.predict``) and log ``eval/*``."""
        from .evaluation import evaluate_predictions, sample_items

        config = adapter.config
        clock = time.monotonic()
        if not items:
            return None
        if not final:
            if clock - self._started < float(config.get("eval_start_delay_secs") or 0):
                return None
            if self._last_eval is not None and clock - self._last_eval < float(config.get("eval_throttle_secs") or 0):
                return None
        self._last_eval = clock
        subset = sample_items(items, config.get("eval_steps"), self.seed, adapter.task)
        predictions = (predict or adapter.predict)(subset)
        results = evaluate_predictions(adapter.task, subset, predictions, self.snapshot["labels"] or adapter.labels,
                                       adapter.metric_functions, slice_by=[], bootstrap=0)
        values = {f"eval/{k}": v for k, v in scalars(results).items()}
        self.log_metrics(values, step=step if step is not None else epoch, epoch=epoch)
        return results

    def log(self, message: str, level: str = "info") -> None:
        """A line for the execution's log (printed) and its event list (stored)."""
        print(message, flush=True)
        with self._lock:
            self.tracker.event(message, level, EventType.LOG)

    def save_predictions(self, predictions: list[Prediction]) -> Path:
        path = self.workdir / "predictions.jsonl"
        with open(path, "w") as fh:
            for pred in predictions:
                fh.write(json.dumps(asdict(pred)) + "\n")
        return path

    def set_snapshot(self, **fields: Any) -> None:
        """Update the version this run trains (its status and weights)."""
        with self._lock:
            self.tracker.update_version(**fields)

    def close(self) -> None:
        self.flush()
        if get_active_run() is self:
            set_active_run(None)


_ACTIVE: list[RunContext | None] = [None]


def set_active_run(ctx: RunContext | None) -> None:
    _ACTIVE[0] = ctx


def get_active_run() -> RunContext | None:
    return _ACTIVE[0]
