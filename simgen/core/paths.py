"""Deprecated: ``simgen.core.paths`` is ``simgen.paths`` (this path works for one release)."""

import importlib
import sys
import warnings

warnings.warn("simgen.core.paths is deprecated: import from simgen.paths", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = importlib.import_module("simgen.paths")
