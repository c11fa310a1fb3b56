"""Secrets: the owner-only file (0600, atomic), names and values, the CLI (value on stdin only), REST
(never a value), refused submits that create nothing, redaction, and a real run whose kernel gets
the value while nothing under MM_HOME but ``secrets.json`` ever holds it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest
from support.helpers import counts, wait_status

import mm_jupyter as mm
from mm_jupyter import secrets
from mm_jupyter.errors import InvalidInput, NotFound


def mm_cli(home: Path, *args: str, stdin: str | None = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mm_jupyter.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "MM_HOME": str(home)})


def value_of(tag: str = "") -> str:
    return f"s3cr3t-{tag}{uuid.uuid4().hex}"


# --- the file ---------------------------------------------------------------------------------------


def test_file_is_owner_only_and_written_atomically(home):
    secrets.set_secret(home, "HF_TOKEN", "abc-1")
    path = home / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    inode = path.stat().st_ino
    secrets.set_secret(home, "OTHER", "abc-2")
    assert path.stat().st_ino != inode, "a new file renamed over the old one, never rewritten in place"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in home.iterdir() if p.name.startswith(".secrets-")], "no temp file left"
    assert [s["name"] for s in secrets.list_secrets(home)] == ["HF_TOKEN", "OTHER"]
    assert "abc" not in json.dumps(secrets.list_secrets(home))
    assert secrets.resolve(home, ["OTHER", "HF_TOKEN"]) == {"OTHER": "abc-2", "HF_TOKEN": "abc-1"}
    os.chmod(path, 0o644)
    with pytest.raises(InvalidInput, match="readable by others"):
        secrets.list_secrets(home)
    os.chmod(path, 0o600)
    assert secrets.remove_secret(home, "OTHER") == "OTHER"
    with pytest.raises(NotFound, match="unknown secret 'OTHER'"):
        secrets.remove_secret(home, "OTHER")
    with pytest.raises(NotFound, match="'NOPE'"):
        secrets.resolve(home, ["HF_TOKEN", "NOPE"])


@pytest.mark.parametrize("name", ["", "1ABC", "A-B", "A B", "x" * 129, "MM_HOME", "mm_token", None, 3])
def test_bad_names_are_refused(home, name):
    with pytest.raises(InvalidInput) as info:
        secrets.set_secret(home, name, "v")
    assert "\n" not in str(info.value)
    assert not (home / "secrets.json").exists()


def test_values_non_empty_text_at_most_64_kib_without_nul(home):
    secret = "v" * (64 * 1024 - 2) + "é"  # 64 KiB in UTF-8 exactly
    secrets.set_secret(home, "BIG", secret)
    assert secrets.resolve(home, ["BIG"])["BIG"] == secret
    for bad, text in (("", "empty"), ("a\x00b", "NUL"), ("w" * (64 * 1024 + 1), "over the limit"), (5, "text")):
        with pytest.raises(InvalidInput, match=text) as info:
            secrets.set_secret(home, "BAD", bad)
        assert "www" not in str(info.value) and len(str(info.value)) < 200
    assert [s["name"] for s in secrets.list_secrets(home)] == ["BIG"]


# --- redaction --------------------------------------------------------------------------------------


def test_redactor_replaces_values_and_their_encodings_also_split_over_writes():
    value = "tok/en+" + "x" * 20
    red = secrets.Redactor({"TOKEN": value})
    assert red.text(f"a {value} b") == "a [secret TOKEN] b"
    assert red.text(base64.b64encode(value.encode()).decode()) == "[secret TOKEN]"
    assert "[secret TOKEN]" in red.text("<b>" + value.replace("/", "%2F").replace("+", "%2B") + "</b>")
    out: list[str] = []

    class Sink:
        def write(self, text):
            out.append(text)

        def flush(self):
            pass

        def close(self):
            pass

    writer = secrets.RedactingWriter(Sink(), red)
    writer.write("line one\nprinted: " + value[:5])
    writer.write(value[5:] + " end\n")
    writer.close()
    assert "".join(out) == "line one\nprinted: [secret TOKEN] end\n"
    nb = {"cells": [{"outputs": [{"text": ["a " + value[:4], value[4:] + "\n"]}], "metadata": {"tags": ["x"]}}]}
    assert red.tree(nb)["cells"][0]["outputs"][0]["text"] == ["a [secret TOKEN]\n"]
    assert red.tree(nb)["cells"][0]["metadata"]["tags"] == ["x"]


# --- the CLI ----------------------------------------------------------------------------------------


def test_cli_reads_the_value_from_stdin_only(home):
    value = value_of()
    done = mm_cli(home, "secrets", "set", "HF_TOKEN", stdin=value + "\n")
    assert done.returncode == 0, done.stderr
    assert value not in done.stdout + done.stderr
    assert secrets.resolve(home, ["HF_TOKEN"])["HF_TOKEN"] == value, "one trailing newline stripped"
    refused = mm_cli(home, "secrets", "set", "OTHER", "the-value-itself", stdin="")
    assert refused.returncode == 2 and "pipe" in refused.stderr and "the-value-itself" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    # a value given as an unknown option is not echoed back by argparse either
    flag = mm_cli(home, "secrets", "set", "OTHER", "--value=the-value-itself", stdin="")
    assert flag.returncode == 2 and "pipe" in flag.stderr and "the-value-itself" not in flag.stdout + flag.stderr
    empty = mm_cli(home, "secrets", "set", "OTHER", stdin="")
    assert empty.returncode == 2 and "no value on standard input" in empty.stderr
    big = mm_cli(home, "secrets", "set", "OTHER", stdin="z" * (64 * 1024 + 1))
    assert big.returncode == 2 and "64 KiB" in big.stderr and "zzzz" not in big.stderr
    listed = mm_cli(home, "secrets", "list")
    assert listed.returncode == 0 and "HF_TOKEN" in listed.stdout and value not in listed.stdout
    rows = json.loads(mm_cli(home, "secrets", "list", "--json").stdout)
    assert [r["name"] for r in rows] == ["HF_TOKEN"] and set(rows[0]) == {"name", "set_at"}
    assert mm_cli(home, "secrets", "remove", "NOPE").returncode == 3
    assert mm_cli(home, "secrets", "remove", "HF_TOKEN").returncode == 0
    assert json.loads(mm_cli(home, "secrets", "list", "--json").stdout) == []


def test_unknown_secret_at_submit_creates_nothing(store, toy, home):
    snap = toy(epochs=1)
    before = counts(store, ("snapshots", "executions", "events"))
    with pytest.raises(NotFound, match="unknown secret 'NOPE'"):
        mm.train(snap, secrets=["NOPE"])
    with pytest.raises(NotFound, match="unknown secret 'NOPE'"):
        mm.create_and_train("toy", dataset="toy-data", secrets=["NOPE"])
    with pytest.raises(NotFound, match="unknown secret 'NOPE'"):
        mm.train(snap, service={"secrets": ["NOPE"]})
    with pytest.raises(InvalidInput, match="environment variable name"):
        mm.train(snap, secrets=["bad-name"])
    cli = mm_cli(home, "train", snap, "--secret", "NOPE")
    assert cli.returncode == 3 and "unknown secret 'NOPE'" in cli.stderr
    assert counts(store, ("snapshots", "executions", "events")) == before
    assert store.count("services") == 0


def test_services_set_secrets_and_clear_them(store, toy, home, started):
    secrets.set_secret(home, "SVC_TOKEN", "svc-value-1")
    exe = mm.train(toy(epochs=1))
    name = exe["service"]
    assert mm_cli(home, "services", "set", name, "--secret", "NOPE").returncode == 3
    done = mm_cli(home, "services", "set", name, "--secret", "SVC_TOKEN", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["secrets"] == ["SVC_TOKEN"] and "svc-value" not in done.stdout
    assert store.get("services", name)["secrets"] == ["SVC_TOKEN"]
    assert mm_cli(home, "services", "set", name, "--no-secrets").returncode == 0
    assert store.get("services", name)["secrets"] == []


def test_a_secret_removed_before_the_run_starts_fails_it_naming_it(store, toy, home):
    from mm_jupyter.scheduler import set_paused

    value = value_of()
    secrets.set_secret(home, "GONE", value)
    exe = mm.train(toy(epochs=1), secrets=["GONE"], service={"paused": 1})
    assert exe["params"]["secrets"] == ["GONE"]
    secrets.remove_secret(home, "GONE")
    set_paused(store, exe["service"], False)
    final = wait_status(store, exe["id"], ("failed",), timeout=120)
    assert "secret 'GONE' is not set any more" in final["error"] and value not in final["error"]


# --- REST -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from support.helpers import make_imagefolder
    from support.server_util import start_server

    from mm_jupyter import api
    from mm_jupyter.datasets import register_dataset
    from mm_jupyter.store import Store

    base = tmp_path_factory.mktemp("secrets-server")
    home = base / "mmhome"
    store = Store(home)
    register_dataset(store, make_imagefolder(base / "data"), name="toy-data")
    api.register_model("toy", "toy_adapter:ToyAdapter", store=store)
    server = start_server(base / "jupyter", home, env={"MM_HEARTBEAT_INTERVAL": "0.5"})
    try:
        yield server, store
    finally:
        server.stop()


def test_rest_sets_lists_and_removes_without_ever_answering_a_value(server):
    srv, store = server
    value = value_of()
    resp = srv.call("PUT", "secrets/API_KEY", json={"value": value})
    assert resp.status_code == 200 and value not in resp.text and resp.json()["name"] == "API_KEY"
    listed = srv.call("GET", "secrets")
    assert [r["name"] for r in listed.json()["items"]] == ["API_KEY"] and value not in listed.text
    for body, text in (({"value": "w" * (64 * 1024 + 1)}, "64 KiB"), ({"value": ""}, "empty"), ({}, "required"),
                       ({"value": "x", "other": 1}, "unknown field")):
        bad = srv.call("PUT", "secrets/API_KEY", json=body)
        assert bad.status_code == 400 and text in bad.json()["message"] and "www" not in bad.text
    assert srv.call("PUT", "secrets/MM_X", json={"value": "x"}).status_code == 400
    snap = mm.create_snapshot("toy", dataset="toy-data", store=store)["id"]
    before = counts(store, ("snapshots", "executions", "events"))
    unknown = srv.call("POST", "train", json={"snapshot": snap, "secrets": ["NOPE"]})
    assert unknown.status_code == 404 and "NOPE" in unknown.json()["message"]
    unknown = srv.call("POST", "train", json={"create": {"model": "toy", "dataset": "toy-data"}, "secrets": ["NOPE"]})
    assert unknown.status_code == 404
    assert counts(store, ("snapshots", "executions", "events")) == before
    assert srv.call("POST", "train", json={"snapshot": snap, "secrets": "API_KEY"}).status_code == 400
    created = srv.call("POST", "train", json={"snapshot": snap, "secrets": ["API_KEY"]})
    assert created.status_code == 201, created.text
    assert created.json()["execution"]["params"]["secrets"] == ["API_KEY"] and value not in created.text
    service = created.json()["execution"]["service"]
    patched = srv.call("PATCH", f"services/{service}", json={"secrets": ["API_KEY"]})
    assert patched.status_code == 200 and patched.json()["secrets"] == ["API_KEY"] and value not in patched.text
    assert srv.call("PATCH", f"services/{service}", json={"secrets": ["NOPE"]}).status_code == 404
    assert srv.call("DELETE", "secrets/API_KEY").json() == {"removed": "API_KEY"}
    assert srv.call("DELETE", "secrets/API_KEY").status_code == 404
    mm.wait_for(created.json()["execution"]["id"], timeout=120, store=store)


# --- a real run ---------------------------------------------------------------------------------------

CELL = '''
import base64, hashlib, os, sys
from IPython.display import HTML, display
value = os.environ["HF_TOKEN_TEST"]
assert hashlib.sha256(value.encode()).hexdigest() == {digest!r}, "the kernel got another value"
assert os.environ["SVC_TOKEN_TEST"] == "svc-" + value[-8:][::-1] * 2
print("the token is", value)
sys.stderr.write("half " + value[:9]); sys.stderr.flush(); sys.stderr.write(value[9:] + " other half\\n")
print("base64", base64.b64encode(value.encode()).decode())
display(HTML("<b>" + value + "</b>"))
display({{"text/plain": "plain " + value}}, raw=True)
raise RuntimeError("bad token " + value)
'''


@pytest.mark.slow
def test_a_real_run_gets_the_value_and_nothing_under_mm_home_keeps_it(store, toy, home, tmp_path):
    value = value_of("run-")
    service_value = "svc-" + value[-8:][::-1] * 2
    secrets.set_secret(home, "HF_TOKEN_TEST", value)
    secrets.set_secret(home, "SVC_TOKEN_TEST", service_value)
    params = nbformat.v4.new_code_cell("execution_id = ''\nmm_home = ''")
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(
        CELL.format(digest=hashlib.sha256(value.encode()).hexdigest()))])
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    path = tmp_path / "secret.ipynb"
    nbformat.write(nb, path)
    exe = mm.train(toy(epochs=1), notebook=str(path), secrets=["HF_TOKEN_TEST"],
                   service={"max_attempts": 1, "secrets": ["SVC_TOKEN_TEST"]})
    final = mm.wait_for(exe["id"], timeout=300)
    assert final["status"] == "failed"
    assert final["error"].endswith("RuntimeError: bad token [secret HF_TOKEN_TEST]"), final["error"]
    text = Path(final["notebook_uri"]).read_text()
    # the stored notebook names its own path (for papermill runs of it by hand), not the runner's scheme
    assert json.loads(text)["metadata"]["papermill"]["output_path"] == str(Path(final["notebook_uri"]).resolve())
    assert "the token is [secret HF_TOKEN_TEST]" in text and "<b>[secret HF_TOKEN_TEST]</b>" in text
    assert "plain [secret HF_TOKEN_TEST]" in text and "base64 [secret HF_TOKEN_TEST]" in text
    log = mm.logs(exe["id"])
    assert "the token is [secret HF_TOKEN_TEST]" in log and "[secret HF_TOKEN_TEST] other half" in log
    forms = [v.encode() for v in (value, service_value)] + [base64.b64encode(value.encode())]
    seen = []
    for file in home.rglob("*"):
        if file.is_file() and file.name != "secrets.json":
            data = file.read_bytes()
            seen.append(file.name)
            assert not any(f in data for f in forms), f"a secret value in {file}"
    assert {"mm.db", "notebook.ipynb", "log.txt"} <= set(seen), seen
