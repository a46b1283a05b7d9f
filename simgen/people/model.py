"""The body model people are made from: Anny (NAVER LABS, Apache-2.0; MakeHuman's CC0 assets), the
``[people]`` extra, prepared once into a local library and loaded from there at render time.

Anny builds its model data the first time it is used on a machine: about 5 minutes and 1.8 GB of
memory, writing 790 MB, of which it needs one 51 MB file afterwards. simgen never lets that happen
by surprise in a render worker: :func:`prepare` (``simgen people prepare``) builds it once into a
library folder and keeps only that file; :func:`load_model` loads from the library and, where the
library has not been prepared, stops with one line naming the command. Nothing downloads, at
preparation or at render time (simgen never uses Anny's SMPL topologies, the only ones that would).

Only this package imports ``anny`` and ``torch``, lazily: without the extra, asking for people is
one line naming it.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from pathlib import Path

from simgen.errors import SimgenError, install_hint

LIBRARY_ENV = "SIMGEN_PEOPLE_LIBRARY"
"""The environment variable naming the people library when no folder is given."""

DEFAULT_LIBRARY = Path.home() / ".cache" / "simgen" / "people"
"""The people library when neither a folder nor :data:`LIBRARY_ENV` names one."""

MANIFEST = "simgen-people.json"
"""The library's record of what :func:`prepare` made: the Anny version and the model data file."""

ANNY_VERSION = "0.6.2"
"""The Anny release simgen is written and tested against (pinned by the extra)."""

MODEL_KWARGS = {"skinning_method": "lbs"}
"""How simgen builds Anny's model: default rig (104 bones) and topology (13,718 vertices), linear
blend skinning in plain torch (so NVIDIA warp, which Anny's default skinning JIT-compiles, is
never imported)."""


def library_dir(library: str | os.PathLike | None = None) -> Path:
    """The people library: ``library``, else ``$SIMGEN_PEOPLE_LIBRARY``, else ~/.cache/simgen/people."""
    if library is not None:
        return Path(library).expanduser()
    env = os.environ.get(LIBRARY_ENV)
    return Path(env).expanduser() if env else DEFAULT_LIBRARY


def _anny():
    """The ``anny`` module, or one line naming the extra."""
    try:
        import anny
        import torch  # noqa: F401  (Anny's own dependency: checked here so that the line names it)
    except ImportError as e:
        raise SimgenError(f"people need the body model Anny and torch ({e.name} is not installed): "
                          + install_hint("people")) from None
    return anny


def _cache_dir(library: Path) -> Path:
    return library / "anny"


def prepared(library: str | os.PathLike | None = None) -> dict | None:
    """The library's manifest when :func:`prepare` made it for the Anny installed, else None."""
    root = library_dir(library)
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    data = _cache_dir(root) / str(manifest.get("model_data", ""))
    if not isinstance(manifest, dict) or not data.is_file() or data.is_symlink():
        return None
    return manifest


def prepare(library: str | os.PathLike | None = None, log=print) -> Path:
    """Build Anny's model data once into ``library`` (:func:`library_dir`), keeping only the file a
    render needs; nothing when it is already there for the installed Anny. Returns the library.
    Takes about 5 minutes and 1.8 GB of memory the first time on 2 cores."""
    anny = _anny()
    root = library_dir(library)
    version = getattr(anny, "__version__", None) or _installed_version()
    done = prepared(root)
    if done is not None and done.get("anny") == version:
        log(f"simgen people: {root} is prepared (Anny {version}); nothing to do")
        return root
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="anny-build-", dir=root) as build:
        log(f"simgen people: building Anny {version}'s model data in {root} (about 5 minutes, once) ...")
        from anny.paths import set_anny_cache_path

        set_anny_cache_path(build)
        anny.Anny(**MODEL_KWARGS)
        made = sorted(Path(build).rglob("build_compact_model_data_*.safetensors"))
        if len(made) != 1:
            raise SimgenError(f"Anny {version} built {len(made)} compact model data files in {build}, not 1: "
                              f"simgen is written against Anny {ANNY_VERSION}; install that version")
        target = _cache_dir(root) / made[0].relative_to(build)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(made[0]), target)
    (root / MANIFEST).write_text(json.dumps(
        {"anny": version, "model_data": str(target.relative_to(_cache_dir(root))), "kwargs": MODEL_KWARGS},
        indent=2) + "\n")
    log(f"simgen people: prepared {root} ({target.stat().st_size / 1e6:.0f} MB)")
    return root


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("anny")
    except PackageNotFoundError:
        return "unknown"


@functools.lru_cache(maxsize=2)
def load_model(library: str | None = None):
    """Anny's model (torch, float64, on the CPU), loaded from the prepared library: one a process.
    One line naming ``simgen people prepare`` where the library is not prepared."""
    anny = _anny()
    root = library_dir(library)
    if prepared(root) is None:
        raise SimgenError(f"people need Anny's model data, prepared once into a local library: run "
                          f"`simgen people prepare --library {root}` (about 5 minutes; nothing is downloaded), "
                          f"or set people.library / ${LIBRARY_ENV} to a prepared one")
    from anny.paths import set_anny_cache_path

    set_anny_cache_path(_cache_dir(root))
    return anny.Anny(**MODEL_KWARGS)
