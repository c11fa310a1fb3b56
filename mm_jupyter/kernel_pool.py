"""The warm kernel pool of one MM_HOME (``python -m mm_jupyter.kernel_pool HOME``), and the runner's
side of a warm kernel: adopting a claimed one (``adopt``, ``AdoptedKernelManager``).

The pool is a small detached process: it warms up at most one kernel per key when a runner asks
(``warm_kernels.request``: at the lowest CPU priority when a run starts, so the next is ready, and
when a run ends), notices claims (its ready file is gone: the kernel is the runner's now), drops warm
kernels that died, and exits after ``MM_WARM_KERNEL_IDLE`` seconds (default 600) without a request or
a claim, killing the warm kernels nobody claimed. See ``warm_kernels`` for the files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .processes import pid_alive, signal_group, wait_gone
from .warm_kernels import adopt_spec, claim, enabled, idle_seconds, is_starting, pool_dir, request

TICK = 0.1
START_TIMEOUT = 600.0


def say(message: str) -> None:
    print(f"[mm-pool {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Warm:
    """A kernel this pool started: warming up, then ready (its file in ``ready/``)."""

    def __init__(self, key: str):
        self.key = key
        self.km: Any = None
        self.sock_dir = ""
        self.ready_path: Path | None = None
        self.failed = False
        self.thread: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        pid = getattr(getattr(self.km, "provisioner", None), "pid", None)
        return int(pid) if pid else None


class Pool:
    def __init__(self, home: str):
        self.home = home
        self.dir = pool_dir(home)
        self.idle = idle_seconds()
        self.held: dict[str, Warm] = {}
        self.lock = threading.Lock()
        self.last_active = time.monotonic()
        self.stop = threading.Event()
        self.serial = 0

    # -- life --

    def run(self) -> int:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = open(self.dir / "pool.lock", "a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return 0  # another pool serves this home
        for sub in ("want", "ready", "starting", "claimed", "cwd"):
            (self.dir / sub).mkdir(exist_ok=True, mode=0o700)
        for stale in (*(self.dir / "ready").glob("*.json"), *(self.dir / "starting").iterdir()):
            stale.unlink(missing_ok=True)  # a dead pool's: their kernels ended with it
        (self.dir / "pool.pid").write_text(str(os.getpid()))
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop.set())
        say(f"pool {os.getpid()} for {self.home} (idle exit after {self.idle:g} s)")
        try:
            while not self.stop.wait(TICK):
                self._reap()
                self._notice()
                self._wants()
                with self.lock:
                    starting = any(w.ready_path is None and not w.failed for w in self.held.values())
                if not starting and time.monotonic() - self.last_active > self.idle:
                    say("idle: exiting")
                    break
        finally:
            self._shutdown()
            with contextlib.suppress(OSError):
                if (self.dir / "pool.pid").read_text().strip() == str(os.getpid()):
                    (self.dir / "pool.pid").unlink()
            lock.close()
        return 0

    def _reap(self) -> None:
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass

    def _notice(self) -> None:
        """Claimed kernels are the runners' now; dead warm kernels are dropped."""
        with self.lock:
            for key, warm in list(self.held.items()):
                if warm.failed:
                    del self.held[key]
                elif warm.ready_path is not None and not warm.ready_path.exists():
                    del self.held[key]  # claimed: its runner shuts it down; its sockets are the runner's
                    self.last_active = time.monotonic()
                elif warm.ready_path is not None and not pid_alive(warm.pid):
                    say(f"warm kernel {warm.pid} of {key} died")
                    self._drop(warm)
                    del self.held[key]

    def _wants(self) -> None:
        for path in sorted((self.dir / "want").glob("*.json")):
            try:
                want = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            finally:
                path.unlink(missing_ok=True)
            self.last_active = time.monotonic()
            with self.lock:
                if want["key"] in self.held:
                    continue
                warm = self.held[want["key"]] = Warm(want["key"])
            (self.dir / "starting" / want["key"]).write_text(str(os.getpid()))
            warm.thread = threading.Thread(target=self._start, args=(warm, want), daemon=True)
            warm.thread.start()

    # -- one warm kernel --

    def _start(self, warm: Warm, want: dict) -> None:
        from jupyter_client.manager import KernelManager

        key, started = want["key"], time.monotonic()
        try:
            warm.sock_dir = tempfile.mkdtemp(prefix="mmk-")
            warm.km = KernelManager(kernel_name=want["kernel_name"], transport="ipc",
                                    ip=os.path.join(warm.sock_dir, "k"),
                                    connection_file=os.path.join(warm.sock_dir, "connection.json"))
            env = dict(want["env"])
            # a runner started from a notebook inherits its kernel's parent pid: a warm kernel must not
            # watch that one (ipykernel would end it once this pool has ended)
            env.pop("JPY_PARENT_PID", None)
            # independent: no JPY_PARENT_PID, so it outlives this pool once adopted (``_watch`` ends it
            # with the pool until then, and with its runner after)
            warm.km.start_kernel(env=env, cwd=str(self.dir / "cwd"), independent=True)
            if self.stop.is_set():
                raise RuntimeError("the pool is stopping")
            kc = warm.km.client()
            kc.start_channels()
            try:
                kc.wait_for_ready(timeout=120)
                code = (f"__import__('mm_jupyter.warm_kernels', fromlist=['_']).warm_up("
                        f"{want['adapter']!r}, {os.getpid()}, low={bool(want.get('low'))})")
                reply = kc.execute_interactive(code, silent=True, store_history=False, timeout=START_TIMEOUT,
                                               allow_stdin=False, output_hook=lambda msg: None)
            finally:
                kc.stop_channels()
            content = reply["content"]
            if content.get("status") != "ok":
                raise RuntimeError(f"{content.get('ename')}: {content.get('evalue')}")
            if self.stop.is_set():
                raise RuntimeError("the pool is stopping")
            info = warm.km.get_connection_info()
            info = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in info.items()}
            spec_env = list((getattr(warm.km.kernel_spec, "env", None) or {}).keys())
            self.serial += 1
            path = self.dir / "ready" / f"{key}.{self.serial}.json"
            doc = {"key": key, "kernel_name": want["kernel_name"], "adapter": want["adapter"], "pid": warm.pid,
                   "pool_pid": os.getpid(), "connection": info, "sock_dir": warm.sock_dir,
                   "connection_file": warm.km.connection_file, "base_env": list(env), "spec_env": spec_env,
                   "cwd": str(self.dir / "cwd"), "warm_s": round(time.monotonic() - started, 3)}
            tmp = path.with_name(f".{path.name}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(doc, fh)
            with self.lock:
                warm.ready_path = path
                os.replace(tmp, path)
                self.last_active = time.monotonic()  # idle from now: it is there to be used
            say(f"warm kernel {warm.pid} of {want['adapter']} on {want['kernel_name']} ready in "
                f"{doc['warm_s']:.2f} s" + (" (low priority)" if want.get("low") else ""))
        except Exception as exc:  # noqa: BLE001 (a kernel that cannot warm up is not held; the run starts fresh)
            say(f"warm kernel of {want.get('adapter')} on {want.get('kernel_name')} failed: "
                f"{type(exc).__name__}: {str(exc)[:300]}")
            self._drop(warm)
            warm.failed = True
        finally:
            (self.dir / "starting" / key).unlink(missing_ok=True)

    def _drop(self, warm: Warm) -> None:
        """Kill an unclaimed warm kernel and remove its files (a ready file is taken away first: once
        the rename succeeds no runner can claim it; when it fails, a runner claimed it just now)."""
        if warm.ready_path is not None:
            try:
                os.rename(warm.ready_path, warm.ready_path.with_suffix(".dropped"))
            except FileNotFoundError:
                return  # claimed meanwhile: the runner's now
            warm.ready_path.with_suffix(".dropped").unlink(missing_ok=True)
        pid = warm.pid
        if pid:
            signal_group(pid, signal.SIGKILL)
            wait_gone([pid], 2.0)
        with contextlib.suppress(Exception):
            if warm.km is not None:
                warm.km.cleanup_resources()
        if warm.sock_dir:
            shutil.rmtree(warm.sock_dir, ignore_errors=True)

    def _shutdown(self) -> None:
        self.stop.set()
        with self.lock:
            held = list(self.held.values())
            self.held.clear()
        deadline = time.monotonic() + 10.0
        for warm in held:  # one being launched now is killed once it has a pid
            while warm.thread is not None and warm.thread.is_alive() and warm.pid is None and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
        for warm in held:
            self._drop(warm)
        for stale in (self.dir / "starting").iterdir():
            stale.unlink(missing_ok=True)
        self._reap()


# --- the runner's side -------------------------------------------------------------------------------


def _adopted_class() -> type:
    from jupyter_client.manager import AsyncKernelManager

    class AdoptedKernelManager(AsyncKernelManager):
        """A kernel manager of a kernel it did not start (a claimed warm kernel): its connection
        info; alive while its pid lives; interrupted with SIGINT and killed through its process
        group, as a fresh kernel is."""

        def __init__(self, record: dict, **kwargs: Any):
            super().__init__(kernel_name=record["kernel_name"], **kwargs)
            self.record = record
            self.kernel_pid = int(record["pid"])
            self.load_connection_info(record["connection"])
            self.connection_file = record.get("connection_file") or ""
            self._connection_file_written = True

        @property
        def has_kernel(self) -> bool:
            return pid_alive(self.kernel_pid)

        async def is_alive(self) -> bool:  # type: ignore[override]
            return self.has_kernel

        async def interrupt_kernel(self) -> None:  # type: ignore[override]
            signal_group(self.kernel_pid, signal.SIGINT)

        async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:  # type: ignore[override]
            signal_group(self.kernel_pid, signal.SIGKILL)
            wait_gone([self.kernel_pid], 5.0)
            await self.cleanup_resources()

        async def cleanup_resources(self, restart: bool = False) -> None:  # type: ignore[override]
            shutil.rmtree(self.record.get("sock_dir") or "/nonexistent", ignore_errors=True)
            Path(self.record.get("claimed") or "/nonexistent").unlink(missing_ok=True)

    return AdoptedKernelManager


def discard(record: dict) -> None:
    """Kill a claimed kernel that will not be used and remove its files."""
    signal_group(int(record.get("pid") or 0), signal.SIGKILL)
    shutil.rmtree(record.get("sock_dir") or "/nonexistent", ignore_errors=True)
    Path(record.get("claimed") or "/nonexistent").unlink(missing_ok=True)


def adopt(record: dict, env: dict[str, str], cwd: str, on_kernel_start: Callable[[int], None],
          log: Callable[[str], None], timeout: float = 10.0) -> Any:
    """The kernel manager of claimed warm kernel ``record`` made this run's (``warm_kernels.adopt`` run
    silently in it: ``env``, ``cwd``), or None when it cannot be used (its pool or itself is gone, or
    it does not answer): it is killed, one line is logged, and the run starts a fresh kernel."""
    from jupyter_client.blocking import BlockingKernelClient

    pid = int(record.get("pid") or 0)
    reason = ""
    if not pid_alive(pid):
        reason = "it is not running"
    elif not pid_alive(int(record.get("pool_pid") or 0)):
        reason = "its pool ended"
    else:
        spec_path = Path(record["claimed"]).with_suffix(".adopt")
        fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(adopt_spec(record, env, cwd, os.getpid()), fh)
        kc = BlockingKernelClient()
        kc.load_connection_info(record["connection"])
        try:
            kc.start_channels()
            reply = kc.execute_interactive(
                f"__import__('mm_jupyter.warm_kernels', fromlist=['_']).adopt({str(spec_path)!r})",
                silent=True, store_history=False, timeout=timeout, allow_stdin=False, output_hook=lambda msg: None)
            if reply["content"].get("status") != "ok":
                reason = f"{reply['content'].get('ename')}: {reply['content'].get('evalue')}"
        except Exception as exc:  # noqa: BLE001 (timeouts, closed sockets: not used, the run starts fresh)
            reason = f"it does not answer ({type(exc).__name__})"
        finally:
            kc.stop_channels()
            spec_path.unlink(missing_ok=True)
    if reason:
        log(f"[mm] warm kernel {pid} not used ({reason}): starting a fresh kernel")
        discard(record)
        return None
    log(f"[mm] adopted warm kernel {pid} (warmed up in {record.get('warm_s', 0):.2f} s)")
    on_kernel_start(pid)
    return _adopted_class()(record)


def run_adapter(params: dict, *, dask: bool) -> str | None:
    """The adapter of a run that may use a warm kernel (local, not from a codebase, pool on), or None."""
    if dask or params.get("codebase") or not params.get("adapter") or not enabled():
        return None
    return str(params["adapter"])


def pool_env(private: set[str]) -> dict[str, str]:
    """This process's environment without what belongs to one attempt (token, attempt, secrets)."""
    return {k: v for k, v in os.environ.items() if k not in private}


def claim_for_run(home: str, kernel_name: str, adapter: str, private: set[str], cwd: str,
                  on_kernel_start: Callable[[int], None], log: Callable[[str], None]) -> Any:
    """A warm kernel of this run's key, adopted (see ``adopt``), or None (start a fresh one). Either
    way the pool is asked for the next one of the key at once, warmed up at the lowest priority while
    this run uses the machine (the pool ignores it when it has one)."""
    try:
        env = pool_env(private)
        if is_starting(home, kernel_name, adapter, env):
            import papermill  # noqa: F401 (imported anyway: while the warm kernel finishes)
        record = claim(home, kernel_name, adapter, env)
        request(home, kernel_name, adapter, env, low=True)
        if record is None:
            return None
        try:
            return adopt(record, dict(os.environ), cwd, on_kernel_start, log)
        except BaseException:  # SIGTERM while adopting: the kernel is nobody's, end it
            discard(record)
            raise
    except Exception as exc:  # noqa: BLE001 (the pool is an optimisation: a run never fails for it)
        log(f"[mm] warm kernels unavailable ({type(exc).__name__}: {exc}): starting a fresh kernel")
        return None


def after_run(home: str, kernel_name: str, adapter: str, private: set[str], log: Callable[[str], None]) -> None:
    """A run of this key ended: have a warm kernel ready for the next one."""
    try:
        request(home, kernel_name, adapter, pool_env(private))
    except Exception as exc:  # noqa: BLE001
        log(f"[mm] cannot ask for a warm kernel: {type(exc).__name__}: {exc}")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m mm_jupyter.kernel_pool MM_HOME", file=sys.stderr)
        return 2
    return Pool(argv[0]).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
