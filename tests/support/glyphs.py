"""A small real-world-like classification set, generated offline in about a second: the digits 0-9 of
PIL's built-in bitmap font as if photographed on labels — varied image sizes and aspect ratios, glyph
scale, width, stroke weight, shear, rotation and position; tinted paper and ink of varied contrast,
uneven lighting, stray strokes, blur and sensor noise. Like scikit-learn's digits it is a few hundred
small images a class can be told by its shape alone, not by a colour or a place (imported as
``support.glyphs``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

CLASSES = [str(d) for d in range(10)]
SPLITS = ("train", "val", "test")
SIDES = (20, 36)  # image width and height, each, in pixels (inclusive)
SCALE = (0.6, 0.85)  # glyph height / image height
ROTATION = 10.0  # degrees, either way
SHEAR = 0.25  # horizontal shear, either way
JITTER = 0.4  # how far from the centre a glyph may lie, as a share of the room there is
CONTRAST = 90  # least difference of the paper's and the ink's grey levels
TINT = 20.0  # most colour tint per channel of the paper and of the ink
LIGHTING = 0.35  # most strength of the gradient across the paper


def _font() -> ImageFont.ImageFont:
    """PIL's bitmap font (no FreeType, no files): the same glyphs on every machine."""
    return getattr(ImageFont, "load_default_imagefont", ImageFont.load_default)()


def _glyph_mask(char: str, font: ImageFont.ImageFont) -> Image.Image:
    """The character's ink as an ``L`` mask cropped to its box."""
    mask = Image.new("L", (16, 16), 0)
    ImageDraw.Draw(mask).text((2, 2), char, fill=255, font=font)
    return mask.crop(mask.getbbox())


def _colours(rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Paper and ink colours: grey levels at least ``CONTRAST`` apart (the ink darker), each tinted."""
    paper = int(rng.integers(40 + CONTRAST, 256))
    ink = int(rng.integers(0, paper - CONTRAST + 1))
    return tuple(tuple(int(np.clip(level + t, 0, 255)) for t in rng.uniform(-TINT, TINT, 3))
                 for level in (paper, ink))


def render_glyph(rng: np.random.Generator, char: str, font: ImageFont.ImageFont | None = None) -> Image.Image:
    """One RGB image of ``char`` (each side ``SIDES``)."""
    font = font or _font()
    width, height = (int(v) for v in rng.integers(SIDES[0], SIDES[1] + 1, 2))
    paper, ink = _colours(rng)

    # the paper, lit unevenly: a gradient towards a random colour along x or y
    ramp = (np.linspace(0.0, 1.0, width)[None, :, None] if rng.random() < 0.5
            else np.linspace(0.0, 1.0, height)[:, None, None])
    strength = rng.uniform(0.0, LIGHTING) * ramp
    pixels = np.array(paper, float) * (1 - strength) + rng.integers(0, 256, 3) * strength
    img = Image.fromarray(np.clip(np.broadcast_to(pixels, (height, width, 3)), 0, 255).astype(np.uint8), "RGB")

    # a stray stroke in half of the images, behind the glyph
    if rng.random() < 0.5:
        points = [(float(rng.uniform(0, width)), float(rng.uniform(0, height))) for _ in range(2)]
        ImageDraw.Draw(img).line(points, fill=tuple(int(v) for v in rng.integers(0, 256, 3)), width=1)

    # the glyph: scaled (and narrowed or widened), bold or not, sheared, rotated, placed near the centre
    mask = _glyph_mask(char, font)
    scale = rng.uniform(*SCALE) * height / mask.height
    mask = mask.resize((max(3, round(mask.width * scale * rng.uniform(0.8, 1.25))), max(5, round(mask.height * scale))),
                       Image.BILINEAR)
    if rng.random() < 0.5:
        mask = mask.filter(ImageFilter.MaxFilter(3))
    shear, pad = float(rng.uniform(-SHEAR, SHEAR)), mask.height // 2 + 2
    mask = mask.transform((mask.width + 2 * pad, mask.height), Image.AFFINE,
                          (1, shear, -pad - shear * mask.height / 2, 0, 1, 0), Image.BILINEAR)
    mask = mask.rotate(float(rng.uniform(-ROTATION, ROTATION)), Image.BILINEAR, expand=True)
    mask = mask.crop(mask.getbbox() or (0, 0, 1, 1))
    if mask.width > width or mask.height > height:  # a wide glyph in a narrow image
        fit = min(width / mask.width, height / mask.height)
        mask = mask.resize((max(1, int(mask.width * fit)), max(1, int(mask.height * fit))), Image.BILINEAR)
    x = round((width - mask.width) / 2 * (1 + JITTER * rng.uniform(-1, 1)))
    y = round((height - mask.height) / 2 * (1 + JITTER * rng.uniform(-1, 1)))
    img.paste(Image.new("RGB", mask.size, ink), (x, y), mask)

    # the camera: a little blur and noise
    img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.0, 0.7))))
    noisy = np.asarray(img, float) + rng.normal(0.0, rng.uniform(2.0, 14.0), (height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def generate_glyphs(root: str | Path, *, n_train: int = 60, n_val: int = 20, n_test: int = 20,
                    seed: int = 0) -> Path:
    """Write the image folder ``root/<split>/<digit>/<n>.png`` (``n_train`` / ``n_val`` / ``n_test``
    images a class) and return ``root``. Deterministic for a ``seed``: each image has its own seeded
    generator, so a split's images do not depend on the other splits' counts."""
    root = Path(root)
    font = _font()
    for split_index, (split, per_class) in enumerate(zip(SPLITS, (n_train, n_val, n_test), strict=True)):
        for cls, char in enumerate(CLASSES):
            folder = root / split / char
            folder.mkdir(parents=True, exist_ok=True)
            for n in range(per_class):
                rng = np.random.default_rng([seed, split_index, cls, n])
                render_glyph(rng, char, font).save(folder / f"{n}.png")
    return root
