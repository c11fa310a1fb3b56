"""The artifact root over fsspec (file:// and a real S3 endpoint, moto's server): put, get, list, resumed
uploads and the tree hash (equal to ``hashing.tree_hash`` of the same files); ``mm config`` setting it
(refused when it cannot be written; a root that stops being writable later is a health error of every
service); weights at an s3:// uri evaluated and predicted locally through a hash-checked local copy;
the server's notebook, log, version page and weights download reading from S3."""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from support.helpers import wait_for
from support.s3_util import s3_server
from support.server_util import start_server

import mm_jupyter as mm
from mm_jupyter import artifact_root as ar
from mm_jupyter import cli, scheduler
from mm_jupyter.artifact_root import ArtifactRoot, local_copy, root_url
from mm_jupyter.errors import InvalidInput, NotFound
from mm_jupyter.hashing import tree_hash
from mm_jupyter.queries import catalog, health


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_probes():
    ar.forget_probes()
    yield
    ar.forget_probes()


def write_tree(folder: Path) -> Path:
    """Files whose path order differs from their string order (``a/b`` sorts before ``a-c`` as paths)."""
    for rel, data in {"a/b.bin": b"\x00\x01" * 1000, "a-c.txt": b"dash", "z.json": b'{"w": 1}',
                      "deep/er/x.txt": b"x" * 70_000, "empty": b""}.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder


def check_root(root: ArtifactRoot, tmp_path: Path) -> None:
    """put / get / list / resume / tree_hash on any root."""
    source = write_tree(tmp_path / "src")
    keys = root.put_folder("models/m-1/snapshots/s-1/weights", source)
    assert len(keys) == 5
    root.put_bytes("models/m-1/snapshots/s-1/weights-old/x", b"a sibling whose name starts the same")
    assert root.tree_hash("models/m-1/snapshots/s-1/weights") == tree_hash(source)
    listed = root.list("models/m-1/snapshots/s-1/weights")
    assert [k.rsplit("weights/", 1)[1] for k, _ in listed] == ["a/b.bin", "a-c.txt", "deep/er/x.txt", "empty", "z.json"]
    assert dict(listed)["models/m-1/snapshots/s-1/weights/deep/er/x.txt"] == 70_000
    assert root.read_bytes("models/m-1/snapshots/s-1/weights/z.json") == b'{"w": 1}'
    with root.open_read("models/m-1/snapshots/s-1/weights/a-c.txt", offset=2) as fh:
        assert fh.read() == b"sh"
    assert root.size("models/m-1/snapshots/s-1/weights/empty") == 0
    assert root.size("models/m-1/nothing") is None and not root.exists("models/m-1/nothing")
    with pytest.raises(NotFound):
        root.open_read("models/m-1/nothing")

    # a resumable upload: chunks, a broken connection (the writer closed early), a resume at the right offset
    key = "models/m-1/snapshots/s-1/executions/e-1/notebook.ipynb"
    data = os.urandom(300_000)
    with root.writer(key) as fh:
        fh.write(data[:100_000])
    assert root.partial_size(key) == 100_000 and root.size(key) is None
    assert not [k for k, _ in root.list("models") if "e-1" in k], "an upload in progress is not listed"
    with pytest.raises(InvalidInput, match="can resume at byte 100000, not 5"):
        root.writer(key, 5)
    with root.writer(key, 100_000) as fh:
        fh.write(data[100_000:250_000])
    with root.writer(key, 250_000) as fh:
        fh.write(data[250_000:])
    root.finish(key)
    assert root.read_bytes(key) == data and root.size(key) == len(data) and root.partial_size(key) == 0
    assert [k for k, _ in root.list("models/m-1/snapshots/s-1/executions")] == [key]
    with root.writer(key) as fh:  # offset 0 starts over
        fh.write(b"x")
    with root.writer(key, 0) as fh:
        fh.write(b"new")
    root.finish(key)
    assert root.read_bytes(key) == b"new"
    with pytest.raises(InvalidInput, match="no upload in progress"):
        root.finish(key)
    for bad in ("../x", "a/../../x", "/etc/passwd", "a//b", "a\\b", "a/./b"):
        with pytest.raises(InvalidInput):
            root.writer(bad)
        with pytest.raises(InvalidInput):
            root.uri(bad)
    assert root.problem() is None
    root.remove(key)
    assert root.size(key) is None


def test_a_file_root_reads_writes_resumes_and_hashes_like_the_disk(tmp_path):
    root = ArtifactRoot(f"file://{tmp_path}/root/")
    assert root.url == f"file://{tmp_path}/root" and root.is_local
    check_root(root, tmp_path)
    # uri is a plain local path, key_of its inverse; the default root gives today's weights_uri
    assert root.uri("models/m/x") == f"{tmp_path}/root/models/m/x"
    assert root.key_of(f"{tmp_path}/root/models/m/x") == "models/m/x"
    assert root.key_of(f"file://{tmp_path}/root/models/m/x") == "models/m/x"
    assert root.key_of(f"{tmp_path}/elsewhere/x") is None and root.key_of("s3://b/x") is None
    store_root = ArtifactRoot(root_url(tmp_path / "home", None))
    assert store_root.uri("models/m-1/snapshots/s-1/weights") == \
        str(tmp_path / "home" / "artifacts" / "models" / "m-1" / "snapshots" / "s-1" / "weights")
    assert ArtifactRoot(str(tmp_path / "plain")).url == f"file://{tmp_path}/plain"
    # a symlink inside the root does not lead out of it
    (tmp_path / "secret.txt").write_text("secret")
    (tmp_path / "root" / "link").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(NotFound, match="outside the artifact root"):
        root.open_read("link")


def test_an_s3_root_reads_writes_resumes_and_hashes_like_the_disk(s3, tmp_path):
    root = ArtifactRoot(s3.url("roots/one"))
    assert not root.is_local and root.url == f"s3://{s3.bucket}/roots/one"
    check_root(root, tmp_path)
    assert root.uri("models/m/x") == f"s3://{s3.bucket}/roots/one/models/m/x"
    assert root.key_of(f"s3://{s3.bucket}/roots/one/models/m/x") == "models/m/x"
    assert root.key_of(f"s3://{s3.bucket}/roots/other/x") is None and root.key_of("/tmp/x") is None
    # the objects are really in the bucket, under the prefix
    listed = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix="roots/one/models/m-1/snapshots/s-1/weights/")
    assert len(listed["Contents"]) == 5


def test_a_memory_root_works_too(tmp_path):
    check_root(ArtifactRoot("memory://mm-test-root"), tmp_path)


@pytest.mark.parametrize("url, words", [
    ("ftp://host/x", "unknown scheme 'ftp'"), ("relative/folder", "is not a url"), ("s3://", "needs a bucket"),
    ("file://relative", "absolute path"), ("gs://b/../x", "'..'"), ("", "is not a url"),
])
def test_a_bad_url_is_one_line_naming_it(url, words):
    with pytest.raises(InvalidInput) as info:
        ArtifactRoot(url)
    text = str(info.value)
    assert "\n" not in text and words in text.lower() and repr(url)[1:-1][:20] in text


def test_local_copy_downloads_once_by_hash_and_refuses_changed_weights(s3, tmp_path):
    source = write_tree(tmp_path / "w")
    digest = tree_hash(source)
    root = ArtifactRoot(s3.url("copies"))
    root.put_folder("v1/weights", source)
    cache = tmp_path / "cache"
    assert local_copy(str(source), digest, cache) == source, "a local path is used as it is"
    assert not cache.exists()
    copy = local_copy(root.uri("v1/weights"), digest, cache)
    assert copy == cache / digest and tree_hash(copy) == digest
    assert [p.name for p in cache.iterdir()] == [digest], "no partial folder left"
    s3.client().delete_object(Bucket=s3.bucket, Key="copies/v1/weights/z.json")
    assert local_copy(root.uri("v1/weights"), digest, cache) == copy, "reused by hash, not downloaded again"
    with pytest.raises(InvalidInput, match="not the recorded ones"):
        local_copy(root.uri("v1/weights"), "0" * 64, cache)
    assert [p.name for p in cache.iterdir()] == [digest], "a refused copy leaves nothing"
    with pytest.raises(InvalidInput, match="missing"):
        local_copy(root.uri("nothing/here"), None, cache)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_mm_config_sets_shows_and_refuses_an_unwritable_root(store, s3, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "config", "show", "--json")
    assert code == 0 and json.loads(out) == {"artifact_root": f"file://{store.home}/artifacts", "default": True}
    url = s3.url("config-root")
    code, out, err = run_cli(capsys, "config", "set", "artifact_root", url + "/")
    assert code == 0, err
    assert out.strip() == f"artifact_root  {url}"
    code, out, _ = run_cli(capsys, "config", "show", "--json")
    assert json.loads(out) == {"artifact_root": url, "default": False}
    assert store.meta("artifact_root") == url

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for bad, code_wanted, words in [
        ("s3://no-such-bucket-mm/x", 2, "no-such-bucket-mm"),
        (f"file://{blocker}/artifacts", 2, "cannot be written"),
        ("ftp://example.com/x", 2, "unknown scheme"),
    ]:
        code, out, err = run_cli(capsys, "config", "set", "artifact_root", bad)
        line = err.strip()
        assert code == code_wanted and "\n" not in line and words in line and bad.split("/")[2] in line, line
        assert store.meta("artifact_root") == url, "a refused root changes nothing"
    code, _, err = run_cli(capsys, "config", "set", "tracking", "x")
    assert code == 2 and "artifact_root" in err
    code, out, _ = run_cli(capsys, "config", "unset", "artifact_root", "--json")
    assert code == 0 and json.loads(out)["default"] is True and store.meta("artifact_root") is None


def test_a_root_that_stops_being_writable_is_a_health_error(store, toy, tmp_path, capsys):
    model_id = store.get("snapshots", toy())["model_id"]
    scheduler.ensure_service(store, model_id, "train")
    scheduler.ensure_service(store, model_id, "evaluate")
    parent = tmp_path / "shared"
    ar.configure(store, f"file://{parent}/artifacts")
    names = sorted(health.services_health(store))
    assert names and all(h.level == "ok" for h in health.services_health(store, wait=False).values())
    shutil.rmtree(parent)
    parent.write_text("the folder is gone: a file stands where it was")  # root or not, nothing can be written
    assert health.services_health(store, wait=False)[names[0]].level == "ok", "remembered for some seconds"
    ar.forget_probes()
    health.services_health(store, wait=False)  # starts a probe in the background; never blocks
    wait_for(lambda: health.services_health(store, wait=False)[names[0]].level == "error", 10, "the health error")
    row = catalog.service(store, names[0], wait=True)["health"]
    assert row["level"] == "error" and row["code"] == "artifact-root-unwritable"
    assert str(parent) in row["reason"] and "\n" not in row["reason"]
    code, out, _ = run_cli(capsys, "services", "--json")
    assert code == 0 and {r["health"]["code"] for r in json.loads(out)} == {"artifact-root-unwritable"}
    parent.unlink()
    ar.forget_probes()
    assert health.services_health(store, wait=True)[names[0]].level == "ok"


def weights_at_s3(store, s3, snap_id: str, key: str, folder: Path, recorded: str | None = None) -> dict:
    """A version whose weights were put at ``s3://…/key`` (what the runner API records for a remote training)."""
    root = ArtifactRoot(s3.url("store"))
    root.put_folder(key, folder)
    store.update("snapshots", snap_id, weights_uri=root.uri(key), weights_hash=recorded or tree_hash(folder),
                 status="pre-trained")
    return store.get("snapshots", snap_id)


def test_weights_at_an_s3_uri_are_evaluated_and_predicted_locally_hash_checked(store, toy, s3, tmp_path):
    trained = mm.train(toy(epochs=1), wait=True)
    assert trained["status"] == "success", trained["error"]
    weights = Path(store.get("snapshots", trained["snapshot_id"])["weights_uri"])
    digest = tree_hash(weights)
    good = weights_at_s3(store, s3, toy(), "remote/good/weights", weights)
    assert good["weights_uri"] == f"s3://{s3.bucket}/store/remote/good/weights"
    # changed behind the store's back: the recorded hash is the trained one, the bytes are not
    changed = tmp_path / "changed"
    shutil.copytree(weights, changed)
    (changed / "toy.json").write_text('{"weight": 42}')
    bad = weights_at_s3(store, s3, toy(), "remote/bad/weights", changed, recorded=digest)

    refused = mm.evaluate(bad["id"], wait=True)
    assert refused["status"] == "failed" and "not the recorded ones" in refused["error"], refused["error"]
    cache = store.home / "cache" / "weights"
    assert not (cache / digest).exists(), "changed weights are never cached"

    ev = mm.evaluate(good["id"], wait=True)
    assert ev["status"] == "success", ev["error"]
    assert ev["params"]["weights"] == good["weights_uri"] and ev["params"]["weights_hash"] == digest
    assert mm.evaluation_results(ev["id"])["weights_hash"] == digest
    assert tree_hash(cache / digest) == digest
    log = (store.execution_dir(ev) / "log.txt").read_text() if (store.execution_dir(ev) / "log.txt").exists() else ""
    nb = (store.execution_dir(ev) / "notebook.ipynb").read_text()
    assert f"loaded weights from {good['weights_uri']}" in nb + log
    records = mm.predict(good["id"], [str(tmp_path / "data" / "test" / "red" / "0.png")])
    assert records[0]["task"] == "classification"


def test_the_server_serves_notebooks_logs_and_weights_from_s3(store, toy, s3, tmp_path):
    trained = mm.train(toy(epochs=1), wait=True)
    assert trained["status"] == "success", trained["error"]
    local_weights = Path(store.get("snapshots", trained["snapshot_id"])["weights_uri"])
    version = weights_at_s3(store, s3, toy(), "remote/weights", local_weights)
    ar.configure(store, s3.url("store"))
    root = ArtifactRoot(s3.url("store"))
    # the execution as a remote runner leaves it: its folder under the root, nothing on this disk
    folder = store.execution_dir(trained)
    key = folder.relative_to(store.artifacts).as_posix()
    notebook, log = (folder / "notebook.ipynb").read_bytes(), (folder / "log.txt").read_bytes()
    root.put_folder(key, folder)
    shutil.rmtree(folder)
    store.update("executions", trained["id"], notebook_uri=root.uri(f"{key}/notebook.ipynb"))

    server = start_server(tmp_path / "server", store.home)
    try:
        row = server.call("GET", f"executions/{trained['id']}").json()
        assert row["notebook_path"] == f"{key}/notebook.ipynb", row
        r = server.call("GET", f"artifacts/{row['notebook_path']}")
        assert r.status_code == 200, r.text
        model = r.json()
        assert model["type"] == "notebook" and model["content"] == json.loads(notebook) and not model["writable"]
        listing = server.call("GET", f"artifacts/{key}").json()
        assert listing["type"] == "directory" and "notebook.ipynb" in [c["name"] for c in listing["content"]]
        assert server.call("GET", f"artifacts/{key}/nothing.txt").status_code == 404
        assert server.call("GET", "artifacts/../../mm.db").status_code == 404
        r = server.call("GET", f"executions/{trained['id']}/logs?offset=0")
        assert r.status_code == 200 and r.json()["text"] == log.decode() and r.json()["size"] == len(log), r.text

        page = server.call("GET", f"snapshots/{version['id']}/page").json()
        expected = {p.name: p.read_bytes() for p in local_weights.iterdir()}
        assert page["weights"]["available"] and {f["name"]: f["size"] for f in page["weights"]["files"]} == \
            {n: len(b) for n, b in expected.items()}
        name = sorted(expected)[0]
        r = server.call("GET", f"snapshots/{version['id']}/weights?file={name}")
        assert r.status_code == 200 and r.content == expected[name], r.text
        assert r.headers["Content-Disposition"].startswith("attachment;")
        r = server.call("GET", f"snapshots/{version['id']}/weights")
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
            assert {n: archive.read(n) for n in archive.namelist()} == expected
        r = server.call("GET", f"snapshots/{version['id']}/weights?file=../../mm.db")
        assert r.status_code == 404 and "no weights file" in r.json()["message"]
        assert server.call("GET", f"snapshots/{version['id']}/weights", token=False).status_code == 403
    finally:
        server.stop()
