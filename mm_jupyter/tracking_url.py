"""The tracking URL: where remote workers report (the runner API of a Jupyter server or `mm serve`).

A service whose runner is a Dask scheduler may name one (``tracking_url``); its attempts then run on
workers that share nothing with this machine and reach the store only through
``{url}/mm-jupyter/runner/v1/`` with their attempt's token. Here: the one check of the setting's
form and the one reachability check (``ping``) that a submit, a service change and a worker's
health all use. Standard library only (a worker imports it).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from .errors import InvalidInput, Unavailable

API_PATH = "/mm-jupyter/runner/v1"
API_NAME = "mm-jupyter-runner"
API_VERSION = 1
REMOTE_ATTEMPT_MODULE = "mm_jupyter.remote_attempt"
# what a remote runner process is given (its environment; never its command line, which others can read)
URL_ENV, TOKEN_ENV, EXECUTION_ENV, ATTEMPT_ENV = "MM_TRACKING_URL", "MM_ATTEMPT_TOKEN", "MM_EXECUTION_ID", "MM_ATTEMPT"
CACHE_ENV = "MM_WORKER_CACHE"


def remote_env(url: str, token: str, execution_id: str, attempt: int) -> dict[str, str]:
    """The environment variables that tell a remote runner process which attempt it runs, and where to."""
    return {URL_ENV: url, TOKEN_ENV: token, EXECUTION_ENV: execution_id, ATTEMPT_ENV: str(attempt)}


def worker_cache() -> Path:
    """A worker's own folder for staged items, weights and run folders (``$MM_WORKER_CACHE``, default
    ``~/.cache/mm-jupyter``); never the store's home."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "mm-jupyter").expanduser()


def check_tracking_url(value: object) -> str:
    """``http(s)://host:port[/base]`` without a trailing slash; ``InvalidInput`` naming what is wrong."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"tracking URL must be http://host:port (a Jupyter server or `mm serve`), got {value!r}")
    text = value.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"tracking URL must be http://host:port or https://host:port, got {value!r}")
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise InvalidInput(f"tracking URL has a bad port: {value!r}") from None
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidInput(f"tracking URL takes no query, fragment or credentials: {value!r}")
    if parts.path.endswith(API_PATH):
        text = text[: -len(API_PATH)]
    return text


def api_base(url: str) -> str:
    """The runner API's base URL under a tracking URL."""
    return check_tracking_url(url) + API_PATH


def ping(url: str, timeout: float = 3.0) -> dict:
    """The runner API's answer to ``GET /ping`` at ``url``; ``Unavailable`` with the reason when nothing
    answers there, or something that is not mm-jupyter's runner API (or another version of it)."""
    target = api_base(url) + "/ping"
    try:
        with urllib.request.urlopen(target, timeout=timeout) as resp:  # noqa: S310 (http(s) only: checked)
            body = json.loads(resp.read(65536) or b"{}")
    except urllib.error.HTTPError as exc:
        raise Unavailable(f"tracking URL {url} does not serve mm-jupyter's runner API (GET {target}: "
                          f"HTTP {exc.code})") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unavailable(f"tracking URL {url} is unreachable: {type(reason).__name__}: {reason}") from None
    except ValueError:
        raise Unavailable(f"tracking URL {url} does not serve mm-jupyter's runner API (no JSON at {target})") from None
    if not isinstance(body, dict) or body.get("api") != API_NAME:
        raise Unavailable(f"tracking URL {url} does not serve mm-jupyter's runner API (GET {target})")
    if body.get("version") != API_VERSION:
        raise Unavailable(f"tracking URL {url} serves runner API version {body.get('version')}, this mm-jupyter "
                          f"speaks version {API_VERSION}: install the same mm-jupyter on both sides")
    return body
