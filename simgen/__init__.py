"""simgen: rendering-based generator of labelled computer-vision datasets.

``import simgen`` never imports Blender; only :mod:`simgen.blender` does. The Python API
(:mod:`simgen.api`: :func:`render`, :func:`open_dataset`, :func:`run_study`, :func:`run_fit`,
:class:`Dataset`, :class:`Frame`) is re-exported here and imported on first use of one of its
names, so ``import simgen`` stays light (no Hydra, no torch, no Blender).
"""

from typing import Any

from simgen.errors import Interrupted, SimgenError, did_you_mean  # noqa: F401  (simgen.SimgenError: the public name)

from simgen.version import __version__  # noqa: F401  (simgen.__version__: the public name)

API = ("render", "open_dataset", "run_study", "run_fit", "Dataset", "Frame")
"""The names of :mod:`simgen.api` that ``simgen.NAME`` gives."""


def __getattr__(name: str) -> Any:
    if name in API:
        from simgen import api

        return getattr(api, name)
    raise AttributeError(f"module 'simgen' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *API})
