"""Deprecated: ``simgen.core.transforms`` is ``simgen.scene.transforms`` (this path works for one release)."""

import importlib
import sys
import warnings

warnings.warn("simgen.core.transforms is deprecated: import from simgen.scene.transforms", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = importlib.import_module("simgen.scene.transforms")
