"""Deprecated: ``simgen.core.splits`` is ``simgen.splits`` (this path works for one release)."""

import importlib
import sys
import warnings

warnings.warn("simgen.core.splits is deprecated: import from simgen.splits", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = importlib.import_module("simgen.splits")
