"""Deprecated: ``simgen.core.camera`` is ``simgen.optics.camera`` (this path works for one release)."""

import importlib
import sys
import warnings

warnings.warn("simgen.core.camera is deprecated: import from simgen.optics.camera", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = importlib.import_module("simgen.optics.camera")
