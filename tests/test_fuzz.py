"""Security checks: malformed input is a clean one-line error that changes nothing; notebook
parameters are data, never code; names and paths stay inside the artifact root; kernels use IPC."""

from __future__ import annotations

import ast
import json
import random
import string
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from support.helpers import digest, wait_for

import mm_jupyter as mm
from mm_jupyter import scheduler
from mm_jupyter.api import save_filter
from mm_jupyter.cli import main as mm_main
from mm_jupyter.datasets import register_dataset
from mm_jupyter.errors import MMError, NotFound
from mm_jupyter.queries.dql import parse_filter

SEED = 20261125
NASTY = ["", " ", "\t", "..", "../..", "../../etc/passwd", "/etc/passwd", "~root", "e-../../x", "s-/../../",
         "x'; DROP TABLE executions; --", "\" OR 1=1 --", "%", "_", "%_%", "*", "\\", "\x00", "e-\x00abcd",
         "é" * 50, "\u202e\u0301", "😀", "a" * 5000, "e-" + "z" * 300, "$(touch /tmp/mm-pwned)", "`id`",
         "{{7*7}}", "${HOME}", "\n", "line\nbreak", "NULL", "None", "[]", "{}", "-1", "0", "1e309", "nan"]


def nasty_ids(rng: random.Random, n: int) -> list:
    alphabet = string.printable + "éø😀\u202e/\\'\"%_"
    out: list = list(NASTY) + [None, 0, 123, 1.5, True, [], {}, ["e-1"], b"e-1"]
    while len(out) < n:
        prefix = rng.choice(["", "e-", "s-", "m-", "d-", "../", "e-%", "/"])
        out.append(prefix + "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) + rng.choice("'\"/%_ "))
    return out


def bad_configs(rng: random.Random, n: int) -> list:
    wrong = ["3", 3.5, True, [1], {"a": 1}, "three", -1.5j if False else "nan", b"x".decode() + "\x00"]
    out: list = [[], "epochs=3", 3, "{}", ["epochs", 3], {"epochz": 3}, {"": 1}, {"epochs": "3"},
                 {"epochs": 3.5}, {"sleep": "fast"}, {"fail_at_epoch": True}, {"eval_steps": 0}, {"eval_steps": -3},
                 {"eval_start_delay_secs": -1}, {"eval_throttle_secs": -0.5}, {"epochs": [3]}, {"seed": {}}]
    keys = ["epochs", "sleep", "fail_at_epoch", "points_per_epoch", "seed"]
    while len(out) < n:
        if rng.random() < 0.5:
            out.append({rng.choice(keys): rng.choice(wrong)})
        else:
            out.append({rng.choice(NASTY[1:30]) + rng.choice(string.ascii_letters): 1})
    return out


def bad_subsets(rng: random.Random, n: int) -> list:
    out: list = ["tag", "dir", "nope:x", "filter:no-such-filter", "query:{bad json", "{", '{"$and": 1}',
                 '{"$or": []}', '{"$bogus": 1}', '{"tags": {"$in": "x"}}', '{"metadata.a": {"$gt": [1]}}',
                 '{"metadata..a": 1}', '{"metadata.a b": 1}', '{"colour": "red"}', '{"dir": {"$exists": "yes"}}',
                 '{"name": {"$zz": 1}}', '[1, 2]', '"just a string"', "1", '{"metadata.x": {"$gt": NaN}}',
                 {"tag": "a", "dir": "b"}, {"query": 5}, {"sql": "1=1"}, ["tag:train"], 42,
                 '{"$and": [' * 40 + "{}" + "]}" * 40, '{"metadata.x\'); DROP TABLE items; --": 1}']
    fields = ["dir", "name", "path", "tags", "metadata.x", "$and", "$or", "$not", "metadata", "items.id"]
    ops = ["$eq", "$ne", "$in", "$gt", "$lt", "$exists", "$regex", "$where"]
    bad_values = [{"$in": 5}, {"$exists": "x"}, {"$gt": {}}, {"$lt": [1]}, {"$regex": ".*"}, {"$where": "1"},
                  [1, 2], {"$eq": {"nested": 1}}]
    while len(out) < n:
        field = rng.choice(fields)
        value = rng.choice(bad_values) if field not in ("$and", "$or") else rng.choice([1, "x", {}, [], [1]])
        if field in ("$not", "metadata", "items.id"):
            value = {rng.choice(ops): 1}
        out.append(json.dumps({field: value}))
    return out


def bad_services(rng: random.Random, n: int) -> list:
    out: list = ["fast", 3, ["concurrency", 2], {"concurrency": 0}, {"concurrency": -1}, {"concurrency": "2"},
                 {"concurrency": 2.0}, {"max_instances": 0}, {"queue_size": 0}, {"queue_size": 10**12},
                 {"execution_timeout": 0}, {"execution_timeout": "1h"}, {"drain_time": -5}, {"on_reset": "retry"},
                 {"max_attempts": 0}, {"kernel_name": "no-such-kernel"}, {"kernel_name": ""}, {"kernel_name": 3},
                 {"runner": "dask://"}, {"runner": "dask://h"}, {"runner": "http://h:1"}, {"runner": "dask://h:1?x=1"},
                 {"runner": "dask://u:p@h:1"}, {"runner": "dask://h:99999"}, {"gpus": 1}, {"gpus": -2},
                 {"paused": 2}, {"name": "other"}, {"model_id": "m-x"}]
    keys = ["concurrency", "max_instances", "queue_size", "max_attempts", "execution_timeout", "drain_time"]
    while len(out) < n:
        out.append({rng.choice(keys): rng.choice([0, -1, "1", None if False else "x", [], {}, True, float("inf")])})
    return out


def malformed_calls(store, snap: str, rng: random.Random, tmp_path: Path) -> list[tuple[str, object]]:
    """(label, call) pairs: ids, configs, subsets/filters, service settings, paths, names."""
    calls: list[tuple[str, object]] = []

    def add(label: str, fn) -> None:
        calls.append((label[:120], fn))

    for ref in nasty_ids(rng, 40):
        for verb, fn in [("get", lambda r: store.get("executions", r)), ("abort", mm.abort), ("remove", mm.remove),
                         ("rerun", mm.rerun), ("logs", mm.logs), ("metrics", mm.get_metrics), ("train", mm.train),
                         ("evaluate", mm.evaluate), ("snapshot-of", mm.create_snapshot),
                         ("pause", lambda r: scheduler.set_paused(store, r, True)),
                         ("stop", lambda r: scheduler.stop(store, r))]:
            add(f"{verb} {ref!r}", lambda f=fn, r=ref: f(r))
    for config in bad_configs(rng, 60):
        add(f"snapshot config {config!r}", lambda c=config: mm.create_snapshot("toy", config=c))
        add(f"model config {config!r}", lambda c=config: mm.register_model("fuzz-model", TOY_REF, config=c))
    for subset in bad_subsets(rng, 60):
        add(f"train subset {subset!r}", lambda s=subset: mm.create_snapshot("toy", dataset="toy-data", train=s))
        add(f"filter {subset!r}", lambda s=subset: save_filter(store, "fuzz", parse_filter(s) if isinstance(s, str) else s))
    for settings in bad_services(rng, 40):
        add(f"service {settings!r}", lambda s=settings: mm.train(snap, service=s))
    for path in [*NASTY[1:30], "/nonexistent/data", str(tmp_path / "empty"), str(tmp_path / "text.txt"), "/proc/self"]:
        add(f"dataset {path!r}", lambda p=path: register_dataset(store, p, name="fuzz-data"))
        add(f"notebook {path!r}", lambda p=path: mm.train(snap, notebook=p))  # "" means: the kind's template
        add(f"artifact path {path!r}", lambda p=path: store.inside_artifacts("../" + p))
        add(f"absolute artifact path {path!r}", lambda p=path: store.inside_artifacts("/" + p))
    for name in ("no_params.ipynb", "broken.ipynb", "text.txt"):
        add(f"notebook {name}", lambda n=name: mm.train(snap, notebook=str(tmp_path / n)))
    for name in ["", " " * 3, "x" * 201, None, 5, "toy", "a\x1b[2Jb", "nul\x00", "lone\ud800"]:
        add(f"model name {name!r}", lambda n=name: mm.register_model(n, TOY_REF))
    for label, fn in [("labels str", lambda: mm.register_model("fuzz", TOY_REF, labels="a,b")),
                      ("adapter os:system", lambda: mm.register_model("fuzz", "os:system")),
                      ("adapter path", lambda: mm.register_model("fuzz", "../../x:Y")),
                      ("status done", lambda: mm.list_executions(status="done")),
                      ("kind both", lambda: mm.list_executions(kind="both")),
                      ("evaluate untrained", lambda: mm.evaluate(snap)), ("start_run", lambda: mm.start_run("s-nope"))]:
        add(label, fn)
    return calls


def test_malformed_inputs_are_clean_errors_and_change_nothing(store, toy, tmp_path, monkeypatch):
    cwd = tmp_path / "cwd" / "a" / "b" / "c"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)  # relative paths ("..", "../..") land in empty folders, not in a real dataset
    rng = random.Random(SEED)
    snap = toy(epochs=1)
    mm.register_model("plain")
    save_filter(store, "ok-filter", {"tags": "train"})
    no_params = tmp_path / "no_params.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), no_params)
    (tmp_path / "broken.ipynb").write_text("{not json")
    (tmp_path / "text.txt").write_text("hello")
    (tmp_path / "empty").mkdir()
    before = digest(store)
    calls = malformed_calls(store, snap, rng, tmp_path)
    assert len(calls) >= 200
    failures = []
    for label, call in calls:
        try:
            call()
        except MMError as exc:
            message = str(exc)
            if not message or "\n" in message or "Traceback" in message:
                failures.append((label, f"not a one-line message: {message!r}"))
        except Exception as exc:  # anything else is a crash, not a clean error
            failures.append((label, f"{type(exc).__name__}: {exc}"))
        else:
            failures.append((label, "accepted"))
    assert failures == [], "\n".join(map(repr, failures))
    assert digest(store) == before, "a refused input changed the store or the artifacts"


TOY_REF = "toy_adapter:ToyAdapter"
# Dataset paths that once slipped through: "" registered the current folder, a NUL byte or an
# over-long name raised ValueError/OSError, a newline was echoed raw into the message.
DATASET_PATH_EDGES = ("", "\x00", "e-\x00abcd", "\n", "line\nbreak", "a" * 5000, "e-" + "z" * 300)


def cli_cases(snap: str) -> list[list[str]]:
    cases = [["show", r] for r in NASTY[1:25] if not r.startswith("-")]
    cases += [[verb, "e-" + "zz" * 8] for verb in ("abort", "rerun", "remove", "logs", "metrics", "show")]
    cases += [
        ["train"], ["train", "--model", "toy", "--config", "epochs=three"], ["train", "--model", "toy", "--config", "=3"],
        ["train", "--model", "toy", "--config", "epochz=3"], ["train", snap, "--config", "epochs=2"],
        ["train", snap, "--concurrency", "0"], ["train", snap, "--runner", "dask://nowhere"],
        ["train", snap, "--gpus", "1"], ["train", snap, "--kernel", "no-such-kernel"],
        ["train", snap, "--notebook", "/etc/passwd"], ["train", snap, "--max-attempts", "-1"],
        ["train", snap, "--queue-size", "0"], ["train", "--model", "toy", "--dataset", "toy-data", "--train", "tag"],
        ["train", "--model", "toy", "--dataset", "toy-data", "--train", '{"$bogus": 1}'],
        ["evaluate", snap], ["evaluate", "s-nope"], ["executions", "--status", "done"],
        ["filters", "add", "x", "{bad"], ["filters", "add", "x"], ["filters", "add", "../x", '{"tags": "a"}'],
        ["datasets", "add", "/nonexistent/folder"], ["datasets", "add"], ["models", "add", "toy", "--adapter", "x:Y"],
        ["models", "add", "toy2", "--adapter", "nomodule:Nope"], ["services", "stop", "mgmt-x"],
        ["services", "set", "mgmt-x", "--concurrency", "2"], ["services", "pause"], ["snapshots", "--model", "nope"],
        ["rerun", "e-" + "0" * 10, "--config", "epochs=2"], ["cluster", "up", "--workers", "0"],
        ["cluster", "up", "--port", "70000"], ["cluster", "up", "--gpu-workers", "5"],
    ]
    cases += [["train", snap, "--execution-timeout", v] for v in ("0", "-5", "nan", "inf")]
    cases += [["train", snap, "--drain-time", v] for v in ("0", "-1", "1e12")]
    cases += [["bogus-command"], ["train", "--concurrency", "two"], ["executions", "--limit", "x"], ["show"]]
    return cases


def test_cli_malformed_inputs_are_one_line_errors(store, toy, capsys):
    snap = toy(epochs=1)
    before = digest(store)
    cases = cli_cases(snap)
    assert len(cases) >= 60
    bad = []
    for argv in cases:
        try:
            code = mm_main(argv)
        except SystemExit as exc:  # argparse: usage + "error:" line, exit 2
            code = exc.code
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        clean = code in (2, 3, 4) and lines and "error:" in lines[-1] and "Traceback" not in err + out
        if code != 2 or not err.startswith("usage:"):
            clean = clean and len(lines) == 1 and lines[0].startswith("mm: error: ")
        if not clean:
            bad.append((argv, code, err[-300:]))
    assert bad == []
    assert digest(store) == before


def test_cli_errors_as_a_real_process(store, toy):
    snap = toy(epochs=1)
    before = digest(store)
    for argv, code in [(["show", "../../etc/passwd"], 3), (["train", snap, "--runner", "dask://x"], 2),
                       (["abort", "e-'; DROP TABLE executions; --"], 3), (["filters", "add", "x", "{bad"], 2)]:
        proc = subprocess.run([sys.executable, "-m", "mm_jupyter.cli", *argv], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == code, proc.stderr
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("mm: error: ") and proc.stdout == ""
    assert digest(store) == before


# --- parameters are data ---------------------------------------------------------------------------


def nasty_values(rng: random.Random, n: int) -> list:
    texts = NASTY + ['"""', "'''", '\\"', "\\\\'", '"); import os; os.system("touch /tmp/mm-pwned"); ("',
                     "'\n__import__('os').system('id')\n'", "\\u0022", "\\x22; x=1", "\r\n\f\v\x1b[2J"]
    out: list = list(texts)
    while len(out) < n:
        pick = rng.random()
        if pick < 0.5:
            out.append("".join(rng.choice(texts + list(string.printable)) for _ in range(rng.randint(1, 6))))
        elif pick < 0.75:
            out.append({rng.choice(texts): rng.choice(texts), "n": rng.randint(-10**20, 10**20), "f": rng.random()})
        else:
            out.append([rng.choice(texts), None, True, 1.5, [rng.choice(texts)]])
    return out


def test_papermill_translates_parameters_as_literals():
    from papermill.translators import PythonTranslator

    values = nasty_values(random.Random(SEED), 300)
    for value in values:
        code = PythonTranslator.translate(value)
        assert ast.literal_eval(code) == value, code
        tree = ast.parse(f"x = {code}")
        assert [type(n).__name__ for n in tree.body] == ["Assign"]


def injected_assignments(notebook: Path) -> dict:
    """The injected-parameters cell, checked to hold only ``name = <literal>`` lines."""
    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    out = {}
    for node in ast.parse(cell.source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name), \
            ast.dump(node)
        out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def kernel_tcp_listeners(pid: int) -> list[str]:
    """``ip:port`` of the TCP sockets in LISTEN state that ``pid`` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    listening = []
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[9]) in inodes:  # 0A = LISTEN
            host, port = fields[1].split(":")
            listening.append(".".join(str(int(host[i:i + 2], 16)) for i in (6, 4, 2, 0)) + f":{int(port, 16)}")
    for line in Path(f"/proc/{pid}/net/tcp6").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[9]) in inodes:
            listening.append("ipv6:" + fields[1])
    return listening


def test_hostile_labels_reach_the_kernel_as_data_over_ipc(store, toy, tmp_path):
    sentinel = tmp_path / "pwned"
    labels = [f'"); open({str(sentinel)!r}, "w").write("x"); ("', f"'''; open({str(sentinel)!r}, 'w'); '''",
              "\\\"; import os #", "ok"]
    with pytest.raises(MMError, match="control characters"):  # a line break in a label is refused outright
        mm.register_model("hostile", TOY_REF, labels=[f"'''\nopen({str(sentinel)!r}, 'w')\n'''"])
    mm.register_model("hostile", TOY_REF, labels=labels)
    snap = mm.create_snapshot("hostile", config={"epochs": 8, "sleep": 0.5}, dataset="toy-data")
    exe = mm.train(snap["id"])
    row = wait_for(lambda: (r := store.get("executions", exe["id"]))["kernel_pid"] and r["progress"] > 0 and r,
                    timeout=120)
    args = Path(f"/proc/{row['kernel_pid']}/cmdline").read_bytes().decode().split("\0")
    connection = json.loads(Path(args[args.index("-f") + 1]).read_text())
    assert connection["transport"] == "ipc", "shell, iopub, stdin, control and heartbeat over unix sockets"
    # ipykernel itself always keeps one loopback-only PULL socket (output of forked subprocesses,
    # authenticated by a random per-kernel key); nothing may listen beyond loopback.
    listeners = kernel_tcp_listeners(row["kernel_pid"])
    assert all(addr.startswith("127.0.0.1:") for addr in listeners), listeners
    channel_ports = {connection[k] for k in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")}
    assert not {int(a.rsplit(":", 1)[1]) for a in listeners} & channel_ports
    final = mm.wait_for(exe["id"], timeout=120)
    assert final["status"] == "success", final["error"]
    params = injected_assignments(Path(final["notebook_uri"]))
    assert params["labels"] == labels and params["execution_id"] == exe["id"]
    assert not sentinel.exists(), "a label was executed as code"


# --- names and paths stay inside the artifact root -----------------------------------------------------


def test_crafted_ids_cannot_leave_the_artifact_root(store, toy, tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    snap = store.get("snapshots", toy(epochs=1))
    row = store.insert("executions", {
        "kind": "train", "snapshot_id": "../../../../../" + str(victim.relative_to("/")), "model_id": snap["model_id"],
        "service": f"mgmt-train-{snap['model_id']}", "status": "failed", "progress": 0.0, "attempts": 1, "params": {}})
    with pytest.raises(NotFound, match="outside the artifact root"):
        mm.remove(row["id"])
    assert (victim / "keep.txt").read_text() == "precious"
    scheduler.ensure_service(store, snap["model_id"], "train")
    store.update("executions", row["id"], status="pending")
    monkeypatch.setattr(scheduler, "blocked_services", lambda store: set())
    scheduler.dispatch(store)
    after = store.get("executions", row["id"])
    assert after["status"] == "failed" and "outside the artifact root" in after["error"]
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"], "nothing written outside"
    assert scheduler.reconcile(store) == []


def test_dataset_path_edges_are_one_line_errors(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # so that "" cannot index a real folder
    before = digest(store)
    for path in DATASET_PATH_EDGES:
        try:
            register_dataset(store, path, name="fuzz-data")
        except MMError as exc:
            assert "\n" not in str(exc)
        else:
            raise AssertionError(f"{path!r} accepted")
    assert digest(store) == before
