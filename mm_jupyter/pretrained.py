"""Versions from weights trained elsewhere (``mm snapshots add --model M --weights FILE_OR_DIR``).

The weights are loaded through the model's adapter in a short-lived kernel of the model's train
service (the check that they are this model's), saved there in the adapter's own layout into a
private folder, hashed, renamed into the version's ``weights/`` and recorded with the version in one
insert: status ``pre-trained``, ``weights_uri``, ``weights_hash``. They are never rewritten; they can be
evaluated, deployed and used as the parent of a fine-tuning.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .errors import InvalidInput
from .hashing import tree_hash
from .kernel_session import KernelError, KernelSession, raise_as
from .kernels import check_kernel
from .queries.catalog import service_of
from .store import Store, new_id, now

STATUS = "pre-trained"


def add_pretrained(store: Store, row: dict, weights: str, *, timeout: float = 600.0) -> dict:
    """Insert version ``row`` (checked fields of a new version) with the weights at ``weights``."""
    source = Path(weights).expanduser()
    if not source.exists():
        raise InvalidInput(f"weights {weights!r} do not exist")
    model = store.get("models", row["model_id"])
    if not model["adapter"]:
        raise InvalidInput(f"model {model['name']} has no adapter to load weights with")
    svc = service_of(store, "train", model["id"]) or {}
    kernel = check_kernel(svc.get("kernel_name") or "python3")
    snap_id = new_id("snapshots")
    final = store.inside_artifacts(store.snapshot_dir(model["id"], snap_id)) / "weights"
    partial = final.with_name("weights.partial-import")
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        with KernelSession(kernel, cwd=str(partial.parent)) as session:
            try:
                loaded = session.call(
                    "from mm_jupyter.predictor import import_weights\n"
                    f"_mm_publish(import_weights({model['adapter']!r}, {row['config']!r}, {row['labels']!r}, "
                    f"{str(source.resolve())!r}, {str(partial)!r}, {model.get('codebase')!r}))", timeout=timeout)
            except KernelError as exc:
                raise raise_as(exc) from None
        digest = tree_hash(partial)
        partial.rename(final)
        return store.insert("snapshots", {
            **row, "id": snap_id, "status": STATUS, "labels": loaded["labels"] or row["labels"],
            "weights_uri": str(final), "weights_hash": digest, "created_at": now(),
            "repro": {**(row.get("repro") or {}), "pretrained_from": str(source.resolve()), "weights_hash": digest}})
    except BaseException:
        shutil.rmtree(partial.parent, ignore_errors=True)  # nothing recorded: nothing left behind
        raise
