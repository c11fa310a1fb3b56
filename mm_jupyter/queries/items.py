"""Reading dataset items through a *selection* (the subsets of a training or an evaluation)::

    None / {}                         every item
    {"tag": "train"}                  items tagged "train"
    {"dir": "images/val"}             items in that folder and below
    {"filter": "<saved filter>"}      a saved filter (see ``queries.dql``)
    {"query": {<filter>}}             an inline filter (a dict or its JSON text)

Several keys in one selection must all hold. The CLI's text forms (``tag:train``, ``dir:PATH``,
``filter:NAME``, a JSON object) are read by ``parse_selection``.
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import InvalidInput, NotFound
from ..items import Item
from ..store import Store, like_escape
from .dql import compile_filter, parse_filter

SELECTION_KEYS = ("tag", "dir", "filter", "query")
SPLIT_TAGS = {"train": "train", "training": "train", "val": "validation", "valid": "validation",
              "validation": "validation", "test": "test", "testing": "test"}


def parse_selection(value: Any) -> dict:
    """A subset selection from a dict or CLI text: ``tag:train``, ``dir:images/val``,
    ``filter:NAME``, ``query:{json}`` or a JSON object (a DQL query); ``{}`` for None."""
    if value is None or value == {}:
        return {}
    if isinstance(value, str):
        kind, sep, rest = value.partition(":")
        if value.lstrip().startswith("{"):
            kind, rest = "query", value
        elif not sep or kind not in SELECTION_KEYS:
            raise InvalidInput(f"subset {value[:200]!r} must be tag:NAME, dir:PATH, filter:NAME or a JSON query")
        if kind == "query":
            rest = parse_filter(rest)
        value = {kind: rest}
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in SELECTION_KEYS:
        raise InvalidInput(f"subset must be one of {{'tag'|'dir'|'filter'|'query': ...}}, got {str(value)[:200]}")
    if "query" in value:
        parse_filter(value["query"])
    return value


def saved_filter(store: Store, name: Any) -> dict:
    """A saved filter's row (``name``, ``dataset_id``, ``query``, ``created_at``); ``NotFound`` if none."""
    if not isinstance(name, str) or not name:
        raise NotFound(f"filter name must be a non-empty string, got {name!r}")
    return store.get("filters", name)


def saved_filters(store: Store, dataset_id: str | None = None) -> list[dict]:
    """Saved filters by name; with ``dataset_id``, those bound to it or to no dataset."""
    rows = store.find("filters", order="name")
    return rows if dataset_id is None else [r for r in rows if r["dataset_id"] in (None, dataset_id)]


def _norm_rel(rel: str) -> str:
    parts = [p for p in PurePosixPath(rel.replace("\\", "/")).parts if p not in (".", "")]
    return "/".join(parts)


def compile_selection(store: Store, dataset: dict, selection: dict | None) -> tuple[str, list]:
    """A ``WHERE`` fragment over ``items`` (and its parameters) for a selection within ``dataset``."""
    if selection is None:
        selection = {}
    if not isinstance(selection, dict):
        raise InvalidInput(f"selection must be a mapping, got {type(selection).__name__}")
    unknown = [k for k in selection if k not in SELECTION_KEYS]
    if unknown:
        raise InvalidInput(f"unknown selection key {unknown[0]!r} (known: {', '.join(SELECTION_KEYS)})")
    parts, params = ["items.dataset_id = ?"], [dataset["id"]]
    for key, value in selection.items():
        sql, extra = _SELECTORS[key](store, dataset, value)
        parts.append(sql)
        params.extend(extra)
    return " AND ".join(parts), params


def _select_tag(store: Store, dataset: dict, tag: Any) -> tuple[str, list]:
    if not isinstance(tag, str) or not tag:
        raise InvalidInput(f"selection 'tag' must be a non-empty string, got {tag!r}")
    tags = list(dict.fromkeys([tag, SPLIT_TAGS.get(tag, tag)]))
    return compile_filter({"tags": {"$in": tags}})


def _select_dir(store: Store, dataset: dict, folder: Any) -> tuple[str, list]:
    if not isinstance(folder, str):
        raise InvalidInput(f"selection 'dir' must be a string, got {folder!r}")
    folder = _norm_rel(folder)
    if not folder:
        return "1", []
    prefix = folder + "/"
    return "(items.dir = ? OR substr(items.dir, 1, ?) = ?)", [folder, len(prefix), prefix]


def _select_filter(store: Store, dataset: dict, name: Any) -> tuple[str, list]:
    saved = saved_filter(store, name)
    if saved.get("dataset_id") not in (None, dataset["id"]):
        raise InvalidInput(f"filter {name!r} belongs to another dataset ({saved['dataset_id']})")
    return compile_filter(saved["query"])


def _select_query(store: Store, dataset: dict, query: Any) -> tuple[str, list]:
    return compile_filter(parse_filter(query))


_SELECTORS = {"tag": _select_tag, "dir": _select_dir, "filter": _select_filter, "query": _select_query}


def select_items(store: Store, dataset_ref: str, selection: dict | None = None,
                 item_ids: list[int] | None = None) -> list[Item]:
    """The items of a dataset matching ``selection``, ordered by id; ``item_ids`` narrows them to
    those ids. Each ``Item.path`` is absolute. Matching nothing is not an error."""
    dataset = store.get("datasets", dataset_ref)
    where, params = compile_selection(store, dataset, selection)
    if item_ids is not None:
        where = f"({where}) AND items.id IN ({', '.join('?' * len(item_ids))})" if item_ids else "0"
        params = [*params, *(int(i) for i in item_ids)]
    root = Path(dataset["root"])
    rows = store.query(f"SELECT * FROM items WHERE {where} ORDER BY id", params)
    return [Item(id=r["id"], path=str(root / r["path"]), name=r["name"] or "", dir=r["dir"] or "",
                 tags=json.loads(r["tags"] or "[]"), metadata=json.loads(r["metadata"] or "{}"),
                 annotations=json.loads(r["annotations"]) if r["annotations"] else None)
            for r in rows]


def count_items(store: Store, dataset_ref: str, selection: dict | None = None) -> int:
    """How many items of a dataset match ``selection``."""
    dataset = store.get("datasets", dataset_ref)
    where, params = compile_selection(store, dataset, selection)
    return store.conn.execute(f"SELECT count(*) FROM items WHERE {where}", params).fetchone()[0]


def dataset_size(store: Store, dataset_id: str) -> int:
    return store.count("items", dataset_id=dataset_id)


def item_tags(store: Store, dataset_id: str, selection: dict | None) -> list[tuple[int, list[str]]]:
    """``(item id, tags)`` of the selected items (for tagging them)."""
    dataset = store.get("datasets", dataset_id)
    where, params = compile_selection(store, dataset, selection)
    return [(i, json.loads(raw) if raw else [])
            for i, raw in store.conn.execute(f"SELECT id, tags FROM items WHERE {where}", params)]


def tag_counts(store: Store, dataset_id: str, limit: int = 500) -> list[dict]:
    """The tags the items of a dataset carry, with how many items carry each."""
    return store.query(
        "SELECT j.value AS tag, count(*) AS count FROM items, json_each(items.tags) j "
        "WHERE items.dataset_id = ? GROUP BY j.value ORDER BY j.value LIMIT ?", [dataset_id, limit])


def folder_counts(store: Store, dataset_id: str, limit: int = 500) -> list[dict]:
    """Every folder of a dataset (parents included) with the number of items in it and below: what
    a ``{"dir": folder}`` selection picks."""
    rows = store.conn.execute("SELECT dir, count(*) FROM items WHERE dataset_id = ? GROUP BY dir",
                              [dataset_id]).fetchall()
    counts: dict[str, int] = {}
    for folder, n in rows:
        parts = folder.split("/") if folder else []
        for i in range(1, len(parts) + 1):
            key = "/".join(parts[:i])
            counts[key] = counts.get(key, 0) + n
    return [{"dir": k, "count": v} for k, v in sorted(counts.items())][:limit]


def dataset_items(store: Store, dataset_ref: str, *, offset: int = 0, limit: int = 50, search: str = "") -> dict:
    """A page of a dataset's items (id, name, folder, tags) in id order, ``search`` a case-insensitive
    substring of the item's path; with the total matching."""

    dataset = store.get("datasets", dataset_ref)
    where, params = "dataset_id = ?", [dataset["id"]]
    if search:
        if len(search) > 200:
            raise InvalidInput("search text is longer than 200 characters")
        where += " AND path LIKE ? ESCAPE '\\'"
        params.append(f"%{like_escape(search)}%")
    total = store.query(f"SELECT COUNT(*) AS n FROM items WHERE {where}", params)[0]["n"]
    rows = store.query(f"SELECT id, name, dir, path, tags FROM items WHERE {where} ORDER BY id LIMIT ? OFFSET ?",
                       [*params, limit, offset])
    return {"dataset_id": dataset["id"], "total": total, "offset": offset, "limit": limit,
            "items": [{"id": r["id"], "name": r["name"] or PurePosixPath(r["path"]).name, "dir": r["dir"] or "",
                       "path": r["path"], "tags": json.loads(r["tags"] or "[]")} for r in rows]}


def item_file(store: Store, dataset_ref: str, item_id: int) -> Path:
    """The image file of one item of a dataset, which must lie inside the dataset's folder
    (``NotFound``, one line without the absolute path, otherwise)."""
    dataset = store.get("datasets", dataset_ref)
    found = select_items(store, dataset["id"], {}, [item_id])
    if not found:
        raise NotFound(f"item {item_id} is not in dataset {dataset['name']}")
    problem = image_problem(Path(dataset["root"]), found[0].path)
    if problem:
        raise NotFound(f"item {item_id}: {problem}")
    return Path(found[0].path).resolve()


def image_problem(root: Path, path: str) -> str | None:
    """Why a dataset item's image cannot be served (outside the dataset's folder once symlinks are
    resolved, not on disk, not an image file), in words naming it relative to ``root``; None when it can."""
    rel = _rel(root, path)
    try:
        resolved = Path(path).resolve()
        inside = resolved.is_relative_to(root.resolve())
    except (OSError, RuntimeError):
        return f"its image {rel} cannot be resolved"
    if not inside:
        return f"its image {rel} lies outside the dataset's folder"
    if not resolved.is_file():
        return f"its image {rel} is not on disk"
    kind = mimetypes.guess_type(resolved.name)[0] or ""
    if not kind.startswith("image/"):
        return f"{rel} is not an image file"
    return None


def _rel(root: Path, path: str) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).name
