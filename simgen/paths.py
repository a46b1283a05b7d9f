"""Where simgen's own data lies: the Hydra configs and the bundled assets.

In the repository they are its top-level ``configs/`` and ``assets/`` folders; a wheel (``pip
install .`` or ``pip install simgen-*.whl``) carries the same folders as package data,
``simgen/configs`` and ``simgen/bundled`` (pyproject.toml maps them). The scene recipes of
``scenes/`` install as the package ``simgen.scenes`` either way (an editable install maps the
folder, a wheel copies it), so they are found by import, not by path.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
"""The folder of the ``simgen`` package."""


def _data_dir(in_wheel: str, in_repository: str) -> Path:
    packaged = PACKAGE / in_wheel
    return packaged if packaged.is_dir() else PACKAGE.parent / in_repository


CONFIG_DIR: Path = _data_dir("configs", "configs")
"""The Hydra config tree (``config.yaml`` and its groups)."""
ASSET_DIR: Path = _data_dir("bundled", "assets")
"""The bundled, licence-clean asset set: meshes, its catalogs, HDRI, PBR sets."""
