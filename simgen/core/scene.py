"""Deprecated: ``simgen.core.scene`` is ``simgen.scene.data`` (this path works for one release)."""

import importlib
import sys
import warnings

warnings.warn("simgen.core.scene is deprecated: import from simgen.scene.data", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = importlib.import_module("simgen.scene.data")
