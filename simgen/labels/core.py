"""Deprecated: ``simgen.labels.core`` is ``simgen.labels.frame`` (this path works for one release)."""

import importlib
import sys
import warnings

warnings.warn("simgen.labels.core is deprecated: import from simgen.labels.frame", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = importlib.import_module("simgen.labels.frame")
