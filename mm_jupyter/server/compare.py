"""REST route of a comparison (read through ``queries.compare``)::

    GET compare?ref=<version or execution>&ref=...      2 to 5 refs: columns, curves, final metrics,
                                                        config diff, slice deltas (or why not)

400 with one line for fewer than 2 or more than 5 refs or one given twice, 404 for an unknown one.
The handler subclasses the server's ``BaseHandler``, which ``handlers.routes`` passes in
(``routes(BaseHandler)``): this module does not import ``handlers``, so the two form no circle.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..queries import compare


def routes(base: Any) -> list[tuple[str, type]]:
    """``(pattern, handler)`` of the comparison, the handler subclassing ``base``."""

    class CompareHandler(base):
        @web.authenticated
        @authorized
        async def get(self) -> None:
            refs = [r.strip() for r in self.get_query_arguments("ref")]
            self.reply(await self.call(compare.compare, refs))

    return [("compare", CompareHandler)]
