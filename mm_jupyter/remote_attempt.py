"""The runner process of one attempt on a worker that shares nothing with the store:
``python -m mm_jupyter.remote_attempt`` with ``MM_TRACKING_URL``, ``MM_ATTEMPT_TOKEN``,
``MM_EXECUTION_ID`` and ``MM_ATTEMPT`` in its environment (``MM_WORKER_CACHE``, default
``~/.cache/mm-jupyter``; ``MM_SUPERVISOR_PID`` under Dask).

It reads the attempt's spec from the runner API, takes the attempt, stages the dataset's items (by
content hash, keeping their file extension), the weights and the codebase into the worker cache,
runs the notebook with papermill in a run folder ``runs/<execution>-<attempt>/`` (the kernel finds
the spec through ``MM_REMOTE_SPEC`` and reports through its own ``HttpTracker``), heartbeats through
``attempt.Watcher``, uploads every file of the run folder under the execution's artifact key and
posts the outcome (the server then starts the next queued execution). Nothing is written to any
MM_HOME on the worker.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from .attempt import SafeLog, Watcher, run_notebook, skip_slow_optional_imports, watched
from .codebases import content_hash
from .errors import InvalidInput, MMError, one_line
from .executions import EventType, Outcome, Status
from .hashing import tree_hash
from .http_tracker import REMOTE_SPEC_ENV, HttpTracker, RunnerClient, Unreachable, say
from .notebooks import LOG_NAME, NOTEBOOK_NAME, template_for
from .processes import hostname
from .secrets import Redactor, check_names
from .tracker import AttemptEnded
from .tracking_url import ATTEMPT_ENV, EXECUTION_ENV, TOKEN_ENV, URL_ENV, worker_cache

SPEC_NAME = "spec.json"
NOT_UPLOADED = (SPEC_NAME, "weights")  # the spec stays on the worker; the weights go under weights_key
STAGE_THREADS = 8


def blob_path(cache: Path, sha256: str, name: str) -> Path:
    """Where an item's bytes are cached on this worker: by content hash, with the item's extension
    (adapters such as ultralytics read the type from it)."""
    return cache / "blobs" / sha256[:2] / f"{sha256}{PurePosixPath(name).suffix.lower()}"


def stage_items(client: RunnerClient, spec: dict, cache: Path) -> dict:
    """Download every item of the spec not cached yet; returns ``spec["items"]`` with each item's
    ``local_path``."""
    wanted: dict[str, tuple[str, Path]] = {}
    for rows in spec.get("items", {}).values():
        for row in rows:
            row["local_path"] = str(blob_path(cache, row["sha256"], row["path"]))
            wanted.setdefault(row["sha256"], (row["path"], Path(row["local_path"])))

    def fetch(sha: str, dest: Path) -> None:
        if not dest.is_file():
            client.download(f"/blobs/{sha}", dest, sha)

    with ThreadPoolExecutor(STAGE_THREADS) as pool:
        list(pool.map(lambda kv: fetch(kv[0], kv[1][1]), wanted.items()))
    return spec["items"]


def stage_folder(client: RunnerClient, files: list[dict], prefix: str, digest: str | None, cache: Path,
                 what: str, hasher: Callable[[Path], str] = tree_hash) -> Path:
    """The files under artifact key ``prefix`` as a local folder ``cache/<digest>``, downloaded once
    (into a private folder, checked against ``digest`` by ``hasher``, renamed into place); a
    codebase's bytecode caches are left out."""
    prefix = prefix.rstrip("/") + "/"
    final = cache / (digest or f"unhashed-{os.getpid()}")
    if digest and final.is_dir():
        return final
    tmp = cache / f".partial-{os.getpid()}-{time.monotonic_ns()}"
    try:
        for entry in files:
            key = entry["key"]
            if not key.startswith(prefix):
                raise InvalidInput(f"{what} file {key[:200]!r} is not under {prefix!r}")
            rel = PurePosixPath(key[len(prefix):])
            if hasher is content_hash and (rel.suffix == ".pyc" or "__pycache__" in rel.parts):
                continue
            client.download(f"/files/{key}", tmp / rel, entry.get("sha256"))
        tmp.mkdir(parents=True, exist_ok=True)
        if digest and hasher(tmp) != digest:
            raise InvalidInput(f"the {what} downloaded do not hash to the recorded sha256 {digest[:12]}…")
        try:
            os.rename(tmp, final)
        except OSError:  # another attempt staged the same ones meanwhile
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def stage(client: RunnerClient, spec: dict, cache: Path, run_dir: Path) -> dict:
    """Everything the kernel needs on this worker, recorded in the spec's ``worker`` part."""
    stage_items(client, spec, cache)
    worker = {"run_dir": str(run_dir), "attempt": client.attempt,
              "spool_dir": str(cache / "spool" / f"{client.execution_id}-{client.attempt}"),
              "weights_dir": None, "codebase_dir": None}
    weights = spec.get("weights") or {}
    if weights.get("key"):
        worker["weights_dir"] = str(stage_folder(client, weights.get("files") or [], weights["key"],
                                                 weights.get("hash"), cache / "weights", "weights"))
    codebase = spec.get("codebase") or None
    if codebase and codebase.get("files") is not None:
        params = spec.get("params") or {}
        digest = codebase.get("hash") or params.get("codebase_hash")
        worker["codebase_dir"] = str(stage_folder(client, codebase["files"], codebase.get("key")
                                                  or f"codebases/{digest}", digest, cache / "codebases", "codebase",
                                                  content_hash))
    spec["worker"] = worker
    return worker


def upload_run_folder(client: RunnerClient, run_dir: Path, execution_key: str) -> list[str]:
    """Every file of the run folder under ``execution_key`` (the spec and the weights excepted, and
    links: an adapter's links to the staged items are not the run's files); returns the errors (one
    line each)."""
    errors = []
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(run_dir).as_posix()
        if rel.split("/")[0] in NOT_UPLOADED or rel.split("/")[0].startswith("weights.partial-"):
            continue
        try:
            client.upload(f"{execution_key}/{rel}", path)
        except Exception as exc:  # noqa: BLE001 (each file on its own; the outcome is still recorded)
            errors.append(f"uploading {rel} failed: {type(exc).__name__}: {exc}")
    return errors


class LiveUploads(threading.Thread):
    """While the notebook runs, its executed notebook and log are uploaded every ``every`` seconds
    when they changed (the server's views show a remote run's notebook as it goes)."""

    def __init__(self, client: RunnerClient, run_dir: Path, execution_key: str, every: float = 10.0):
        super().__init__(daemon=True, name="mm-live-uploads")
        self.client, self.run_dir, self.execution_key, self.every = client, run_dir, execution_key, every
        self.done = threading.Event()
        self._seen: dict[str, tuple[int, int]] = {}

    def run(self) -> None:
        while not self.done.wait(self.every):
            for name in (NOTEBOOK_NAME, LOG_NAME):
                path = self.run_dir / name
                try:
                    st = path.stat()
                    if self._seen.get(name) != (st.st_size, st.st_mtime_ns):
                        self._seen[name] = (st.st_size, st.st_mtime_ns)
                        self.client.upload(f"{self.execution_key}/{name}", path, wait=self.every)
                except Exception:  # noqa: BLE001 (the final upload after the run is the one that counts)
                    continue

    def stop(self) -> None:
        self.done.set()
        self.join()


def run(url: str, token: str, execution_id: str, attempt: int, cache: Path | None = None) -> Status:
    """Run attempt ``attempt`` of ``execution_id`` on this worker to its end; the status it ended in."""
    cache = (cache or worker_cache()).expanduser()
    spool = cache / "spool" / f"{execution_id}-{attempt}"
    tracker = HttpTracker(url, execution_id, attempt, token, spool)
    spec = tracker.spec()
    if not tracker.started(runner_pid=os.getpid(), host=hostname()):
        status = Status(tracker.state()["status"])  # aborted, reconciled or retried meanwhile: not ours
        tracker.close()
        return status
    svc = spec["service"]
    if svc.get("heartbeat_interval"):
        os.environ.setdefault("MM_HEARTBEAT_INTERVAL", str(svc["heartbeat_interval"]))
    run_dir = cache / "runs" / f"{execution_id}-{attempt}"
    shutil.rmtree(run_dir, ignore_errors=True)  # a run folder is one attempt's, never reused
    run_dir.mkdir(parents=True)
    timeout = float(svc["execution_timeout"])
    watcher = Watcher(HttpTracker(url, execution_id, attempt, token, spool), timeout, run_dir)
    live = LiveUploads(tracker.client, run_dir, spec["execution_key"])
    live.start()
    try:
        outcome, error = watched(watcher, lambda: _execute(tracker, spec, cache, run_dir, watcher, url, token),
                                 timeout)
    finally:
        live.stop()
    problems = upload_run_folder(tracker.client, run_dir, spec["execution_key"])
    for problem in problems:
        say(f"[mm] {problem}")
        try:
            tracker.event(problem, "error", EventType.LOG)
        except Exception:  # noqa: BLE001 (the attempt ended meanwhile)
            pass
    status = tracker.outcome(outcome, error)
    tracker.close()
    if not problems:  # everything is on the server: the worker keeps only its caches (items, weights)
        shutil.rmtree(run_dir, ignore_errors=True)
    return status


def _execute(tracker: HttpTracker, spec: dict, cache: Path, run_dir: Path, watcher: Watcher, url: str,
             token: str) -> tuple[Outcome, str | None]:
    """Stage, then papermill on the service's kernel in the run folder; (outcome, error)."""
    exe, svc = spec["execution"], spec["service"]
    log = SafeLog(run_dir / LOG_NAME)
    notebook = run_dir / NOTEBOOK_NAME
    tracker.notebook(f"{spec['execution_key']}/{NOTEBOOK_NAME}")

    def kernel_started(pid: int) -> None:
        watcher.kernel_pid = pid
        tracker.kernel_started(pid)

    params = dict(spec.get("params") or exe.get("params") or {})
    params.pop("mm_home", None)
    mine = params.pop("notebook", None)
    log.write(f"[mm] {time.strftime('%Y-%m-%d %H:%M:%S')} attempt {tracker.attempt} of {exe['kind']} {exe['id']} "
              f"on kernel {svc['kernel_name']} on {hostname()} (remote, reporting to {url})\n")
    try:
        # secrets: a worker has no secrets.json; their values come from its own environment
        wanted = check_names([*(params.pop("secrets", None) or []), *(svc.get("secrets") or [])])
        missing = [n for n in wanted if n not in os.environ]
        if missing:
            raise InvalidInput(f"secret {missing[0]} is not set in the environment of this worker (a remote "
                               "worker has no secrets.json)")
        redactor = Redactor({n: os.environ[n] for n in wanted})
        template = template_for(exe["kind"], mine if mine and Path(mine).is_file() else None)
        started = time.monotonic()
        worker = stage(tracker.client, spec, cache, run_dir)
    except (InvalidInput, Unreachable) as exc:
        log.write(f"[mm] cannot start: {exc}\n")
        log.close()
        return Outcome.START_FAILURE if isinstance(exc, Unreachable) else Outcome.INVALID, str(exc)
    n_items = sum(len(v) for v in spec.get("items", {}).values())
    log.write(f"[mm] staged {n_items} items" + (", the weights" if worker["weights_dir"] else "")
              + (", the codebase" if worker["codebase_dir"] else "") + f" in {time.monotonic() - started:.1f} s\n")
    spec_path = run_dir / SPEC_NAME
    spec_path.write_text(json.dumps(spec))
    params.update(execution_id=exe["id"], attempt=tracker.attempt)
    # the token reaches the kernel through its environment, never the notebook (which others may read)
    os.environ.update({URL_ENV: url, TOKEN_ENV: token, ATTEMPT_ENV: str(tracker.attempt), EXECUTION_ENV: exe["id"],
                       REMOTE_SPEC_ENV: str(spec_path)})
    return run_notebook(template, notebook, params, kernel_name=svc["kernel_name"], log=log, folder=run_dir,
                        watcher=watcher, tracker=tracker, redactor=redactor, on_kernel_start=kernel_started)


def main() -> None:
    skip_slow_optional_imports()
    env = {name: os.environ.get(name, "") for name in (URL_ENV, TOKEN_ENV, EXECUTION_ENV, ATTEMPT_ENV)}
    missing = [name for name, value in env.items() if not value]
    if missing or not env[ATTEMPT_ENV].isdigit():
        raise SystemExit(f"python -m mm_jupyter.remote_attempt needs {', '.join(missing or [ATTEMPT_ENV])} in "
                         "its environment (MM_TRACKING_URL, MM_ATTEMPT_TOKEN, MM_EXECUTION_ID, MM_ATTEMPT)")
    try:
        status = run(env[URL_ENV], env[TOKEN_ENV], env[EXECUTION_ENV], int(env[ATTEMPT_ENV]))
    except AttemptEnded as exc:  # not this process's to run (ended, retried, aborted meanwhile)
        say(f"[mm] not run: {one_line(exc)}")
        return
    except MMError as exc:  # the runner API never answered, the spec was refused
        raise SystemExit(f"[mm] {env[EXECUTION_ENV]} attempt {env[ATTEMPT_ENV]} not run: {one_line(exc)}") from None
    say(f"[mm] {env[EXECUTION_ENV]} attempt {env[ATTEMPT_ENV]}: {status}")


if __name__ == "__main__":
    main()
    sys.exit(0)
