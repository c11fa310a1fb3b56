"""Slices (named subsets of items) built from item fields, for per-slice metrics."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from . import MetricsInputError

_HELP = "use dir, tag, metadata.<field>, or two of them crossed as a*b"


def _fmt(x: float) -> str:
    return repr(float(f"{x:.6g}"))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _values(items: list[Mapping], field: str) -> list[list]:
    """Per item, the values it has for ``field`` (several for tags, none when missing)."""
    if field == "dir":
        return [[it["dir"]] if it.get("dir") is not None else [] for it in items]
    if field == "tag":
        out = []
        for it in items:
            tags = it.get("tags") or []
            out.append([tags] if isinstance(tags, str) else list(tags))
        return out
    if field.startswith("metadata.") and len(field) > len("metadata."):
        key = field[len("metadata."):]
        out = []
        for i, it in enumerate(items):
            meta = it.get("metadata") or {}
            if not isinstance(meta, Mapping):
                raise MetricsInputError(f"item #{i} has metadata of type {type(meta).__name__}, expected a dict")
            v = meta.get(key)
            out.append([] if v is None or (_is_number(v) and math.isnan(v)) else [v])
        if not any(out):
            raise MetricsInputError(f"unknown field {field!r}: no item has metadata {key!r}")
        return out
    raise MetricsInputError(f"unknown field {field!r} ({_HELP})")


def _groups(items: list[Mapping], field: str, bins: int) -> dict[str, set[int]]:
    """Slice name -> positions of the items in it, for one (uncrossed) field."""
    values = _values(items, field)
    flat = [v for vs in values for v in vs]
    groups: dict[str, set[int]] = {}
    numeric = bool(flat) and all(_is_number(v) for v in flat)
    if numeric and len(set(flat)) > bins:
        edges = np.unique(np.quantile(np.asarray(flat, dtype=np.float64), np.linspace(0, 1, bins + 1)))
        names = [f"{field}=[{_fmt(lo)},{_fmt(hi)}{']' if j == len(edges) - 2 else ')'}"
                 for j, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True))]
        for pos, vs in enumerate(values):
            for v in vs:
                j = min(int(np.searchsorted(edges, v, side="right")) - 1, len(names) - 1)
                groups.setdefault(names[j], set()).add(pos)
        return {name: groups[name] for name in names if name in groups}
    keyed = sorted({(v if numeric else str(v)) for v in flat})
    for pos, vs in enumerate(values):
        for v in vs:
            groups.setdefault(f"{field}={v if numeric else str(v)}", set()).add(pos)
    return {f"{field}={k}": groups[f"{field}={k}"] for k in keyed}


def build_slices(items: Iterable[Mapping], by: Sequence[str], bins: int = 4) -> dict[str, list]:
    """Named slices of item ids, one family per entry of ``by``.

    Items are dicts with ``id``, ``dir``, ``tags`` (list), ``name`` and ``metadata`` (dict). Entries:
    ``dir`` (``dir=<value>``), ``tag`` (``tag=<value>``; an item is in every tag slice it has),
    ``metadata.<field>``: numbers in ``bins`` quantile bins named ``metadata.size=[12.0,30.5)`` (the last
    bin closed, empty bins dropped; a numeric field with at most ``bins`` distinct values gets one slice
    per value), other values by ``str(value)`` (``metadata.lighting=dark``); and ``a*b`` crossing fields
    (``metadata.lighting=dark&tag=test``, non-empty intersections only). Items lacking a field (None,
    NaN, no tags) are in none of its slices. Ids keep the items' order.
    Raises :class:`MetricsInputError` for an unknown field or bad items.
    """
    items = list(items)
    if isinstance(by, str):
        by = [by]
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise MetricsInputError(f"bins must be a positive integer, got {bins!r}")
    ids = []
    for i, it in enumerate(items):
        if not isinstance(it, Mapping) or "id" not in it:
            raise MetricsInputError(f"item #{i} has no 'id'")
        ids.append(it["id"])
    cache: dict[str, dict[str, set[int]]] = {}
    out: dict[str, list] = {}
    for spec in by:
        if not isinstance(spec, str):
            raise MetricsInputError(f"unknown field {spec!r} ({_HELP})")
        fields = [f.strip() for f in spec.split("*")]
        crossed: dict[str, set[int]] = {"": set(range(len(items)))}
        for field in fields:
            if field not in cache:
                cache[field] = _groups(items, field, bins)
            crossed = {f"{name}&{g}" if name else g: members & gm
                       for name, members in crossed.items() for g, gm in cache[field].items()}
        for name, members in crossed.items():
            if members:
                out[name] = [ids[p] for p in sorted(members)]
    return out
