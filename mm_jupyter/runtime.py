"""What the train/evaluate notebooks call: one small step per notebook cell, so the executed
notebook reads as a report of the run."""

from __future__ import annotations

import json
from pathlib import Path

from .adapter import BaseModelAdapter, EvalData, RunContext, TrainData, load_adapter_class, seed_everything
from .errors import InvalidInput


def open_run(mm_home: str, execution_id: str) -> RunContext:
    """The execution's ``RunContext`` (also made the active run for ``mm.log_metric``)."""
    ctx = RunContext.open(mm_home, execution_id)
    seed_everything(ctx.seed)
    return ctx


def load_items(ctx: RunContext, dataset_id: str, selection: dict | None, role: str) -> list:
    from .datasets import select_items

    items = select_items(ctx.store, dataset_id, selection or {})
    ctx.log(f"{role}: {len(items)} items from dataset {dataset_id} with {json.dumps(selection)}")
    return items


def build_adapter(ctx: RunContext, adapter: str, config: dict, labels: list[str],
                  weights: str | None = None) -> BaseModelAdapter:
    """Instantiate the model's adapter with the snapshot's config; load ``weights`` when given."""
    model = load_adapter_class(adapter)(config=config, labels=labels)
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


def evaluate(ctx: RunContext, model: BaseModelAdapter, items: list, labels: list[str]) -> dict:
    """Evaluate on ``items``; the results are logged as metrics and written to ``results.json``."""
    if not items:
        raise InvalidInput("the test subset is empty")
    workdir = ctx.workdir / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    results = model.evaluate(EvalData(items, labels, workdir), ctx)
    (ctx.workdir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    ctx.report_progress(100)
    return results


def final_metrics(ctx: RunContext) -> dict[str, float]:
    """The last value of each metric of this execution (for the summary cell)."""
    rows = ctx.store.query(
        "SELECT name, value FROM metrics WHERE id IN (SELECT max(id) FROM metrics "
        "WHERE execution_id = ? GROUP BY name) ORDER BY name", [ctx.execution_id],
    )
    return {r["name"]: r["value"] for r in rows}
