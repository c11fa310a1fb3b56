"""REST routes of secrets (values in ``MM_HOME/secrets.json``; no answer ever carries one)::

    GET    secrets              {"items": [{"name", "set_at"}, ...]}
    PUT    secrets/<name>       body {"value": "..."} (at most 64 KiB): {"name", "set_at"}
    DELETE secrets/<name>       {"removed": name}

400 with one line for a bad name or value (the message never holds the value), 404 for an unknown
name. The handlers subclass the server's ``BaseHandler``, passed in by ``handlers.routes``.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from .. import api
from ..errors import InvalidInput
from ..store import Store
from .inputs import Body


def list_secrets(store: Store) -> dict:
    return {"items": api.list_secrets(store=store)}


def set_secret(store: Store, name: str, data: Any) -> dict:
    body = Body(data)
    body.seen.add("value")
    value = body.data.get("value")
    body.done()
    if value is None:
        raise InvalidInput("request body: field 'value' is required (the secret's value, as text)")
    return api.set_secret(name, value, store=store)


def remove_secret(store: Store, name: str) -> dict:
    return {"removed": api.remove_secret(name, store=store)}


def routes(base: Any, ref: str) -> list[tuple[str, type]]:
    """``(pattern, handler)`` of the secrets, the handlers subclassing ``base``."""

    class SecretsHandler(base):
        @web.authenticated
        @authorized
        async def get(self) -> None:
            self.reply(await self.call(list_secrets))

    class SecretHandler(base):
        @web.authenticated
        @authorized
        async def put(self, name: str) -> None:
            self.reply(await self.call(set_secret, name, self.body()))

        @web.authenticated
        @authorized
        async def delete(self, name: str) -> None:
            self.reply(await self.call(remove_secret, name))

    return [("secrets", SecretsHandler), (f"secrets/{ref}", SecretHandler)]
