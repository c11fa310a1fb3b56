"""Warm kernels: the files shared by runners and the kernel pool, and the code a warm kernel runs.

A warm kernel is a kernel started ahead (by ``kernel_pool``, one detached process per MM_HOME) with
an adapter's heavy imports done, for the next local run of the same (kernel name, adapter
``"module:Class"``, import-time environment): its *key*. Everything lives in
``MM_HOME/kernel-pool/`` (owner-only):

- ``pool.pid`` / ``pool.lock``: the pool process (it holds an exclusive ``flock`` on the lock);
- ``want/<key>.json``: a runner asks for a warm kernel of a key (its kernel, adapter and environment
  without the attempt's token and secrets);
- ``starting/<key>``: the pool is warming one up;
- ``ready/<key>.<n>.json``: a warm kernel (its pid, connection info, launch environment's names);
  a runner **claims** it by renaming it into ``claimed/`` — a rename succeeds once, so two runners
  never get the same kernel; one execution uses it, then it is shut down as any kernel.

Only the standard library here: the kernel-side functions (``warm_up``, ``adopt``) run inside the
kernel, the rest in runners and the pool.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .processes import pid_alive

ENABLED_ENV = "MM_WARM_KERNELS"  # "0" turns warm kernels (and the pool) off
IDLE_ENV = "MM_WARM_KERNEL_IDLE"  # seconds the pool lives without a request or a claim
DEFAULT_IDLE = 600.0
POOL_MODULE = "mm_jupyter.kernel_pool"
# what the templates import (the runtime, then an evaluation's metrics and its slice table's pandas)
ALWAYS = ("mm_jupyter.runtime", "mm_jupyter.evaluation", "mm_jupyter.metrics.detection",
          "mm_jupyter.metrics.classification", "mm_jupyter.metrics.slices", "pandas")
# modules that start native worker threads when loaded (numpy: OpenBLAS), imported at normal priority
NATIVE_POOLS = ("numpy",)
# environment variables read when a process starts or a library is imported: a kernel warmed with
# other values than a run's is not that run's kernel (its key differs)
IMPORT_TIME = re.compile(r"^(PYTHON\w*|PATH|VIRTUAL_ENV|CONDA_PREFIX|LD_\w+|\w*_NUM_THREADS|KMP_\w+|CUDA_\w+|"
                         r"NVIDIA_\w+|TORCH_\w+|YOLO_\w+|MPLBACKEND|OPENBLAS_\w+|MKL_\w+)$")


def enabled(env: dict[str, str] | None = None) -> bool:
    """Whether warm kernels are on (``MM_WARM_KERNELS`` is not ``0``/``false``/``no``/``off``)."""
    value = (env if env is not None else os.environ).get(ENABLED_ENV, "1").strip().lower()
    return value not in ("0", "false", "no", "off")


def idle_seconds(env: dict[str, str] | None = None) -> float:
    """How long the pool lives idle (``MM_WARM_KERNEL_IDLE`` seconds, default 600)."""
    try:
        return max(float((env if env is not None else os.environ).get(IDLE_ENV) or DEFAULT_IDLE), 0.0)
    except ValueError:
        return DEFAULT_IDLE


def pool_dir(home: str | os.PathLike) -> Path:
    return Path(home) / "kernel-pool"


def key_of(kernel_name: str, adapter: str, env: dict[str, str]) -> str:
    """The key of a warm kernel: kernel name, adapter and the import-time part of the environment."""
    fixed = sorted((k, v) for k, v in env.items() if IMPORT_TIME.match(k))
    text = json.dumps([kernel_name, adapter, fixed])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _write(path: Path, doc: dict) -> None:
    """Write ``doc`` owner-only, whole (a temp file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh)
    os.replace(tmp, path)


# --- the pool process, seen from a runner ------------------------------------------------------------


def pool_pid(home: str | os.PathLike) -> int | None:
    """The pid of this home's live pool process, or None."""
    try:
        pid = int((pool_dir(home) / "pool.pid").read_text().strip() or 0)
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid, POOL_MODULE) else None


def stop_pool(home: str | os.PathLike, wait: float = 10.0) -> bool:
    """Ask this home's pool to end now (SIGTERM: it kills the kernels it holds, as at its idle end);
    True when one ran and is gone."""
    pid = pool_pid(home)
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + wait
    while pid_alive(pid, POOL_MODULE) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not pid_alive(pid, POOL_MODULE)


def start_pool(home: str | os.PathLike, env: dict[str, str]) -> None:
    """Start the pool process of ``home`` (detached: its own session, not a child of this process)
    unless it runs; a second one started at the same time exits at once (the lock)."""
    if pool_pid(home) is not None:
        return
    folder = pool_dir(home)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    log = str(folder / "pool.log")
    # ``sh`` starts the pool in the background and exits: the pool's parent is then init (or the
    # nearest subreaper), never this runner, so it is in no run's process tree
    script = 'exec "$@" </dev/null >>"$MM_POOL_LOG" 2>&1 &'
    subprocess.run(["/bin/sh", "-c", script, "sh", sys.executable, "-m", POOL_MODULE, str(home)],
                   env={**env, "MM_HOME": str(home), "MM_POOL_LOG": log}, start_new_session=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def request(home: str | os.PathLike, kernel_name: str, adapter: str, env: dict[str, str], *,
            low: bool = False) -> str:
    """Ask the pool (started when it does not run) for a warm kernel of this key; ``low``: warm it
    up at the lowest CPU priority (a run is using the machine). Returns the key."""
    key = key_of(kernel_name, adapter, env)
    _write(pool_dir(home) / "want" / f"{key}.json",
           {"key": key, "kernel_name": kernel_name, "adapter": adapter, "env": env, "low": low, "at": time.time()})
    start_pool(home, env)
    return key


def claim(home: str | os.PathLike, kernel_name: str, adapter: str, env: dict[str, str], *,
          wait: float = 10.0) -> dict | None:
    """Take a warm kernel of this key for one run: its record (``claimed`` = the file now holding it),
    or None. While the pool is warming one up for the key, wait for it (at most ``wait`` s)."""
    folder = pool_dir(home)
    key = key_of(kernel_name, adapter, env)
    deadline = time.monotonic() + wait
    while True:
        for path in sorted((folder / "ready").glob(f"{key}.*.json")):
            target = folder / "claimed" / f"{path.stem}.{os.getpid()}.json"
            try:
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                os.rename(path, target)
            except FileNotFoundError:
                continue  # another runner took it first
            try:
                record = json.loads(target.read_text())
            except (OSError, ValueError):
                target.unlink(missing_ok=True)
                continue
            record["claimed"] = str(target)
            return record
        starting = folder / "starting" / key
        if not starting.exists() or pool_pid(home) is None or time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def is_starting(home: str | os.PathLike, kernel_name: str, adapter: str, env: dict[str, str]) -> bool:
    """Whether the pool is warming up (or holds) a kernel of this key."""
    folder = pool_dir(home)
    key = key_of(kernel_name, adapter, env)
    return (folder / "starting" / key).exists() or any((folder / "ready").glob(f"{key}.*.json"))


# --- inside the kernel ---------------------------------------------------------------------------------

_WATCHED: dict[str, int] = {}


def _watch() -> None:
    """End this kernel when the process it belongs to is gone: the pool while it is warm, the runner
    once it is adopted (a fresh kernel ends with its runner too: ipykernel's parent poller)."""
    while True:
        time.sleep(0.5)
        pid = _WATCHED.get("pid")
        if pid and not pid_alive(pid):
            os._exit(1)


def warm_up(adapter: str, owner: int, low: bool = False) -> list[str]:
    """Import what a run of ``adapter`` imports first: the templates' modules, the adapter's module
    and its class's ``preload`` (module names, or ``"module:function"`` to call, e.g. an adapter's
    own import helper that sets its environment first). ``owner``: the pool's pid (this kernel ends
    with it until adopted). ``low``: in a thread at the lowest CPU priority (Linux: SCHED_IDLE, else
    nice 19, for that thread only), so a warm-up only uses idle CPU. Returns what was preloaded."""
    _WATCHED["pid"] = owner
    threading.Thread(target=_watch, daemon=True, name="mm-warm-watch").start()
    done: list[str] = []
    failed: list[BaseException] = []

    def work() -> None:
        try:
            if low:  # this thread only: it ends with the imports, the kernel keeps its priority
                try:
                    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # runs only on idle CPUs
                except (OSError, AttributeError):
                    try:
                        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
                    except (OSError, AttributeError):
                        pass
            for name in ALWAYS:
                importlib.import_module(name)
                done.append(name)
            ref = adapter if ":" in adapter else _entry_point(adapter)
            module, _, cls_name = ref.partition(":")
            cls = getattr(importlib.import_module(module), cls_name)
            done.append(module)
            for name in getattr(cls, "preload", ()) or ():
                mod, _, fn = str(name).partition(":")
                target = importlib.import_module(mod)
                if fn:
                    getattr(target, fn)()
                done.append(str(name))
        except BaseException as exc:  # noqa: BLE001 (reported to the pool as this call's error)
            failed.append(exc)

    if low:
        for name in NATIVE_POOLS:  # their worker threads would inherit the low priority for good
            try:
                importlib.import_module(name)
            except ImportError:
                pass
        worker = threading.Thread(target=work, name="mm-warm-up")
        worker.start()
        worker.join()
    else:
        work()
    if failed:
        raise failed[0]
    return done


def _entry_point(name: str) -> str:
    """``"module:Class"`` of an adapter registered by name (what ``registry.adapter_reference`` does)."""
    from importlib.metadata import entry_points

    return next((ep.value for ep in entry_points(group="mm_jupyter.adapters") if ep.name == name), name)


def adopt(path: str) -> None:
    """Make this warm kernel the kernel of one run, as if the runner had started it: the run's
    environment (token, attempt, secrets: read from the owner-only file ``path``, which is removed),
    working folder, ``sys.path`` entry of the folder and output file descriptors; from now on it ends
    with the runner. Nothing of this reaches the notebook."""
    spec = json.loads(Path(path).read_text())
    os.unlink(path)
    for name in spec["drop"]:
        os.environ.pop(name, None)
    os.environ.update(spec["env"])
    old, new = os.getcwd(), spec["cwd"]
    os.chdir(new)
    sys.path[:] = [new if p == old else p for p in sys.path]
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None and isinstance(shell.user_ns.get("_dh"), list):
            shell.user_ns["_dh"][:] = [new]
    except ImportError:
        pass
    if spec.get("output"):  # the kernel's own output goes to the runner's log, as a fresh kernel's does
        _redirect_original_output(spec["output"])
    _WATCHED["pid"] = int(spec["owner"])


def _redirect_original_output(path: str) -> None:
    """Point the kernel's original stdout/stderr at ``path``. ipykernel keeps fds 1 and 2 on pipes it
    forwards to the notebook (and echoes to copies of the originals): only those copies are replaced."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError:
        return
    try:
        for stream in (sys.stdout, sys.stderr):
            copy = getattr(stream, "_original_stdstream_copy", None)
            if isinstance(copy, int):
                os.dup2(fd, copy)
    except OSError:
        pass
    finally:
        os.close(fd)


def adopt_spec(record: dict, env: dict[str, str], cwd: str, owner: int) -> dict[str, Any]:
    """What ``adopt`` applies: ``env`` (the runner's environment as a fresh kernel would get it), the
    names of the warm kernel's launch environment that are not in it (dropped; those its kernel spec
    sets are kept, as a fresh start sets them too), ``cwd`` and the runner's pid."""
    spec_keys = set(record.get("spec_env") or [])
    env = {k: v for k, v in env.items() if k not in spec_keys}
    env["JPY_PARENT_PID"] = str(owner)
    drop = [k for k in record.get("base_env") or [] if k not in env and k not in spec_keys]
    try:
        output = os.readlink("/proc/self/fd/2")
        output = output if os.path.isfile(output) else ""
    except OSError:
        output = ""
    return {"env": env, "drop": drop, "cwd": cwd, "owner": owner, "output": output}
