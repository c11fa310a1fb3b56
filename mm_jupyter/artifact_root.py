"""The store's artifact root: where weights, executed notebooks, logs and results live, as an fsspec URL.

``file://<MM_HOME>/artifacts`` by default (store meta ``artifact_root`` sets another: ``file:///…``,
``s3://bucket/prefix``, ``gs://bucket/prefix``, ``memory://name``). Files are named by *keys*,
relative to the root, in the layout of ``Store.artifacts`` (``models/<model>/snapshots/<version>/…``).
For a ``file://`` root ``uri(key)`` is a plain local path, so ``weights_uri`` / ``notebook_uri`` values
of local runs are what they always were; for any other root it is ``<url>/<key>``.

Credentials (S3, GCS) come from the usual environment of the process (``AWS_*``, fsspec's config):
only the server and local kernels hold them. ``local_copy`` brings a URL's weights folder into a local
cache (by content hash) for a kernel that loads them.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from .errors import InvalidInput, NotFound, one_line

SCHEMES = ("file", "s3", "gs", "memory")
PARTIAL = ".mm-partial"  # an upload in progress: <key>.mm-partial (a file; for object stores a folder of chunks)
PROBE = ".mm-probe-"
CHUNK = 1 << 20
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(text: object) -> bool:
    """Whether ``text`` is a URL (``scheme://…``) rather than a local path."""
    return isinstance(text, str) and _URL.match(text) is not None


def root_url(store_home: str | os.PathLike, meta_value: str | None) -> str:
    """The artifact root of the store at ``store_home``: its meta ``artifact_root``, else
    ``file://<home>/artifacts``."""
    return meta_value or f"file://{Path(store_home) / 'artifacts'}"


def normalize(url: str) -> str:
    """``url`` checked and in its one spelling (no trailing ``/``; an absolute local path becomes
    ``file://PATH``); ``InvalidInput`` naming it when it is not an artifact root this can use."""
    if not isinstance(url, str) or not url.strip() or "\x00" in url or "\n" in url:
        raise InvalidInput(f"artifact root {str(url)[:200]!r} is not a URL (file:///PATH, s3://BUCKET/PREFIX, "
                           "gs://BUCKET/PREFIX or memory://NAME)")
    url = url.strip()
    if not is_url(url):
        if url.startswith("/"):
            url = f"file://{url}"
        else:
            raise InvalidInput(f"artifact root {url[:200]!r} is not a URL (file:///PATH, s3://BUCKET/PREFIX, "
                               "gs://BUCKET/PREFIX or memory://NAME)")
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise InvalidInput(f"artifact root {url[:200]!r}: unknown scheme {scheme!r} (use file, s3, gs or memory)")
    if scheme == "file":
        if not rest.startswith("/"):
            raise InvalidInput(f"artifact root {url[:200]!r}: a file:// root needs an absolute path (file:///PATH)")
        path = os.path.normpath(rest)
        if path != "/" and any(p == ".." for p in rest.split("/")):
            raise InvalidInput(f"artifact root {url[:200]!r}: '..' is not allowed")
        return f"file://{path}"
    rest = rest.strip("/")
    if not rest or any(p in ("", ".", "..") for p in rest.split("/")):
        raise InvalidInput(f"artifact root {url[:200]!r}: needs a {'bucket' if scheme != 'memory' else 'name'} "
                           f"({scheme}://{'BUCKET/PREFIX' if scheme != 'memory' else 'NAME'}) and no empty, '.' or "
                           "'..' parts")
    return f"{scheme}://{rest}"


def check_key(key: str) -> str:
    """``key`` (relative, ``/``-separated, no ``..``); ``""`` is the root itself. ``InvalidInput``
    otherwise."""
    if not isinstance(key, str) or "\x00" in key or "\\" in key or key.startswith("/") or len(key) > 1024:
        raise InvalidInput(f"artifact key {str(key)[:80]!r} is not a relative path")
    key = key.strip("/") if key.endswith("/") else key
    if key and any(p in ("", ".", "..") for p in key.split("/")):
        raise InvalidInput(f"artifact key {key[:80]!r} has an empty, '.' or '..' part")
    return key


class ArtifactRoot:
    """An artifact root (see the module's docstring): read, write (resumably), list and hash files by key."""

    def __init__(self, url: str, **storage_options: Any):
        self.url = normalize(url)
        self.scheme, rest = self.url.split("://", 1)
        self.is_local = self.scheme == "file"
        self.base = rest  # a local path, or the fsspec path (bucket/prefix) of an object store
        self._options = storage_options
        self._fs: Any = None

    def __repr__(self) -> str:
        return f"ArtifactRoot({self.url!r})"

    @property
    def fs(self) -> Any:
        """The fsspec file system (imported on first use)."""
        if self._fs is None:
            try:
                import fsspec
            except ImportError:  # pragma: no cover - a runtime dependency
                raise InvalidInput("artifact roots need fsspec (pip install fsspec)") from None
            options = dict(self._options)
            if self.scheme in ("s3", "gs"):
                options.setdefault("use_listings_cache", False)  # other processes write too
            try:
                self._fs = fsspec.filesystem(self.scheme, **options)
            except ImportError as exc:
                package = {"s3": "s3fs", "gs": "gcsfs"}.get(self.scheme, self.scheme)
                raise InvalidInput(f"artifact root {self.url}: {package} is not installed ({exc})") from None
        return self._fs

    # -- names --

    def path(self, key: str) -> str:
        """The file system path of ``key`` (local path, or fsspec path for object stores)."""
        key = check_key(key)
        if not key:
            return self.base
        return str(Path(self.base) / key) if self.is_local else f"{self.base}/{key}"

    def uri(self, key: str) -> str:
        """What a row stores for ``key``: a plain local path for ``file://``, else ``<url>/<key>``."""
        key = check_key(key)
        if self.is_local:
            return self.path(key)
        return f"{self.url}/{key}" if key else self.url

    def key_of(self, uri: str) -> str | None:
        """The key of a stored ``uri`` (inverse of ``uri``), or None when it is not under this root."""
        if not isinstance(uri, str):
            return None
        if self.is_local:
            text = uri[len("file://"):] if uri.startswith("file://") else uri
            if is_url(text) or not text.startswith("/"):
                return None
            rel = os.path.relpath(os.path.normpath(text), self.base)
            if rel == ".":
                return ""
            if rel == ".." or rel.startswith("../") or os.path.isabs(rel):
                return None
            return Path(rel).as_posix()
        if uri == self.url:
            return ""
        if not uri.startswith(self.url + "/"):
            return None
        try:
            return check_key(uri[len(self.url) + 1:])
        except InvalidInput:
            return None

    def _local(self, key: str) -> Path:
        """A local root's file for ``key``, checked (symlinks resolved) to stay under the root."""
        path = Path(self.path(key))
        try:
            resolved = path.resolve()
            root = Path(self.base).resolve()
        except (OSError, RuntimeError):
            raise NotFound(f"no artifact at {key[:80]!r}") from None
        if resolved != root and root not in resolved.parents:
            raise NotFound(f"no artifact at {key[:80]!r} (outside the artifact root)")
        return path

    # -- reads --

    def size(self, key: str) -> int | None:
        """The size of the file ``key``, None when there is none (or it is a folder)."""
        if self.is_local:
            try:
                path = self._local(key)
            except NotFound:
                return None
            return path.stat().st_size if path.is_file() else None
        try:
            info = self.fs.info(self.path(key))
        except (FileNotFoundError, OSError):
            return None
        return int(info["size"]) if info.get("type") == "file" else None

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def open_read(self, key: str, offset: int = 0) -> BinaryIO:
        """The file ``key`` open for reading from byte ``offset`` (``NotFound`` when missing)."""
        try:
            if self.is_local:
                fh: Any = open(self._local(key), "rb")  # noqa: SIM115 - the caller closes it
            else:
                fh = self.fs.open(self.path(key), "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no artifact at {key[:80]!r}") from None
        except OSError as exc:
            raise NotFound(f"cannot read artifact {key[:80]!r}: {one_line(exc)}") from None
        if offset:
            fh.seek(offset)
        return fh

    def read_bytes(self, key: str) -> bytes:
        with self.open_read(key) as fh:
            return fh.read()

    def list(self, prefix: str = "") -> list[tuple[str, int]]:
        """``(key, size)`` of every file under ``prefix`` (recursively; uploads in progress left out),
        sorted by key."""
        prefix = check_key(prefix)
        out: list[tuple[str, int]] = []
        if self.is_local:
            try:
                folder = self._local(prefix)
            except NotFound:
                return []
            if folder.is_file():
                return [(prefix, folder.stat().st_size)]
            for path in folder.rglob("*"):
                if path.is_file():
                    out.append((path.relative_to(self.base).as_posix(), path.stat().st_size))
        else:
            base = self.path(prefix)
            try:
                found = self.fs.find(base, detail=True, withdirs=False)
            except (FileNotFoundError, OSError):
                return []
            for name, info in found.items():
                if info.get("type", "file") != "file":
                    continue
                rel = name.strip("/")[len(self.base.strip("/")):].strip("/")
                if not prefix or rel == prefix or rel.startswith(prefix + "/"):
                    out.append((rel, int(info.get("size") or 0)))
        return sorted(((k, s) for k, s in out if not _in_progress(k)), key=lambda ks: ks[0].split("/"))

    def tree_hash(self, prefix: str) -> str:
        """The content hash of the files under ``prefix``: the same value as ``hashing.tree_hash`` of
        that folder on disk (relative path and sha256 of each file, in path order)."""
        prefix = check_key(prefix)
        digest = hashlib.sha256()
        for key, _ in self.list(prefix):
            rel = key[len(prefix):].lstrip("/") if prefix else key
            file_digest = hashlib.sha256()
            with self.open_read(key) as fh:
                while chunk := fh.read(CHUNK):
                    file_digest.update(chunk)
            digest.update(rel.encode() + b"\0" + file_digest.hexdigest().encode() + b"\n")
        return digest.hexdigest()

    def get_folder(self, prefix: str, dest: str | os.PathLike) -> list[str]:
        """Copy every file under ``prefix`` into the local folder ``dest`` (same relative paths)."""
        prefix = check_key(prefix)
        keys = []
        for key, _ in self.list(prefix):
            rel = key[len(prefix):].lstrip("/") if prefix else key
            target = Path(dest) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with self.open_read(key) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
            keys.append(key)
        return keys

    # -- writes --

    def partial_size(self, key: str) -> int:
        """How many bytes an unfinished upload of ``key`` holds (0: none)."""
        if self.is_local:
            part = Path(self.path(key) + PARTIAL)
            return part.stat().st_size if part.is_file() else 0
        return sum(size for _, size in self._chunks(key))

    def _chunks(self, key: str) -> list[tuple[str, int]]:
        """An object store's upload in progress: its chunk objects ``(path, size)`` in offset order."""
        folder = self.path(key) + PARTIAL
        try:
            found = self.fs.find(folder, detail=True, withdirs=False)
        except (FileNotFoundError, OSError):
            return []
        chunks = sorted((name, int(info.get("size") or 0)) for name, info in found.items()
                        if info.get("type", "file") == "file" and name.rstrip("/").rsplit("/", 1)[-1].isdigit())
        # a chunk that does not start where the previous ended (a rewrite after a failed try) ends the run
        out, at = [], 0
        for name, size in chunks:
            if int(name.rstrip("/").rsplit("/", 1)[-1]) != at:
                break
            out.append((name, size))
            at += size
        return out

    def writer(self, key: str, offset: int = 0) -> BinaryIO:
        """A file to write ``key``'s bytes from ``offset`` into; ``finish(key)`` makes them the file.
        ``offset`` 0 starts over; a larger one resumes an upload that holds exactly ``offset`` bytes
        (``partial_size``; ``InvalidInput`` otherwise). Closing the writer keeps what was written (a
        broken connection resumes from there)."""
        key = check_key(key)
        if not key:
            raise InvalidInput("artifact key is empty")
        have = self.partial_size(key) if offset else 0
        if offset < 0 or offset != have:
            raise InvalidInput(f"artifact {key[:80]!r}: an upload can resume at byte {have}, not {offset}")
        if self.is_local:
            part = Path(self.path(key) + PARTIAL)
            self._local(str(Path(key).parent) if "/" in key else "")  # the folder stays under the root
            part.parent.mkdir(parents=True, exist_ok=True)
            if offset == 0:
                return open(part, "wb")  # noqa: SIM115 - the caller closes it
            fh = open(part, "r+b")  # noqa: SIM115
            fh.seek(offset)
            fh.truncate()
            return fh
        if offset == 0:
            self._remove_chunks(key)
        return self.fs.open(f"{self.path(key)}{PARTIAL}/{offset:020d}", "wb")

    def _remove_chunks(self, key: str) -> None:
        folder = self.path(key) + PARTIAL
        for name, _ in list(self._chunks(key)) or []:
            self.fs.rm(name)
        try:
            if self.fs.exists(folder):
                self.fs.rm(folder, recursive=True)
        except (FileNotFoundError, OSError):
            pass

    def finish(self, key: str) -> None:
        """Make the upload of ``key`` the file (atomic for a local root; chunks assembled into one
        object for object stores)."""
        key = check_key(key)
        if self.is_local:
            part = Path(self.path(key) + PARTIAL)
            if not part.is_file():
                raise InvalidInput(f"artifact {key[:80]!r}: no upload in progress to finish")
            os.replace(part, self.path(key))
            return
        chunks = self._chunks(key)
        if not chunks:
            raise InvalidInput(f"artifact {key[:80]!r}: no upload in progress to finish")
        if len(chunks) == 1:
            self.fs.mv(chunks[0][0], self.path(key))
        else:
            with self.fs.open(self.path(key), "wb") as out:
                for name, _ in chunks:
                    with self.fs.open(name, "rb") as src:
                        shutil.copyfileobj(src, out, CHUNK)
        self._remove_chunks(key)

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write the file ``key`` whole."""
        with self.writer(key) as fh:
            fh.write(data)
        self.finish(key)

    def put_file(self, key: str, source: str | os.PathLike) -> None:
        with self.writer(key) as fh, open(source, "rb") as src:
            shutil.copyfileobj(src, fh, CHUNK)
        self.finish(key)

    def put_folder(self, prefix: str, folder: str | os.PathLike) -> list[str]:
        """Write every file below the local ``folder`` under ``prefix``; returns their keys."""
        prefix = check_key(prefix)
        keys = []
        root = Path(folder)
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            key = "/".join(filter(None, (prefix, path.relative_to(root).as_posix())))
            self.put_file(key, path)
            keys.append(key)
        return keys

    def remove(self, key: str) -> None:
        """Delete the file ``key`` (nothing when it is missing)."""
        key = check_key(key)
        if not key:
            raise InvalidInput("refusing to remove the artifact root itself")
        try:
            if self.is_local:
                Path(self.path(key)).unlink(missing_ok=True)
            else:
                self.fs.rm(self.path(key))
        except (FileNotFoundError, IsADirectoryError):
            pass

    def problem(self, *, create: bool = True) -> str | None:
        """Why files cannot be written into this root (a probe file written, read back and deleted),
        else None. A local root's missing folder is created (``create=False``: its nearest existing
        folder is asked whether it could be, and nothing is created)."""
        key = f"{PROBE}{uuid.uuid4().hex}"
        try:
            if self.is_local:
                if not create and not Path(self.base).is_dir():
                    above = Path(self.base)
                    while not above.exists() and above != above.parent:
                        above = above.parent
                    if not above.is_dir() or not os.access(above, os.W_OK | os.X_OK):
                        return f"artifact root {self.url} cannot be written: {above} is not a writable folder"
                    return None
                Path(self.base).mkdir(parents=True, exist_ok=True)
                path = Path(self.path(key))
                path.write_bytes(b"mm")
                path.unlink()
            else:
                path = self.path(key)
                self.fs.pipe(path, b"mm")
                try:
                    if self.fs.cat(path) != b"mm":
                        return f"artifact root {self.url}: a probe file read back differs"
                finally:
                    self.fs.rm(path)
        except InvalidInput as exc:
            return one_line(exc)
        except Exception as exc:  # every backend raises its own kinds (botocore, PermissionError, …)
            return f"artifact root {self.url} cannot be written: {one_line(exc)}"
        return None


def _in_progress(key: str) -> bool:
    return any(part.endswith(PARTIAL) or part.startswith(PROBE) for part in key.split("/"))


# --- the health probe, cached ---------------------------------------------------------------------

PROBE_TTL = 30.0
PROBE_TIMEOUT = 10.0
_probes: dict[str, tuple[float, str | None]] = {}
_probing: dict[str, threading.Thread] = {}
_probe_lock = threading.Lock()


def cached_problem(url: str, *, ttl: float = PROBE_TTL, wait: bool = True,
                   timeout: float = PROBE_TIMEOUT) -> str | None:
    """``ArtifactRoot(url).problem()``, remembered for ``ttl`` seconds (health is read often). A probe
    gets ``timeout`` seconds (no answer: a problem). ``wait=False`` never blocks: the last result is
    returned (None before the first) while a new probe runs in the background."""
    at = time.monotonic()
    with _probe_lock:
        known = _probes.get(url)
        if known is not None and at - known[0] < ttl:
            return known[1]
        thread = _probing.get(url)
        if thread is None or not thread.is_alive():
            thread = threading.Thread(target=_probe, args=(url,), daemon=True, name="mm-artifact-root-probe")
            _probing[url] = thread
            thread.start()
    if not wait:
        return known[1] if known else None
    thread.join(timeout)
    if thread.is_alive():
        return f"artifact root {url} did not answer a write within {timeout:g} s"
    with _probe_lock:
        return _probes[url][1] if url in _probes else None


def _probe(url: str) -> None:
    try:
        problem = ArtifactRoot(url).problem(create=False)
    except InvalidInput as exc:
        problem = one_line(exc)
    with _probe_lock:
        _probes[url] = (time.monotonic(), problem)


def forget_probes() -> None:
    """Drop the remembered probe results (after the root changed)."""
    with _probe_lock:
        _probes.clear()


# --- local copies of weights at a URL ---------------------------------------------------------------


def local_copy(uri: str, expected_hash: str | None, cache: str | os.PathLike) -> Path:
    """A local folder holding the weights at ``uri``: a local path (or ``file://`` URL) as it is; a
    URL's folder downloaded once into ``cache/<hash>/`` (renamed into place when complete, so a
    half-copied folder is never used; reused when present). The copy must hash to ``expected_hash``
    when it is given (``InvalidInput`` otherwise: changed weights are never used)."""
    if not is_url(uri):
        return Path(uri)
    root = ArtifactRoot(uri)
    if root.is_local:
        return Path(root.base)
    cache = Path(cache)
    if expected_hash:
        final = cache / expected_hash
        if final.is_dir():
            return final
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".partial-{uuid.uuid4().hex}"
    try:
        try:
            keys = root.get_folder("", tmp)
        except (OSError, NotFound) as exc:
            raise InvalidInput(f"cannot download the weights at {uri}: {one_line(exc)}") from None
        if not keys:
            raise InvalidInput(f"the weights at {uri} are missing (no files there)")
        from .hashing import tree_hash

        digest = tree_hash(tmp)
        if expected_hash and digest != expected_hash:
            raise InvalidInput(f"the weights at {uri} are not the recorded ones any more (sha256 {digest[:12]}…, "
                               f"recorded {expected_hash[:12]}…): refusing to use changed weights")
        final = cache / digest
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():  # not another process's identical copy
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


# --- the store's setting -----------------------------------------------------------------------------

META_KEY = "artifact_root"


def configured(store: Any) -> dict:
    """The store's artifact root: ``{"artifact_root": url, "default": bool}`` (``store``: a ``Store``)."""
    value = store.meta(META_KEY)
    return {"artifact_root": root_url(store.home, value), "default": not value}


def configure(store: Any, url: str | None) -> dict:
    """Set the store's artifact root to ``url`` (None: back to the default ``file://MM_HOME/artifacts``)
    once a probe file can be written there (``InvalidInput`` with the reason otherwise). Files already
    stored stay where their rows say (their uris are absolute)."""
    if url is None:
        store.delete("meta", key=META_KEY)
    else:
        root = ArtifactRoot(url)
        problem = root.problem()
        if problem is not None:
            raise InvalidInput(f"artifact root {root.url} refused: {problem}")
        store.set_meta(META_KEY, root.url)
    forget_probes()
    return configured(store)


def elsewhere(store: Any, uri: str | None) -> tuple[ArtifactRoot, str] | None:
    """Where a stored ``uri`` lives when it is not under the store's own folder (``MM_HOME/artifacts``):
    ``(root, key)`` for a URL (the URL itself as the root, key ``""``) or a path under the store's
    configured ``file://`` root; None for anything else (read from ``Store.artifacts`` as always)."""
    if not uri:
        return None
    try:
        if is_url(uri):
            return ArtifactRoot(uri), ""
        value = store.meta(META_KEY)
        root = ArtifactRoot(value) if value and value != root_url(store.home, None) else None
    except InvalidInput:  # not a URL this can read: as missing
        return None
    if root is not None:
        key = root.key_of(uri)
        if key is not None and root.is_local:
            return root, key
    return None


_LISTINGS: dict[tuple[str, str, str], list[tuple[str, int]]] = {}
_LISTINGS_MAX = 256


def files_of(root: ArtifactRoot, key: str, content_hash: str | None = None) -> list[tuple[str, int]]:
    """``(name relative to key, size)`` of the files under ``key``; remembered when ``content_hash`` is
    given (a version's weights are never rewritten, so their listing never changes)."""
    cache_key = (root.url, key, content_hash or "")
    if content_hash and cache_key in _LISTINGS:
        return _LISTINGS[cache_key]
    files = [(k[len(key):].lstrip("/") if key else k, size) for k, size in root.list(key)]
    if content_hash and files:
        if len(_LISTINGS) >= _LISTINGS_MAX:
            _LISTINGS.pop(next(iter(_LISTINGS)))
        _LISTINGS[cache_key] = files
    return files
