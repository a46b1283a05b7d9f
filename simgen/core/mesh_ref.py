"""Deprecated: ``simgen.core.mesh_ref`` is ``simgen.scene.meshes`` (this path works for one release)."""

import importlib
import sys
import warnings

warnings.warn("simgen.core.mesh_ref is deprecated: import from simgen.scene.meshes", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = importlib.import_module("simgen.scene.meshes")
