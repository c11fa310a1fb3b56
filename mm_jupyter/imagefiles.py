"""Image files given to predictions: checked to be images (by their header, not their name) before any
kernel starts, and their size read without decoding the pixels."""

from __future__ import annotations

from pathlib import Path

from .errors import InvalidInput

MAX_IMAGE_BYTES = 32 * 1024 * 1024
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
