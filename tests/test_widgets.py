"""Notebook widgets, Python side: forms submit the right executions (and refuse bad input inline),
the table pages/filters/acts, charts downsample and follow metrics written by another process, the
updates flow while a kernel cell is busy, and the quickstart notebook runs under papermill."""

from __future__ import annotations

import asyncio
import html
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import ipywidgets as w
import numpy as np
import pytest
from support.helpers import make_imagefolder

import mm_jupyter as mm
from mm_jupyter import api
from mm_jupyter.api import save_filter
from mm_jupyter.datasets import register_dataset
from mm_jupyter.scheduler import ensure_service, set_paused
from mm_jupyter.widgets import (
    HUB,
    Compare,
    EvaluateForm,
    ExecutionsTable,
    MetricsChart,
    TrainForm,
    downsample,
    minmax_indices,
    wait,
    wait_async,
)
from mm_jupyter.widgets.subsets import FILTER, FOLDER, TAGGED
from mm_jupyter.widgets.table import query_executions

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "notebooks" / "examples" / "quickstart.ipynb"
TOY = "toy_adapter:ToyAdapter"
WRITER = textwrap.dedent("""
    import sys, time
    import mm_jupyter as mm
    snapshot, n, hz = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    with mm.start_run(snapshot) as run:
        print(run.execution_id, flush=True)
        time.sleep(float(sys.argv[4]) if len(sys.argv) > 4 else 0.0)
        for i in range(n):
            run.log_metric("loss", 1.0 / (i + 1), step=i, epoch=i // 10)
            run.flush()
            time.sleep(1.0 / hz)
""")


@pytest.fixture(autouse=True)
def fresh_hub():
    HUB.clear()
    yield
    HUB.clear()


@pytest.fixture
def toy(store, tmp_path):
    register_dataset(store, make_imagefolder(tmp_path / "data"), name="toy-data")
    return mm.register_model("toy", TOY)


def start_writer(snapshot_id: str, n: int, hz: float, delay: float = 0.0) -> tuple[subprocess.Popen, str]:
    """Another process logging ``n`` points at ``hz`` to an offline run; returns it and the execution id."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, snapshot_id, str(n), str(hz), str(delay)],
                            stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    return proc, proc.stdout.readline().strip()


# --- downsampling ---------------------------------------------------------------------------------


def test_downsampling_keeps_extremes_first_last_and_bounds():
    rng = np.random.default_rng(0)
    y = np.cumsum(rng.normal(size=1_000_003))
    y[123_457], y[876_543] = 1e6, -1e6  # single-point spikes must survive
    x = np.arange(len(y), dtype=np.int64)
    xs, ys = downsample(x, y, 2000)
    assert len(xs) <= 2000 and xs.dtype == ys.dtype == np.float64
    assert ys.max() == 1e6 and ys.min() == -1e6
    assert xs[0] == 0 and xs[-1] == len(y) - 1 and np.all(np.diff(xs) > 0)
    for start in range(0, len(y), 100_000):  # every stretch keeps its own extremes
        part = y[start:start + 100_000]
        inside = ys[(xs >= start) & (xs < start + 100_000)]
        assert inside.max() == pytest.approx(part.max(), abs=1e-9) or part.argmax() == 0
    small = np.arange(10.0)
    assert np.array_equal(downsample(small, small)[1], small)
    xs, ys = downsample([0, 1, 2, 3], [1.0, np.nan, np.inf, 4.0])
    assert list(xs) == [0.0, 3.0] and list(ys) == [1.0, 4.0]
    assert len(minmax_indices(np.zeros(5000), 100)) <= 100


# --- forms ----------------------------------------------------------------------------------------


def pause(store, model_id: str, kind: str) -> str:
    """Pause a model's service so that what is submitted to it stays pending (no runner started)."""
    name = ensure_service(store, model_id, kind)["name"]
    set_paused(store, name, True)
    return name


def test_train_form_create_and_train_submits_the_form_values(store, toy):
    form = TrainForm("toy")
    assert not form.error and form.errors() == {}
    assert form.train_button.disabled and not form.create_button.disabled, "no untrained snapshot yet"
    assert form.train_subset.mode.value == TAGGED and "4 items" in form.train_subset.count.value
    form.config.set("epochs", 2)
    form.service.fields["max_attempts"].input.value = "2"
    form.service.fields["execution_timeout"].input.value = "120"
    form.validation_subset.mode.value = FOLDER
    form.validation_subset.folder.value = "val"
    form.name.value = "toy-from-form"
    exe = form.submit(create=True)
    assert exe is not None, form.result.value
    assert form.submit(create=True)["id"] == exe["id"], "an unchanged form submits once"
    snap = store.get("snapshots", exe["snapshot_id"])
    assert snap["name"] == "toy-from-form" and snap["config"]["epochs"] == 2
    assert snap["filters"]["train"] == {"tag": "train"} and snap["filters"]["validation"] == {"dir": "val"}
    assert exe["params"]["config"]["epochs"] == 2 and exe["params"]["validation_selection"] == {"dir": "val"}
    service = store.get("services", exe["service"])
    assert service["max_attempts"] == 2 and service["execution_timeout"] == 120
    assert wait(exe["id"], timeout=60)["status"] == "success"

    pause(store, toy["id"], "evaluate")
    ev_form = EvaluateForm(snap["id"])
    assert ev_form.test_subset.mode.value == TAGGED and ev_form.errors() == {}
    ev_form.test_subset.mode.value = FOLDER
    ev_form.test_subset.folder.value = "test/red"
    ev_form.service.fields["drain_time"].input.value = "30"
    ev = ev_form.submit()
    assert ev is not None, ev_form.result.value
    assert ev["kind"] == "evaluate" and ev["params"]["test_selection"] == {"dir": "test/red"}
    assert ev["params"]["weights"] == store.get("snapshots", snap["id"])["weights_uri"]
    assert store.get("services", ev["service"])["drain_time"] == 30

    pause(store, toy["id"], "train")
    retrain = TrainForm(snap["id"])  # a trained snapshot is never trained again: only Create & Train
    assert retrain.train_button.disabled and "weights are fixed" in retrain.hint.value
    retrain.config.set("epochs", 3)
    assert retrain.train_button.disabled and not retrain.create_button.disabled
    assert retrain.submit() is None and "use Create & Train" in retrain.result.value.replace("&amp;", "&")
    retrain.finetune.value = True
    child = retrain.submit(create=True)
    assert child["status"] == "pending" and child["params"]["config"]["epochs"] == 3
    assert store.get("snapshots", child["snapshot_id"])["parent_id"] == snap["id"]
    assert child["params"]["parent_weights"] == store.get("snapshots", snap["id"])["weights_uri"]


def test_train_form_trains_a_created_snapshot_with_edits_in_place(store, toy):
    pause(store, toy["id"], "train")
    snap = mm.create_snapshot("toy", config={"epochs": 1}, dataset="toy-data")
    form = TrainForm("toy")  # the model's latest untrained snapshot is the Train target
    assert form.target["id"] == snap["id"] and not form.train_button.disabled
    form.config.set("epochs", 2)
    form.train_subset.mode.value = FOLDER
    form.train_subset.folder.value = "train/red"
    exe = form.submit()
    assert exe["snapshot_id"] == snap["id"] and exe["params"]["config"]["epochs"] == 2
    assert exe["params"]["train_selection"] == {"dir": "train/red"}
    assert store.get("snapshots", snap["id"])["config"]["epochs"] == 2
    assert len(mm.snapshots("toy")) == 1


def test_train_form_version_selector_starts_from_the_chosen_version(store, toy):
    pause(store, toy["id"], "train")
    a = mm.create_snapshot("toy", config={"epochs": 1}, dataset="toy-data", train={"dir": "train/red"})
    b = mm.create_snapshot("toy", config={"epochs": 4}, dataset="toy-data")
    form = TrainForm("toy")
    assert [label for label, _ in form.version.options] == ["New version", f"{a['name']} (created)",
                                                            f"{b['name']} (created)"]
    assert form.version.value == "" and form.target["id"] == b["id"]  # the newest untrained one
    form.version.value = a["id"]
    assert form.given["id"] == form.target["id"] == a["id"] and form.version.value == a["id"]
    assert form.config.values()["epochs"] == 1 and form.train_subset.selection() == {"dir": "train/red"}
    exe = form.submit()
    assert exe["snapshot_id"] == a["id"] and exe["params"]["train_selection"] == {"dir": "train/red"}
    form.version.value = ""
    assert form.given is None and form.version.value == ""


def test_config_step_shows_every_key_with_its_type_default_and_help(store, toy):
    from mm_jupyter.registry import adapter_class
    from mm_jupyter.widgets.fields import ConfigEditor

    yolo = adapter_class("yolo")
    editor = ConfigEditor(yolo.config_fields(), {}, lambda: None)
    assert list(editor.fields) == [*yolo.configuration, "eval_start_delay_secs", "eval_throttle_secs", "eval_steps"]
    shown = " ".join(c.value for c in editor.children if isinstance(c, w.HTML))
    for spec in yolo.config_fields():
        assert spec["help"] and html.escape(spec["help"]) in shown, spec["name"]
    assert "any, default none" in editor.fields["eval_steps"].children[0].children[1].value
    form = TrainForm("toy")
    assert {"eval_steps", "eval_throttle_secs", "epochs"} <= set(form.config.fields)


def test_invalid_values_are_shown_inline_and_nothing_is_submitted(store, toy):
    form = TrainForm("toy")
    form.config.set("epochs", "three")
    form.config.set("sleep", "fast")
    form.service.fields["execution_timeout"].input.value = "-5"
    form.service.fields["concurrency"].input.value = "1.5"
    form.train_subset.tag.value = "no-such-tag"
    errors = form.errors()
    assert set(errors) == {"config.epochs", "config.sleep", "service.execution_timeout", "service.concurrency",
                           "train"}
    assert "epochs must be an integer" in form.config.fields["epochs"].message.value
    assert "positive number" in form.service.fields["execution_timeout"].message.value
    assert "no items" in form.train_subset.count.value
    assert form.create_button.disabled and form.train_button.disabled
    assert form.submit(create=True) is None and "epochs" in form.result.value
    assert store.find("executions") == [] and store.find("snapshots") == []
    form.train_subset.mode.value = FILTER
    form.train_subset.filter.value = "(custom query)"
    form.train_subset.query.value = '{"tags": {"$nope": 1}}'
    assert "unknown operator" in form.train_subset.count.value or "$nope" in form.train_subset.count.value
    form.config.set("epochs", 1)
    assert "config.epochs" not in form.errors() and form.config.fields["epochs"].message.value == ""


def test_service_step_runner_and_tracking_url_prefilled_checked_and_sent_only_when_changed(store, toy):
    from support.helpers import free_port

    from mm_jupyter.widgets.fields import TRACKING_URL_HINT

    form = TrainForm("toy")
    service = form.service
    assert service.runner.input.value == "local" and service.tracking_url.input.value == ""
    assert TRACKING_URL_HINT in " ".join(c.value for c in service.children if isinstance(c, w.HTML))
    assert service.runner in service.children and service.tracking_url in service.children
    assert "runner" not in service.values() and "tracking_url" not in service.values(), "a plain submit sends nothing new"

    # the core's messages, field by field: a bad runner, a tracking URL without a Dask runner, a bad URL
    service.runner.input.value = "dask://scheduler"
    assert form.errors() == {"service.runner": "runner must be 'local' or 'dask://host:port', got 'dask://scheduler'"}
    service.runner.input.value = "local"
    service.tracking_url.input.value = "http://127.0.0.1:8888"
    assert form.errors() == {"service.tracking_url": "service setting tracking_url needs a dask://host:port runner "
                                                     "(a local run writes to the store directly)"}
    assert "needs a dask://host:port runner" in service.tracking_url.message.value
    assert form.create_button.disabled and form.submit(create=True) is None
    service.tracking_url.input.value = "ftp://lab:8888"
    assert form.errors() == {"service.tracking_url": "tracking URL must be http://host:port or https://host:port, "
                                                     "got 'ftp://lab:8888'"}

    # a Dask runner with a tracking URL nobody answers: what is typed is what is sent, and the core refuses
    # it in one line at submit; nothing is created
    scheduler, dead = free_port(), free_port()
    service.runner.input.value = f" dask://127.0.0.1:{scheduler} "
    service.tracking_url.input.value = f"http://127.0.0.1:{dead}/"
    assert form.errors() == {} and not form.create_button.disabled
    assert service.values()["runner"] == f"dask://127.0.0.1:{scheduler}"
    assert service.values()["tracking_url"] == f"http://127.0.0.1:{dead}"
    assert form.submit(create=True) is None
    shown = html.unescape(form.result.value)
    assert f"tracking URL http://127.0.0.1:{dead} is unreachable: " in shown, shown
    assert store.find("executions") == [] and store.find("snapshots") == []
    assert store.first("services", name=f"mgmt-train-{toy['id']}") is None, "the service is not changed either"

    # a Dask service with a tracking URL: both pre-filled; unchanged they are not sent; "" clears the URL
    ensure_service(store, toy["id"], "evaluate", {"runner": f"dask://127.0.0.1:{scheduler}",
                                                  "tracking_url": f"http://127.0.0.1:{dead}"})
    snap = mm.create_snapshot("toy", config={"epochs": 1}, dataset="toy-data")
    ev_service = EvaluateForm(snap["id"]).service
    assert ev_service.runner.input.value == f"dask://127.0.0.1:{scheduler}"
    assert ev_service.tracking_url.input.value == f"http://127.0.0.1:{dead}"
    assert ev_service.errors() == {} and "runner" not in ev_service.values()
    assert "tracking_url" not in ev_service.values()
    ev_service.tracking_url.input.value = ""
    assert ev_service.values()["tracking_url"] == "" and "runner" not in ev_service.values()
    ev_service.tracking_url.input.value = f"http://127.0.0.1:{dead}"
    ev_service.runner.input.value = "local"  # the URL is no longer valid with it
    assert set(ev_service.errors()) == {"tracking_url"}


def test_default_subset_follows_the_models_predefined_filters(store, toy):
    dataset = store.get("datasets", "toy-data")
    form = TrainForm("toy")
    assert (form.train_subset.mode.value, form.validation_subset.mode.value) == (TAGGED, TAGGED)
    save_filter(store, "toy.train", '{ "tags" :  "train" }', dataset["id"])  # the tagged-items filter
    save_filter(store, "toy.validation", {"$and": [{"tags": "validation"}, {"dir": "val/red"}]})
    form = TrainForm("toy")
    assert form.train_subset.mode.value == TAGGED
    assert form.validation_subset.mode.value == FILTER and form.validation_subset.filter.value == "toy.validation"
    form.validation_subset.show.value = True
    assert "val/red" in form.validation_subset.shown.value and "$and" in form.validation_subset.shown.value
    assert "2 items" in form.validation_subset.count.value
    assert form.values()["validation"] == {"filter": "toy.validation"}


def test_a_store_that_cannot_be_opened_is_one_clear_error(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    bad_db = tmp_path / "bad"
    bad_db.mkdir()
    (bad_db / "mm.db").write_bytes(b"this is not sqlite" * 100)
    for home in (not_a_dir, bad_db):
        widgets = [TrainForm("m", home=str(home)), EvaluateForm("s", home=str(home)),
                   ExecutionsTable(home=str(home)), MetricsChart("e", home=str(home)),
                   Compare(["s"], home=str(home))]
        for widget in widgets:
            assert widget.error and "\n" not in widget.error and "Traceback" not in widget.error
            assert "store" in widget.error or "mm.db" in widget.error or str(home) in widget.error, widget.error
    assert "unknown model or snapshot" in TrainForm("nope", home=str(tmp_path / "ok")).error


# --- executions table -----------------------------------------------------------------------------


def _fake_executions(store, n: int, model_id: str = "m-fake", service: str = "svc-a") -> None:
    t = time.time()
    rows = [{"id": f"e-{i:010d}", "kind": "train" if i % 2 else "evaluate", "snapshot_id": "s-x",
             "model_id": model_id, "service": service, "status": "success" if i % 3 else "failed",
             "progress": 100.0, "attempts": 1, "created_at": t - n + i, "started_at": t - n + i,
             "ended_at": t - n + i + 5, "params": "{}", "name": f"run {i}"} for i in range(n)]
    store.db["executions"].insert_all(rows, batch_size=2000)


def test_table_pages_filters_and_stays_fast_with_10000_executions(store):
    store.insert("models", {"id": "m-fake", "name": "fake-model", "adapter": "", "labels": [], "config": {}})
    _fake_executions(store, 10_000)
    table = ExecutionsTable(page_size=50, live=False)
    assert table.total == 10_000 and len(table.rows) == 50 and table.rows[0]["id"] == "e-0000009999"
    started = time.perf_counter()
    for _ in range(10):
        table.refresh()
    assert (time.perf_counter() - started) / 10 < 0.2
    table.page = 3
    assert table.rows[0]["id"] == "e-0000009849"
    table.status = "failed"
    assert table.page == 0 and table.total == 3334 and {r["status"] for r in table.rows} == {"failed"}
    table.status, table.search = "", "run 9998"
    assert [r["id"] for r in table.rows] == ["e-0000009998"]
    table.search = "fake-model"
    assert table.total == 10_000
    only_train = ExecutionsTable("train", live=False)
    assert only_train.total == 5_000 and {r["kind"] for r in only_train.rows} == {"train"}
    rows, total = query_executions(store, service="nope")
    assert rows == [] and total == 0


def test_table_shows_service_errors_and_warnings_with_reasons(store):
    defaults = {"model_id": "m-fake", "kind": "train", "concurrency": 1, "max_instances": 1, "queue_size": 10,
                "execution_timeout": 60.0, "drain_time": 1.0, "on_reset": "fail", "max_attempts": 1,
                "runner": "local", "created_at": time.time()}
    store.db["services"].insert_all([
        {**defaults, "name": "svc-a", "kernel_name": "no-such-kernel", "paused": 0},
        {**defaults, "name": "svc-b", "kernel_name": "python3", "paused": 1},
        {**defaults, "name": "svc-c", "kernel_name": "python3", "paused": 0},
    ])
    for service in ("svc-a", "svc-b", "svc-c"):
        _fake_executions(store, 1, service=service)
        store.conn.execute("UPDATE executions SET id = ? WHERE service = ?", [f"e-{service}", service])
    table = ExecutionsTable(live=False)
    health = {r["service"]: (r["health"], r["health_reason"]) for r in table.rows}
    assert health["svc-a"][0] == "error" and "not installed" in health["svc-a"][1]
    assert health["svc-b"][0] == "warning" and "paused" in health["svc-b"][1]
    assert health["svc-c"] == ("ok", "")
    table.service = "svc-b"  # the link to a service's executions
    assert [r["id"] for r in table.rows] == ["e-svc-b"]


def test_table_row_actions(store, toy):
    snap = mm.create_snapshot("toy", config={"epochs": 1}, dataset="toy-data")
    exe = mm.train(snap["id"], wait=True)
    table = ExecutionsTable(live=False)
    sent = []
    table.send = sent.append
    assert table.action("logs", exe["id"])["text"] and "epoch 1/1" in sent[-1]["text"]
    opened = table.action("open", exe["id"])
    assert opened["exists"] and opened["path"].endswith("notebook.ipynb")
    pause(store, toy["id"], "train")
    table.action("rerun", exe["id"])
    assert "runs again as" in table.message and table.total == 2
    rerun = table.rows[0]
    assert rerun["status"] == "pending" and rerun["health"] == "warning"
    table.action("abort", rerun["id"])
    assert store.get("executions", rerun["id"])["status"] == "terminated"
    table.action("remove", exe["id"])
    assert table.total == 1 and table.message == f"removed {exe['id']}"
    table.action("abort", exe["id"])
    assert "unknown execution" in table.message


# --- live updates from another process ------------------------------------------------------------


def test_poller_delivers_points_and_status_from_another_process(store):
    mm.register_model("mine")
    snap = mm.create_snapshot("mine")

    async def scenario() -> tuple[list[int], list[str], MetricsChart, ExecutionsTable, dict]:
        proc, exe_id = start_writer(snap["id"], n=40, hz=20, delay=0.6)
        chart = MetricsChart(exe_id, ["loss"])
        table = ExecutionsTable()
        mark = chart.panels["loss"].lines[exe_id]
        sizes: list[int] = []
        seen: list[str] = []
        mark.observe(lambda change: sizes.append(len(change["new"])), names="x")
        table.observe(lambda change: seen.append(change["new"][0]["status"]), names="rows")
        seen.append(table.rows[0]["status"])
        final = await wait_async(exe_id, timeout=30)
        await asyncio.sleep(0.7)
        proc.wait(10)
        return sizes, seen, chart, table, final

    sizes, seen, chart, table, final = asyncio.run(scenario())
    assert final["status"] == "success"
    assert len(sizes) >= 3 and sizes == sorted(sizes) and sizes[-1] == 40, sizes
    x, y = chart.data("loss", final["id"])
    assert list(x) == list(range(40)) and y[0] == 1.0
    assert seen[0] == "in-progress" and seen[-1] == "success"
    assert not chart.live and chart not in HUB and table in HUB
    chart.x_select.value = "epoch"
    assert chart.data("loss", final["id"])[0].max() == 3.0


def offline_training(snapshot_id: str, epochs: int) -> str:
    """A finished training execution with loss/accuracy per epoch, logged from this process."""
    with mm.start_run(snapshot_id) as run:
        for epoch in range(1, epochs + 1):
            run.log_metrics({"loss": 1.0 / epoch, "accuracy": 0.3 + 0.2 * epoch}, step=epoch, epoch=epoch)
    return run.execution_id


def test_chart_defaults_errors_and_snapshot_ids(store, toy):
    snap = mm.create_snapshot("toy", config={"epochs": 2}, dataset="toy-data")
    assert "has no training execution yet" in MetricsChart(snap["id"]).error
    assert "unknown execution or snapshot" in MetricsChart("e-nope").error
    assert "x must be one of" in MetricsChart(snap["id"], x="minutes").error
    exe_id = offline_training(snap["id"], 2)
    chart = MetricsChart(snap["id"])  # a snapshot stands for its latest training; classification panels
    assert list(chart.panels) == ["loss", "accuracy"] and not chart.live and chart not in HUB
    assert list(chart.data("accuracy", exe_id)[0]) == [1.0, 2.0]
    mm.register_model("mine")
    with mm.start_run(mm.create_snapshot("mine")["id"]) as run:
        run.log_metric("custom", 1.0)
        run.log_metric("other", 2.0)
    dynamic = MetricsChart(run.execution_id)  # no adapter, no defaults: every metric gets a panel
    assert set(dynamic.panels) == {"custom", "other"}


def test_y_ticks_never_repeat_a_label_and_a_flat_line_gets_a_range(store):
    from mm_jupyter.widgets.chart import integer_ticks, nice_step, y_tick_format

    for lo, hi in [(0.3001, 0.3004), (0.0, 1.0), (1000.0, 1000.5), (5.9, 6.1), (0.12345, 0.12346),
                   (-2.0, 3.0), (1e-6, 3e-6), (12345.0, 12346.0), (0.9990, 0.9995), (6.4, 7.4)]:
        for count in (5, 10, 20):  # bqplot picks the tick count from the figure's size
            fmt, step = y_tick_format(lo, hi), nice_step(lo, hi, count)
            ticks = np.arange(np.ceil(lo / step) * step, hi + step / 2, step)
            labels = [format(t, fmt.replace("~", "")) for t in ticks]  # d3's "~g" = Python's "g" without zeros
            assert len(ticks) >= 3 and len(set(labels)) == len(labels), (lo, hi, count, fmt, labels)
    for lo, hi in [(1, 2), (1, 3), (0, 7), (1, 40), (3, 1234), (5, 5)]:
        ticks = integer_ticks(lo, hi)
        assert all(float(t).is_integer() for t in ticks) and ticks[0] <= lo and ticks[-1] >= hi, (lo, hi, ticks)
        assert len(ticks) <= 12, ticks
    mm.register_model("mine")
    with mm.start_run(mm.create_snapshot("mine")["id"]) as run:
        for step, value in enumerate([0.3001, 0.3002, 0.3004]):
            run.log_metric("acc", value, step=step)
            run.log_metric("flat", 0.5, step=step)
    chart = MetricsChart(run.execution_id, live=False)
    assert chart.panels["acc"].y_axis.tick_format == y_tick_format(0.3001, 0.3004) != ".3~g"
    assert list(chart.panels["acc"].x_axis.tick_values) == [0, 1, 2], "whole steps, no 0.5"
    flat = chart.panels["flat"]
    assert flat.sy.min < 0.5 < flat.sy.max, "a flat line is drawn inside a small range, not on a zero-height axis"


def fake_evaluation(store, snapshot_id: str, results: dict | None, predictions: list[dict] | None) -> dict:
    """A successful evaluate execution with the artifacts an evaluation leaves (results, predictions)."""
    snap = store.get("snapshots", snapshot_id)
    dataset = store.get("datasets", snap["dataset_id"])
    exe = store.insert("executions", {
        "kind": "evaluate", "snapshot_id": snap["id"], "model_id": snap["model_id"], "service": "svc",
        "status": "success", "progress": 100.0, "attempts": 1, "started_at": time.time(), "ended_at": time.time(),
        "params": {"dataset_id": dataset["id"], "test_selection": {"tag": "test"}, "labels": dataset["labels"]},
        "name": f"evaluate {snap['name']}"})
    folder = store.execution_dir(exe)
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(results or {"accuracy": 0.5}))
    if predictions is not None:
        (folder / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in predictions))
    store.insert_metrics([{"execution_id": exe["id"], "name": "accuracy", "value": 0.5}])
    return exe


def test_compare_configs_metrics_and_slices(store, toy):
    a = mm.create_snapshot("toy", config={"epochs": 1}, dataset="toy-data")
    b = mm.create_snapshot("toy", config={"epochs": 2}, dataset="toy-data")
    for snap in (a, b):
        offline_training(snap["id"], snap["config"]["epochs"])
    test_items = mm.select_items(store, "toy-data", {"tag": "test"})
    labels = store.get("datasets", "toy-data")["labels"]
    # a: results without slices -> recomputed from predictions (every "red" item predicted wrong)
    preds = [{"item_id": i.id, "label": 1 - i.annotations["label"] if labels[i.annotations["label"]] == "red"
              else i.annotations["label"]} for i in test_items]
    fake_evaluation(store, a["id"], None, preds)
    # b: results that hold their own slices
    fake_evaluation(store, b["id"], {"accuracy": 1.0, "slices": {"dir=test/red": {"accuracy": 1.0},
                                                                 "dir=test/blue": {"accuracy": 1.0}}}, None)
    cmp = Compare([a["id"], b["id"]])
    rows = {name: (values, diff) for name, values, diff in cmp.config_rows()}
    assert rows["config.epochs"] == ([1, 2], True) and rows["config.sleep"][1] is False
    assert "background:#fff3cd" in cmp.config_html.value
    metrics = cmp.final_metrics()
    assert metrics["loss"] == [1.0, 0.5] and metrics["evaluate/accuracy"] == [0.5, 0.5]
    assert "<b>0.5</b>" in cmp.metrics_html.value, "the lower loss is the best"
    eval_row = cmp.metrics_html.value.split("evaluate/accuracy", 1)[1].split("</tr>", 1)[0]
    assert "<b>" not in eval_row, "a tie (0.5 and 0.5) marks no best"
    assert cmp.slice_metric.value == "accuracy"
    slices = cmp.slice_table()
    assert slices["dir=test/red"] == [0.0, 1.0] and slices["dir=test/blue"] == [1.0, 1.0]
    assert cmp.chart is not None and len(cmp.chart.executions) == 2
    blue = cmp.slices_html.value.split("dir=test/blue", 1)[1].split("</tr>", 1)[0]
    red = cmp.slices_html.value.split("dir=test/red", 1)[1].split("</tr>", 1)[0]
    assert "<b>" not in blue and red.count("<b>") == 1, "ties unmarked; the one better slice value marked"
    assert cmp in HUB


# --- a real kernel: updates flow while another cell is busy ---------------------------------------


@pytest.mark.slow
def test_updates_reach_the_front_end_while_a_cell_is_busy(store, home):
    from jupyter_client.manager import start_new_kernel

    mm.register_model("mine")
    snap = mm.create_snapshot("mine")
    km, kc = start_new_kernel(kernel_name="python3", env={**os.environ, "MM_HOME": str(home)})
    try:
        setup = f"""
import subprocess, sys
from mm_jupyter import widgets as mw
proc = subprocess.Popen([sys.executable, "-c", {WRITER!r}, {snap['id']!r}, "30", "10", "0.5"],
                        stdout=subprocess.PIPE, text=True)
exe_id = proc.stdout.readline().strip()
chart, table = mw.MetricsChart(exe_id, ["loss"]), mw.ExecutionsTable()
"""
        for label, busy in (("await", "final = await mw.wait_async(exe_id)"), ("block", "final = mw.wait(exe_id)")):
            reply = kc.execute_interactive(setup, timeout=60, output_hook=lambda _m: None)
            assert reply["content"]["status"] == "ok", reply["content"]
            msg_id = kc.execute(busy + "\nprint(final['status'])")
            updates, statuses, busy_window, printed = _collect(kc, msg_id)
            assert printed.strip() == "success", (label, printed)
            assert len(updates) >= 3, (label, updates)
            assert sum(busy_window[0] < t < busy_window[1] for t in updates) >= 3, label
            assert any(status == "success" and t < busy_window[1] for t, status in statuses), (label, statuses)
    finally:
        km.shutdown_kernel(now=True)


def _collect(kc, msg_id: str, timeout: float = 60.0) -> tuple[list[float], list[tuple[float, str]],
                                                               tuple[float, float], str]:
    """iopub traffic of one execute request: times of line updates, (time, table status), busy..idle, stdout."""
    updates: list[float] = []
    statuses: list[tuple[float, str]] = []
    window = [0.0, 0.0]
    out = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except Exception:
            continue
        content, now = msg["content"], time.monotonic()
        if msg["msg_type"] == "comm_msg" and content["data"].get("method") == "update":
            state = content["data"].get("state", {})
            if "x" in state:
                updates.append(now)
            if state.get("rows"):
                statuses.append((now, state["rows"][0]["status"]))
        own = msg["parent_header"].get("msg_id") == msg_id
        if own and msg["msg_type"] == "stream":
            out += content["text"]
        if own and msg["msg_type"] == "status":
            if content["execution_state"] == "busy":
                window[0] = now
            elif content["execution_state"] == "idle":
                window[1] = now
                break
    return updates, statuses, (window[0], window[1]), out


# --- the quickstart notebook ----------------------------------------------------------------------


@pytest.mark.slow
def test_quickstart_notebook_runs_under_papermill(tmp_path):
    import nbformat
    import papermill

    out = tmp_path / "quickstart.out.ipynb"
    papermill.execute_notebook(str(QUICKSTART), str(out), parameters={"home": str(tmp_path / "home")},
                               kernel_name="python3", cwd=str(QUICKSTART.parent), progress_bar=False)
    nb = nbformat.read(out, as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "success" in text and not any(o.output_type == "error" for c in nb.cells for o in c.get("outputs", []))
    store = api.connect(tmp_path / "home")
    runs = store.find("executions", order="created_at")
    assert [r["kind"] for r in runs].count("train") == 2 and all(r["status"] == "success" for r in runs)
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert any(m["model_name"] == "AnyModel" for m in state.values())
    assert json.dumps(state).count("LinesModel") >= 7
