"""Deprecated: ``simgen.core.tone`` is ``simgen.color.tone`` (this path works for one release)."""

import importlib
import sys
import warnings

warnings.warn("simgen.core.tone is deprecated: import from simgen.color.tone", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = importlib.import_module("simgen.color.tone")
