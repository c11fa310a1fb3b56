"""Model introspection: the feature maps of each convolutional block of a torch CNN for one item, as
arrays and as an image grid (one row per layer, one tile per channel).

Adapters opt in with ``introspection()`` returning ``(module, [(layer name, submodule), ...],
to_input(item) -> tensor)``; the built-in classifier gives its conv blocks, YOLO its backbone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .adapter import BaseModelAdapter
from .errors import InvalidInput
from .items import Item

TILE = 48


def feature_maps(adapter: BaseModelAdapter, item: Item, layers: list[str] | None = None) -> dict[str, np.ndarray]:
    """Run ``item`` through the adapter's network and return each chosen layer's output (C, H, W)."""
    import torch

    try:
        module, named, to_input = adapter.introspection()
    except NotImplementedError:
        raise InvalidInput(f"{type(adapter).__name__} does not support introspection") from None
    if layers:
        unknown = sorted(set(layers) - {name for name, _ in named})
        if unknown:
            raise InvalidInput(f"unknown layer(s) {unknown}; known: {[name for name, _ in named]}")
        named = [(name, m) for name, m in named if name in layers]
    captured: dict[str, np.ndarray] = {}

    def hook(name: str):
        def keep(_module: Any, _inputs: Any, output: Any) -> None:
            tensor = output[0] if isinstance(output, list | tuple) else output
            if isinstance(tensor, torch.Tensor) and tensor.dim() == 4:
                captured[name] = tensor[0].detach().float().cpu().numpy()
        return keep

    handles = [m.register_forward_hook(hook(name)) for name, m in named]
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad():
            module(to_input(item))
    finally:
        for handle in handles:
            handle.remove()
        module.train(was_training)
    return {name: captured[name] for name, _ in named if name in captured}


def feature_grid(maps: dict[str, np.ndarray], path: str | Path, max_channels: int = 16) -> Path:
    """Save the maps as a PNG grid: a row per layer (its name on the left), a tile per channel, each
    tile min-max scaled on its own so weak and strong channels are both visible."""
    from PIL import Image, ImageDraw

    if not maps:
        raise InvalidInput("no feature maps to draw")
    label_w = 110
    cols = min(max_channels, max(m.shape[0] for m in maps.values()))
    grid = Image.new("L", (label_w + cols * (TILE + 2), len(maps) * (TILE + 2)), 255)
    draw = ImageDraw.Draw(grid)
    for row, (name, fmap) in enumerate(maps.items()):
        y = row * (TILE + 2)
        draw.text((4, y + TILE // 2 - 6), f"{name} {fmap.shape[0]}x{fmap.shape[1]}x{fmap.shape[2]}", fill=0)
        for col in range(min(cols, fmap.shape[0])):
            channel = fmap[col]
            lo, hi = float(channel.min()), float(channel.max())
            scaled = np.zeros_like(channel) if hi <= lo else (channel - lo) / (hi - lo)
            tile = Image.fromarray((scaled * 255).astype(np.uint8)).resize((TILE, TILE), Image.NEAREST)
            grid.paste(tile, (label_w + col * (TILE + 2), y))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
    return path


def introspect(snapshot: str, item: int | str, *, layers: list[str] | None = None, max_channels: int = 16,
               store: Any = None) -> dict:
    """Feature maps of a trained snapshot for one item (an item id of its dataset, or an image path).

    Returns ``{"image": grid PNG path, "layers": {name: shape}, "maps": {name: array}}``; the grid is
    stored under the snapshot's ``introspection/`` folder.
    """
    from . import api
    from .registry import model_adapter_class, version_model

    store = store or api.connect()
    snap = store.get("snapshots", snapshot)
    model = store.get("models", snap["model_id"])
    if not snap["weights_uri"]:
        raise InvalidInput(f"snapshot {snap['id']} has no weights: train it first")
    if not model["adapter"]:
        raise InvalidInput(f"model {model['name']!r} has no adapter to introspect")
    adapter = model_adapter_class(version_model(snap, model))(config=snap["config"], labels=snap["labels"])
    adapter.load(snap["weights_uri"])
    target = _resolve_item(store, snap, item)
    maps = feature_maps(adapter, target, layers)
    out = store.snapshot_dir(model["id"], snap["id"]) / "introspection" / f"item-{target.id or Path(target.path).stem}.png"
    image = feature_grid(maps, out, max_channels)
    return {"image": str(image), "layers": {k: list(v.shape) for k, v in maps.items()}, "maps": maps}


def _resolve_item(store: Any, snap: dict, item: int | str) -> Item:
    if isinstance(item, int) and not isinstance(item, bool):
        from .queries.items import select_items

        if not snap["dataset_id"]:
            raise InvalidInput(f"snapshot {snap['id']} has no dataset: pass an image path")
        found = select_items(store, snap["dataset_id"], None,
                             item_ids=[item])
        if not found:
            raise InvalidInput(f"item {item} is not in dataset {snap['dataset_id']}")
        return found[0]
    path = Path(str(item)).expanduser()
    if not path.is_file():
        raise InvalidInput(f"image {str(item)!r} does not exist")
    return Item(id=0, path=str(path.resolve()), name=path.name)
