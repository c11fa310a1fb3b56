"""A newcomer's install path: what the wheel ships, how JupyterLab names the sidebar's package, what
the README tells them to type, and the one-line refusal when the ML extra is missing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK_ML = "import sys; sys.modules['ultralytics'] = None; "  # as if `pip install mm-jupyter` without [ml]


def mm_without_ultralytics(*args: str) -> subprocess.CompletedProcess:
    code = BLOCK_ML + f"from mm_jupyter.cli import main; sys.exit(main({list(args)!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=os.environ.copy())


def test_registering_a_yolo_model_without_the_ml_extra_names_the_extra(home):
    proc = mm_without_ultralytics("models", "add", "det", "--adapter", "yolo")
    assert proc.returncode == 2, proc
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert 'needs ultralytics' in proc.stderr and 'pip install "mm-jupyter[ml]"' in proc.stderr, proc.stderr
    from mm_jupyter.store import Store

    assert Store(home).count("models") == 0, "a refused registration creates nothing"


def test_training_without_the_ml_extra_is_refused_at_submit_and_creates_nothing(home, tmp_path):
    import mm_jupyter as mm
    from mm_jupyter.datasets import register_dataset
    from mm_jupyter.shapes import generate_shapes
    from mm_jupyter.store import Store

    data = generate_shapes(tmp_path / "shapes", flavour="detect", n_train=4, n_val=2, n_test=2, size=64, seed=0)
    register_dataset(mm.connect(), data, name="shapes")
    mm.register_model("det", "yolo")  # registered where ultralytics is installed
    snap = mm.create_snapshot("det", dataset="shapes", config={"epochs": 1})
    store = Store(home)
    before = {t: store.count(t) for t in ("snapshots", "executions", "services")}
    for args in (("train", snap["id"]), ("train", "--model", "det", "--dataset", "shapes")):
        proc = mm_without_ultralytics(*args)
        assert proc.returncode == 2, proc
        assert 'pip install "mm-jupyter[ml]"' in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert {t: store.count(t) for t in before} == before, "nothing created by a refused submit"


def test_jupyter_labextension_list_names_the_python_package():
    proc = subprocess.run([sys.executable, "-m", "jupyter", "labextension", "list"], capture_output=True,
                          text=True, timeout=120)
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "mm-jupyter" in line]
    assert lines and "(python, mm-jupyter)" in lines[0], proc.stdout + proc.stderr


def test_readme_shows_the_pip_install_path_and_links_only_inside_the_repository():
    readme = (ROOT / "README.md").read_text()
    install = readme.split("## Install", 1)[1].split("\n## ", 1)[0]
    assert '`pip install "mm-jupyter[ml]"`' in install and "`make demo`" in install, install
    assert "make demo" in readme and "make test" in readme
    for target in re.findall(r"\]\(([^)#\s]+)", readme):
        if re.match(r"[a-z]+://", target):
            continue
        path = (ROOT / target).resolve()
        assert path.is_relative_to(ROOT) and path.exists(), f"README links to {target}, not a file in the repository"


@pytest.mark.slow
def test_the_wheel_ships_the_prebuilt_sidebar_named_for_its_python_package(tmp_path):
    """``pip install mm-jupyter`` gives the sidebar with no build step: the wheel carries the built
    extension under share/jupyter/labextensions with an install.json naming the package."""
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    [wheel] = tmp_path.glob("mm_jupyter-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        prefix = next(n for n in names if n.endswith(".data/data/share/jupyter/labextensions/mm-jupyter/package.json"))
        folder = prefix.rsplit("/", 1)[0]
        install = json.loads(zf.read(f"{folder}/install.json"))
        assert install["packageManager"] == "python" and install["packageName"] == "mm-jupyter"
        assert any(n.startswith(f"{folder}/static/remoteEntry.") for n in names)
        assert any(n.endswith("jupyter_server_config.d/mm_jupyter.json") for n in names)
        assert {"mm_jupyter/adapters/yolo.py", "mm_jupyter/templates/train.ipynb"} <= set(names)
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        assert "Provides-Extra: ml" in metadata


def test_papermill_parses_every_parameter_line_of_the_notebooks(caplog):
    """``papermill --help-notebook`` (and every run's log) must not say "Unable to parse line": a
    parameter it cannot parse is reported as unknown when a runner passes it."""
    import logging

    import papermill

    for name in ("train", "evaluate"):
        with caplog.at_level(logging.WARNING):
            params = papermill.inspect_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"))
        assert {"mm_home", "snapshot", "execution_id", "attempt"} <= set(params), (name, list(params))
        assert "Unable to parse" not in caplog.text, caplog.text
