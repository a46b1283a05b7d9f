"""Deprecated: ``simgen.core.image_header`` is ``simgen.image_header`` (this path works for one release)."""

import importlib
import sys
import warnings

warnings.warn("simgen.core.image_header is deprecated: import from simgen.image_header", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = importlib.import_module("simgen.image_header")
