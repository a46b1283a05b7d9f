"""Deprecated: ``simgen.core.calibration`` is ``simgen.optics.calibration`` (this path works for one release)."""

import importlib
import sys
import warnings

warnings.warn("simgen.core.calibration is deprecated: import from simgen.optics.calibration", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = importlib.import_module("simgen.optics.calibration")
