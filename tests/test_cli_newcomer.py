"""A newcomer's first hour with `mm` (a real subprocess each time): quiet pipes, full ids for id
prefixes, readable service health, help for every option, and saved filters that can be shown,
edited and removed without changing what a trained version trained on."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time

import pytest

from mm_jupyter import scheduler
from mm_jupyter.cli import EXAMPLES, HEALTH_WIDTH, build_parser

MM = [sys.executable, "-m", "mm_jupyter.cli"]


def mm(*args: str, code: int = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run([*MM, *args], capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert proc.returncode == code, (args, proc.returncode, proc.stdout, proc.stderr)
    if code:
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mm: error: "), proc.stderr
    return proc


def mm_json(*args: str) -> object:
    return json.loads(mm(*args, "--json").stdout)


def short(store, table: str, full: str) -> str:
    """The shortest unique prefix (4+ characters) of ``full`` among the ids of ``table``."""
    ids = [r["id"] for r in store.find(table)]
    for n in range(4, len(full)):
        if sum(i.startswith(full[:n]) for i in ids) == 1:
            return full[:n]
    raise AssertionError(f"no unique prefix shorter than {full}")


def paused_services(store, model_id: str) -> None:
    """The model's services exist and are paused: what is submitted stays pending, nothing runs."""
    for kind in ("train", "evaluate"):
        name = scheduler.ensure_service(store, model_id, kind)["name"]
        scheduler.set_paused(store, name, True)


def ended(store, exe_id: str, **fields) -> None:
    store.update("executions", exe_id, status="success", progress=100.0, ended_at=time.time(), **fields)


# --- `mm … | head -1` ------------------------------------------------------------------------


@pytest.fixture
def crowded(store):
    """600 executions with long names, one with 5000 metric points and a 2 MB log: every listing
    below is far bigger than a pipe's buffer."""
    model = store.insert("models", {"name": "crowd", "adapter": "", "labels": [], "config": {}})
    version = store.insert("snapshots", {"model_id": model["id"], "name": "crowd-v1", "status": "trained",
                                         "config": {}})
    t = time.time()
    with store.tx():
        for i in range(600):
            exe = store.insert("executions", {
                "kind": "train", "snapshot_id": version["id"], "model_id": model["id"],
                "service": f"mgmt-train-{model['id']}", "status": "success", "progress": 100.0, "attempts": 1,
                "created_at": t + i, "started_at": t + i, "ended_at": t + i + 1, "params": {"i": i},
                "name": f"crowd {i} " + "x" * 120})
    store.insert_metrics([{"execution_id": exe["id"], "name": "loss", "value": 1.0 / (j + 1), "step": j,
                           "epoch": j // 100} for j in range(5000)])
    log = store.execution_dir(store.get("executions", exe["id"])) / "log.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(f"line {j} of a long training log\n" for j in range(70_000)))
    return exe["id"]


@pytest.mark.parametrize("args", [
    ("executions", "--limit", "500"),
    ("executions", "--limit", "500", "--json"),
    ("metrics", "{exe}", "--json"),
    ("logs", "{exe}"),
], ids=["executions", "executions-json", "metrics-json", "logs"])
def test_a_reader_that_leaves_early_gets_no_traceback(crowded, args):
    argv = [*MM, *(a.format(exe=crowded) for a in args)]
    producer = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    head = subprocess.Popen(["head", "-1"], stdin=producer.stdout, stdout=subprocess.PIPE)
    producer.stdout.close()  # only head reads it: when head exits, the pipe has no reader
    first, _ = head.communicate(timeout=120)
    err = producer.stderr.read().decode()
    producer.stderr.close()
    assert producer.wait(timeout=120) == 0, err
    assert err == "", err  # no traceback, no "Exception ignored ... BrokenPipeError" at exit
    assert first.strip()


# --- id prefixes -------------------------------------------------------------------------------


def test_commands_given_an_id_prefix_print_full_ids(store, toy):
    snap = store.get("snapshots", toy())
    paused_services(store, snap["model_id"])
    done = mm_json("train", short(store, "snapshots", snap["id"]))  # stays pending: the service is paused
    ended(store, done["id"])
    waiting = mm_json("rerun", short(store, "executions", done["id"]))
    assert waiting["rerun_of"] == done["id"] and waiting["status"] == "pending"
    fresh = mm("rerun", short(store, "executions", done["id"])).stdout.strip()
    assert re.fullmatch(r"e-[0-9a-f]{10}", fresh) and store.get("executions", fresh)["rerun_of"] == done["id"]

    shown = mm("show", short(store, "executions", done["id"])).stdout
    assert re.search(rf"^\s+id: {done['id']}$", shown, re.M)
    assert mm_json("show", short(store, "executions", done["id"]))["id"] == done["id"]

    prefix = short(store, "executions", fresh)
    assert mm("abort", prefix).stdout.strip() == f"{fresh} terminated"
    prefix = short(store, "executions", waiting["id"])
    assert mm_json("abort", prefix)["id"] == waiting["id"]

    prefix = short(store, "executions", done["id"])
    assert prefix != done["id"]
    assert mm("remove", prefix).stdout.strip() == f"removed {done['id']}"
    prefix = short(store, "executions", fresh)
    assert mm_json("remove", prefix) == {"removed": fresh}

    other = toy()
    assert mm("snapshots", "remove", short(store, "snapshots", other)).stdout.strip() == f"removed {other}"
    another = toy()
    assert mm_json("snapshots", "remove", short(store, "snapshots", another)) == {"removed": another}


# --- service health ----------------------------------------------------------------------------


def test_service_health_is_one_readable_sentence_in_every_face(store, toy):
    snap = store.get("snapshots", toy())
    paused_services(store, snap["model_id"])
    train, evaluate = (scheduler.ensure_service(store, snap["model_id"], k)["name"] for k in ("train", "evaluate"))
    scheduler.set_paused(store, train, False)
    scheduler.set_paused(store, evaluate, False)
    store.update("services", evaluate, kernel_name="no-such-kernel")
    proc = mm("services", "set", train, "--kernel", "nope", code=2)
    assert "kernel 'nope' is not installed (installed: " in proc.stderr
    # three start failures in a row, the last with a multi-line error (a traceback, say)
    t = time.time()
    for i in range(3):
        store.insert("executions", {
            "kind": "train", "snapshot_id": snap["id"], "model_id": snap["model_id"], "service": train,
            "status": "failed", "outcome": "start-failure", "progress": 0.0, "attempts": 1, "params": {},
            "created_at": t + i, "ended_at": t + i, "error": "cannot start runner: OSError: the disk\nTraceback "
            "(most recent call last):\n  File \"x.py\", line 1\n" + "more detail " * 40})

    rows = {r["name"]: r["health"] for r in mm_json("services")}
    missing = rows[evaluate]
    assert (missing["level"], missing["code"]) == ("error", "kernel-missing")
    assert missing["reason"].startswith("kernel 'no-such-kernel' is not installed on this machine (installed: ")
    failing = rows[train]
    assert failing["code"] == "start-failures" and len(failing["reason"]) > HEALTH_WIDTH
    assert failing["reason"].startswith("the last 3 executions failed to start: cannot start runner: OSError: "
                                        "the disk Traceback (most recent call last): File \"x.py\", line 1 more")
    for health in rows.values():
        assert health["reason"] == " ".join(health["reason"].split()), "one line, white space folded"

    table = mm("services").stdout.splitlines()
    header = table[0]
    cells = {line.split()[0]: line[header.index("HEALTH"):] for line in table[1:]}
    assert cells[evaluate] == f"error: {missing['reason']}"  # the same sentence, whole when it fits
    assert len(cells[train]) <= HEALTH_WIDTH and cells[train].endswith("…")
    assert f"error: {failing['reason']}".startswith(cells[train][:-1])
    one = mm("services", "list", train).stdout.splitlines()
    assert one[1][one[0].index("HEALTH"):] == cells[train]


# --- help ---------------------------------------------------------------------------------------


def parsers(parser: argparse.ArgumentParser, path: str = "mm"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, f"{path} {name}")


def test_every_option_and_positional_has_help():
    missing = []
    for path, parser in parsers(build_parser()):
        for action in parser._actions:
            if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                missing.append(f"{path}: {'/'.join(action.option_strings) or action.dest}")
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{path} {a.dest}" for a in action._choices_actions if not (a.help or "").strip()]
    assert not missing, f"no help text: {missing}"


def test_every_command_help_renders():
    for path, parser in parsers(build_parser()):
        assert "None" not in parser.format_help(), path  # a help of None, or %(default)s of a missing default


def test_help_shows_an_example_of_every_command_group():
    text = mm("--help").stdout
    commands = set(next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices)
    for group, lines in EXAMPLES:
        assert f"\n  {group}:\n" in text, group
        for line in lines:
            assert f"    {line}\n" in text or text.endswith(f"    {line}"), line
    shown = re.findall(r"^    mm (\S+)", text, re.M)
    assert commands <= set(shown), f"commands without an example: {commands - set(shown)}"
    for line in (line for _, lines in EXAMPLES for line in lines):  # each example is a valid command line
        argv = shlex.split(line.partition("  #")[0])[1:]
        build_parser().parse_args(argv)
    assert "\n  data:\n    mm datasets shapes ./shapes" in text, "the epilog keeps its lines"


# --- saved filters ------------------------------------------------------------------------------


def test_filters_show_edit_remove_and_their_exit_codes(store, toy):
    dataset = store.get("datasets", "toy-data")
    mm("filters", "add", "reds", '{"dir": "train/red"}')
    from mm_jupyter.api import save_filter

    save_filter(store, "bound", {"tags": "train"}, dataset["id"])
    row = mm_json("filters", "show", "reds")
    assert row["name"] == "reds" and row["query"] == {"dir": "train/red"} and row["versions"] == []
    text = mm("filters", "show", "reds").stdout
    assert 'query: {"dir": "train/red"}' in text and "versions: none use it" in text

    assert mm("filters", "edit", "reds", '{"dir": "train/blue"}').stdout.startswith("reds updated")
    assert mm_json("filters", "show", "reds")["query"] == {"dir": "train/blue"}
    assert mm_json("filters", "edit", "bound", '{"tags": "validation"}')["dataset_id"] == dataset["id"], \
        "an edit keeps the dataset binding"
    listed = {r["name"]: r["query"] for r in mm_json("filters")}
    assert listed == {"reds": {"dir": "train/blue"}, "bound": {"tags": "validation"}}

    mm("filters", "edit", "reds", '{"dir": {"$regex": "x"}}', code=2)
    mm("filters", "edit", "reds", "{not json", code=2)
    mm("filters", "edit", "reds", code=2)
    mm("filters", "show", code=2)
    mm("filters", "remove", code=2)
    mm("filters", "show", "nope", code=3)
    mm("filters", "edit", "nope", '{"tags": "x"}', code=3)
    mm("filters", "remove", "nope", code=3)
    assert mm_json("filters", "show", "reds")["query"] == {"dir": "train/blue"}, "refused edits change nothing"

    assert mm("filters", "remove", "reds").stdout.strip() == "removed reds"
    assert mm_json("filters", "remove", "bound") == {"removed": "bound"}
    mm("filters", "show", "reds", code=3)
    assert mm_json("filters") == []


def test_a_trained_version_keeps_the_filter_queries_it_trained_on(store, toy):
    """Editing or removing a saved filter changes nothing a version already trained on: its training
    ran on, and its record keeps, the query as it was; reruns and evaluations use that record."""
    mm("filters", "add", "reds", '{"dir": "train/red"}')
    mm("filters", "add", "blues", '{"dir": "test/blue"}')
    snap = mm("snapshots", "add", "--model", "toy", "--dataset", "toy-data", "--train", "filter:reds",
              "--test", "filter:blues").stdout.strip()
    paused_services(store, store.get("snapshots", snap)["model_id"])

    proc = mm("filters", "remove", "reds", code=4)  # a version not trained yet needs the name
    assert snap in proc.stderr and "not trained yet" in proc.stderr
    used = mm_json("filters", "show", "reds")["versions"]
    assert [(v["id"], v["roles"], v["trained"], v["recorded"]) for v in used] == [(snap, ["train"], False, False)]

    exe = mm_json("train", snap)  # submitted: the training uses the query as saved now
    assert exe["params"]["train_selection"] == {"query": {"dir": "train/red"}}
    repro = store.get("snapshots", snap)["repro"]
    assert repro["filters"]["train"] == {"filter": "reds"}
    assert repro["resolved_filters"]["train"] == {"query": {"dir": "train/red"}}
    assert repro["resolved_filters"]["test"] == {"query": {"dir": "test/blue"}}

    mm("filters", "edit", "reds", '{"dir": "train/blue"}')  # new content for versions trained from now on
    assert store.get("executions", exe["id"])["params"]["train_selection"] == {"query": {"dir": "train/red"}}
    assert store.get("snapshots", snap)["repro"]["resolved_filters"]["train"] == {"query": {"dir": "train/red"}}

    store.update("snapshots", snap, status="trained", weights_uri="weights-of-the-test", weights_hash="0")
    ended(store, exe["id"])
    used = mm_json("filters", "show", "reds")["versions"]
    assert [(v["id"], v["trained"], v["recorded"]) for v in used] == [(snap, True, True)]
    assert "recorded" in mm("filters", "show", "reds").stdout
    mm("filters", "remove", "reds")
    mm("filters", "remove", "blues")

    again = mm_json("rerun", short(store, "executions", exe["id"]))  # reproduces the recorded subsets
    assert again["params"]["train_selection"] == {"query": {"dir": "train/red"}}
    clone = store.get("snapshots", again["snapshot_id"])
    assert clone["filters"]["train"] == {"query": {"dir": "train/red"}}
    assert clone["repro"]["resolved_filters"]["test"] == {"query": {"dir": "test/blue"}}
    evaluation = mm_json("evaluate", snap)  # its test filter is gone: the recorded query
    assert evaluation["params"]["test_selection"] == {"query": {"dir": "test/blue"}}
