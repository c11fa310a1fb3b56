"""Shared fixtures: a fresh mm-jupyter home per test (fast heartbeats for the runner tests), the toy
model on a tiny dataset, and a recording runner for queue tests. Helpers live in ``support/``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

SUPPORT = Path(__file__).parent / "support"
os.environ.setdefault("MM_WARM_KERNELS", "0")  # no kernel pool in tests (also those with their own MM_HOME)
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))  # the toy adapter, for this process and (via PYTHONPATH) its kernels


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty MM_HOME; kernels and runners started from the test see the toy adapter."""
    from mm_jupyter import api

    path = tmp_path / "mmhome"
    monkeypatch.setenv("MM_HOME", str(path))
    monkeypatch.setenv("MM_HEARTBEAT_INTERVAL", "0.5")
    monkeypatch.setenv("MM_WARM_KERNELS", "0")  # no kernel pool unless a test turns it on (test_kernel_pool)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")]))
    api._STORES.clear()
    yield path
    api._STORES.clear()


@pytest.fixture
def store(home):
    from mm_jupyter import api

    return api.connect()


@pytest.fixture
def toy(store, tmp_path):
    """A registered toy model on a tiny image-folder dataset; returns a snapshot factory."""
    from support.helpers import TOY, make_imagefolder

    import mm_jupyter as mm
    from mm_jupyter.datasets import register_dataset

    register_dataset(store, make_imagefolder(tmp_path / "data"), name="toy-data")
    mm.register_model("toy", TOY)

    def snapshot(**config):
        return mm.create_snapshot("toy", config=config, dataset="toy-data")["id"]

    return snapshot


@pytest.fixture
def started(monkeypatch):
    """Replace the runners by a recorder: claimed executions stay in-progress, nothing runs; the
    list of started execution ids is returned."""
    from support.helpers import RecordingRunner

    from mm_jupyter import scheduler

    runner = RecordingRunner()
    monkeypatch.setattr(scheduler, "runner_for", lambda address: runner)
    return runner.started
