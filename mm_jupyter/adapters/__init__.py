"""Built-in adapters, importable as ``mm_jupyter.adapters.<name>``.

Their source lives in the repository's top-level ``adapters/`` folder; the wheel copies those files
here, and a source checkout (editable install) finds them through this package's ``__path__``. This
keeps them out of the unrelated PyPI package named ``adapters``.
"""

from pathlib import Path

_source = Path(__file__).resolve().parents[2] / "adapters"
if _source.is_dir() and str(_source) not in __path__:
    __path__.append(str(_source))
