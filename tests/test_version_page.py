"""A version's notes and tags (user annotations kept apart from its trained record, which is never
rewritten), the one search rule finding a version by a tag in every face, the version page read
(lineage, record, dataset changed since, weights, executions), the weights download over REST, and a
service's pause / resume / stop / edit over REST, against a real store and a real jupyter server."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from support.helpers import digest, wait_for
from support.server_util import start_server

import mm_jupyter as mm
from mm_jupyter.cli import main as mm_main
from mm_jupyter.errors import InvalidInput, NotFound
from mm_jupyter.queries import catalog
from mm_jupyter.queries.executions import ListQuery, plan
from mm_jupyter.widgets.table import query_executions


def trained_record(store, snapshot_id: str) -> dict:
    """What training wrote on a version: its row as stored (notes and tags live elsewhere)."""
    return store.query("SELECT * FROM snapshots WHERE id = ?", [snapshot_id])[0]


# --- notes and tags: limits, history, the trained record untouched -------------------------------------


def test_notes_keep_their_history_and_never_touch_the_trained_record(store, toy, capsys):
    sid = toy(epochs=1)
    assert mm.train(sid, wait=True)["status"] == "success"
    before = trained_record(store, sid)

    first = mm.set_notes(sid, "baseline\r\nfor the spring data")
    assert first["text"] == "baseline\nfor the spring data" and first["edits"] == 1
    assert mm.set_notes(sid, "baseline\nfor the spring data")["edits"] == 1, "the same text again writes nothing"
    assert mm.set_notes(sid, "second thoughts")["edits"] == 2
    history = catalog.version_notes(store, sid, history=True)["history"]
    assert [h["text"] for h in history] == ["second thoughts", "baseline\nfor the spring data"], "newest first, kept"
    assert mm.set_notes(sid, "x" * 10_000)["edits"] == 3, "10,000 characters are fine"

    kept = digest(store)
    for bad, words in (("y" * 10_001, "10,001 characters long: at most 10,000"), ("bell\x07", "control characters"),
                       (42, "must be text")):
        with pytest.raises(InvalidInput, match=words) as info:
            mm.set_notes(sid, bad)
        assert "\n" not in str(info.value), "one line"
    assert digest(store) == kept, "a refused edit changes nothing"
    assert mm_main(["versions", "notes", sid, "z" * 10_001]) == 2
    assert "at most 10,000" in capsys.readouterr().err
    assert trained_record(store, sid) == before, "the trained record is never rewritten"
    assert catalog.version_page(store, sid)["notes"]["text"] == "x" * 10_000


def test_tags_are_checked_kept_once_and_removed(store, toy, capsys):
    sid = toy()
    before = trained_record(store, sid)
    assert mm.add_tag(sid, " Best ") == ["Best"], "ends trimmed"
    assert mm.add_tag(sid, "BEST") == ["Best"], "a tag it has, in any case, changes nothing"
    assert mm.add_tag(sid, "prod candidate") == ["Best", "prod candidate"]
    for bad, words in (("", "must not be empty"), ("t" * 51, "51 characters long"), ("a\tb", "control"),
                       (["x"], "must be text")):
        with pytest.raises(InvalidInput, match=words):
            mm.add_tag(sid, bad)
    with pytest.raises(NotFound, match="has no tag 'nope'"):
        mm.remove_tag(sid, "nope")
    assert mm.remove_tag(sid, "best") == ["prod candidate"], "removed ignoring case"
    assert trained_record(store, sid) == before

    assert mm_main(["versions", "tag", sid, "t" * 51]) == 2
    assert mm_main(["versions", "tag", "s-nosuch", "x"]) == 3
    assert mm_main(["versions", "tag", sid, "nope", "--remove"]) == 3
    capsys.readouterr()
    assert mm_main(["versions", "tag", sid, "keep", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == ["prod candidate", "keep"]
    assert mm_main(["versions", "notes", sid, "first line\nsecond"]) == 0
    assert mm_main(["versions", "show", sid]) == 0
    shown = capsys.readouterr().out
    assert "tags: prod candidate, keep" in shown and "notes: first line …" in shown, shown
    assert "weights: no weights yet: train this version first" in shown
    assert mm_main(["versions", "show", sid, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tags"] == ["prod candidate", "keep"]


# --- search: a tag finds the version's executions in every face -----------------------------------------


@pytest.fixture
def tagged(store, toy, started):
    """Three versions with queued trainings (nothing runs): one tagged 'Champion', one 'champ'."""
    ids = [toy(epochs=1) for _ in range(3)]
    runs = [mm.train(sid) for sid in ids]
    mm.add_tag(ids[0], "Champion")
    mm.add_tag(ids[1], "champ")
    return ids, runs


def test_a_tag_whole_finds_its_versions_executions_in_every_face(store, tagged, capsys):
    ids, runs = tagged
    assert [r["id"] for r in mm.list_executions(search="champion")] == [runs[0]["id"]]
    assert [r["id"] for r in mm.list_executions(search="CHAMP")] == [runs[1]["id"]], "a tag whole, not a part"
    assert mm_main(["executions", "--search", "Champion", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [runs[0]["id"]]
    assert [r["id"] for r in query_executions(store, search="champion", limit=10)[0]] == [runs[0]["id"]]
    row = mm.list_executions(search="champion")[0]
    assert row["snapshot_tags"] == ["champion"], "rows carry their version's tags for live views"
    assert [v["id"] for v in mm.snapshots(search="champion")] == [ids[0]], "the versions listing too"
    assert mm_main(["versions", "--search", "champ", "--json"]) == 0
    assert [v["id"] for v in json.loads(capsys.readouterr().out)] == [ids[1]]

    steps = plan(store, ListQuery(search="champion").check()).steps
    [(sql, params)] = [s for s in steps if "snapshot_tags" in s[0]]
    detail = " ".join(r[-1] for r in store.conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "USING COVERING INDEX idx_snapshot_tags_key" in detail, detail


# --- the version page ------------------------------------------------------------------------------------


def test_the_version_page_has_lineage_record_dataset_change_weights_and_executions(store, toy):
    parent = toy(epochs=1)
    exe = mm.train(parent, wait=True)
    assert exe["status"] == "success"
    child = mm.create_snapshot("toy", dataset="toy-data", parent=parent)["id"]
    kept = digest(store)
    page = mm.version_page(parent)
    assert digest(store) == kept, "reading the page writes nothing"
    assert page["parent"] is None and [c["id"] for c in page["children"]] == [child]
    assert mm.version_page(child)["parent"]["id"] == parent
    assert page["config"]["epochs"] == 1 and page["recorded"] and page["repro"]["dataset_hash"]
    assert page["dataset"]["changed"] is False
    assert [e["id"] for e in page["executions"]] == [exe["id"]] and page["executions_total"] == 1
    folder = Path(store.get("snapshots", parent)["weights_uri"])
    assert page["weights"]["available"] and page["weights"]["files"] == [
        {"name": p.name, "size": p.stat().st_size} for p in sorted(folder.iterdir())]
    untrained = mm.version_page(child)["weights"]
    assert not untrained["available"] and untrained["message"] == "no weights yet: train this version first"

    data = store.get("datasets", "toy-data")["root"]  # the dataset changes after the training
    Image.new("RGB", (16, 16), (0, 255, 0)).save(Path(data) / "train" / "red" / "0.png")
    from mm_jupyter.datasets import refresh_dataset
    refresh_dataset(store, "toy-data")
    changed = mm.version_page(parent)["dataset"]
    assert changed["changed"] is True and changed["trained_hash"] != changed["current_hash"]
    assert mm.version_page(child)["dataset"]["changed"] is None, "never trained: nothing to compare"


# --- REST: notes, tags, the page, the weights download, service actions ----------------------------------


@pytest.fixture
def server(store, toy, tmp_path):
    server = start_server(tmp_path / "jupyter", store.home)
    try:
        yield server
    finally:
        server.stop()


def test_rest_notes_tags_page_and_weights_download(store, toy, server):
    sid = toy(epochs=1)
    untrained = toy()
    assert mm.train(sid, wait=True)["status"] == "success"
    before = trained_record(store, sid)

    r = server.call("PUT", f"snapshots/{sid}/notes", json={"text": "good on dark images"})
    assert r.status_code == 200 and r.json()["text"] == "good on dark images", r.text
    r = server.call("PUT", f"snapshots/{sid}/notes", json={"text": "n" * 10_001})
    assert r.status_code == 400 and "at most 10,000" in r.json()["message"], r.text
    assert server.call("PUT", f"snapshots/{sid}/notes", json={"txt": "x"}).status_code == 400
    r = server.call("PATCH", f"snapshots/{sid}/tags", json={"add": ["Best", "dark"], "remove": []})
    assert r.json()["tags"] == ["Best", "dark"], r.text
    r = server.call("PATCH", f"snapshots/{sid}/tags", json={"add": ["ok", "t" * 51]})
    assert r.status_code == 400 and "51 characters" in r.json()["message"]
    assert server.call("GET", f"snapshots/{sid}/tags").json()["tags"] == ["Best", "dark"], "all or nothing"
    assert server.call("PATCH", f"snapshots/{sid}/tags", json={"remove": ["nope"]}).status_code == 404
    page = server.call("GET", f"snapshots/{sid}/page").json()
    assert page["notes"]["text"] == "good on dark images" and page["tags"] == ["Best", "dark"]
    assert server.call("GET", "snapshots/s-nosuch/page").status_code == 404
    assert [e["id"] for e in server.call("GET", "executions?search=best").json()["items"]] == \
        [e["id"] for e in page["executions"]]
    assert [v["id"] for v in server.call("GET", "snapshots?search=DARK").json()["items"]] == [sid]
    history = server.call("GET", f"snapshots/{sid}/notes?history=1").json()["history"]
    assert [h["text"] for h in history] == ["good on dark images"]
    for path in (f"snapshots/{sid}/notes", f"snapshots/{sid}/tags", f"snapshots/{sid}/page",
                 f"snapshots/{sid}/weights"):
        assert server.call("GET", path, token=False).status_code == 403, path
    assert server.call("PUT", f"snapshots/{sid}/notes", json={"text": "anonymous"}, token=False).status_code == 403
    assert server.call("PATCH", f"snapshots/{sid}/tags", json={"add": ["anon"]}, token=False).status_code == 403
    assert server.call("POST", f"services/mgmt-train-{store.get('snapshots', sid)['model_id']}/stop",
                       token=False).status_code == 403
    assert catalog.version_page(store, sid)["notes"]["text"] == "good on dark images", "refused: nothing written"
    assert trained_record(store, sid) == before

    # the download: an attachment whose bytes are the files'
    folder = Path(store.get("snapshots", sid)["weights_uri"])
    name = page["weights"]["files"][0]["name"]
    r = server.call("GET", f"snapshots/{sid}/weights?file={name}")
    assert r.status_code == 200 and r.content == (folder / name).read_bytes()
    assert r.headers["Content-Disposition"].startswith("attachment;") and name in r.headers["Content-Disposition"]
    r = server.call("GET", f"snapshots/{sid}/weights")
    assert r.headers["Content-Type"] == "application/zip" and "weights.zip" in r.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        assert {n: archive.read(n) for n in archive.namelist()} == {p.name: p.read_bytes() for p in folder.iterdir()}
    r = server.call("GET", f"snapshots/{untrained}/weights")
    assert r.status_code == 404 and r.json()["message"].endswith("no weights yet: train this version first"), r.text
    r = server.call("GET", f"snapshots/{sid}/weights?file=../../../mm.db")
    assert r.status_code == 404 and "no weights file" in r.json()["message"]


def test_rest_service_pause_resume_stop_and_edit(store, toy, server, tmp_path):
    sid = toy(epochs=1)
    exe = mm.train(sid, wait=True)
    name = exe["service"]
    r = server.call("POST", f"services/{name}/pause")
    assert r.status_code == 200 and r.json()["paused"] == 1 and r.json()["health"]["code"] == "paused", r.text
    queued = mm.train(toy(epochs=1))
    assert server.call("GET", f"services/{name}").json()["pending"] == 1
    r = server.call("POST", f"services/{name}/resume")
    assert r.json()["paused"] == 0
    wait_for(lambda: store.get("executions", queued["id"])["status"] == "success", 60, "the queued run to finish")

    r = server.call("PATCH", f"services/{name}", json={"concurrency": 2, "drain_time": 30, "on_reset": "rerun"})
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in ("concurrency", "drain_time", "on_reset")} == \
        {"concurrency": 2, "drain_time": 30.0, "on_reset": "rerun"}
    kept = digest(store)
    for bad, words in (({"concurrency": 0}, "positive integer"), ({"drain_time": -1}, "positive number"),
                       ({"on_reset": "later"}, "on_reset must be one of"), ({"paused": 1}, "pause"),
                       ({"colour": "red"}, "unknown service setting"), ({}, "at least one"),
                       ({"kernel_name": "no-such-kernel"}, "no-such-kernel")):
        r = server.call("PATCH", f"services/{name}", json=bad)
        assert r.status_code == 400 and words in r.json()["message"], (bad, r.text)
    assert digest(store) == kept, "refused edits change nothing"

    running = mm.train(toy(epochs=30, sleep=0.5))
    wait_for(lambda: store.get("executions", running["id"])["status"] == "in-progress", 60, "the run to start")
    r = server.call("POST", f"services/{name}/stop", json={"drain_time": 60})
    body = r.json()
    assert r.status_code == 200 and body["paused"] == 1 and body["health"]["code"] == "stopping", r.text
    assert body["running"] == 1, "stop drains: the running execution goes on"
    waiting = mm.train(toy(epochs=1))
    assert store.get("executions", waiting["id"])["status"] == "pending", "a stopped service takes no new work"
    assert store.get("executions", running["id"])["status"] == "in-progress"
    assert server.call("POST", f"services/{name}/stop", json={"drain_time": "soon"}).status_code == 400
    mm.abort(running["id"])
    assert server.call("POST", "services/mgmt-train-m-nosuch/pause").status_code == 404
    assert [e["id"] for e in server.call("GET", f"executions?service={name}&limit=50").json()["items"]] == \
        [e["id"] for e in mm.list_executions(service=name)]

