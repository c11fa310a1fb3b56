"""Shared fixtures: a fresh mm-jupyter home per test, with fast heartbeats for the runner tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

SUPPORT = Path(__file__).parent / "support"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty MM_HOME; kernels and runners started from the test see the toy adapter."""
    from mm_jupyter import api

    path = tmp_path / "mmhome"
    monkeypatch.setenv("MM_HOME", str(path))
    monkeypatch.setenv("MM_HEARTBEAT_INTERVAL", "0.5")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")]))
    if str(SUPPORT) not in sys.path:
        sys.path.insert(0, str(SUPPORT))
    api._STORES.clear()
    yield path
    api._STORES.clear()


@pytest.fixture
def store(home):
    from mm_jupyter import api

    return api.connect()
