#!/usr/bin/env python3
"""Fetch skinned and morph-animated files no one here wrote: assimp's test models, as Debian ships them.

Debian's package ``assimp-testmodels`` 5.2.5~ds0-1 (about 20 MB; assimp's ``test/models``) holds,
among hundreds of test files, rigged and animated ones that simgen plays (``scene.animation=play``):

- ``FBX/animation_with_skeleton.fbx``: a 1058-vertex tube skinned to an armature that bends it over
  21 frames, with a camera and a light;
- ``FBX/huesitos.fbx``: a skinned cylinder, 40 frames, with a camera and a light;
- ``glTF2/simple_skin/simple_skin.gltf``: the Khronos glTF tutorial's skin (a strip two joints bend);
- ``glTF2/glTF-Sample-Models/AnimatedMorphCube-glTF/``: a cube whose morph targets (shape keys) play.

This script downloads the .deb once with ``apt-get download`` (from whatever sources apt is
configured with; no root needed) into a temporary folder, checks its sha256 against the one pinned
here, reads the .deb itself (an ``ar`` archive holding ``data.tar.xz``: Python's own tarfile, no
dpkg), takes only :data:`FILES` (each checked against its own pinned sha256) and the package's
copyright file into ``--out``, keeping their paths below ``usr/share/assimp/models/``, writes
``entry.json`` (package, version, sha256s) and ``SOURCE.md`` (licence, attribution) beside them,
and deletes the .deb::

    python scripts/fetch_skinned.py                   # into .models/assimp (what .ci/run does)

Idempotent: when ``--out`` already holds every file with its pinned sha256 it does nothing.
Licence: BSD-3-clause (the ASSIMP Development Team; the package's copyright file, ``Files: *``,
copied beside the files). tests/test_environment_skinned.py plays them and checks every label
against Blender's own export of each step.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tarfile
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a file, or loaded by the tests
from pinned_wheel import Failure, PinnedDeb, sha256_of  # noqa: E402

PACKAGE, VERSION = "assimp-testmodels", "5.2.5~ds0-1"
DEB_SHA256 = "526f326186000cd6f631ea806128548a7d3d391abd8149fddc5c4c8513e80b8a"
MODELS = "usr/share/assimp/models/"
"""Where the package keeps the models; the files keep their paths below it."""
FILES = {
    "FBX/animation_with_skeleton.fbx": "eb4d07ccc536aff6c7f8c1ecae82c171719b32115d4d4c30ed0be32eb7ab89e3",
    "FBX/huesitos.fbx": "1f15e2f0e0b637e97ecd37102330f311d04a95389d3cb009a0309cbd5f4f171d",
    "glTF2/simple_skin/simple_skin.gltf": "2ccb43a4a0a8d2663088684b53e254358308f48e3f4bcafa999e5b5898e2e0fa",
    "glTF2/glTF-Sample-Models/AnimatedMorphCube-glTF/AnimatedMorphCube.gltf":
        "0b910ed4b52fd9fbb565911fc7f9f285edb0f30fa4913a93143466d439d1092e",
    "glTF2/glTF-Sample-Models/AnimatedMorphCube-glTF/AnimatedMorphCube.bin":
        "4aba93918adba56c1cc688a38c527bc647e26f2c386802e119b4d01b7250dd23",
}
"""The files taken (below :data:`MODELS`) and each one's sha256."""
COPYRIGHT = ("usr/share/doc/assimp-testmodels/copyright", "COPYRIGHT-assimp-testmodels.txt",
             "adff002238273b4476b5450eb5e7173428232868584899cb49e76b10fd8facc3")
"""The package's copyright file (Debian's machine-readable format), where it goes, its sha256."""
ENTRY = {
    "name": "assimp's test models (skinned and morph-animated), as Debian's package ships them",
    "package": PACKAGE, "version": VERSION, "distribution": "Debian bookworm (main)",
    "url": "https://packages.debian.org/bookworm/assimp-testmodels",
    "homepage": "https://github.com/assimp/assimp",
    "license": "BSD-3-Clause",
    "attribution": "assimp's test models (test/models) by the ASSIMP Development Team, 2006-2022, BSD-3-clause, as "
                   "packaged by Debian (assimp-testmodels 5.2.5~ds0-1); simple_skin.gltf is the Khronos glTF "
                   "tutorial's skin example and AnimatedMorphCube is from Khronos' glTF-Sample-Models, both as assimp "
                   "ships them",
}


def present(out: Path) -> bool:
    """Whether ``out`` already holds every file, each with its pinned sha256, for the pinned package."""
    import json

    try:
        entry = json.loads((out / "entry.json").read_text(encoding="utf-8"))
        if entry.get("deb_sha256") != DEB_SHA256:
            return False
        wanted = {**FILES, COPYRIGHT[1]: COPYRIGHT[2]}
        return all((out / name).is_file() and not (out / name).is_symlink() and sha256_of(out / name) == digest
                   for name, digest in wanted.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def data_tar(deb: Path) -> tarfile.TarFile:
    """The .deb's ``data.tar.*`` (an ``ar`` archive's member: a 60-byte header, then the body,
    padded to an even length), opened by tarfile (xz, gzip, bzip2 or none)."""
    data = deb.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise Failure(f"{deb.name} is not a Debian package (no ar archive)")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise Failure(f"{deb.name} has a broken ar header at byte {pos}") from None
        if name.startswith("data.tar"):
            try:
                return tarfile.open(fileobj=io.BytesIO(data[pos + 60:pos + 60 + size]), mode="r:*")
            except tarfile.TarError as e:
                raise Failure(f"{deb.name}'s {name} cannot be read by Python's tarfile: {e}") from None
        pos += 60 + size + size % 2
    raise Failure(f"{deb.name} holds no data.tar member")


def read_member(tar: tarfile.TarFile, member: str, digest: str) -> bytes:
    """The bytes of the regular file ``member`` (a plain relative path) of ``tar``, checked against ``digest``."""
    import hashlib

    parts = PurePosixPath(member).parts
    if any(p in ("", ".", "..") for p in parts) or "\\" in member:
        raise Failure(f"{member!r} is no plain relative path")
    info = next((tar.getmember(n) for n in (f"./{member}", member) if n in tar.getnames()), None)
    if info is None:
        raise Failure(f"the package holds no {member}")
    if not info.isfile():
        raise Failure(f"the package's {member} is not a regular file (a link or a folder)")
    body = tar.extractfile(info).read()
    got = hashlib.sha256(body).hexdigest()
    if got != digest:
        raise Failure(f"the package's {member} has sha256 {got}, not the pinned {digest}")
    return body


def extract(deb: Path, out: Path) -> None:
    """:data:`FILES` and the copyright file from ``deb`` into ``out`` (each through a temporary name),
    then SOURCE.md and entry.json (last, through a temporary name)."""
    from simgen.assets.library import utc_now, write_json_atomic

    with data_tar(deb) as tar:
        bodies = {name: read_member(tar, MODELS + name, digest) for name, digest in FILES.items()}
        bodies[COPYRIGHT[1]] = read_member(tar, COPYRIGHT[0], COPYRIGHT[2])
    out.mkdir(parents=True, exist_ok=True)
    for name, body in bodies.items():
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        part.write_bytes(body)
        os.replace(part, target)
    (out / "SOURCE.md").write_text(
        f"# {ENTRY['name']}\n\n"
        f"- Files: {', '.join(f'`{n}`' for n in FILES)}, from Debian's package `{PACKAGE}` {VERSION} (sha256 "
        f"`{DEB_SHA256}`), their paths kept below its `/{MODELS}`; fetched by `scripts/fetch_skinned.py` of "
        "simgen (`apt-get download`), which deleted the package. Each file's sha256: `entry.json`.\n"
        f"- Licence: BSD-3-clause (https://opensource.org/license/bsd-3-clause), as the package's copyright file "
        f"(`{COPYRIGHT[1]}`, `Files: *`, Copyright 2006-2022 ASSIMP Development Team) states.\n"
        f"- Attribution: {ENTRY['attribution']}.\n", encoding="utf-8")
    files = {name: {"size": (out / name).stat().st_size, "sha256": sha256_of(out / name)}
             for name in sorted([*bodies, "SOURCE.md"])}
    write_json_atomic(out / "entry.json", {**ENTRY, "deb_sha256": DEB_SHA256, "files": files, "fetched": utc_now()})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python scripts/fetch_skinned.py",
        description=f"Fetch assimp's skinned and morph-animated test models (BSD-3-clause) from Debian's package "
                    f"{PACKAGE} {VERSION} (about 20 MB, downloaded once with apt-get download, checked against a "
                    "pinned sha256, then deleted) into a folder (about 330 kB), with entry.json and SOURCE.md. Does "
                    "nothing when the folder already holds them.",
        epilog="The tests (tests/test_environment_skinned.py) and CI (.ci/run) use the default --out.")
    ap.add_argument("--out", default=".models/assimp", metavar="DIR",
                    help="the folder to hold the models (created if new; default: .models/assimp)")
    args = ap.parse_args(argv)
    out = Path(args.out).expanduser().absolute()
    return PinnedDeb(PACKAGE, VERSION, DEB_SHA256).fetch(
        "fetch_skinned", out, present, extract, there=f"{out} holds {PACKAGE} {VERSION}'s files: nothing to do",
        size="20 MB", done=f"{out}: {len(FILES)} files of {PACKAGE} {VERSION}; licence and attribution in "
                           f"{out / 'SOURCE.md'}")


if __name__ == "__main__":
    sys.exit(main())
