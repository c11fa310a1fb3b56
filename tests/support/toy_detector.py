"""A tiny pure-Python detection adapter for fast tests of predictions (no torch): it "detects" the same
three boxes, placed in fractions of each image's size, with fixed scores (0.92, 0.55, 0.15) and
labels, so a test knows exactly what the sidebar must draw. Its weights are one JSON file; ``load``
takes that file or a folder holding it (``mm.add_pretrained`` gives it either)."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from mm_jupyter.adapter import BaseModelAdapter, Prediction

WEIGHTS = "toy_detector.json"
# (x1, y1, x2, y2) in fractions of the image, score, label index
BOXES = (((0.10, 0.30, 0.55, 0.90), 0.92, 0), ((0.60, 0.02, 0.97, 0.45), 0.55, 1), ((0.70, 0.60, 0.95, 0.95), 0.15, 0))


class ToyDetector(BaseModelAdapter):
    task = "detect"
    configuration = {"epochs": 1}

    def __init__(self, config=None, labels=None):
        super().__init__(config, labels)
        self.state = {"detector": "toy"}

    def train(self, data, ctx):
        for epoch in range(1, self.config["epochs"] + 1):
            ctx.log_metrics({"loss": 1.0 / epoch}, step=epoch, epoch=epoch)
            ctx.report_progress(100.0 * epoch / self.config["epochs"])

    def save(self, local_path):
        Path(local_path).mkdir(parents=True, exist_ok=True)
        Path(local_path, WEIGHTS).write_text(json.dumps(self.state))

    def load(self, local_path):
        path = Path(local_path)
        self.state = json.loads((path / WEIGHTS if path.is_dir() else path).read_text())
        if self.state.get("detector") != "toy":
            raise ValueError(f"{local_path} holds no toy detector weights")

    def predict(self, batch):
        out = []
        for item in batch:
            with Image.open(item.path) as im:
                w, h = im.size
            out.append(Prediction(item_id=item.id, boxes=[[x1 * w, y1 * h, x2 * w, y2 * h] for (x1, y1, x2, y2), _, _ in BOXES],
                                  scores=[s for _, s, _ in BOXES], labels=[k for _, _, k in BOXES]))
        return out
