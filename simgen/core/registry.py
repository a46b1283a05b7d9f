"""Deprecated: ``simgen.core.registry`` is ``simgen.registry`` (this path works for one release)."""

import importlib
import sys
import warnings

warnings.warn("simgen.core.registry is deprecated: import from simgen.registry", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = importlib.import_module("simgen.registry")
