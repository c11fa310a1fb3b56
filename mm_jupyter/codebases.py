"""Model codebases: where a model's adapter code comes from when it is not an installed module.

A codebase is a local folder (``PATH``) or a git repository at a revision (``git+URL@REV``; the
revision a branch, a tag or a commit, default the remote's HEAD). Either way its files are copied
into the store by content hash (``MM_HOME/artifacts/codebases/<sha256>/``, ``hashing.tree_hash`` of
the copy; written once, through a staging folder renamed into place; identical content reuses the
folder), so later edits of the folder or new commits change no past run. ``.git``, ``__pycache__``
and ``*.pyc`` are left out. A git repository is cloned once into ``MM_HOME/cache/git/<sha256 of the
URL>`` (a bare mirror, fetched again on every use), its revision resolved to the full commit sha,
and that commit's tree written out with ``git archive`` (no submodules).

The record a model (and a version's reproducibility record) keeps::

    {"source": "git+file:///…@main" | "/abs/folder", "kind": "git" | "folder",
     "revision": "<full sha>" | None, "hash": "<sha256>", "path": "<store folder>"}

**Importing.** A codebase's import root is its folder (or its ``src/`` folder when the adapter's
package lives there). One process may load adapters of two codebases that hold the same module
names (two revisions of one repository), so ``load_object`` imports in isolation: under a lock, the
modules named like the codebase's top-level modules are taken out of ``sys.modules``, the import root
is put first on ``sys.path``, the adapter is imported, and then ``sys.modules`` and ``sys.path`` are
put back as they were. The class keeps its own module objects alive; objects are cached by (folder,
reference), which is sound since a store folder never changes. Code that imports lazily (inside a
method) would not see the codebase again in such a process: that is why the kernel, a fresh process
that runs one version, calls ``activate`` instead, which puts the import root first on ``sys.path``
for good (the module names of the standard library and ``mm_jupyter`` are never shadowed).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import InvalidInput
from .hashing import file_sha256, tree_hash

GIT_PREFIX = "git+"
SKIP_DIRS = frozenset({".git", "__pycache__"})
GIT_TIMEOUT = 600
FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_NEVER_SHADOW = frozenset(sys.stdlib_module_names) | {"mm_jupyter"}
_LOCK = threading.RLock()
_OBJECTS: dict[tuple[str, str], Any] = {}


# --- where a codebase lives ----------------------------------------------------------------------


def codebases_dir(home: Path) -> Path:
    return Path(home) / "artifacts" / "codebases"


def folder_of(codebase: Any) -> str | None:
    """The store folder of a codebase record (or a folder given as such); None for no codebase."""
    if not codebase:
        return None
    return codebase["path"] if isinstance(codebase, dict) else str(codebase)


def source_of(given: str | None) -> str | None:
    """The ``source`` a codebase given as ``given`` is recorded with (a folder: its absolute path)."""
    if given is None or given.startswith(GIT_PREFIX):
        return given
    return str(Path(given).expanduser().resolve())


def parse_git(source: str) -> tuple[str, str]:
    """``git+URL@REV`` → (URL, REV); REV defaults to ``HEAD``. The revision is the part after the last
    ``@`` of the URL's path (an ``@`` in a user name, ``ssh://git@host/…``, is not one)."""
    url = source[len(GIT_PREFIX):]
    parts = urlsplit(url)
    if not parts.scheme or parts.scheme not in ("file", "http", "https", "ssh", "git") or url.startswith("-"):
        raise InvalidInput(f"codebase {source[:200]!r}: give git+file://, git+https://, git+ssh:// or git+git:// "
                           "followed by the repository's URL (and @REVISION)")
    rev = "HEAD"
    if "@" in parts.path:
        head, _, rev = url.rpartition("@")
        url = head
    if not rev or rev.startswith("-") or any(c in rev for c in " \t\n\r\0~^:?*[\\"):
        raise InvalidInput(f"codebase {source[:200]!r}: {rev!r} is not a revision (a branch, a tag or a commit)")
    return url, rev


# --- storing one ---------------------------------------------------------------------------------


@contextmanager
def staged(home: Path, source: Any) -> Iterator[dict]:
    """Copy a codebase into a staging folder of the store and yield its record (``path`` the staging
    folder, to check the adapter against); a clean exit moves it into place (or reuses the identical
    folder there) and sets ``path`` to it; an exception removes it. Bad input is one ``InvalidInput``
    line and leaves nothing behind."""
    if not isinstance(source, str) or not source.strip() or "\0" in source or len(source) > 4096:
        raise InvalidInput(f"codebase must be a folder or git+URL@REVISION, got {str(source)[:200]!r}")
    root = codebases_dir(home)
    stage = root / f".staging-{uuid.uuid4().hex}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if source.startswith(GIT_PREFIX):
            record = _stage_git(Path(home), source, stage)
        else:
            record = _stage_folder(source, stage)
        record["hash"] = tree_hash(stage)
        record["path"] = str(stage)
        yield record
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        forget(stage)
        raise
    final = root / record["hash"]
    forget(stage)
    if final.is_dir():
        shutil.rmtree(stage, ignore_errors=True)
    else:
        try:
            os.rename(stage, final)
        except OSError:  # the same content, put in place by another process meanwhile
            shutil.rmtree(stage, ignore_errors=True)
            if not final.is_dir():
                raise
    record["path"] = str(final)


def _ignore(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n in SKIP_DIRS or n.endswith(".pyc")}


def _stage_folder(source: str, stage: Path) -> dict:
    folder = Path(source).expanduser()
    if not folder.exists():
        raise InvalidInput(f"codebase folder {source[:200]!r} does not exist")
    if not folder.is_dir():
        raise InvalidInput(f"codebase {source[:200]!r} is not a folder (give a folder or git+URL@REVISION)")
    folder = folder.resolve()
    try:
        shutil.copytree(folder, stage, ignore=_ignore)
    except (OSError, shutil.Error) as exc:
        raise InvalidInput(f"codebase folder {source[:200]!r} cannot be copied: {str(exc)[:200]}") from None
    return {"source": str(folder), "kind": "folder", "revision": None}


def _git(args: list[str], cwd: Path | None = None, **kw: Any) -> subprocess.CompletedProcess:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "SSH_ASKPASS": "true"}
    return subprocess.run(["git", "-c", "protocol.ext.allow=never", *args], cwd=cwd, env=env, capture_output=True,
                          timeout=GIT_TIMEOUT, **kw)


def _last_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1].strip()[:200] if lines else f"git exited with {proc.returncode}"


def _mirror(home: Path, url: str, source: str, rev: str) -> tuple[Path, bool]:
    """The cache's bare mirror of ``url``, cloned (first use) or fetched (unless ``rev`` is a full
    commit sha it has already); (folder, cloned now)."""
    cache = home / "cache" / "git"
    cache.mkdir(parents=True, exist_ok=True)
    mirror = cache / hashlib.sha256(url.encode()).hexdigest()[:32]
    try:
        if mirror.is_dir() and FULL_SHA.fullmatch(rev) and \
                not _git(["cat-file", "-e", f"{rev}^{{commit}}"], cwd=mirror).returncode:
            return mirror, False
        if mirror.is_dir():
            proc = _git(["fetch", "--quiet", "--prune", "--tags", "--force", "origin"], cwd=mirror)
            if proc.returncode:
                raise InvalidInput(f"codebase {source[:200]!r}: cannot fetch {url[:200]}: {_last_line(proc)}")
            return mirror, False
        tmp = cache / f".clone-{uuid.uuid4().hex}"
        proc = _git(["clone", "--quiet", "--mirror", "--", url, str(tmp)])
        if proc.returncode:
            shutil.rmtree(tmp, ignore_errors=True)
            raise InvalidInput(f"codebase {source[:200]!r}: cannot clone {url[:200]}: {_last_line(proc)}")
    except (OSError, subprocess.SubprocessError) as exc:
        raise InvalidInput(f"codebase {source[:200]!r}: git failed: {str(exc)[:200]}") from None
    try:
        os.rename(tmp, mirror)
    except OSError:  # cloned by another process meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
        return mirror, False
    return mirror, True


def _stage_git(home: Path, source: str, stage: Path) -> dict:
    url, rev = parse_git(source)
    mirror, cloned = _mirror(home, url, source, rev)
    proc = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"], cwd=mirror)
    if proc.returncode:
        if cloned:  # nothing of a refused codebase stays behind
            shutil.rmtree(mirror, ignore_errors=True)
        raise InvalidInput(f"codebase {source[:200]!r}: revision {rev!r} does not exist in {url[:200]}")
    sha = proc.stdout.decode().strip()
    archive = stage.with_name(stage.name + ".tar")
    try:
        with open(archive, "wb") as out:
            proc = subprocess.run(["git", "archive", "--format=tar", sha], cwd=mirror, stdout=out,
                                  stderr=subprocess.PIPE, timeout=GIT_TIMEOUT)
        if proc.returncode:
            raise InvalidInput(f"codebase {source[:200]!r}: cannot read {sha[:12]}: {_last_line(proc)}")
        stage.mkdir()
        with tarfile.open(archive) as tar:
            tar.extractall(stage, filter="data")
    except (OSError, tarfile.TarError, subprocess.SubprocessError) as exc:
        raise InvalidInput(f"codebase {source[:200]!r}: cannot write out {sha[:12]}: {str(exc)[:200]}") from None
    finally:
        archive.unlink(missing_ok=True)
    for junk in [p for p in stage.rglob("*") if p.name in SKIP_DIRS or p.suffix == ".pyc"]:
        shutil.rmtree(junk, ignore_errors=True) if junk.is_dir() else junk.unlink(missing_ok=True)
    return {"source": source, "kind": "git", "revision": sha}


def content_hash(folder: str | Path) -> str:
    """``hashing.tree_hash`` of a stored codebase, not counting ``__pycache__`` folders and ``.pyc``
    files Python may have written since (the stored copy has none)."""
    root = Path(folder)
    digest = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".pyc"
                   and not SKIP_DIRS.intersection(p.relative_to(root).parts))
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + file_sha256(path).encode() + b"\n")
    return digest.hexdigest()


def check_unchanged(folder: str, expected: str | None) -> None:
    """Refuse a stored codebase whose files changed since it was stored (one line)."""
    if not Path(folder).is_dir():
        raise InvalidInput(f"codebase folder {folder!r} does not exist any more")
    if expected and (digest := content_hash(folder)) != expected:
        raise InvalidInput(f"the codebase in {folder} is not the one recorded any more (sha256 {digest[:12]}…, "
                           f"recorded {expected[:12]}…): refusing to run changed code")


# --- importing from one --------------------------------------------------------------------------


def import_root(folder: str | Path, module: str) -> Path:
    """The folder to import ``module`` from: the codebase's root, or its ``src/`` (a src layout)."""
    root = Path(folder)
    top = module.split(".")[0]
    for base in (root, root / "src"):
        if (base / top).is_dir() or (base / f"{top}.py").is_file():
            return base
    raise InvalidInput(f"the codebase has no module {top!r} (looked for {top}.py or {top}/ in its root and src/)")


def top_level_names(root: Path) -> set[str]:
    """The module names a codebase's import root provides (never the standard library's nor ours)."""
    names = {p.stem if p.suffix == ".py" else p.name for p in root.iterdir()
             if (p.is_dir() and p.name.isidentifier()) or (p.suffix == ".py" and p.stem.isidentifier())}
    return names - _NEVER_SHADOW


def module_file(folder: str | Path, module: str) -> str | None:
    """The source file of ``module`` inside a codebase (for the reproducibility record)."""
    try:
        base = import_root(folder, module)
    except InvalidInput:
        return None
    path = base.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return str(candidate)
    return None


def _owned(name: str, names: set[str]) -> bool:
    return name.split(".")[0] in names


def load_object(folder: str | Path, ref: str, what: str = "adapter") -> Any:
    """Import ``"module:Attribute"`` from a codebase folder in isolation (see the module docstring)."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise InvalidInput(f"{what} must be 'module:Class' with a codebase, got {ref!r}")
    key = (str(folder), ref)
    with _LOCK:
        if key in _OBJECTS:
            return _OBJECTS[key]
        root = import_root(folder, module_name)
        names = top_level_names(root)
        saved = {k: sys.modules.pop(k) for k in [k for k in sys.modules if _owned(k, names)]}
        path, bytecode = list(sys.path), sys.dont_write_bytecode
        sys.path.insert(0, str(root))
        sys.dont_write_bytecode = True  # the stored copy stays as stored
        importlib.invalidate_caches()
        try:
            obj = _import(module_name, attr, ref, what)
        finally:
            for k in [k for k in sys.modules if _owned(k, names)]:
                del sys.modules[k]
            sys.modules.update(saved)
            sys.path[:] = path
            sys.dont_write_bytecode = bytecode
        _OBJECTS[key] = obj
        return obj


def _import(module_name: str, attr: str, ref: str, what: str) -> Any:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise InvalidInput(f"cannot load {what} {ref!r} from the codebase: module {exc.name or module_name!r} "
                           "is not in it nor installed") from None
    except Exception as exc:  # noqa: BLE001 - the user's code may raise anything while imported
        raise InvalidInput(f"cannot load {what} {ref!r} from the codebase: {type(exc).__name__}: "
                           f"{str(exc)[:200]}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise InvalidInput(f"cannot load {what} {ref!r} from the codebase: {module_name} has no {attr!r}") from None


def forget(folder: str | Path) -> None:
    """Drop what was loaded from ``folder`` (a staging folder that is gone)."""
    with _LOCK:
        for key in [k for k in _OBJECTS if k[0] == str(folder)]:
            del _OBJECTS[key]


def activate(folder: str | Path, ref: str) -> None:
    """In a process that runs one version (the kernel): put the codebase's import root first on
    ``sys.path`` for good, so ``ref`` and whatever it imports later come from it; modules of the same
    names imported before are dropped from ``sys.modules``."""
    root = import_root(folder, ref.partition(":")[0])
    names = top_level_names(root)
    for k in [k for k in sys.modules if _owned(k, names)]:
        del sys.modules[k]
    if str(root) in sys.path:
        sys.path.remove(str(root))
    sys.path.insert(0, str(root))
    sys.dont_write_bytecode = True  # no __pycache__ in the stored copy: its hash stays the recorded one
    importlib.invalidate_caches()
