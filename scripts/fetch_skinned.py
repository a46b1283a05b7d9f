#!/usr/bin/env python3
"""Fetch skinned and morph-animated files no one here wrote, as Debian's packages ship them.

Two packages, each into a folder of its own below ``--out`` (default ``.models``):

- ``assimp``: Debian's ``assimp-testmodels`` 5.2.5~ds0-1 (about 20 MB; assimp's ``test/models``,
  BSD-3-clause), which holds among hundreds of test files rigged and animated ones:

  - ``FBX/animation_with_skeleton.fbx``: a 1058-vertex tube skinned to an armature that bends it
    over 21 frames, with a camera and a light;
  - ``FBX/huesitos.fbx``: a skinned cylinder, 40 frames, with a camera and a light;
  - ``glTF2/simple_skin/simple_skin.gltf``: the Khronos glTF tutorial's skin (a strip two joints bend);
  - ``glTF2/glTF-Sample-Models/AnimatedMorphCube-glTF/``: a cube whose morph targets (shape keys) play.

- ``qt3d``: Debian's ``qt3d5-examples`` 5.15.8+dfsg-2 (amd64, about 270 MB: Qt 3D's examples),
  which ships Khronos' glTF sample ``RiggedFigure``: a human figure (370 vertices, 19 joints) whose
  walk COLLADA2GLTF split into one animation per joint (``scene.animation_clip=all`` plays them
  together). Debian's copyright file gives ``examples/qt3d/exampleresources/assets/gltf/*`` as
  BSD-3-clause; Khronos' glTF-Sample-Models lists RiggedFigure as CC-BY 4.0, (c) 2017 Cesium.

For each, this script downloads the .deb once with ``apt-get download`` (from whatever sources apt
is configured with; no root needed) into a temporary folder, checks its sha256 against the one
pinned here, reads the .deb itself (an ``ar`` archive holding ``data.tar.xz``: Python's own
tarfile, no dpkg), takes only the source's files (each checked against its own pinned sha256) and
the package's copyright file, keeping their paths below the package's models folder, writes
``entry.json`` (package, version, sha256s) and ``SOURCE.md`` (licence, attribution) beside them,
and deletes the .deb::

    python scripts/fetch_skinned.py                   # both, into .models/assimp and .models/qt3d (what .ci/run does)
    python scripts/fetch_skinned.py --only assimp     # one

Idempotent: a folder that already holds every file with its pinned sha256 is left alone.
tests/test_environment_skinned.py plays them and checks every label against Blender's own export
of each step.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a file, or loaded by the tests
from pinned_wheel import Failure, PinnedDeb, sha256_of  # noqa: E402

@dataclass(frozen=True)
class Source:
    """A Debian package and the files taken from it."""

    deb: PinnedDeb
    models: str
    """Where the package keeps the models; the files keep their paths below it."""
    files: dict[str, str]
    """The files taken (below :attr:`models`) and each one's sha256."""
    copyright: tuple[str, str, str]
    """The package's copyright file (Debian's machine-readable format), where it goes, its sha256."""
    size: str
    """The package's download size, for the run's first line."""
    licence: str
    """SOURCE.md's licence line."""
    entry: dict[str, str]
    """What entry.json says besides the files: name, url, homepage, license, attribution."""


SOURCES = {
    "assimp": Source(
        PinnedDeb("assimp-testmodels", "5.2.5~ds0-1",
                  "526f326186000cd6f631ea806128548a7d3d391abd8149fddc5c4c8513e80b8a"),
        "usr/share/assimp/models/",
        {"FBX/animation_with_skeleton.fbx": "eb4d07ccc536aff6c7f8c1ecae82c171719b32115d4d4c30ed0be32eb7ab89e3",
         "FBX/huesitos.fbx": "1f15e2f0e0b637e97ecd37102330f311d04a95389d3cb009a0309cbd5f4f171d",
         "glTF2/simple_skin/simple_skin.gltf": "2ccb43a4a0a8d2663088684b53e254358308f48e3f4bcafa999e5b5898e2e0fa",
         "glTF2/glTF-Sample-Models/AnimatedMorphCube-glTF/AnimatedMorphCube.gltf":
             "0b910ed4b52fd9fbb565911fc7f9f285edb0f30fa4913a93143466d439d1092e",
         "glTF2/glTF-Sample-Models/AnimatedMorphCube-glTF/AnimatedMorphCube.bin":
             "4aba93918adba56c1cc688a38c527bc647e26f2c386802e119b4d01b7250dd23"},
        ("usr/share/doc/assimp-testmodels/copyright", "COPYRIGHT-assimp-testmodels.txt",
         "adff002238273b4476b5450eb5e7173428232868584899cb49e76b10fd8facc3"),
        "20 MB",
        "BSD-3-clause (https://opensource.org/license/bsd-3-clause), as the package's copyright file "
        "(`COPYRIGHT-assimp-testmodels.txt`, `Files: *`, Copyright 2006-2022 ASSIMP Development Team) states",
        {"name": "assimp's test models (skinned and morph-animated), as Debian's package ships them",
         "url": "https://packages.debian.org/bookworm/assimp-testmodels",
         "homepage": "https://github.com/assimp/assimp",
         "license": "BSD-3-Clause",
         "attribution": "assimp's test models (test/models) by the ASSIMP Development Team, 2006-2022, BSD-3-clause, "
                        "as packaged by Debian (assimp-testmodels 5.2.5~ds0-1); simple_skin.gltf is the Khronos glTF "
                        "tutorial's skin example and AnimatedMorphCube is from Khronos' glTF-Sample-Models, both as "
                        "assimp ships them"}),
    "qt3d": Source(
        PinnedDeb("qt3d5-examples", "5.15.8+dfsg-2",
                  "ebc1e303e638e05d4b12b5b2f237fe7709d4a502c248fc6a6d3414a0fd820d84"),
        "usr/lib/x86_64-linux-gnu/qt5/examples/qt3d/exampleresources/assets/gltf/2.0/",
        {"RiggedFigure/RiggedFigure.gltf": "94c5bf2b57a2a4d70389e92c70cc7baa8e6f82800ccd15567ac3c4474459f4f2",
         "RiggedFigure/RiggedFigure0.bin": "a839067d7a905cbf432fa5a6c2bec2fe65b6c079a10a935d73ff7e053bd1dada"},
        ("usr/share/doc/qt3d5-examples/copyright", "COPYRIGHT-qt3d5-examples.txt",
         "10f7230fcc1f228c475453ed7ee21403f3b515f05ad05c4cdd61510061c4ccef"),
        "270 MB",
        "BSD-3-clause as the package's copyright file (`COPYRIGHT-qt3d5-examples.txt`, "
        "`Files: examples/qt3d/exampleresources/assets/gltf/*`) states; Khronos' glTF-Sample-Models lists "
        "RiggedFigure as CC-BY 4.0 (https://creativecommons.org/licenses/by/4.0/), (c) 2017 Cesium",
        {"name": "Khronos' glTF sample RiggedFigure, as Debian's package of Qt 3D's examples ships it",
         "url": "https://packages.debian.org/bookworm/qt3d5-examples",
         "homepage": "https://github.com/KhronosGroup/glTF-Sample-Models/tree/master/2.0/RiggedFigure",
         "license": "CC-BY-4.0 (Khronos' glTF-Sample-Models); BSD-3-Clause (Debian's copyright file)",
         "attribution": "RiggedFigure, (c) 2017 Cesium, CC-BY 4.0, from Khronos' glTF-Sample-Models, as Qt 3D's "
                        "examples ship it and Debian packages them (qt3d5-examples 5.15.8+dfsg-2, amd64)"}),
}
"""The packages taken from, by the folder each goes into below ``--out``."""


def present(source: Source, out: Path) -> bool:
    """Whether ``out`` already holds every file of ``source``, each with its pinned sha256, for its pinned package."""
    import json

    try:
        entry = json.loads((out / "entry.json").read_text(encoding="utf-8"))
        if entry.get("deb_sha256") != source.deb.sha256:
            return False
        wanted = {**source.files, source.copyright[1]: source.copyright[2]}
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


def extract(source: Source, deb: Path, out: Path) -> None:
    """``source``'s files and the copyright file from ``deb`` into ``out`` (each through a temporary
    name), then SOURCE.md and entry.json (last, through a temporary name)."""
    from simgen.assets.library import utc_now, write_json_atomic

    pkg = source.deb
    with data_tar(deb) as tar:
        bodies = {name: read_member(tar, source.models + name, digest) for name, digest in source.files.items()}
        bodies[source.copyright[1]] = read_member(tar, source.copyright[0], source.copyright[2])
    out.mkdir(parents=True, exist_ok=True)
    for name, body in bodies.items():
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        part.write_bytes(body)
        os.replace(part, target)
    (out / "SOURCE.md").write_text(
        f"# {source.entry['name']}\n\n"
        f"- Files: {', '.join(f'`{n}`' for n in source.files)}, from Debian's package `{pkg.package}` {pkg.version} "
        f"(sha256 `{pkg.sha256}`), their paths kept below its `/{source.models}`; fetched by "
        "`scripts/fetch_skinned.py` of simgen (`apt-get download`), which deleted the package. Each file's sha256: "
        "`entry.json`.\n"
        f"- Licence: {source.licence}.\n"
        f"- Attribution: {source.entry['attribution']}.\n", encoding="utf-8")
    files = {name: {"size": (out / name).stat().st_size, "sha256": sha256_of(out / name)}
             for name in sorted([*bodies, "SOURCE.md"])}
    write_json_atomic(out / "entry.json", {**source.entry, "package": pkg.package, "version": pkg.version,
                                           "distribution": "Debian bookworm (main)", "deb_sha256": pkg.sha256,
                                           "files": files, "fetched": utc_now()})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python scripts/fetch_skinned.py",
        description="Fetch skinned and morph-animated files no one here wrote from Debian's packages: "
                    + "; ".join(f"{name}: {s.deb.package} {s.deb.version} (about {s.size})"
                                for name, s in SOURCES.items())
                    + ". Each package is downloaded once with apt-get download, checked against a pinned sha256, "
                    "its few files kept (with entry.json and SOURCE.md: licence, attribution) in a folder of its own "
                    "below --out, and deleted. Does nothing for a folder that already holds them.",
        epilog="The tests (tests/test_environment_skinned.py) and CI (.ci/run) use the default --out.")
    ap.add_argument("--out", default=".models", metavar="DIR",
                    help="the folder below which each package's files go, in a folder named as the package's key "
                         "(created if new; default: .models)")
    ap.add_argument("--only", choices=sorted(SOURCES), action="append", metavar="NAME",
                    help=f"fetch only this one ({', '.join(SOURCES)}; may be repeated; default: all)")
    args = ap.parse_args(argv)
    root = Path(args.out).expanduser().absolute()
    failed = 0
    for name in args.only or list(SOURCES):
        source, out = SOURCES[name], root / name
        pkg = source.deb
        failed |= pkg.fetch(
            "fetch_skinned", out, lambda folder: present(source, folder),
            lambda deb, folder: extract(source, deb, folder),
            there=f"{out} holds {pkg.package} {pkg.version}'s files: nothing to do", size=source.size,
            done=f"{out}: {len(source.files)} files of {pkg.package} {pkg.version}; licence and attribution in "
                 f"{out / 'SOURCE.md'}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
