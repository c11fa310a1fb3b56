"""Images given to predictions: checked to be images (by their header, not their name) before any
kernel starts, decoded from the JSON form every predict route takes (``{"name", "data": <base64>}``),
written into a folder for the adapter's ``predict``, and their size read without decoding the pixels."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from .errors import InvalidInput

MAX_IMAGE_BYTES = 32 * 1024 * 1024
MAX_TOP_K = 1000
FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF", "MPO")


def check_image_bytes(data: bytes, name: str) -> str:
    """The format of an image given as bytes (``InvalidInput`` naming ``name`` when it is none)."""
    import io

    from PIL import Image, UnidentifiedImageError

    if not data:
        raise InvalidInput(f"{name!r} is empty, not an image")
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidInput(f"{name!r} is {len(data):,} bytes: images of at most {MAX_IMAGE_BYTES:,} bytes are accepted")
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format or ""
    except (UnidentifiedImageError, OSError, ValueError):
        raise InvalidInput(f"{name!r} is not an image (JPEG, PNG, BMP, GIF, WEBP or TIFF)") from None
    if fmt not in FORMATS:
        raise InvalidInput(f"{name!r} is a {fmt} file, not one of {', '.join(FORMATS[:-1])}")
    return fmt


def check_image_file(path: str | Path) -> Path:
    """``path`` resolved when it is a readable image file; ``InvalidInput`` naming it otherwise."""
    p = Path(path).expanduser()
    if not p.exists():
        raise InvalidInput(f"image {str(path)!r} does not exist")
    if not p.is_file():
        raise InvalidInput(f"{str(path)!r} is not a file")
    if p.stat().st_size > MAX_IMAGE_BYTES:
        raise InvalidInput(f"{str(path)!r} is {p.stat().st_size:,} bytes: images of at most "
                           f"{MAX_IMAGE_BYTES:,} bytes are accepted")
    with p.open("rb") as fh:
        check_image_bytes(fh.read(), str(path))
    return p.resolve()


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the file's header."""
    from PIL import Image

    with Image.open(path) as im:
        return int(im.width), int(im.height)


def decode_images(listed: Any, where: str = "images") -> list[tuple[str, bytes]]:
    """``[(name, bytes)]`` of ``[{"name": …, "data": <base64>}, …]`` (a missing name: ``image-<i>``);
    ``InvalidInput`` naming the first entry that is not such an object or not valid base64."""
    if not isinstance(listed, list):
        raise InvalidInput(f"{where} must be a list of {{\"name\", \"data\": <base64>}}")
    out = []
    for i, image in enumerate(listed):
        if not isinstance(image, dict) or not isinstance(image.get("data"), str):
            raise InvalidInput(f"{where}[{i}] must be {{\"name\", \"data\": <base64>}}")
        name = str(image.get("name") or f"image-{i}")[:200]
        try:
            out.append((name, base64.b64decode(image["data"], validate=True)))
        except ValueError:
            raise InvalidInput(f"{where}[{i}] ({name!r}) is not valid base64") from None
    return out


def check_top_k(top_k: Any) -> int:
    """``top_k`` when it is a whole number from 1 to ``MAX_TOP_K``; ``InvalidInput`` otherwise."""
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
        raise InvalidInput(f"top_k must be a whole number from 1 to {MAX_TOP_K}, got {top_k!r}")
    return top_k


def write_images(folder: Path, images: list[tuple[str, bytes]]) -> tuple[list[str], list[str]]:
    """Write ``(name, bytes)`` images into ``folder`` (numbered files keeping the name's suffix, so two
    of one name never collide); returns (paths, names) for ``Predictor.predict_files``."""
    paths = []
    for i, (name, data) in enumerate(images):
        path = folder / f"{i}{Path(name).suffix[:8]}"
        path.write_bytes(data)
        paths.append(str(path))
    return paths, [name for name, _ in images]
