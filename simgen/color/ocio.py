"""Blender's colour management without Blender: OpenColorIO's CPU processor on Blender's own
config.

The bpy wheel carries both halves of Blender's colour management: its OpenColorIO config
(``bpy/<version>/datafiles/colormanagement/config.ocio``, with the LUT files its view
transforms read) and OpenColorIO's Python module, PyOpenColorIO, linked against the wheel's own
``bpy/lib/libOpenColorIO.so`` (``bpy/<version>/python/lib/python3.11/site-packages/PyOpenColorIO``).
A processor made here is the transform Blender applies, by the same library on the same config
(Blender's own 16-bit output of the same pixels is within 2/65535 of it; Blender would use
``$OCIO`` instead where it is set, simgen always uses the wheel's config). The bpy folder is
found on ``sys.path`` without importing bpy, and PyOpenColorIO is loaded alone: that
site-packages folder also holds pxr, OpenImageIO and MaterialX, so it does not go onto
``sys.path``.

Processors are made once per process and view, under a lock; applying one
(``CPUProcessor.applyRGB``) is thread-safe and releases the GIL, so worker threads tone map
frames in parallel.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType

from simgen.errors import SimgenError

SCENE_LINEAR = "Linear Rec.709"
"""The config's scene_linear role: the colour space of Cycles' Combined pass."""
DISPLAY = "sRGB"
"""The display every view is made for."""

_lock = threading.Lock()
_processors: dict[str, object] = {}
_config: object | None = None


def bpy_folder() -> Path:
    """The installed bpy wheel's package folder, found on ``sys.path`` without importing bpy
    (nor asking a bpy module already imported, or stood in for by a test). The wheel's bpy is
    an extension module (``bpy/__init__.so``); the ``bpy`` package of Python files that an
    imported bpy puts on ``sys.path`` (``bpy/<version>/scripts/modules/bpy``) is not it."""
    for entry in sys.path:
        spec = importlib.machinery.PathFinder.find_spec("bpy", [entry])
        if spec is not None and spec.submodule_search_locations and not str(spec.origin).endswith(".py"):
            return Path(list(spec.submodule_search_locations)[0])
    raise SimgenError("the bpy wheel is not installed in this Python environment; simgen's colour management "
                      "uses its OpenColorIO: pip install 'bpy==5.0.1'")


def _wheel_file(pattern: str, what: str) -> Path:
    """The file of the bpy wheel matching ``pattern`` (the last by name: the wheel has one)."""
    root = bpy_folder()
    found = sorted(root.glob(pattern))
    if not found:
        raise SimgenError(f"the bpy wheel in {root} has no {what} ({pattern}); reinstall it: "
                          f"pip install --force-reinstall 'bpy==5.0.1'")
    return found[-1]


def config_path() -> Path:
    """Blender's ``config.ocio`` inside the bpy wheel."""
    return _wheel_file("*/datafiles/colormanagement/config.ocio", "OpenColorIO config")


def pyopencolorio() -> ModuleType:
    """The PyOpenColorIO module of the bpy wheel, loaded on its own (once per process)."""
    name = "PyOpenColorIO"
    init = _wheel_file(f"*/python/lib/python3*/site-packages/{name}/__init__.py", "PyOpenColorIO module")
    module = sys.modules.get(name)
    if module is not None:
        if Path(module.__file__).resolve() != init.resolve():
            raise SimgenError(f"another PyOpenColorIO is already imported ({module.__file__}); simgen needs the one "
                              f"in the bpy wheel ({init.parent}): do not import PyOpenColorIO before simgen")
        return module
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(init.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except ImportError as e:
        del sys.modules[name]
        raise SimgenError(f"cannot load the bpy wheel's PyOpenColorIO ({init.parent}): {e}") from None
    return module


def view_processor(view: str):
    """OpenColorIO's CPU processor from scene linear (:data:`SCENE_LINEAR`) to display
    :data:`DISPLAY` through Blender's view ``view`` (e.g. ``AgX``, ``Standard``; no look, no
    exposure): ``applyRGB`` on a C-contiguous float32 (..., 3) array transforms it in place.
    Made once per process and view."""
    processor = _processors.get(view)
    if processor is not None:
        return processor
    global _config
    with _lock:
        if view not in _processors:
            ocio = pyopencolorio()
            if _config is None:
                _config = ocio.Config.CreateFromFile(str(config_path()))
            try:
                p = _config.getProcessor(SCENE_LINEAR, DISPLAY, view, ocio.TRANSFORM_DIR_FORWARD)
            except ocio.Exception as e:
                raise SimgenError(f"Blender's colour management has no view {view!r} for display {DISPLAY!r}: {e}") \
                    from None
            _processors[view] = p.getDefaultCPUProcessor()
        return _processors[view]
