"""REST routes of an evaluation's view (read through ``queries.evaluations``)::

    GET executions/<id>/evaluation                      the summary (state, metrics with CIs, slices, curves)
    GET executions/<id>/evaluation/items?slice=&true=&pred=&cls=&offset=&limit=
                                                        a page of its items, worst first
    GET executions/<id>/evaluation/items/<item>/image   an item's image file (inside its dataset's root)

The handlers are thin subclasses of the server's ``BaseHandler``, which ``handlers.routes`` passes in
(``routes(BaseHandler, ref)``): this module does not import ``handlers``, so the two form no circle.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..errors import NotFound
from ..queries import evaluations
from ..store import Store
from .inputs import int_arg

MAX_IMAGE_BYTES = 64 * 1024 * 1024


def image_file(store: Store, ref: str, item_id: int) -> tuple[bytes, str]:
    """An evaluated item's image bytes and content type (``NotFound`` when it cannot be served)."""
    path = evaluations.image_path(store, ref, item_id)
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise NotFound(f"item {item_id}: its image is too large to show ({size / 2**20:.0f} MiB)")
    return path.read_bytes(), mimetypes.guess_type(Path(path).name)[0] or "application/octet-stream"


def routes(base: Any, ref: str) -> list[tuple[str, type]]:
    """``(pattern, handler)`` pairs of the evaluation view, the handlers subclassing ``base``."""

    class EvaluationHandler(base):
        @web.authenticated
        @authorized
        async def get(self, ref: str) -> None:
            self.reply(await self.call(evaluations.summary, ref))

    class EvaluationItemsHandler(base):
        @web.authenticated
        @authorized
        async def get(self, ref: str) -> None:
            page = await self.call(
                evaluations.items_page, ref, slice_name=self.arg("slice") or None,
                true=self.get_query_argument("true", None) or None,
                pred=self.get_query_argument("pred", None) or None, cls=self.get_query_argument("cls", None) or None,
                offset=int_arg(self.arg("offset"), "offset", 0, 0, 10_000_000),
                limit=int_arg(self.arg("limit"), "limit", 24, 1, evaluations.PAGE_LIMIT))
            self.reply(page)

    class EvaluationImageHandler(base):
        @web.authenticated
        @authorized
        async def get(self, ref: str, item: str) -> None:
            data, content_type = await self.call(image_file, ref, int(item))
            self.set_header("X-Content-Type-Options", "nosniff")
            self.set_header("Cache-Control", "private, max-age=300")
            self.finish(data, set_content_type=content_type)  # (APIHandler.finish sets the type)

    return [(f"executions/{ref}/evaluation", EvaluationHandler),
            (f"executions/{ref}/evaluation/items", EvaluationItemsHandler),
            (f"executions/{ref}/evaluation/items/([0-9]{{1,18}})/image", EvaluationImageHandler)]
