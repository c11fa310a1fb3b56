"""Service secrets: named values a run's kernel gets in its environment, kept out of the store.

Values live in ``MM_HOME/secrets.json`` (owner-only, mode 0600, written atomically: a 0600 temp file
in the same folder, then ``os.replace``); a file others can read is refused. The store, the
papermill parameters, the executed notebook, the log, REST answers and error messages only ever
carry a secret's *name*; what a run prints of a value is replaced by ``[secret NAME]`` (``redact``).
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import stat
import tempfile
import time
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import InvalidInput, NotFound

FILE_NAME = "secrets.json"
MAX_VALUE_BYTES = 64 * 1024
MAX_NAME = 128
MAX_SECRETS = 1000
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MIN_DERIVED = 4  # derived forms (HTML-escaped, base64, URL-quoted) shorter than this are not redacted


def secrets_path(home: str | os.PathLike) -> Path:
    return Path(home) / FILE_NAME


def check_name(name: Any) -> str:
    """A secret's name: an environment variable name (letters, digits, ``_``; not a digit first; at
    most 128 characters), not one of mm-jupyter's own (``MM_*``)."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or len(name) > MAX_NAME:
        shown = repr(name[:60]) if isinstance(name, str) else type(name).__name__
        raise InvalidInput(f"secret name must be an environment variable name (letters, digits and '_', not "
                           f"starting with a digit, at most {MAX_NAME} characters), got {shown}")
    if name.upper().startswith("MM_"):
        raise InvalidInput(f"secret name {name!r} is reserved: MM_* variables are mm-jupyter's own")
    return name


def check_names(names: Any) -> list[str]:
    """A list of secret names (checked, duplicates dropped, order kept); None is no secrets."""
    if names is None:
        return []
    if not isinstance(names, list | tuple):
        raise InvalidInput(f"secrets must be a list of secret names, got {type(names).__name__}")
    return list(dict.fromkeys(check_name(n) for n in names))


def check_value(name: str, value: Any) -> str:
    """A secret's value: non-empty text of at most 64 KiB (UTF-8), no NUL. Never shown in a message."""
    if not isinstance(value, str):
        raise InvalidInput(f"secret {name}: the value must be text, got {type(value).__name__}")
    if not value:
        raise InvalidInput(f"secret {name}: the value is empty")
    if "\x00" in value:
        raise InvalidInput(f"secret {name}: the value holds a NUL character")
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_VALUE_BYTES:
        raise InvalidInput(f"secret {name}: the value is {size} bytes, over the limit of {MAX_VALUE_BYTES} "
                           f"(64 KiB)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"secret {name}: the value is not valid UTF-8 text") from None
    return value


def _load(home: str | os.PathLike) -> dict[str, dict]:
    """``{name: {"value", "set_at"}}``; a file others may read or write is refused (one line)."""
    path = secrets_path(home)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InvalidInput(f"secrets file {path} cannot be read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO) or info.st_uid != os.getuid():
            raise InvalidInput(f"secrets file {path} is readable by others (mode {stat.S_IMODE(info.st_mode):o}): "
                               f"refused; check it, then chmod 600 it")
        raw = fh.read()
    try:
        data = json.loads(raw.decode("utf-8"))
        secrets = data["secrets"]
        assert isinstance(secrets, dict)
    except Exception:  # never echo the file's content: it holds values
        raise InvalidInput(f"secrets file {path} is not a valid secrets file") from None
    return secrets


def _save(home: str | os.PathLike, secrets: dict[str, dict]) -> None:
    """Write the file atomically: a 0600 temp file beside it, fsynced, then renamed over it."""
    folder = Path(home)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".secrets-", suffix=".tmp", dir=folder)  # mkstemp creates it 0600
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(json.dumps({"secrets": secrets}, sort_keys=True).encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, secrets_path(home))
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def set_secret(home: str | os.PathLike, name: str, value: str) -> dict:
    """Set (or replace) a secret; returns ``{"name", "set_at"}`` (never the value)."""
    name, value = check_name(name), check_value(name, value)
    secrets = _load(home)
    if name not in secrets and len(secrets) >= MAX_SECRETS:
        raise InvalidInput(f"at most {MAX_SECRETS} secrets: remove some first")
    secrets[name] = {"value": value, "set_at": time.time()}
    _save(home, secrets)
    return {"name": name, "set_at": secrets[name]["set_at"]}


def list_secrets(home: str | os.PathLike) -> list[dict]:
    """Every secret's name and when it was set, by name (never a value)."""
    return [{"name": n, "set_at": s.get("set_at")} for n, s in sorted(_load(home).items())]


def names(home: str | os.PathLike) -> list[str]:
    return sorted(_load(home))


def remove_secret(home: str | os.PathLike, name: str) -> str:
    """Remove a secret (``NotFound`` when there is none of that name); returns its name."""
    name = check_name(name)
    secrets = _load(home)
    if name not in secrets:
        raise NotFound(f"unknown secret {name!r} (mm secrets list shows them)")
    del secrets[name]
    _save(home, secrets)
    return name


def check_known(home: str | os.PathLike, wanted: Iterable[str]) -> list[str]:
    """The names, checked to exist (``NotFound`` naming the first unknown one)."""
    wanted = check_names(list(wanted))
    if wanted:
        known = _load(home)
        for name in wanted:
            if name not in known:
                raise NotFound(f"unknown secret {name!r}: set it first with `mm secrets set {name}` "
                               f"(value on standard input)")
    return wanted


def resolve(home: str | os.PathLike, wanted: Iterable[str]) -> dict[str, str]:
    """``{name: value}`` of the named secrets (``NotFound`` naming an unknown one)."""
    wanted = check_names(list(wanted))
    if not wanted:
        return {}
    known = _load(home)
    out = {}
    for name in wanted:
        if name not in known:
            raise NotFound(f"secret {name!r} is not set any more (removed after the run was submitted?)")
        out[name] = known[name]["value"]
    return out


class Redactor:
    """Replaces every secret value of a run (and its HTML-escaped, base64 and URL-quoted forms) by
    ``[secret NAME]``; longer values first, so one holding another is replaced whole."""

    def __init__(self, values: dict[str, str]):
        forms: dict[str, str] = {}
        for name, value in values.items():
            forms.setdefault(value, name)
            raw = value.encode("utf-8")
            for form in (html.escape(value), urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value),
                         base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(),
                         json.dumps(value)[1:-1], repr(value)[1:-1]):
                if len(form) >= MIN_DERIVED:
                    forms.setdefault(form, name)
        self.forms = sorted(forms.items(), key=lambda kv: -len(kv[0]))

    def __bool__(self) -> bool:
        return bool(self.forms)

    def text(self, text: str) -> str:
        for form, name in self.forms:
            if form in text:
                text = text.replace(form, f"[secret {name}]")
        return text

    def held_back(self, text: str) -> int:
        """How many characters at the end of ``text`` may be the start of a value (a writer keeps
        them until more text comes, so a value split over two writes is still caught)."""
        best = 0
        for form, _ in self.forms:
            i = text.find(form[0], max(0, len(text) - len(form) + 1))
            while i != -1:  # the leftmost start that fits is the longest held tail for this form
                if form.startswith(text[i:]):
                    best = max(best, len(text) - i)
                    break
                i = text.find(form[0], i + 1)
        return best

    def tree(self, node: Any) -> Any:
        """A JSON tree (a notebook) with every string redacted; a list of strings (a notebook's
        multi-line text) is also checked joined, and made one string when a value spans its lines."""
        if isinstance(node, str):
            return self.text(node)
        if isinstance(node, dict):
            return {k: self.tree(v) for k, v in node.items()}
        if isinstance(node, list):
            if node and all(isinstance(x, str) for x in node):
                joined = "".join(node)
                redacted = self.text(joined)
                if redacted != joined and all(self.text(x) == x for x in node):
                    return [redacted]  # a value split over lines
                return [self.text(x) for x in node]
            return [self.tree(x) for x in node]
        return node


class RedactingWriter:
    """A text stream (the run's log) that redacts what is written through it; a possible start of a
    value at the end of a write is held until the next write (or ``close``)."""

    def __init__(self, target: Any, redactor: Redactor):
        self.target, self.redactor, self.pending = target, redactor, ""

    def write(self, text: str) -> int:
        data = self.redactor.text(self.pending + text)
        keep = self.redactor.held_back(data)
        self.pending = data[len(data) - keep:] if keep else ""
        out = data[:len(data) - keep] if keep else data
        if out:
            self.target.write(out)
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def close(self) -> None:
        if self.pending:
            self.target.write(self.pending)
            self.pending = ""
        self.target.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)
