#!/usr/bin/env python3
"""Fetch real robot and animal models no one here wrote: dm_control's, as its package ships them.

The PyPI wheel ``dm_control==1.0.50`` (about 56 MB) carries MuJoCo (MJCF) models: the control
suite's (``suite/*.xml``: humanoid, dog, fish, cheetah, ...), the locomotion walkers' (CMU humanoid,
rodent, fruit fly, dog, ...), the soccer players', ant and Kinova's Jaco arm and hand, with the
meshes, skins and textures they name. dm_control itself cannot be installed beside simgen: it
requires the full ``mujoco`` package, which provides the same ``mujoco`` module as simgen's
``mujoco-core`` and would replace it. So this script downloads the wheel once with pip
(``pip download --no-deps --only-binary=:all:``, through whatever index pip is configured with),
checks its sha256 against the one pinned here, extracts only the model files (the ``.xml`` files
under :data:`FOLDERS` and the meshes, skins and textures beside them: no Python) into ``--out``,
keeping their paths below ``dm_control/``, writes ``entry.json`` (package, version, every file's
size and sha256) and ``SOURCE.md`` (licence, attribution) beside them, and deletes the wheel::

    python scripts/fetch_robots.py --out .robots/dm_control      # what .ci/run does
    python scripts/sweep_robots.py                                 # which of them simgen loads

Idempotent: when ``--out`` already holds every file entry.json records for this wheel, it does
nothing. Licence: Apache-2.0 (DeepMind; the wheel's LICENSE and AUTHORS are copied beside the
files). tests/test_robot_sweep.py sweeps them (docs/how-to/own-meshes.md, "Robots as their
packages ship them").
"""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a file, or loaded by the tests
from pinned_wheel import Failure, PinnedWheel, sha256_of  # noqa: E402

PACKAGE, VERSION = "dm_control", "1.0.50"
WHEEL = "dm_control-1.0.50-py3-none-any.whl"
WHEEL_SHA256 = "5434e1e51ff69016867426da7df6064b18d140e4d0a628f879bbcf0e7d0a586d"
FOLDERS = ("dm_control/suite/", "dm_control/third_party/", "dm_control/locomotion/walkers/assets/",
           "dm_control/locomotion/soccer/assets/", "dm_control/entities/props/")
"""The folders of the wheel that hold models (its test fixtures, mjcf/test_assets and
mujoco/testing, are left out: some are broken on purpose)."""
SUFFIXES = (".xml", ".stl", ".obj", ".msh", ".skn", ".png")
"""The model files and what they name (meshes, skins, textures)."""
FILES = 451
"""How many files the pinned wheel holds under FOLDERS with SUFFIXES (a check on the extraction)."""
LICENSES = {"dm_control-1.0.50.dist-info/licenses/LICENSE": "LICENSE-dm_control.txt",
            "dm_control-1.0.50.dist-info/licenses/AUTHORS": "AUTHORS-dm_control.txt"}
ENTRY = {
    "name": "dm_control's models (MJCF), as the wheel ships them",
    "package": PACKAGE, "version": VERSION, "index": "PyPI", "wheel": WHEEL, "folders": list(FOLDERS),
    "url": "https://pypi.org/project/dm-control/1.0.50/",
    "homepage": "https://github.com/google-deepmind/dm_control",
    "license": "Apache-2.0",
    "attribution": "dm_control 1.0.50 by Google DeepMind (Tunyasuvunakool et al., dm_control: Software and Tasks for "
                   "Continuous Control, Software Impacts 2020), Apache-2.0",
}


def present(out: Path) -> bool:
    """Whether ``out`` already holds every file its entry.json records, for the pinned wheel (sizes checked)."""
    import json

    try:
        entry = json.loads((out / "entry.json").read_text(encoding="utf-8"))
        files = entry["files"]
        if entry.get("wheel_sha256") != WHEEL_SHA256 or len(files) != FILES + len(LICENSES) + 1:
            return False
        return all((out / name).is_file() and not (out / name).is_symlink()
                   and (out / name).stat().st_size == f["size"] for name, f in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def members(z: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The wheel's model files (FOLDERS, SUFFIXES), each a plain relative path below ``dm_control/``."""
    out = []
    for info in z.infolist():
        name = info.filename
        if info.is_dir() or not name.startswith(FOLDERS) or not name.lower().endswith(SUFFIXES):
            continue
        parts = PurePosixPath(name).parts
        if any(p in ("", ".", "..") for p in parts) or "\\" in name or "\x00" in name:
            raise Failure(f"{WHEEL} holds the member {name!r}, which is no plain relative path")
        out.append(info)
    if len(out) != FILES:
        raise Failure(f"{WHEEL} holds {len(out)} model files under {', '.join(FOLDERS)}, not {FILES}")
    return out


def extract(wheel: Path, out: Path) -> None:
    """The model files and the licences from ``wheel`` into ``out`` (each through a temporary name),
    then SOURCE.md and entry.json (last, through a temporary name)."""
    from simgen.assets.library import utc_now, write_json_atomic

    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    with zipfile.ZipFile(wheel) as z:
        for info in members(z):
            rel = PurePosixPath(info.filename).relative_to("dm_control").as_posix()
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(target.name + ".part")
            part.write_bytes(z.read(info))
            os.replace(part, target)
            written[rel] = target
        for member, name in LICENSES.items():
            (out / name).write_bytes(z.read(member))
            written[name] = out / name
    (out / "SOURCE.md").write_text(
        f"# {ENTRY['name']}\n\n"
        f"- Files: the model files of the PyPI package `{PACKAGE}=={VERSION}` (wheel `{WHEEL}`, sha256 "
        f"`{WHEEL_SHA256}`) under {', '.join(f'`{f}`' for f in FOLDERS)}, their paths kept below `dm_control/`; "
        "fetched by `scripts/fetch_robots.py` of simgen, which deleted the wheel. Each file's size and sha256: "
        "`entry.json`.\n"
        f"- Licence: Apache-2.0 (https://www.apache.org/licenses/LICENSE-2.0); its text: "
        f"`{LICENSES[next(iter(LICENSES))]}`, the authors: `AUTHORS-dm_control.txt`.\n"
        f"- Attribution: {ENTRY['attribution']}.\n", encoding="utf-8")
    written["SOURCE.md"] = out / "SOURCE.md"
    files = {name: {"size": path.stat().st_size, "sha256": sha256_of(path)} for name, path in sorted(written.items())}
    write_json_atomic(out / "entry.json", {**ENTRY, "wheel_sha256": WHEEL_SHA256, "files": files,
                                           "fetched": utc_now()})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python scripts/fetch_robots.py",
        description=f"Fetch dm_control's MJCF models (Apache-2.0) from the PyPI wheel {PACKAGE}=={VERSION} (about "
                    "56 MB, downloaded once with pip, checked against a pinned sha256, then deleted) into a folder "
                    "(about 100 MB), with entry.json and SOURCE.md. Does nothing when the folder already holds them.",
        epilog="The tests (tests/test_robot_sweep.py) and CI (.ci/run) use --out .robots/dm_control.")
    ap.add_argument("--out", required=True, metavar="DIR", help="the folder to hold the models (created if new)")
    args = ap.parse_args(argv)
    out = Path(args.out).expanduser().absolute()
    return PinnedWheel(PACKAGE, VERSION, WHEEL, WHEEL_SHA256).fetch(
        "fetch_robots", out, present, extract, there=f"{out} holds dm_control {VERSION}'s models: nothing to do",
        size="56 MB", done=f"{out}: dm_control {VERSION}'s {FILES} model files; licence and attribution in "
                           f"{out / 'SOURCE.md'}")


if __name__ == "__main__":
    sys.exit(main())
