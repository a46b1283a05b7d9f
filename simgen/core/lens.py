"""Deprecated: ``simgen.core.lens`` is ``simgen.optics.lens`` (this path works for one release)."""

import importlib
import sys
import warnings

warnings.warn("simgen.core.lens is deprecated: import from simgen.optics.lens", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = importlib.import_module("simgen.optics.lens")
