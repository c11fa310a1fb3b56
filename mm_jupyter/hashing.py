"""Content hashes of files and folders (weights are identified by what they hold)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import InvalidInput

CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tree_hash(folder: str | Path) -> str:
    """sha256 over every file below ``folder``: its path relative to the folder and its bytes."""
    root = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + file_sha256(path).encode() + b"\n")
    return digest.hexdigest()


def checked_weights(folder: str | Path, expected: str | None, whose: str) -> str:
    """The content hash of a weights folder about to be used, which must exist and, when ``expected``
    is known, still hash to it (``InvalidInput`` naming ``whose`` weights otherwise): changed weights
    are never used in place of recorded ones."""
    if not Path(folder).is_dir():
        raise InvalidInput(f"the weights of {whose} are missing ({folder})")
    digest = tree_hash(folder)
    if expected and digest != expected:
        raise InvalidInput(f"the weights in {folder} are not {whose}'s any more (sha256 {digest[:12]}…, "
                           f"recorded {expected[:12]}…): refusing to use changed weights")
    return digest
