"""simgen's version, on the ground floor: every module that records or prints it imports it from
here, never from the package's ``__init__`` (which re-exports it as ``simgen.__version__``), so no
module below the package imports the package for it. pyproject.toml states the same version
(tests/test_packaging.py checks that they agree)."""

__version__ = "0.1.0"
