"""What the train/evaluate notebooks call: one small step per notebook cell, so the executed
notebook reads as a report of the run.

A notebook is run three ways, and ``open_run`` tells them apart:

- by mm-jupyter's runner: ``execution_id`` and ``attempt`` are injected, the attempt's secret token
  is in the kernel's environment (never in the notebook); the run writes to that attempt only;
- by hand, ``papermill notebooks/train.ipynb out.ipynb -p snapshot s-… [-p config '{…}']`` (or the
  evaluate notebook): it creates its own execution and runs it in this kernel;
- a stored executed notebook run again (papermill, or Run All): its execution has ended, so a new
  execution is created (``rerun_of`` the original, a new version for a training) and the original
  is never touched. A token that is not the running attempt's own is refused.

On a remote worker (``remote_attempt``; ``MM_REMOTE_SPEC`` in the kernel's environment) there is no
store: the run reports through an ``HttpTracker``, reads its items and weights from the worker's
staged copies named in the spec file, and uploads the weights it trains.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from .adapter import BaseModelAdapter, RunContext, seed_everything, set_active_run
from .errors import InvalidInput
from .executions import FINISHED, Outcome
from .hashing import checked_weights, tree_hash
from .http_tracker import REMOTE_SPEC_ENV, HttpTracker
from .items import EvalData, Item, TrainData
from .queries.executions import last_values
from .queries.items import select_items
from .registry import kernel_adapter_class
from .store import Store
from .tracker import ATTEMPT_ENV, TOKEN_ENV, LocalTracker
from .tracking_url import URL_ENV


def open_run(mm_home: str = "", execution_id: str = "", token: str = "", attempt: int = 0, *,
             kind: str = "train", snapshot: str = "", config: Any = None) -> RunContext:
    """The run's ``RunContext`` (also the active run for ``mm.log_metric``); ``ctx.params`` holds the
    parameters its steps use. See the module docstring for the three ways a notebook runs."""
    from . import api

    if os.environ.get(REMOTE_SPEC_ENV):
        return _open_remote(Path(os.environ[REMOTE_SPEC_ENV]), execution_id)
    store = Store(mm_home or None, create=False)
    token = token or os.environ.get(TOKEN_ENV, "")
    attempt = int(attempt or os.environ.get(ATTEMPT_ENV, 0) or 0)
    here = False
    if execution_id:
        exe = store.get("executions", execution_id)
        tracker = LocalTracker(store, exe["id"], attempt or exe["attempts"], token)
        if not (token and tracker.is_current()):
            if exe["status"] not in FINISHED:
                raise tracker.refused()
            exe, token = api.start_here(exe["kind"], rerun_of=exe["id"], store=store)
            print(f"{execution_id} ended (it is not touched): this notebook runs as a new execution {exe['id']} "
                  f"(rerun of {execution_id})", flush=True)
            here = True
    elif snapshot:
        if isinstance(config, str):
            try:
                config = json.loads(config) if config.strip() else None
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"config is not valid JSON: {exc}") from None
        exe, token = api.start_here(kind, snapshot=snapshot, config=config or None, store=store)
        print(f"running {exe['name']} as execution {exe['id']}", flush=True)
        here = True
    else:
        raise InvalidInput("nothing to run: give the version, e.g. papermill notebooks/train.ipynb out.ipynb "
                           "-p snapshot s-1234 (mm snapshots lists them)")
    if here:
        tracker = LocalTracker(store, exe["id"], exe["attempts"], token)
    ctx = RunContext(tracker, store)
    ctx.here = here
    set_active_run(ctx)
    seed_everything(ctx.seed)
    if here:
        _record_failures_here(ctx)
    return ctx


def _open_remote(spec_path: Path, execution_id: str) -> RunContext:
    """The context of a run on a remote worker: no store; the spec ``remote_attempt`` wrote (rows,
    params, items and the staged copies), an ``HttpTracker``, the run folder as ``workdir``."""
    spec = json.loads(spec_path.read_text())
    worker = spec["worker"]
    if execution_id and execution_id != spec["execution"]["id"]:
        raise InvalidInput(f"this kernel runs execution {spec['execution']['id']} remotely, not {execution_id}")
    tracker = HttpTracker(os.environ[URL_ENV], spec["execution"]["id"], int(worker["attempt"]),
                          os.environ.get(TOKEN_ENV, ""), worker["spool_dir"])
    tracker.use_spec(spec)
    run_dir = Path(worker["run_dir"])
    ctx = RunContext(tracker, None, workdir=run_dir, weights_dir=run_dir / "weights")
    ctx.remote = spec
    staged = {"parent_weights": "weights_dir", "weights": "weights_dir", "codebase": "codebase_dir"}
    for key, folder in staged.items():  # the worker's staged copies in place of the server's folders
        if ctx.params.get(key):
            if not worker.get(folder):
                raise InvalidInput(f"{key} of this run were not staged on this worker (the server listed no "
                                   "files for them)")
            ctx.params[key] = worker[folder]
    set_active_run(ctx)
    seed_everything(ctx.seed)
    _spool_after_cells(ctx, tracker)
    return ctx


def _shell() -> Any:
    """The IPython shell running this code, or None (a plain process)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _spool_after_cells(ctx: RunContext, tracker: HttpTracker) -> None:
    """After each cell, what it logged is written to the spool: when the kernel ends (killed, or
    shut down by the runner) before it was sent, the runner's tracker sends it."""
    shell = _shell()
    if shell is None:
        return

    def after_cell(result: Any) -> None:
        try:
            ctx.flush()
            tracker.spool_now()
        except Exception as exc:  # noqa: BLE001 (the attempt ended: the cell's own error says so)
            print(f"[mm] {exc}", file=sys.stderr, flush=True)

    shell.events.register("post_run_cell", after_cell)


def _record_failures_here(ctx: RunContext) -> None:
    """A run in this kernel has no runner to record how it ended: a cell that raises ends it failed."""
    shell = _shell()
    if shell is None:
        return

    def after_cell(result: Any) -> None:
        error = result.error_in_exec or result.error_before_exec
        if error is not None and not ctx.finished:
            ctx.finished = True
            ctx.discard_buffer()
            ctx.tracker.outcome(Outcome.EXCEPTION, f"{type(error).__name__}: {str(error)[:500]}", retry=False)
            shell.events.unregister("post_run_cell", after_cell)

    shell.events.register("post_run_cell", after_cell)


def finish(ctx: RunContext) -> None:
    """The last step: flush; a run in this kernel also records its success (a runner records its own)."""
    ctx.close()
    if ctx.remote is not None:
        ctx.tracker.drain(60.0)  # type: ignore[attr-defined]
    if ctx.here and not ctx.finished:
        ctx.finished = True
        status = ctx.tracker.outcome(Outcome.SUCCESS)
        print(f"execution {ctx.execution_id}: {status}", flush=True)


def load_items(ctx: RunContext, dataset_id: str, selection: dict | None, role: str) -> list:
    """The dataset's items of a selection (on a remote worker: the spec's, at their staged copies)."""
    items = select_items(ctx.store, dataset_id, selection or {}) if ctx.remote is None else \
        remote_items(ctx.remote, role, selection)
    ctx.log(f"{role}: {len(items)} items from dataset {dataset_id} with {json.dumps(selection)}")
    return items


def remote_items(spec: dict, role: str, selection: dict | None) -> list[Item]:
    """The items the server resolved for ``role``'s selection (``<role>_selection``, else the one
    whose params equal ``selection``), each ``path`` its staged copy on this worker."""
    found = spec["items"]
    params = spec["execution"].get("params") or {}
    key = f"{role}_selection"
    if key not in found:
        key = next((k for k in found if params.get(k) == selection), "")
    if key not in found:
        raise InvalidInput(f"the {role} selection {json.dumps(selection)[:200]} is not in this run's spec "
                           f"(it has {', '.join(found) or 'none'})")
    return [Item(id=r["id"], path=r["local_path"], name=r.get("name") or "", dir=r.get("dir") or "",
                 tags=list(r.get("tags") or []), metadata=dict(r.get("metadata") or {}),
                 annotations=r.get("annotations")) for r in found[key]]


def build_adapter(ctx: RunContext, adapter: str, config: dict, labels: list[str],
                  weights: str | None = None) -> BaseModelAdapter:
    """Instantiate the model's adapter with the version's config; load ``weights`` when given (they
    must still be the ones the version was trained to: ``weights_hash``, when the run has it). A run
    with a ``codebase`` folder imports the adapter from it: this kernel runs one version, so the
    folder goes first on ``sys.path`` for good, once its files are checked to be the recorded ones
    (``codebase_hash``; ``registry.kernel_adapter_class``)."""
    folder = ctx.params.get("codebase")
    model = kernel_adapter_class(adapter, folder, ctx.params.get("codebase_hash"))(config=config, labels=labels)
    if folder:
        ctx.log(f"adapter code from the codebase {folder} (sha256 {ctx.params.get('codebase_hash')})")
    seed_everything(ctx.seed)  # again, now that the adapter's module (and maybe torch) is loaded
    if weights:
        from .artifact_root import is_url, local_copy
        from .store import default_home

        source = weights  # weights at a URL (s3://…) are used through a local copy, cached by their hash
        home = ctx.store.home if getattr(ctx, "store", None) is not None else default_home()
        weights = str(local_copy(weights, ctx.params.get("weights_hash"), home / "cache" / "weights"))
        digest = checked_weights(weights, ctx.params.get("weights_hash"), "the version")
        model.load(weights)
        ctx.weights_hash = digest
        ctx.log(f"loaded weights from {source}" + (f" (local copy {weights})" if is_url(source) else "")
                + f" (sha256 {digest})")
    return model


def train(ctx: RunContext, model: BaseModelAdapter, train_items: list, validation_items: list,
          labels: list[str]) -> str:
    """Train, save the weights beside the snapshot, mark it trained; returns the weights folder."""
    if not train_items:
        raise InvalidInput("the train subset is empty")
    workdir = ctx.workdir / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    model.train(TrainData(train_items, validation_items, labels, workdir), ctx)
    ctx.flush()
    return save_weights(ctx, model)


def save_weights(ctx: RunContext, model: BaseModelAdapter) -> str:
    """Write the weights once: into a private folder, hashed, then renamed into place and recorded
    on the version in one step; a version that already has weights keeps them (``Conflict``)."""
    final = ctx.weights_dir
    if final.exists():
        raise InvalidInput(f"version {ctx.snapshot_id} already has weights at {final}: a trained version is never "
                           "rewritten (train a new version)")
    partial = final.with_name(f"weights.partial-{ctx.execution_id}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    model.save(str(partial))
    digest = tree_hash(partial)
    os.rename(partial, final)
    try:
        if ctx.remote is None:
            ctx.set_snapshot(status="trained", weights_uri=str(final), weights_hash=digest)
            where = str(final)
        else:
            where = _upload_weights(ctx, final, digest)
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)  # not recorded: leave nothing behind
        raise
    ctx.log(f"weights saved to {where} (sha256 {digest})")
    ctx.report_progress(100)
    return str(final)


def _upload_weights(ctx: RunContext, folder: Path, digest: str) -> str:
    """A remote run's weights: every file uploaded under the spec's ``weights_key``, then recorded on
    the version (the server checks they hash to ``digest``); returns where they are."""
    spec = ctx.remote or {}
    key = spec.get("weights_key")
    if not key:
        raise InvalidInput("this run's spec has no weights_key: only a training saves weights")
    client = ctx.tracker.client  # type: ignore[attr-defined]
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        client.upload(f"{key}/{path.relative_to(folder).as_posix()}", path)
    ctx.set_snapshot(status="trained", weights_key=key, weights_hash=digest)
    return f"{spec.get('artifact_root', '')}/{key} (local copy {folder})"


def evaluate(ctx: RunContext, model: BaseModelAdapter, items: list, labels: list[str],
             slice_by: list[str] | None = None) -> dict:
    """Evaluate on ``items``: metrics logged, and ``results.json``, ``slices.csv``, ``items.jsonl`` and
    ``predictions.jsonl`` written beside the executed notebook."""
    from .evaluation import write_artifacts

    if not items:
        raise InvalidInput("the test subset is empty")
    workdir = ctx.workdir / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    results = model.evaluate(EvalData(items, labels, workdir, slice_by), ctx)
    results["weights_hash"] = ctx.weights_hash
    write_artifacts(results, ctx.workdir)
    ctx.report_progress(100)
    return results


def summary_table(results: dict) -> str:
    """The overall metrics as a small text table, each headline metric with its 95% interval when the
    evaluation has one."""
    ci = results.get("ci") or {}
    rows = [(k, v) for k, v in results.items() if isinstance(v, int | float) and not isinstance(v, bool)]
    lines = [f"{k:>16}  {v:.4f}" + (f"  [{ci[k][0]:.4f}, {ci[k][1]:.4f}]" if ci.get(k) else "")
             for k, v in rows]
    boot = results.get("bootstrap")
    if boot:
        lines.append(f"{'':>16}  [95% interval: bootstrap over items, {boot['replicates']} replicates, "
                     f"seed {boot['seed']}]")
    return "\n".join(lines)


_MAIN = ("mAP50-95", "accuracy")  # the metric slices are sorted by, the first one present


def slice_table(results: dict, max_rows: int = 60):
    """Per-slice metrics as a pandas DataFrame, worst first by the task's main metric: each slice's item
    count, each metric (with its 95% interval and its difference from the whole set, when the
    evaluation has them) and ``worse``, the metrics significantly worse than the whole set (marked
    ``⚠``). An evaluation without slices prints one line saying so and returns None."""
    import pandas as pd

    slices = results.get("slices") or {}
    if not slices:
        print("no slices: this evaluation has no per-slice metrics (slice_by=[], or the items have no "
              "folder, tag or metadata to slice by)")
        return None
    metrics = list(results.get("ci") or {}) or list(dict.fromkeys(
        k for r in slices.values() for k, v in r.items() if k not in ("n", "n_images")
        and (v is None or isinstance(v, int | float) and not isinstance(v, bool))))
    rows = {}
    for name, r in slices.items():
        row: dict = {"n": r.get("n", r.get("n_images"))}
        for m in metrics:
            row[m] = r.get(m)
            if "ci" in r:
                row[f"{m} 95% CI"] = _interval(r["ci"].get(m))
            if "delta" in r:
                delta = r["delta"].get(m)
                row[f"{m} Δ"] = None if delta is None else f"{delta:+.4f}" + (
                    f" {_interval(r['delta_ci'].get(m))}" if r.get("delta_ci", {}).get(m) else "")
        if "worse" in r:
            row["worse"] = "⚠ " + ", ".join(r["worse"]) if r["worse"] else ""
        rows[name] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    key = next((m for m in _MAIN if m in frame.columns), None)
    if key:
        frame = frame.sort_values(key, na_position="last")
    return frame.head(max_rows)


def _interval(ci: list | None) -> str | None:
    return None if not ci else f"[{ci[0]:.4f}, {ci[1]:.4f}]"


def worst_items(results: dict, n: int = 10) -> list[dict]:
    """The items with the most errors (detection: false positives + misses; classification: wrong,
    most confident first)."""
    items = results.get("items") or []
    if items and "correct" in items[0]:
        wrong = [r for r in items if not r["correct"]]
        return sorted(wrong, key=lambda r: -(r.get("confidence") or 0))[:n]
    return sorted(items, key=lambda r: -(r.get("fp", 0) + r.get("fn", r.get("n_gt", 0))))[:n]


def final_metrics(ctx: RunContext) -> dict[str, float]:
    """The last value of each metric of this execution (for the summary cell); a remote run's are
    those it logged."""
    if ctx.remote is not None:
        return dict(sorted(ctx.last_values.items()))
    return last_values(ctx.store, ctx.execution_id)


def plot_results(results: dict, folder: Path) -> list[Path]:
    """The PR curves (detection) and the confusion matrix saved as SVG beside the notebook and shown
    in it."""
    from .svgplots import confusion_svg, pr_curves_svg

    plots = []
    if results.get("pr_curve"):
        plots.append((folder / "pr_curves.svg", pr_curves_svg(results["pr_curve"])))
    if results.get("confusion_matrix"):
        labels = results.get("confusion_labels") or results.get("labels") or []
        plots.append((folder / "confusion_matrix.svg", confusion_svg(results["confusion_matrix"], labels)))
    for path, svg in plots:
        path.write_text(svg)
        _show_svg(svg)
    return [path for path, _ in plots]


def _show_svg(svg: str) -> None:
    """Show an SVG in the notebook running this (the executed notebook keeps it as an output); nothing
    outside IPython."""
    try:
        from IPython import get_ipython
        from IPython.display import SVG, display
    except ImportError:
        return
    if get_ipython() is not None:
        display(SVG(data=svg))
