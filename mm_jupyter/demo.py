"""``mm demo``: the whole path on the embedded defaults (local kernel, SQLite file, artifact folder)."""

from __future__ import annotations

from pathlib import Path

from . import api
from .errors import NotFound
from .queries.catalog import dataset_row
from .textfmt import EXECUTION_COLUMNS, ProgressPrinter, execution_rows, table


def run_demo(epochs: int = 40, folder: str | None = None) -> int:
    """Generate shapes data, register a YOLO model, train a snapshot, evaluate it, print the results."""
    from .datasets import register_dataset
    from .shapes import generate_shapes

    store = api.connect()
    data = Path(folder) if folder else store.home / "data" / "shapes-detect"
    print(f"mm demo: home {store.home}")
    if not (data / "data.yaml").exists():
        generate_shapes(data, flavour="detect", n_train=48, n_val=16, n_test=24, size=96, seed=0)
    try:
        dataset = dataset_row(store, "shapes")
    except NotFound:
        dataset = register_dataset(store, data, name="shapes")
    print(f"dataset  {dataset['id']} shapes: {data}")
    try:
        model = store.get("models", "shapes-yolo")
    except NotFound:
        model = api.register_model("shapes-yolo", "yolo", description="YOLOv8n from yaml on the shapes demo")
    print(f"model    {model['id']} shapes-yolo (adapter {model['adapter']})")
    snap = api.create_snapshot(model["id"], config={"epochs": epochs, "batch": 8, "lr0": 0.01}, dataset=dataset["id"])
    print(f"snapshot {snap['id']} {snap['name']}: training {epochs} epochs")
    show = ProgressPrinter(force=True)
    trained = api.wait_for(api.train(snap["id"])["id"], on_update=show)
    show.done()
    if trained["status"] != "success":
        print(f"training {trained['id']} ended {trained['status']}: {trained['error']}")
        return 1
    print(f"evaluating {snap['id']} on its test subset")
    show = ProgressPrinter(force=True)
    evaluated = api.wait_for(api.evaluate(snap["id"])["id"], on_update=show)
    show.done()
    rows = api.list_executions(search=model["id"], limit=10)
    print("\n" + table(execution_rows(rows), EXECUTION_COLUMNS) + "\n")
    for exe, title in ((trained, "training (validation figures are ultralytics' own)"),
                       (evaluated, "evaluation (COCO mAP)")):
        last = {m["name"]: m["value"] for m in api.get_metrics(exe["id"])}
        print(f"final metrics of {title}:")
        print("  " + "  ".join(f"{k}={v:.4f}" for k, v in last.items()))
        print(f"  notebook: {store.execution_dir(exe) / 'notebook.ipynb'}")
    print(f"weights: {store.get('snapshots', snap['id'])['weights_uri']}")
    return 0 if evaluated["status"] == "success" else 1
