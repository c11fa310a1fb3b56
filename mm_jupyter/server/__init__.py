"""Jupyter server extension of mm-jupyter: REST under ``/mm-jupyter/api/`` and a live event stream.

Enabled by ``jupyter-config/jupyter_server_config.d/mm_jupyter.json`` (installed with the wheel);
the sidebar (``js/``, built into ``mm_jupyter/labextension``) is its only intended client.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .extension import MMJupyterApp

    return [{"module": "mm_jupyter.server", "app": MMJupyterApp}]
