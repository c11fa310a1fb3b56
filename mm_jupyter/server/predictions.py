"""REST routes of predictions and deployments::

    GET    deployments[?all=1]              {"items": [deployment with health, ...]} (active ones; all: every one)
    POST   deployments                      body {"snapshot_id", "kernel"?, "secrets"?: [...]}: the running
                                            deployment (201), once it answers
    GET    deployments/<id>                 one deployment with its health
    DELETE deployments/<id>                 undeploy: the stopped deployment
    POST   deployments/<id>/predict         multipart field(s) ``image``, or JSON {"images": [{"name", "data":
                                            <base64>}], "top_k"?}: {"snapshot_id", "via", "predictions": [...]}
    POST   snapshots/<id>/predict           the same bodies, or JSON {"dataset", "item_id"} (a dataset item):
                                            through the version's deployment if one runs, else a short-lived kernel
    GET    datasets/<id>/items[?offset&limit&search]   {"items": [{"id", "name", "dir", "tags"}], "total"}
    GET    datasets/<id>/items/<item>/image the item's image file

Like every route, behind Jupyter's authentication. A body may be up to ``MAX_PREDICT_BYTES``; a file
that is not an image, a version without weights, an unknown deployment: 400 / 404 / 409, one line.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import httputil, web

from .. import serving
from ..errors import InvalidInput
from ..imagefiles import MAX_TOP_K, decode_images
from ..queries import deployments as q_dep
from ..queries.items import dataset_items, item_file
from ..store import Store
from .inputs import Body, int_arg, parse_json

MAX_PREDICT_BYTES = 32 * 1024 * 1024


def images_of(content_type: str, raw: bytes) -> tuple[list[tuple[str, bytes]], dict]:
    """``([(name, bytes)], other JSON fields)`` of a multipart or JSON predict body."""
    if content_type.startswith("multipart/form-data"):
        args: dict[str, list[bytes]] = {}
        files: dict[str, list[Any]] = {}
        httputil.parse_body_arguments(content_type, raw, args, files)
        images = [(f["filename"] or "image", bytes(f["body"])) for f in files.get("image", [])]
        if not images:
            raise InvalidInput("multipart body: give the image in a file field named 'image'")
        fields: dict[str, Any] = {}
        if "top_k" in args:
            fields["top_k"] = int_arg(args["top_k"][0].decode(errors="replace"), "top_k", serving.TOP_K, 1, MAX_TOP_K)
        return images, fields
    data = parse_json(raw) if raw.strip() else None
    body = Body(data)
    fields = {"top_k": body.get("top_k", int, default=serving.TOP_K), "dataset": body.get("dataset", str),
              "item_id": body.get("item_id", int)}
    listed = body.data.get("images")
    body.seen.add("images")
    body.done()
    return (decode_images(listed, "request body: images") if listed is not None else []), fields


def predict_version(store: Store, ref: str, content_type: str, raw: bytes) -> dict:
    images, fields = images_of(content_type, raw)
    if fields.get("item_id") is not None:
        if images:
            raise InvalidInput("give either images or a dataset item, not both")
        if not fields.get("dataset"):
            raise InvalidInput("request body: field 'dataset' is required with 'item_id'")
        path = item_file(store, fields["dataset"], fields["item_id"])
        images = [(path.name, path.read_bytes())]
    return serving.predict(store, ref, images, top_k=fields.get("top_k") or serving.TOP_K)


def predict_deployment(store: Store, ref: str, content_type: str, raw: bytes) -> dict:
    images, fields = images_of(content_type, raw)
    if fields.get("item_id") is not None:
        raise InvalidInput("a deployment predicts images: give them in 'images' or a multipart 'image' field")
    return serving.predict_with_deployment(store, ref, images, top_k=fields.get("top_k") or serving.TOP_K)


def deploy(store: Store, data: Any) -> dict:
    body = Body(data)
    snapshot = body.text("snapshot_id", required=True)
    kernel = body.text("kernel")
    secrets = body.strings("secrets")
    body.done()
    return serving.deploy(store, snapshot, kernel=kernel, secrets=secrets)


def list_deployments(store: Store, all_: bool) -> dict:
    serving.reconcile(store)
    return {"items": q_dep.deployments(store, active_only=not all_)}


def routes(base: Any, ref: str) -> list[tuple[str, type]]:
    """``(pattern, handler)`` of predictions and deployments, the handlers subclassing ``base``."""

    class DeploymentsHandler(base):
        @web.authenticated
        @authorized
        async def get(self) -> None:
            self.reply(await self.call(list_deployments, self.get_argument("all", "") in ("1", "true")))

        @web.authenticated
        @authorized
        async def post(self) -> None:
            self.reply(await self.call(deploy, self.body()), 201)

    class DeploymentHandler(base):
        @web.authenticated
        @authorized
        async def get(self, dep: str) -> None:
            self.reply(await self.call(q_dep.deployment, dep))

        @web.authenticated
        @authorized
        async def delete(self, dep: str) -> None:
            self.reply(await self.call(serving.undeploy, dep))

    class PredictHandler(base):
        max_body = MAX_PREDICT_BYTES
        target: Any = None

        @web.authenticated
        @authorized
        async def post(self, ref: str) -> None:
            content_type = self.request.headers.get("Content-Type", "application/json")
            self.reply(await self.call(type(self).target, ref, content_type, bytes(self._body)))

    class DeploymentPredictHandler(PredictHandler):
        target = staticmethod(predict_deployment)

    class VersionPredictHandler(PredictHandler):
        target = staticmethod(predict_version)

    class ItemsHandler(base):
        @web.authenticated
        @authorized
        async def get(self, dataset: str) -> None:
            offset = int_arg(self.get_argument("offset", "0"), "offset", 0, 0, 2**62)
            limit = int_arg(self.get_argument("limit", "50"), "limit", 50, 1, 500)
            search = self.get_argument("search", "")
            self.reply(await self.call(dataset_items, dataset, offset=offset, limit=limit, search=search, quick=True))

    class ItemImageHandler(base):
        @web.authenticated
        @authorized
        async def get(self, dataset: str, item: str) -> None:
            path = await self.call(item_file, dataset, int_arg(item, "item", 0, 0, 2**62), quick=True)
            self.set_header("Content-Type", mimetypes.guess_type(path.name)[0] or "application/octet-stream")
            self.set_header("Cache-Control", "private, max-age=300")
            self.finish(path.read_bytes())

    return [("deployments", DeploymentsHandler), (f"deployments/{ref}", DeploymentHandler),
            (f"deployments/{ref}/predict", DeploymentPredictHandler),
            (f"snapshots/{ref}/predict", VersionPredictHandler),
            (f"datasets/{ref}/items", ItemsHandler), (f"datasets/{ref}/items/{ref}/image", ItemImageHandler)]
