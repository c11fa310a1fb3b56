"""Predictions and deployments: the commands behind ``mm predict``, ``mm deploy``, ``mm deployments``,
``mm undeploy``, their Python API and REST routes.

A prediction runs the version's adapter in a kernel: the deployment's warm one when a running
deployment serves the version, else a short-lived kernel of the model's evaluate service (started,
used once, shut down). A deployment is its own process (``mm_jupyter.deployment``), detached from
whoever started it; ``reconcile`` starts one again whose process is gone (up to ``MAX_RESTARTS``
times), else marks it failed with the reason.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets as pysecrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from .deployment import MODULE, key_path
from .errors import Conflict, InvalidInput, NotFound, Unavailable, one_line
from .imagefiles import check_image_bytes, check_image_file, check_top_k, write_images
from .kernel_session import KernelError, KernelSession, raise_as
from .kernels import check_kernel
from .processes import pid_alive, signal_group, wait_gone
from .queries import deployments as q
from .queries.catalog import service_of
from .registry import runner_for, runner_scheme
from .secrets import check_known, check_names, resolve
from .store import Store, new_id, now

START_TIMEOUT = 180.0
MAX_RESTARTS = 3
TOP_K = 5
Image = tuple[str, bytes]


# --- images ------------------------------------------------------------------------------------------


def read_images(paths: list[str | os.PathLike]) -> list[Image]:
    """``[(name, bytes)]`` of image files, each checked (``InvalidInput`` naming the first bad one)."""
    if not paths:
        raise InvalidInput("give at least one image")
    return [(p.name, p.read_bytes()) for p in (check_image_file(path) for path in paths)]


def _checked(images: list[Image]) -> list[Image]:
    if not images:
        raise InvalidInput("give at least one image")
    for name, data in images:
        check_image_bytes(data, name)
    return images


# --- predict -----------------------------------------------------------------------------------------


def _trained(store: Store, version: str) -> dict:
    snap = store.get("snapshots", version)
    if not snap.get("weights_uri"):
        raise InvalidInput(f"version {snap['id']} ({snap['name']}) has no weights: train it or add pre-trained "
                           "weights (mm snapshots add --weights) before predicting")
    return snap


def predict(store: Store, version: str, images: list[Image], *, top_k: int = TOP_K,
            timeout: float = 300.0) -> dict:
    """Predictions of ``version`` for ``images`` (``(name, bytes)``): ``{"snapshot_id", "via",
    "predictions"}`` with one record per image (see ``mm_jupyter.predictor``); ``via`` is the
    deployment's id or ``"kernel"`` (a short-lived one)."""
    snap = _trained(store, version)
    images = _checked(images)
    top_k = check_top_k(top_k)
    dep = q.serving(store, snap["id"])
    if dep is not None:
        try:
            return call_deployment(store, dep, images, top_k, timeout)
        except Unavailable:
            pass  # it went away between the read and the call: a kernel of our own answers
    return {"snapshot_id": snap["id"], "via": "kernel",
            "predictions": _predict_in_kernel(store, snap, images, top_k, timeout)}


def _kernel_and_env(store: Store, snap: dict, kernel: str | None = None,
                    secret_names: list[str] | None = None) -> tuple[str, dict[str, str]]:
    svc = service_of(store, "evaluate", snap["model_id"]) or {}
    kernel = check_kernel(kernel or svc.get("kernel_name") or "python3")
    names = check_names([*(secret_names or []), *(svc.get("secrets") or [])])
    return kernel, resolve(store.home, names)


def _predict_in_kernel(store: Store, snap: dict, images: list[Image], top_k: int, timeout: float) -> list[dict]:
    kernel, env = _kernel_and_env(store, snap)
    folder = Path(tempfile.mkdtemp(prefix="mm-predict-"))
    try:
        paths, names = write_images(folder, images)
        with KernelSession(kernel, env=env, cwd=str(folder)) as session:
            try:
                return session.call("from mm_jupyter.predictor import Predictor\n"
                                    f"_mm_publish(Predictor.open({str(store.home)!r}, {snap['id']!r})"
                                    f".predict_files({paths!r}, {names!r}, {top_k}))", timeout=timeout)
            except KernelError as exc:
                raise raise_as(exc) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def call_deployment(store: Store, dep: dict, images: list[Image], top_k: int = TOP_K,
                    timeout: float = 300.0) -> dict:
    """Predictions from a running deployment's process (``Unavailable`` when it does not answer;
    its own refusals keep their kind: a bad image is ``InvalidInput``)."""
    if dep["status"] != "running" or not dep.get("address"):
        raise Unavailable(f"deployment {dep['id']} is {dep['status']}, not running")
    try:
        key = key_path(store.home, dep["id"]).read_text().strip()
    except OSError:
        raise Unavailable(f"deployment {dep['id']}'s key is missing (it was removed)") from None
    body = json.dumps({"images": [{"name": n, "data": base64.b64encode(d).decode()} for n, d in images],
                       "top_k": top_k}).encode()
    request = urllib.request.Request(f"http://{dep['address']}/predict", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            doc = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error") or str(exc)
        except ValueError:
            message = str(exc)
        if exc.code == 400:
            raise InvalidInput(message) from None
        raise Unavailable(f"deployment {dep['id']}: {message}") from None
    except (OSError, ValueError) as exc:
        raise Unavailable(f"deployment {dep['id']} does not answer: {one_line(exc)}") from None
    return {"snapshot_id": dep["snapshot_id"], "via": dep["id"], "predictions": doc["predictions"]}


def predict_with_deployment(store: Store, ref: str, images: list[Image], *, top_k: int = TOP_K,
                            timeout: float = 300.0) -> dict:
    """Predictions from deployment ``ref`` (``NotFound``; ``Conflict`` when it is not running)."""
    dep = q.deployment(store, ref)
    images = _checked(images)
    top_k = check_top_k(top_k)
    if dep["status"] != "running":
        raise Conflict(f"deployment {dep['id']} is {dep['status']}, not running"
                       + (f": {dep['error']}" if dep.get("error") else ""))
    return call_deployment(store, dep, images, top_k, timeout)


# --- deploy ------------------------------------------------------------------------------------------


def deploy(store: Store, version: str, *, kernel: str | None = None, runner: str | None = None,
           secrets: list[str] | None = None, wait: bool = True, timeout: float = START_TIMEOUT) -> dict:
    """Start a deployment of a version with weights; with ``wait``, return once it answers (or failed:
    ``Unavailable`` with its reason). A version already served by a starting or running deployment
    is refused (``Conflict``)."""
    snap = _trained(store, version)
    runner = runner or "local"
    if runner != "local":
        if runner_scheme(runner) != "dask":
            raise InvalidInput(f"deployments run on this machine ('local') or a Dask cluster (dask://host:port), "
                               f"not {runner_scheme(runner)}://")
        runner = runner_for(runner).check_address(runner)
    names = check_known(store.home, check_names(secrets or []))
    kernel_name, _ = _kernel_and_env(store, snap, kernel, names)  # every name resolves now, not later
    if runner != "local":  # an unreachable scheduler or no fitting worker: refused, nothing created
        from .runners.dask import deployment_workers

        deployment_workers(runner, store, kernel_name)
    live = q.deployments(store, active_only=True, snapshot_id=snap["id"])
    if live:
        raise Conflict(f"version {snap['id']} is already deployed as {live[0]['id']} ({live[0]['status']}): "
                       f"mm undeploy {live[0]['id']} first")
    dep_id = new_id("deployments")
    key = pysecrets.token_urlsafe(32)
    path = key_path(store.home, dep_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    store.insert("deployments", {"id": dep_id, "snapshot_id": snap["id"], "model_id": snap["model_id"],
                                 "kernel_name": kernel_name, "runner": runner, "status": "starting",
                                 "secrets": names, "key_hash": hashlib.sha256(key.encode()).hexdigest(),
                                 "created_at": now(), "heartbeat_at": now()})
    _launch(store, dep_id)
    return wait_running(store, dep_id, timeout) if wait else q.deployment(store, dep_id)


def _launch(store: Store, dep_id: str) -> None:
    """Start the deployment's process: here, or as a task on a Dask worker that proved it opens this
    store (none: the deployment fails with the reason)."""
    dep = store.get("deployments", dep_id, by_name=False)
    if dep["runner"] == "local":
        _spawn(store, dep_id)
        return
    from .runners.dask import submit_deployment

    try:
        submit_deployment(dep["runner"], store, dep_id, dep["kernel_name"])
    except Exception as exc:  # Unavailable (no worker fits), an unreachable scheduler
        store.update_if("deployments", dep_id, {"status": "failed", "ended_at": now(),
                                                "error": f"cannot start on {dep['runner']}: {one_line(exc)}"},
                        status="starting")


def _spawn(store: Store, dep_id: str) -> None:
    folder = key_path(store.home, dep_id).parent
    with open(folder / "deployment.log", "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", MODULE, dep_id], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=folder,
                                env={**os.environ, "MM_HOME": str(store.home)})
    threading.Thread(target=proc.wait, daemon=True).start()  # reap it in long-lived parents


def wait_running(store: Store, ref: str, timeout: float = START_TIMEOUT) -> dict:
    """Wait until the deployment runs; ``Unavailable`` with its reason when it failed or stopped."""
    deadline = time.monotonic() + timeout
    while True:
        dep = q.deployment(store, ref)
        if dep["status"] == "running":
            return dep
        if dep["status"] in ("failed", "stopped"):
            raise Unavailable(f"deployment {dep['id']} {dep['status']}: {dep.get('error') or 'it was stopped'}")
        if time.monotonic() > deadline:
            raise Unavailable(f"deployment {dep['id']} did not start within {timeout:g} s (see "
                              f"{key_path(store.home, dep['id']).parent / 'deployment.log'})")
        time.sleep(0.1)


def undeploy(store: Store, ref: str, timeout: float = 15.0) -> dict:
    """Stop a deployment (its kernel and process end; the version is shown as trained again)."""
    dep = store.get("deployments", ref, by_name=False)
    if dep["status"] in ("stopped", "failed"):
        raise Conflict(f"deployment {dep['id']} already {dep['status']}")
    store.update_if("deployments", dep["id"], {"status": "stopping"}, status=("starting", "running"))
    if dep["runner"] == "local" and dep.get("pid") and pid_alive(dep["pid"], MODULE):
        os.kill(dep["pid"], signal.SIGTERM)
        if not wait_gone([dep["pid"]], timeout):
            signal_group(dep["pid"], signal.SIGKILL)
            wait_gone([dep["pid"]], 2.0)
    elif dep["runner"] != "local":  # on a worker: it sees "stopping" at its next heartbeat and ends
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and store.get("deployments", dep["id"], by_name=False)["status"] == "stopping":
            time.sleep(0.2)
    store.update_if("deployments", dep["id"], {"status": "stopped", "ended_at": now()},
                    status=("starting", "running", "stopping"))
    return q.deployment(store, dep["id"])


def reconcile(store: Store) -> list[dict]:
    """Deployments whose process is gone (a machine or server restart, a kill): started again while
    they have restarts left, else failed with the reason. Returns the rows changed."""
    changed = []
    for dep in q.deployments(store, active_only=True):
        if dep["runner"] == "local" and dep.get("pid") and pid_alive(dep["pid"], MODULE):
            continue
        if dep["runner"] != "local" and (dep["health"] or {}).get("code") != "no-heartbeat":
            continue  # on a worker: gone only when its heartbeat went stale
        if dep["status"] == "stopping" or (not dep.get("pid") and now() - (dep["heartbeat_at"] or dep["created_at"]) < 30):
            if dep["status"] == "stopping":
                store.update_if("deployments", dep["id"], {"status": "stopped", "ended_at": now()}, status="stopping")
            continue  # a starting one gets 30 s to record its pid
        if dep["restarts"] >= MAX_RESTARTS:
            store.update_if("deployments", dep["id"], {"status": "failed", "ended_at": now(),
                                                       "error": f"its process ended {MAX_RESTARTS + 1} times"},
                            status=dep["status"], pid=dep["pid"])
        else:
            try:
                _trained(store, dep["snapshot_id"])
                check_kernel(dep["kernel_name"])
                check_known(store.home, dep.get("secrets") or [])
            except (InvalidInput, NotFound) as exc:
                store.update_if("deployments", dep["id"], {"status": "failed", "ended_at": now(),
                                                           "error": f"cannot start again: {one_line(exc)}"},
                                status=dep["status"], pid=dep["pid"])
                changed.append(q.deployment(store, dep["id"]))
                continue
            if not store.update_if("deployments", dep["id"], {"status": "starting", "pid": None, "address": None,
                                                              "restarts": dep["restarts"] + 1, "heartbeat_at": now(),
                                                              "error": "started again: its process had ended"},
                                   status=dep["status"], pid=dep["pid"]):
                continue  # someone else is on it
            _launch(store, dep["id"])
        changed.append(q.deployment(store, dep["id"]))
    return changed
