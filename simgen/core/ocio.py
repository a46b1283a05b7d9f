"""Deprecated: ``simgen.core.ocio`` is ``simgen.color.ocio`` (this path works for one release)."""

import importlib
import sys
import warnings

warnings.warn("simgen.core.ocio is deprecated: import from simgen.color.ocio", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = importlib.import_module("simgen.color.ocio")
