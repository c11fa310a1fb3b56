"""A tiny pure-Python adapter (a user's own adapter) for fast tests of the execution machinery.

It trains nothing real: each "epoch" sleeps, logs loss/accuracy and reports progress. Config knobs
make it fail (an exception), fail only on early attempts, or kill its own kernel mid-epoch.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from mm_jupyter.adapter import BaseModelAdapter, Prediction


class ToyAdapter(BaseModelAdapter):
    task = "classify"
    configuration = {"epochs": 3, "sleep": 0.0, "fail_at_epoch": 0, "fail_attempts": 0,
                     "kill_at_epoch": 0, "seed": 0, "points_per_epoch": 1}

    def __init__(self, config=None, labels=None):
        super().__init__(config, labels)
        self.weight = 0.0

    def train(self, data, ctx):
        attempts_file = Path(ctx.workdir) / "toy_attempts"
        attempt = int(attempts_file.read_text()) + 1 if attempts_file.exists() else 1
        attempts_file.write_text(str(attempt))
        epochs = self.config["epochs"]
        for epoch in range(1, epochs + 1):
            if epoch == self.config["fail_at_epoch"] and (
                    not self.config["fail_attempts"] or attempt <= self.config["fail_attempts"]):
                raise ValueError(f"toy failure at epoch {epoch}")
            if epoch == self.config["kill_at_epoch"] and (
                    not self.config["fail_attempts"] or attempt <= self.config["fail_attempts"]):
                ctx.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(self.config["sleep"])
            self.weight += 1.0 / epoch + self.config["seed"] * 1e-3
            for k in range(self.config["points_per_epoch"]):
                ctx.log_metric("train/loss", 1.0 / (epoch + k), step=epoch * 1000 + k, epoch=epoch)
            ctx.log_metrics({"loss": 1.0 / epoch, "accuracy": min(1.0, 0.3 + 0.2 * epoch)}, step=epoch,
                            epoch=epoch)
            print(f"epoch {epoch}/{epochs} loss {1.0 / epoch:.3f}", flush=True)
            ctx.report_progress(100.0 * epoch / epochs)

    def save(self, local_path):
        Path(local_path, "toy.json").write_text(json.dumps({"weight": self.weight}))

    def load(self, local_path):
        self.weight = json.loads(Path(local_path, "toy.json").read_text())["weight"]

    def predict(self, batch):
        return [Prediction(item_id=item.id, label=(item.annotations or {}).get("label", 0)) for item in batch]
