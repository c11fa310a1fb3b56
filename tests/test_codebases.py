"""Model codebases: an adapter's code from a folder or a git revision, copied into the store by content
hash; real git repositories (``file://``), a real store, real kernels (``mm train --wait``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.helpers import counts, digest, make_imagefolder

import mm_jupyter as mm
from mm_jupyter import codebases
from mm_jupyter.errors import InvalidInput
from mm_jupyter.hashing import tree_hash
from mm_jupyter.registry import model_adapter_class

ADAPTER = "cbadapter:CbAdapter"

# A tiny pure-python adapter split over two modules: ``cbadapter`` imports ``cbhelper`` at import time
# and again inside ``train`` (a lazy import, which must come from the same codebase in the kernel).
ADAPTER_CODE = '''
import json
from pathlib import Path

from mm_jupyter.adapter import BaseModelAdapter, Prediction

import cbhelper


class CbAdapter(BaseModelAdapter):
    task = "classify"
    configuration = {"epochs": 1, "scale": cbhelper.DEFAULT_SCALE}

    def train(self, data, ctx):
        import cbhelper as lazy
        ctx.log_metric("codebase/value", lazy.VALUE * self.config["scale"], step=1, epoch=1)
        ctx.report_progress(100.0)

    def save(self, local_path):
        Path(local_path, "cb.json").write_text(json.dumps({"value": cbhelper.VALUE}))

    def load(self, local_path):
        self.value = json.loads(Path(local_path, "cb.json").read_text())["value"]

    def predict(self, batch):
        return [Prediction(item_id=item.id, label=(item.annotations or {}).get("label", 0)) for item in batch]
'''


def write_codebase(folder: Path, value: int, scale: int = 1) -> Path:
    """The adapter's two modules in ``folder`` (``cbhelper.VALUE`` tells the code's version apart)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cbadapter.py").write_text(ADAPTER_CODE)
    (folder / "cbhelper.py").write_text(f"VALUE = {value}\nDEFAULT_SCALE = {scale}\n")
    return folder


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def commit(repo: Path, value: int, scale: int = 1) -> str:
    write_codebase(repo, value, scale)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"value {value}")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


def mm_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "mm_jupyter.cli", *args], capture_output=True, text=True,
                          timeout=300, env=os.environ.copy())
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def train(model: str) -> dict:
    exe = json.loads(mm_cli("train", "--model", model, "--dataset", "toy-data", "--wait", "--json").stdout)
    assert exe["status"] == "success", exe.get("error")
    return exe


def value_of(exe_id: str) -> float:
    return [m["value"] for m in mm.get_metrics(exe_id) if m["name"] == "codebase/value"][-1]


def stored(home: Path) -> list[str]:
    root = home / "artifacts" / "codebases"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def test_folder_codebase_is_stored_by_content_and_runs_from_the_copy(home, store, tmp_path):
    mm.register_dataset(store, make_imagefolder(tmp_path / "data"), name="toy-data")
    src = write_codebase(tmp_path / "code", value=7)
    model_id = mm_cli("models", "add", "cb", "--adapter", ADAPTER, "--codebase", str(src)).stdout.strip()
    cb = store.get("models", model_id)["codebase"]
    assert cb["kind"] == "folder" and cb["revision"] is None and cb["source"] == str(src.resolve())
    assert Path(cb["path"]) == home / "artifacts" / "codebases" / cb["hash"]
    assert cb["hash"] == tree_hash(src) == tree_hash(cb["path"])
    assert stored(home) == [cb["hash"]]  # no staging folder left behind

    (src / "cbhelper.py").write_text("VALUE = 99\nDEFAULT_SCALE = 1\n")  # edited after registration
    exe = train("cb")
    assert value_of(exe["id"]) == 7  # the kernel imported the stored copy, not the edited folder
    assert exe["params"]["codebase"] == cb["path"] and exe["params"]["codebase_hash"] == cb["hash"]
    repro = store.get("snapshots", exe["snapshot_id"])["repro"]
    assert (repro["codebase_hash"], repro["codebase_revision"], repro["codebase_source"]) == \
        (cb["hash"], None, str(src.resolve()))
    assert repro["adapter_source_hash"] == mm.api._file_hash(str(Path(cb["path"]) / "cbadapter.py"))
    assert not list(Path(cb["path"]).rglob("__pycache__"))  # importing it wrote nothing into the copy
    shown = mm_cli("versions", "show", exe["snapshot_id"]).stdout
    assert f"sha256 {cb['hash'][:16]}" in shown

    # identical content registered again reuses the stored folder
    same = write_codebase(tmp_path / "copy", value=7)
    other = mm.register_model("cb-copy", ADAPTER, codebase=str(same))
    assert other["codebase"]["path"] == cb["path"] and stored(home) == [cb["hash"]]

    # a stored copy changed behind the store's back is refused by the kernel, in one line
    (Path(cb["path"]) / "cbhelper.py").write_text("VALUE = 8\nDEFAULT_SCALE = 1\n")
    failed = json.loads(mm_cli("train", "--model", "cb", "--dataset", "toy-data", "--wait", "--json",
                               check=False).stdout)
    assert failed["status"] == "failed" and "not the one recorded" in failed["error"]


def test_git_codebase_at_two_revisions_gives_two_records_and_two_behaviours(home, store, repo, tmp_path):
    mm.register_dataset(store, make_imagefolder(tmp_path / "data"), name="toy-data")
    rev1 = commit(repo, value=1)
    git(repo, "tag", "v1")
    url = f"git+file://{repo}"
    mm_cli("models", "add", "det", "--adapter", ADAPTER, "--codebase", f"{url}@v1")
    first = train("det")
    rev2 = commit(repo, value=2, scale=10)  # new code and a new default
    out = mm_cli("models", "set", "det", "--codebase", f"{url}@main").stdout
    assert rev2 in out
    model = store.get("models", "det")
    assert model["codebase"]["revision"] == rev2 and model["config"]["scale"] == 10
    second = train("det")

    records = [store.get("snapshots", e["snapshot_id"])["repro"] for e in (first, second)]
    assert [r["codebase_revision"] for r in records] == [rev1, rev2]
    assert records[0]["codebase_source"] == f"{url}@v1" and records[1]["codebase_source"] == f"{url}@main"
    assert records[0]["codebase_hash"] != records[1]["codebase_hash"]
    assert (value_of(first["id"]), value_of(second["id"])) == (1, 20)
    assert (home / "cache" / "git").is_dir() and len(list((home / "cache" / "git").iterdir())) == 1

    # a rerun of the first training runs revision 1, though the model moved to revision 2
    rerun = mm.rerun(first["id"], wait=True)
    assert rerun["status"] == "success", rerun.get("error")
    assert value_of(rerun["id"]) == 1
    assert store.get("snapshots", rerun["snapshot_id"])["repro"]["codebase_revision"] == rev1
    assert rerun["params"]["codebase"] == records[0]["codebase"]["path"]
    # so does an evaluation of the first version
    evaluation = mm.evaluate(first["snapshot_id"], wait=True)
    assert evaluation["status"] == "success", evaluation.get("error")
    assert evaluation["params"]["codebase"] == records[0]["codebase"]["path"]


def test_one_process_loads_two_revisions_of_one_module_name_apart(home, store, repo, tmp_path, monkeypatch):
    rev1 = commit(repo, value=1)
    rev2 = commit(repo, value=2)
    # a module of the same name already imported in this process (installed, say) stays as it was
    installed = write_codebase(tmp_path / "installed", value=-1)
    monkeypatch.syspath_prepend(str(installed))
    import cbhelper
    assert cbhelper.VALUE == -1
    try:
        one = mm.register_model("one", ADAPTER, codebase=f"git+file://{repo}@{rev1[:10]}")
        two = mm.register_model("two", ADAPTER, codebase=f"git+file://{repo}@{rev2}")
        assert (one["codebase"]["revision"], two["codebase"]["revision"]) == (rev1, rev2)
        classes = [model_adapter_class(store.get("models", m["id"])) for m in (one, two)]
        assert classes[0] is not classes[1]
        assert "cbadapter" not in sys.modules  # nothing of the codebases is left in sys.modules
        helpers = [c.train.__globals__["cbhelper"].VALUE for c in classes]
        assert helpers == [1, 2]
        assert sys.modules["cbhelper"] is cbhelper and cbhelper.VALUE == -1
        assert model_adapter_class(store.get("models", "one")) is classes[0]  # cached by store folder
    finally:
        for name in ("cbhelper", "cbadapter"):
            sys.modules.pop(name, None)


def test_parse_git_source():
    assert codebases.parse_git("git+https://host/r.git@v1.2") == ("https://host/r.git", "v1.2")
    assert codebases.parse_git("git+ssh://git@host/r.git") == ("ssh://git@host/r.git", "HEAD")
    assert codebases.parse_git("git+ssh://git@host/r.git@feature/x") == ("ssh://git@host/r.git", "feature/x")
    for bad in ("git+r.git@v1", "git+ext::sh -c x", "git+file:///r@--upload-pack=x", "git+file:///r@a^b"):
        with pytest.raises(InvalidInput):
            codebases.parse_git(bad)


def test_bad_codebases_are_one_line_and_create_nothing(home, store, repo, tmp_path):
    commit(repo, value=1)
    good = write_codebase(tmp_path / "good", value=1)
    (tmp_path / "file.py").write_text("x = 1\n")
    mm_cli("models", "add", "kept", "--adapter", ADAPTER, "--codebase", str(good))
    before, rows = digest(store), counts(store)
    cases = [
        (["models", "add", "m", "--adapter", ADAPTER, "--codebase", str(tmp_path / "missing")], "does not exist"),
        (["models", "add", "m", "--adapter", ADAPTER, "--codebase", str(tmp_path / "file.py")], "is not a folder"),
        (["models", "add", "m", "--adapter", ADAPTER, "--codebase", f"git+file://{tmp_path}/nothing"],
         "cannot clone"),
        (["models", "add", "m", "--adapter", ADAPTER, "--codebase", f"git+file://{repo}@nope"],
         "revision 'nope' does not exist"),
        (["models", "add", "m", "--adapter", "cbadapter:Missing", "--codebase", str(good)], "has no 'Missing'"),
        (["models", "add", "m", "--adapter", "elsewhere:CbAdapter", "--codebase", str(good)],
         "no module 'elsewhere'"),
        (["models", "add", "m", "--codebase", str(good)], "needs an adapter"),
        (["models", "set", "kept", "--codebase", f"git+file://{repo}@nope"], "does not exist"),
        (["models", "set", "kept", "--codebase", str(tmp_path / "missing")], "does not exist"),
        (["models", "set", "kept", "--adapter", "cbadapter:Missing", "--codebase", str(good)], "has no 'Missing'"),
        (["models", "set", "nobody", "--codebase", str(good)], "nobody"),
    ]
    for args, says in cases:
        proc = mm_cli(*args, check=False)
        assert proc.returncode in (2, 3), (args, proc.stderr)
        assert says in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, (args, proc.stderr)
    assert digest(store) == before and counts(store) == rows
    assert stored(home) == [store.get("models", "kept")["codebase"]["hash"]]
    assert not list((home / "cache").glob("git/*"))  # no clone of a refused codebase is kept


def test_rest_register_model_takes_a_codebase(home, store, repo):
    from mm_jupyter.errors import Conflict
    from mm_jupyter.server import actions

    rev = commit(repo, value=3)
    body = {"name": "web", "adapter": ADAPTER, "codebase": f"git+file://{repo}@main", "idempotency_key": "key-0001"}
    row, created = actions.register_model(store, body)
    assert created and row["codebase"]["revision"] == rev
    assert actions.register_model(store, dict(body)) == (store.get("models", "web"), False)  # a retry
    with pytest.raises(Conflict):
        actions.register_model(store, {**body, "codebase": f"git+file://{repo}@{rev}"})
    page = mm.api.catalog.model(store, "web")
    assert page["adapter_error"] is None and {"epochs", "scale"} <= {f["name"] for f in page["config_schema"]}
