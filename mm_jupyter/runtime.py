"""What the train/evaluate notebooks call: one small step per notebook cell, so the executed
notebook reads as a report of the run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .adapter import BaseModelAdapter, RunContext, seed_everything
from .errors import InvalidInput
from .items import EvalData, TrainData
from .queries.executions import last_values
from .queries.items import select_items
from .registry import adapter_class


def open_run(mm_home: str, execution_id: str) -> RunContext:
    """The execution's ``RunContext`` (also made the active run for ``mm.log_metric``)."""
    ctx = RunContext.open(mm_home, execution_id)
    seed_everything(ctx.seed)
    return ctx


def load_items(ctx: RunContext, dataset_id: str, selection: dict | None, role: str) -> list:
    items = select_items(ctx.store, dataset_id, selection or {})
    ctx.log(f"{role}: {len(items)} items from dataset {dataset_id} with {json.dumps(selection)}")
    return items


def build_adapter(ctx: RunContext, adapter: str, config: dict, labels: list[str],
                  weights: str | None = None) -> BaseModelAdapter:
    """Instantiate the model's adapter with the snapshot's config; load ``weights`` when given."""
    model = adapter_class(adapter)(config=config, labels=labels)
    seed_everything(ctx.seed)  # again, now that the adapter's module (and maybe torch) is loaded
    if weights:
        if not Path(weights).is_dir():
            raise InvalidInput(f"weights folder {weights!r} does not exist")
        model.load(weights)
        ctx.log(f"loaded weights from {weights}")
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
    ctx.weights_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(ctx.weights_dir))
    ctx.set_snapshot(status="trained", weights_uri=str(ctx.weights_dir))
    ctx.report_progress(100)
    return str(ctx.weights_dir)


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
    write_artifacts(results, ctx.workdir)
    ctx.report_progress(100)
    return results


def summary_table(results: dict) -> str:
    """The overall metrics as a small text table."""
    rows = [(k, v) for k, v in results.items() if isinstance(v, int | float) and not isinstance(v, bool)]
    return "\n".join(f"{k:>16}  {v:.4f}" for k, v in rows)


def slice_table(results: dict, max_rows: int = 60):
    """Per-slice metrics as a pandas DataFrame (worst first by the task's main metric)."""
    import pandas as pd

    frame = pd.DataFrame.from_dict(results.get("slices") or {}, orient="index")
    key = "mAP50-95" if "mAP50-95" in frame.columns else "accuracy" if "accuracy" in frame.columns else None
    if key:
        frame = frame.sort_values(key, na_position="last")
    return frame.head(max_rows)


def worst_items(results: dict, n: int = 10) -> list[dict]:
    """The items with the most errors (detection: false positives + misses; classification: wrong,
    most confident first)."""
    items = results.get("items") or []
    if items and "correct" in items[0]:
        wrong = [r for r in items if not r["correct"]]
        return sorted(wrong, key=lambda r: -(r.get("confidence") or 0))[:n]
    return sorted(items, key=lambda r: -(r.get("fp", 0) + r.get("fn", r.get("n_gt", 0))))[:n]


def final_metrics(ctx: RunContext) -> dict[str, float]:
    """The last value of each metric of this execution (for the summary cell)."""
    return last_values(ctx.store, ctx.execution_id)


def plot_results(results: dict, folder: Path) -> list[Path]:
    """PR curves (detection) or the confusion matrix (classification) as PNGs beside the notebook."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    if results.get("pr_curve"):
        fig, ax = plt.subplots(figsize=(5, 4))
        for name, curve in results["pr_curve"].items():
            ax.plot(curve["recall"], curve["precision"], label=str(name))
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title="PR curves (IoU 0.5, COCO)")
        ax.legend(fontsize=8)
        paths.append(folder / "pr_curves.png")
    elif results.get("confusion_matrix"):
        labels = results.get("labels") or []
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.imshow(results["confusion_matrix"], cmap="Blues")
        ax.set(xticks=range(len(labels)), yticks=range(len(labels)), xlabel="predicted", ylabel="true",
               title="confusion matrix")
        ax.set_xticklabels(labels, rotation=45, ha="right")
        ax.set_yticklabels(labels)
        for (i, j), v in np.ndenumerate(np.asarray(results["confusion_matrix"])):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
        paths.append(folder / "confusion_matrix.png")
    else:
        return paths
    fig.tight_layout()
    fig.savefig(paths[0], dpi=100)
    plt.show()
    plt.close(fig)
    return paths
