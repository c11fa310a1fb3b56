"""The installed kernels as mm-jupyter reads them (without jupyter_client) agree with jupyter_client."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager

from mm_jupyter.errors import InvalidInput
from mm_jupyter.kernels import check_kernel, find_kernel_specs


def _spec(folder: Path, name: str) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "kernel.json").write_text(json.dumps({"argv": ["python", "-m", "ipykernel_launcher",
                                                                    "-f", "{connection_file}"],
                                                           "display_name": name, "language": "python"}))


@pytest.mark.parametrize("own_python3", [False, True])
def test_same_kernels_as_jupyter_client(tmp_path, monkeypatch, own_python3):
    first, second, ipython = tmp_path / "a" / "kernels", tmp_path / "b" / "kernels", tmp_path / "ipy" / "kernels"
    _spec(first, "GPU-Torch")  # upper case: listed lower-cased
    _spec(second, "gpu-torch")  # the same name later on the path: the first one wins
    _spec(second, "r.4")
    (second / "not-a-kernel").mkdir()  # no kernel.json
    _spec(ipython, "from-ipython-dir")
    if own_python3:
        _spec(second, "python3")
    monkeypatch.setenv("JUPYTER_PATH", f"{first.parent}:{second.parent}")
    monkeypatch.setenv("IPYTHONDIR", str(ipython.parent))
    ours = find_kernel_specs()
    assert ours == KernelSpecManager().find_kernel_specs()
    assert ours["gpu-torch"] == str(first / "GPU-Torch") and "from-ipython-dir" in ours
    assert ours["python3"] == (str(second / "python3") if own_python3 else ours["python3"])
    assert check_kernel("r.4") == "r.4"
    with pytest.raises(InvalidInput, match="kernel 'nope' is not installed"):
        check_kernel("nope")


def test_reading_kernels_imports_neither_jupyter_client_nor_ipython():
    code = ("import sys; from mm_jupyter.kernels import installed_kernels; assert 'python3' in installed_kernels(); "
            "print(sorted(m for m in ('jupyter_client', 'IPython') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
