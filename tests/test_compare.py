"""The one comparison (``queries.compare``) against a real store, over REST against a real Jupyter
server, and in the ``Compare`` widget: trainings logged through ``mm.start_run`` (no real training)
and evaluations with real results (``evaluation.evaluate_predictions`` on a registered shapes
dataset, as ``support.eval_data`` makes them). Curves aligned by epoch or step, final metrics with
the best marked (lower for losses, none on a tie as shown), only differing config keys, slice deltas
with intervals between two evaluations on one test set, and a clear line for different test sets,
different models, the wrong number of evaluations, 1 or 6 refs, an unknown ref or one given twice."""

from __future__ import annotations

import json
import math

import pytest
import requests
from support.eval_data import evaluation_execution, shapes_dataset
from support.helpers import TOY, digest
from support.server_util import start_server

import mm_jupyter as mm
from mm_jupyter.adapter import scalars
from mm_jupyter.errors import InvalidInput, NotFound
from mm_jupyter.evaluation import load_results
from mm_jupyter.queries import compare as core

SLICE_BY = ["metadata.group"]


def training(store, snapshot_id: str, epochs: int, accuracy_cap: float = 0.9) -> str:
    """A finished training with per-epoch loss/accuracy (step = epoch) and per-step ``train/loss``
    (three points an epoch, each carrying its epoch), logged through the Python API."""
    with mm.start_run(snapshot_id, store=store) as run:
        for epoch in range(1, epochs + 1):
            for k in range(3):
                run.log_metric("train/loss", 2.0 / (epoch + k / 3), step=epoch * 10 + k, epoch=epoch)
            run.log_metrics({"loss": 1.0 / epoch, "accuracy": min(accuracy_cap, 0.3 + 0.3 * epoch)},
                            step=epoch, epoch=epoch)
    return run.execution_id


def evaluation(store, dataset: dict, snapshot_id: str, seed: int, **kwargs) -> dict:
    """A successful classification evaluation with its results, its metrics logged as a run logs them."""
    exe = evaluation_execution(store, dataset, snapshot_id, task="classify", slice_by=SLICE_BY, seed=seed, **kwargs)
    results = load_results(store.execution_dir(exe))
    store.insert_metrics([{"execution_id": exe["id"], "name": k, "value": v} for k, v in scalars(results).items()])
    return exe


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Versions a, b (toy: 2 and 3 epochs), c (another model), d (toy, evaluated on another dataset),
    e (toy, never run); trainings and evaluations; a jupyter server on the store."""
    from mm_jupyter.store import Store

    base = tmp_path_factory.mktemp("compare")
    home = base / "mmhome"
    store = Store(home)
    cls = shapes_dataset(store, base / "cls", flavour="classify", n=45, groups=3, name="shapes-cls")
    other_ds = shapes_dataset(store, base / "cls2", flavour="classify", n=30, groups=3, name="shapes-cls2")
    mm.register_model("toy", TOY, store=store)
    mm.register_model("other", TOY, store=store)

    def version(model: str, **config) -> str:
        return mm.create_snapshot(model, config=config, dataset="shapes-cls", store=store)["id"]

    ids = {"a": version("toy", epochs=2), "b": version("toy", epochs=3, sleep=0.5),
           "c": version("other", epochs=2), "d": version("toy", epochs=4), "e": version("toy", epochs=5)}
    runs = {k: training(store, ids[k], n) for k, n in (("a", 2), ("b", 3), ("c", 2), ("d", 4))}
    evals = {"a": evaluation(store, cls, ids["a"], 0), "b": evaluation(store, cls, ids["b"], 1),
             "c": evaluation(store, cls, ids["c"], 2), "d": evaluation(store, other_ds, ids["d"], 3)}
    server = start_server(base / "jupyter", home)
    try:
        yield {"store": store, "ids": ids, "runs": runs, "evals": evals, "server": server,
               "datasets": {"cls": cls, "other": other_ds}}
    finally:
        server.stop()
        store.close()


# --- the rule for "best" ----------------------------------------------------------------------------


def test_best_is_lowest_for_losses_highest_otherwise_and_none_on_ties_as_shown():
    assert core.best_index("loss", [0.5, 0.3, 0.4]) == 1
    assert core.best_index("val/box_loss", [0.5, 0.3]) == 1
    assert core.best_index("accuracy", [0.5, 0.3, 0.4]) == 0
    assert core.best_index("evaluate/mAP50-95", [0.2, 0.61, None]) == 1
    assert core.best_index("accuracy", [0.9123401, 0.9123402]) is None, "equal as shown (4 significant digits)"
    assert core.best_index("accuracy", [0.91234, 0.91236]) == 1, "0.9123 vs 0.9124: shown apart"
    assert core.best_index("loss", [0.3, 0.3, 0.5]) is None, "a tied best marks nothing"
    assert core.best_index("accuracy", [0.5, 0.5, 0.7]) == 2, "a tie below the best does not matter"
    assert core.best_index("accuracy", [0.5]) is None and core.best_index("accuracy", [0.5, None]) is None
    assert core.best_index("accuracy", [float("nan"), 0.5]) is None
    assert core.best_index("evaluate/n_images", [10, 20]) is None, "counts rank nothing"
    assert core.best_index("lr", [0.1, 0.01]) is None


# --- the read layer ---------------------------------------------------------------------------------


def test_two_versions_curves_final_metrics_config_diff_and_slice_deltas(env):
    store, ids, runs, evals = env["store"], env["ids"], env["runs"], env["evals"]
    before = digest(store)
    out = core.compare(store, [ids["a"], ids["b"]])
    assert json.loads(json.dumps(out, allow_nan=False)) == out, "plain JSON"
    cols = out["columns"]
    assert [c["kind"] for c in cols] == ["version", "version"]
    assert [c["train_execution_id"] for c in cols] == [runs["a"], runs["b"]]
    assert [c["evaluate_execution_id"] for c in cols] == [evals["a"]["id"], evals["b"]["id"]]
    assert cols[0]["model_name"] == "toy" and cols[0]["label"] != cols[1]["label"]
    assert out["notes"] == []

    # curves: per-epoch metrics by epoch, per-step ones (several points an epoch) by step
    loss = out["curves"]["loss"]
    assert loss["x"] == "epoch"
    assert [s["column"] for s in loss["series"]] == [0, 1]
    assert loss["series"][0]["points"] == [[1, 1.0], [2, 0.5]]
    assert loss["series"][1]["points"] == [[1, 1.0], [2, 0.5], [3, pytest.approx(1 / 3)]]
    steps = out["curves"]["train/loss"]
    assert steps["x"] == "step" and [p[0] for p in steps["series"][0]["points"]] == [10, 11, 12, 20, 21, 22]

    # final metrics: the lower loss wins, a tie (0.9 and 0.9) marks nothing
    final = {r["metric"]: r for r in out["final"]}
    assert final["loss"]["values"] == [0.5, pytest.approx(1 / 3)] and final["loss"]["best"] == 1
    assert final["loss"]["lower_is_better"] and final["loss"]["shown"] == ["0.5", "0.3333"]
    accuracy = final["accuracy"]  # 0.3 + 0.3 * 2 = 0.8999999999999999 and min(0.9, 1.2): equal as shown
    assert accuracy["values"] == [pytest.approx(0.9), 0.9] and accuracy["values"][0] != accuracy["values"][1]
    assert accuracy["shown"] == ["0.9", "0.9"] and accuracy["best"] is None
    results = [load_results(store.execution_dir(evals[k])) for k in ("a", "b")]
    acc = final["evaluate/accuracy"]
    assert acc["values"] == [results[0]["accuracy"], results[1]["accuracy"]]
    assert acc["best"] == (None if acc["shown"][0] == acc["shown"][1] else (0 if acc["values"][0] > acc["values"][1] else 1))
    names = [r["metric"] for r in out["final"]]
    assert names.index("train/loss") < names.index("evaluate/accuracy"), "training metrics first"

    # config: only what differs (epochs, sleep); every field in `config`
    assert [r["key"] for r in out["config_diff"]] == ["config.epochs", "config.sleep"]
    diff = {r["key"]: r for r in out["config_diff"]}
    assert diff["config.epochs"]["values"] == [2, 3] and diff["config.epochs"]["absent"] == [False, False]
    same = {r["key"]: r for r in out["config"] if not r["differs"]}
    assert {"model", "dataset", "config.seed", "test dataset", "test subset"} <= set(same)

    # slice deltas with intervals: one model, one test set, two evaluations
    assert out["slices_reason"] is None
    sl = out["slices"]
    assert sl["evaluations"] == [evals["a"]["id"], evals["b"]["id"]] and sl["columns"] == [0, 1]
    assert sl["metrics"][0] == "accuracy" and sl["intervals"]
    rows = {r["name"]: r for r in sl["rows"]}
    assert set(rows) == {f"metadata.group=g0{i}" for i in range(3)}
    stored = [r["slices"] for r in results]
    for name, row in rows.items():
        p = row["metrics"]["accuracy"]
        v1, v2 = stored[0][name]["accuracy"], stored[1][name]["accuracy"]
        (l1, u1), (l2, u2) = stored[0][name]["ci"]["accuracy"], stored[1][name]["ci"]["accuracy"]
        assert p["values"] == [v1, v2] and p["delta"] == pytest.approx(v2 - v1)
        assert row["n"] == [stored[0][name]["n"], stored[1][name]["n"]]
        low = v2 - v1 - math.sqrt((v2 - l2) ** 2 + (u1 - v1) ** 2)
        high = v2 - v1 + math.sqrt((u2 - v2) ** 2 + (v1 - l1) ** 2)
        assert p["delta_ci"] == [pytest.approx(low), pytest.approx(high)]
        assert p["delta_ci"][0] <= p["delta"] <= p["delta_ci"][1]
        assert p["significant"] == (low > 0 or high < 0)
    whole = sl["whole"]["metrics"]["accuracy"]
    assert whole["values"] == [results[0]["accuracy"], results[1]["accuracy"]] and whole["delta_ci"]
    assert digest(store) == before, "a comparison writes nothing"


def test_symmetric_intervals_combine_their_half_widths():
    lo, hi = core.delta_interval((0.5, 0.7), ([0.4, 0.6], [0.67, 0.73]))
    half = math.sqrt(0.1 ** 2 + 0.03 ** 2)
    assert (lo, hi) == (pytest.approx(0.2 - half), pytest.approx(0.2 + half))
    assert core.delta_interval((0.5, 0.7), (None, [0.6, 0.8])) is None


def test_executions_as_columns(env):
    store, ids, runs, evals = env["store"], env["ids"], env["runs"], env["evals"]
    out = core.compare(store, [evals["a"]["id"], evals["b"]["id"]])
    assert [c["kind"] for c in out["columns"]] == ["execution", "execution"]
    assert [c["execution_kind"] for c in out["columns"]] == ["evaluate", "evaluate"]
    assert out["curves"] == {} and all(r["metric"].startswith("evaluate/") for r in out["final"])
    assert out["slices"] is not None, out["slices_reason"]

    trains = core.compare(store, [runs["a"], runs["b"], runs["d"]])
    assert set(trains["curves"]) == {"loss", "accuracy", "train/loss"}
    assert [s["column"] for s in trains["curves"]["loss"]["series"]] == [0, 1, 2]
    assert trains["slices"] is None and "exactly two evaluations" in trains["slices_reason"]
    assert "these columns have 0" in trains["slices_reason"]

    mixed = core.compare(store, [ids["a"], evals["a"]["id"]])
    assert mixed["slices"] is None and "same evaluation" in mixed["slices_reason"]
    assert mixed["config_diff"] == [], "a version and its own evaluation: nothing differs"


def test_different_test_sets_models_and_counts_are_refused_with_a_reason(env):
    store, ids, evals, data = env["store"], env["ids"], env["evals"], env["datasets"]

    other_set = core.compare(store, [ids["a"], ids["d"]])
    assert other_set["slices"] is None
    assert other_set["slices_reason"].startswith("the two evaluations used different test sets")
    assert "shapes-cls" in other_set["slices_reason"] and "shapes-cls2" in other_set["slices_reason"]
    assert {r["key"] for r in other_set["config_diff"]} == {"config.epochs", "test dataset"}
    assert other_set["final"], "metrics are still compared"

    models = core.compare(store, [ids["a"], ids["c"]])
    assert models["slices"] is None and "different models" in models["slices_reason"]
    assert any("different models (toy, other)" in n for n in models["notes"])
    assert models["curves"]["loss"]["series"] and models["final"]
    assert [r["key"] for r in models["config_diff"]] == ["model"]

    three = core.compare(store, [ids["a"], ids["b"], ids["d"]])
    assert three["slices"] is None and "exactly two evaluations" in three["slices_reason"]
    assert "have 3" in three["slices_reason"]

    never = core.compare(store, [ids["a"], ids["e"]])
    assert never["slices"] is None and "these columns have 1" in never["slices_reason"]
    assert any("no successful training or evaluation yet" in n for n in never["notes"])
    assert never["final"][0]["values"][1] is None and never["final"][0]["best"] is None

    selection = evaluation(store, data["cls"], ids["b"], 4, selection={"dir": "test"})
    subset = core.compare(store, [evals["a"]["id"], selection["id"]])
    assert subset["slices"] is None and "different test sets: test subset" in subset["slices_reason"]

    hashed = [evaluation(store, data["cls"], ids["b"], 5 + i, params={"dataset_hash": h})
              for i, h in enumerate(("a" * 64, "b" * 64))]
    changed = core.compare(store, [h["id"] for h in hashed])
    assert changed["slices"] is None and "content of dataset shapes-cls changed" in changed["slices_reason"]
    for text in (other_set, models, three, never, subset, changed):
        assert "\n" not in text["slices_reason"]


@pytest.mark.parametrize(("refs", "error", "words"), [
    (["a"], InvalidInput, "2 to 5 versions or executions, got 1"),
    (["a", "b", "c", "d", "e", "a-name"], InvalidInput, "got 6"),
    ([], InvalidInput, "got 0"),
    (["a", "s-nothere99"], NotFound, "unknown version or execution 's-nothere99'"),
    (["a", "e-nothere99"], NotFound, "unknown execution 'e-nothere99'"),
    (["a", "a-name"], InvalidInput, "given twice"),
    (["a", " "], InvalidInput, "empty"),
])
def test_bad_refs_are_one_clear_line(env, refs, error, words):
    store, ids = env["store"], env["ids"]
    names = {k: v for k, v in ids.items()}
    names["a-name"] = store.get("snapshots", ids["a"])["name"]  # the same version by its name
    given = [names.get(r, r) for r in refs]
    with pytest.raises(error) as info:
        core.compare(store, given)
    assert words in str(info.value) and "\n" not in str(info.value)


# --- REST -------------------------------------------------------------------------------------------


def get(server, refs: list[str]) -> requests.Response:
    return server.call("GET", "compare", params=[("ref", r) for r in refs])


def test_rest_answers_the_core_and_refuses_bad_input_in_one_line(env):
    store, ids, server = env["store"], env["ids"], env["server"]
    resp = get(server, [ids["a"], ids["b"]])
    assert resp.status_code == 200, resp.text[:300]
    body = json.loads(resp.text, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert body == json.loads(json.dumps(core.compare(store, [ids["a"], ids["b"]])))
    assert body["slices"]["rows"] and body["final"]

    models = get(server, [ids["a"], ids["c"]]).json()
    assert models["slices"] is None and "different models" in models["slices_reason"]

    for refs, status, words in (([ids["a"]], 400, "got 1"), ([ids["a"]] * 2, 400, "given twice"),
                                ([ids["a"], "s-unknown00"], 404, "unknown version"), ([], 400, "got 0"),
                                ([ids[k] for k in "abcde"] + [ids["a"]], 400, "got 6")):
        resp = get(server, refs)
        assert resp.status_code == status, resp.text[:300]
        message = resp.json()["message"]
        assert words in message and "\n" not in message and "Traceback" not in resp.text
    assert server.call("GET", "compare", token=False).status_code == 403


# --- the widget -------------------------------------------------------------------------------------


def test_widget_renders_the_core(env, monkeypatch):
    from mm_jupyter.widgets import HUB, Compare

    store, ids = env["store"], env["ids"]
    monkeypatch.setenv("MM_HOME", str(store.home))
    cmp = Compare([ids["a"], ids["b"]], home=str(store.home), live=False)
    assert not cmp.error and cmp not in HUB
    rows = {name: (values, differs) for name, values, differs in cmp.config_rows()}
    assert rows["config.epochs"] == ([2, 3], True) and rows["config.seed"][1] is False
    loss_row = cmp.metrics_html.value.split(">loss<", 1)[1].split("</tr>", 1)[0]
    assert "<b>0.3333</b>" in loss_row, "the lower loss is the best"
    acc_row = cmp.metrics_html.value.split(">accuracy<", 1)[1].split("</tr>", 1)[0]
    assert "<b>" not in acc_row, "a tie marks nothing"
    assert cmp.final_metrics()["loss"] == [0.5, pytest.approx(1 / 3)]
    assert "metadata.group=g00" in cmp.deltas_html.value and "95% interval" in cmp.deltas_html.value
    assert cmp.chart is not None and len(cmp.chart.executions) == 2

    other = Compare([ids["a"], ids["c"]], home=str(store.home), live=False)
    assert "different models" in other.deltas_html.value and "different models" in other.notes_html.value
    for bad, words in (([ids["a"]], "got 1"), ([ids["a"], "nope-nope"], "unknown version")):
        widget = Compare(bad, home=str(store.home), live=False)
        assert words in widget.error and "\n" not in widget.error


def test_a_long_curve_is_thinned_keeping_its_ends_and_extremes():
    """The widget chart's min/max rule: at most MAX_POINTS points, the first, the last, the lowest and
    the highest kept, in x order."""
    n = 10_000
    points = [[i, math.sin(i / 50) + (5.0 if i == 4321 else 0.0) - (5.0 if i == 777 else 0.0)] for i in range(n)]
    thinned = core.thin(points)
    assert len(thinned) <= core.MAX_POINTS
    xs = [x for x, _ in thinned]
    assert xs == sorted(xs) and xs[0] == 0 and xs[-1] == n - 1
    assert [4321, points[4321][1]] in thinned and [777, points[777][1]] in thinned
    assert core.thin(points[:50]) == points[:50]
