"""Read-only access to the artifact root: Jupyter contents models, executed notebooks, log tails.

Every path is resolved (symlinks included) under ``Store.artifacts`` by ``Store.inside_artifacts``;
anything else is answered ``NotFound`` (404, never an absolute path in the message). The sidebar opens executed notebooks through
a JupyterLab drive (``mm-artifacts:<path>``) backed by ``contents``, so they open read-only wherever
``MM_HOME`` lives (it is hidden by default, ``~/.mm_jupyter``, and usually outside the server's root).

When the store's artifact root is set elsewhere (``mm config set artifact_root s3://…`` or another
``file://`` folder), what is not in ``Store.artifacts`` is read through that ``ArtifactRoot`` by key
(the same relative paths), and a version's weights at a URL are listed and streamed from it.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from ..artifact_root import ArtifactRoot, check_key, elsewhere, files_of, root_url
from ..errors import InvalidInput, MMError, NotFound, one_line
from ..notebooks import LOG_NAME, NOTEBOOK_NAME
from ..queries import catalog, executions
from ..store import Store

MAX_FILE_BYTES = 50 * 1024 * 1024
LOG_CHUNK = 256 * 1024


MAX_PATH = 1024


def resolve(store: Store, rel: str) -> Path:
    """``rel`` (relative to the artifact root) resolved; ``NotFound`` if it is odd, too long or leaves
    the root."""
    if not isinstance(rel, str) or "\x00" in rel or len(rel) > MAX_PATH or any(len(p) > 255 for p in rel.split("/")):
        raise NotFound("no such artifact (not a valid artifact path)")
    if rel.startswith(("/", "\\")) or "\\" in rel:
        raise NotFound(f"no artifact at {rel[:80]!r} (paths are relative to the artifact root)")
    try:
        return store.inside_artifacts(rel)
    except (OSError, ValueError, RuntimeError):
        raise NotFound(f"no artifact at {rel[:80]!r}") from None


def relpath(store: Store, path: Path) -> str:
    return path.relative_to(store.artifacts.resolve()).as_posix() if path != store.artifacts.resolve() else ""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def contents(store: Store, rel: str, content: bool = True) -> dict:
    """A Jupyter contents model (``writable: false``) of a file or folder under the artifact root."""
    rel = rel.rstrip("/")
    path = resolve(store, rel)
    if not path.exists():
        root = configured_root(store)
        if root is not None:
            return _root_contents(root, rel, content)
        raise NotFound(f"no artifact at {rel!r}")
    stat = path.stat()
    model = {"name": path.name if rel else "", "path": relpath(store, path),
             "created": _iso(stat.st_ctime), "last_modified": _iso(stat.st_mtime), "writable": False,
             "size": None, "mimetype": None, "format": None, "content": None, "hash": None,
             "hash_algorithm": None}
    if path.is_dir():
        model["type"] = "directory"
        if content:
            model["format"] = "json"
            model["content"] = [contents(store, relpath(store, child), content=False)
                                for child in sorted(path.iterdir()) if _inside(store, child)]
        return model
    model["size"] = stat.st_size
    if stat.st_size > MAX_FILE_BYTES:
        raise InvalidInput(f"artifact {rel!r} is larger than {MAX_FILE_BYTES // 2**20} MiB")
    if path.suffix == ".ipynb":
        model["type"] = "notebook"
        if content:
            try:
                model["content"] = json.loads(path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InvalidInput(f"artifact {rel!r} is not a readable notebook: {exc}") from None
            model["format"] = "json"
        return model
    model["type"] = "file"
    model["mimetype"] = mimetypes.guess_type(path.name)[0] or "text/plain"
    if content:
        data = path.read_bytes()
        try:
            model["content"], model["format"] = data.decode("utf-8"), "text"
        except UnicodeDecodeError:
            model["content"], model["format"] = base64.b64encode(data).decode("ascii"), "base64"
            model["mimetype"] = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return model


def configured_root(store: Store) -> ArtifactRoot | None:
    """The store's artifact root when it is not its own ``artifacts`` folder (meta ``artifact_root``), else None."""
    value = store.meta("artifact_root")
    if not value or value == root_url(store.home, None):
        return None
    try:
        return ArtifactRoot(value)
    except InvalidInput:
        return None


@contextmanager
def _reading(rel: str, keep: type[Exception] | tuple[type[Exception], ...] = MMError) -> Iterator[None]:
    """A read through an artifact root: the backend's own errors (botocore, gcsfs, …) become one
    ``NotFound`` line naming the artifact; ours (``keep``) pass through as they are."""
    try:
        yield
    except keep:
        raise
    except Exception as exc:
        raise NotFound(f"cannot read artifact {rel[:80]!r} from the artifact root: {one_line(exc)}") from None


def _root_contents(root: ArtifactRoot, rel: str, content: bool) -> dict:
    """``contents`` of a key read through an artifact root that is not the store's folder."""
    try:
        key = check_key(rel)
    except InvalidInput:
        raise NotFound(f"no artifact at {rel[:80]!r}") from None
    with _reading(rel, keep=()):  # any error, ours included, is "cannot read" here
        size = root.size(key)
        listed = root.list(key) if size is None else []
    name = rel.rsplit("/", 1)[-1] if rel else ""
    model = {"name": name, "path": rel, "created": None, "last_modified": None, "writable": False, "size": None,
             "mimetype": None, "format": None, "content": None, "hash": None, "hash_algorithm": None}
    if size is None:
        if not listed:
            raise NotFound(f"no artifact at {rel!r}")
        model["type"] = "directory"
        if content:
            children: dict[str, dict] = {}
            for key, child_size in listed:
                part = key[len(rel):].lstrip("/").split("/")[0] if rel else key.split("/")[0]
                child = f"{rel}/{part}" if rel else part
                is_file = child == key
                children.setdefault(part, {
                    "name": part, "path": child, "type": ("notebook" if part.endswith(".ipynb") else "file")
                    if is_file else "directory", "created": None, "last_modified": None, "writable": False,
                    "size": child_size if is_file else None, "mimetype": None, "format": None, "content": None,
                    "hash": None, "hash_algorithm": None})
            model["format"] = "json"
            model["content"] = [children[k] for k in sorted(children)]
        return model
    model["size"] = size
    if size > MAX_FILE_BYTES:
        raise InvalidInput(f"artifact {rel!r} is larger than {MAX_FILE_BYTES // 2**20} MiB")
    data = b""
    if content:
        with _reading(rel, keep=NotFound):
            data = root.read_bytes(rel)
    if name.endswith(".ipynb"):
        model["type"] = "notebook"
        if content:
            try:
                model["content"] = json.loads(data.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InvalidInput(f"artifact {rel!r} is not a readable notebook: {exc}") from None
            model["format"] = "json"
        return model
    model["type"] = "file"
    model["mimetype"] = mimetypes.guess_type(name)[0] or "text/plain"
    if content:
        try:
            model["content"], model["format"] = data.decode("utf-8"), "text"
        except UnicodeDecodeError:
            model["content"], model["format"] = base64.b64encode(data).decode("ascii"), "base64"
            model["mimetype"] = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return model


def _inside(store: Store, child: Path) -> bool:
    try:
        resolve(store, relpath(store, child))
        return child.exists()
    except (NotFound, ValueError):
        return False


def execution_file(store: Store, exe: dict, name: str) -> Path | None:
    """A file of an execution's folder, or None when it is missing or not under the artifact root."""
    try:
        path = resolve(store, relpath(store, store.execution_dir(exe).resolve() / name))
    except (NotFound, ValueError):
        return None
    return path if path.is_file() else None


def notebook_relpath(store: Store, exe: dict) -> str | None:
    """The executed notebook's path relative to the artifact root (what the drive opens), or None."""
    uri = exe.get("notebook_uri")
    root = configured_root(store) if uri else None
    key = root.key_of(uri) if root is not None else None
    if key is not None:  # under the configured root: the drive reads it through the root (`contents`);
        return key       # no round trip to it here (this runs on the server's event loop)
    if uri:
        try:
            path = resolve(store, relpath(store, Path(uri).resolve()))
        except (NotFound, ValueError):
            return None
        return relpath(store, path) if path.is_file() else None
    path = execution_file(store, exe, NOTEBOOK_NAME)
    return relpath(store, path) if path else None


def log_chunk(store: Store, exe_ref: str, offset: int | None, tail: int) -> dict:
    """The execution's log from byte ``offset`` (at most 256 KiB), or its last ``tail`` bytes."""
    exe = store.get("executions", exe_ref)
    path = execution_file(store, exe, LOG_NAME)
    root = configured_root(store) if path is None else None
    key = f"{store.execution_dir(exe).relative_to(store.artifacts).as_posix()}/{LOG_NAME}"
    try:
        size = path.stat().st_size if path else (root.size(key) or 0) if root else 0
    except Exception:  # an unreachable root: no log to show yet
        size = 0
    start = max(0, size - tail) if offset is None else min(offset, size)
    data = b""
    if size > start and (path or root):
        with _reading(key, keep=NotFound), (open(path, "rb") if path else root.open_read(key)) as fh:
            fh.seek(start)
            data = fh.read(LOG_CHUNK)
    return {"execution_id": exe["id"], "offset": start, "next_offset": start + len(data), "size": size,
            "text": data.decode("utf-8", errors="replace")}


def execution_view(store: Store, ref: str) -> dict:
    """One execution's detail (``queries.executions.execution``) with its executed notebook's path
    relative to the artifact root (what the sidebar's read-only drive opens)."""
    row = executions.execution(store, ref)
    row["notebook_path"] = notebook_relpath(store, row)
    row.pop("notebook_uri", None)
    return row


# --- a version's weights, downloaded ----------------------------------------------------------------


@dataclass
class Download:
    """An open file to send (``fh`` positioned at its start; the caller closes it)."""

    filename: str
    fh: BinaryIO
    size: int
    content_type: str

    def disposition(self) -> str:
        """``Content-Disposition: attachment`` with an ASCII name and the exact one (RFC 6266/5987)."""
        plain = re.sub(r'[^A-Za-z0-9._-]+', "_", self.filename).strip("_") or "weights"
        return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(self.filename, safe='')}"


def _safe_name(text: str) -> str:
    return re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]+', "-", text).strip(" .-") or "version"


def weights_download(store: Store, ref: str, name: str | None = None) -> Download:
    """A version's weights to download: the file ``name`` of its weights folder, or (no ``name``) a zip
    of every file in it (``<version>-weights.zip``); ``NotFound`` with one line when it has none
    (``catalog.NO_WEIGHTS``) or no such file. Every path is checked to lie under the artifact root."""
    snap = store.get("snapshots", ref)
    outside = elsewhere(store, snap.get("weights_uri"))
    if outside is not None:
        return _weights_download_from(snap, *outside, name)
    snap, folder, files = catalog.weights_file(store, ref, name)
    version = _safe_name(snap["name"])
    if name is not None:
        path = resolve(store, relpath(store, folder / files[0]["name"]))
        fh = open(path, "rb")
        return Download(f"{version}-{_safe_name(Path(name).name)}", fh, path.stat().st_size,
                        mimetypes.guess_type(path.name)[0] or "application/octet-stream")
    spool = tempfile.TemporaryFile()
    try:
        with zipfile.ZipFile(spool, "w", zipfile.ZIP_STORED) as archive:
            for item in files:
                archive.write(resolve(store, relpath(store, folder / item["name"])), item["name"])
        size = spool.tell()
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return Download(f"{version}-weights.zip", spool, size, "application/zip")


def _weights_download_from(snap: dict, root: ArtifactRoot, key: str, name: str | None) -> Download:
    """``weights_download`` of weights at a URL (or under a configured ``file://`` root), streamed from it."""
    version = _safe_name(snap["name"])
    with _reading(key or snap["weights_uri"]):
        files = files_of(root, key, snap.get("weights_hash"))
    if not files:
        raise NotFound(f"the weights of version {snap['id']} are missing at {snap['weights_uri']}")
    if name is not None:
        chosen = [(n, size) for n, size in files if n == name]
        if not chosen:
            raise NotFound(f"version {snap['id']} has no weights file {name[:80]!r} (it has: "
                           f"{', '.join(n for n, _ in files[:10])})")
        file_key = "/".join(filter(None, (key, name)))
        with _reading(file_key):
            fh = root.open_read(file_key)
        return Download(f"{version}-{_safe_name(Path(name).name)}", fh, chosen[0][1],
                        mimetypes.guess_type(name)[0] or "application/octet-stream")
    spool = tempfile.TemporaryFile()
    try:
        with zipfile.ZipFile(spool, "w", zipfile.ZIP_STORED) as archive:
            for file_name, _ in files:
                with root.open_read("/".join(filter(None, (key, file_name)))) as src, \
                        archive.open(file_name, "w", force_zip64=True) as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
        size = spool.tell()
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return Download(f"{version}-weights.zip", spool, size, "application/zip")
