"""Skinned and morph-animated files no one here wrote (issue 76's proof): assimp's test models as
Debian's package assimp-testmodels ships them, and Khronos' RiggedFigure as Debian's qt3d5-examples
ships it (scripts/fetch_skinned.py into .models/assimp and .models/qt3d; .ci/run does it), each
played through 3 steps, every label of the part that bends checked against a second
path: the part at each step's frame as Blender's own importer reads the file and its own OBJ exporter
writes it (modifiers applied: the armature's skinning, the shape keys; groundtruth.exported_meshes),
ray cast through every pixel centre (tests/groundtruth.py). Its quads are split as the OBJ lists
their corners (trimesh's fan), the triangles of the file as saved.

- animation_with_skeleton.fbx: a 1058-vertex tube an armature bends (21 frames), through the file's
  own camera (a light too: it could not be read before, see _fbx_lights_readable);
- huesitos.fbx: a skinned cylinder whose quads fold (Blender flips a folded quad's split: rendered
  as quads they left the labels' triangles on 30 pixels), through its own camera; its material's
  alpha is 0 in the file (the cylinder renders invisible), so it takes simgen's (scene.restyle);
- AnimatedMorphCube.gltf (Khronos' sample): a cube whose morph targets (shape keys) play, through
  a camera drawn on the shell each step;
- RiggedFigure.gltf (Khronos' sample, CC-BY 4.0 Cesium): a human figure whose walk COLLADA2GLTF split
  into 19 animations, one per joint, played together (scene.animation_clip=all), through a camera
  drawn on the shell each step.

None has a level area to stand objects on: they are played with objects.count=[0,0]. The models
missing, these tests are skipped naming the command that fetches them; with CI=true they fail
(conftest.require). The fetch script itself is tested without the network at the end.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import trimesh

from conftest import blender_wrote, require, simgen_cli
from groundtruth import bending_flow_errors, exported_meshes, ridden_track, surface_hits
from simgen import SimgenError

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / ".models"
FETCH = ".venv/bin/python scripts/fetch_skinned.py"


@dataclass(frozen=True)
class Case:
    file: str
    """Below .models: the fetch script's folder, then the file's path below it."""
    part: str
    """The object that deforms."""
    args: tuple[str, ...]
    """What the file needs beside the common settings (seeds whose steps move the part in view)."""
    bends: float = 0.05
    """The least (m) some vertex of the part moves from the first step to the last (else nothing to test)."""


CASES = {
    "animation_with_skeleton": Case("assimp/FBX/animation_with_skeleton.fbx", "Cube",
                                    ("scene.cameras=[Camera]", "seed=5")),
    "huesitos": Case("assimp/FBX/huesitos.fbx", "Cylinder",
                     ("scene.cameras=[Camera]", "scene.restyle=[Cylinder]", "seed=5")),
    "morph_cube": Case("assimp/glTF2/glTF-Sample-Models/AnimatedMorphCube-glTF/AnimatedMorphCube.gltf",
                       "AnimatedMorphCube", ("scene.camera_distance=[5,6]", "seed=5")),
    "rigged_figure": Case("qt3d/RiggedFigure/RiggedFigure.gltf", "Proxy",
                          ("scene.animation_clip=all", "scene.camera_distance=[2,2.2]", "scene.camera_azimuth=[265,275]",
                           "scene.camera_elevation=[10,15]", "seed=5"), bends=0.02),
}


@dataclass
class Played:
    root: Path
    metas: list[dict]
    steps: list[int]
    exported: list[trimesh.Trimesh]
    """The part at each step's frame, world coordinates, by Blender's own exporter."""
    part_id: int


@pytest.fixture(scope="module", params=list(CASES))
def played(request, tmp_path_factory, environment_cache) -> Played:
    """The case's file played 3 steps at 96x72, 1 sample, the part labelled (scene.labels), tracks and
    amodal masks; and Blender's export of the part at each step's frame."""
    case = CASES[request.param]
    folder = MODELS / case.file.split("/")[0]
    require(f"the skinned test models ({folder.relative_to(ROOT)})", (folder / "entry.json").is_file(), FETCH)
    out = tmp_path_factory.mktemp(request.param) / "out"
    r = simgen_cli("scene=environment", f"scene.file={MODELS / case.file}", "scene.animation=play", "objects.count=[0,0]",
                   f"scene.labels={{bends:[{case.part}]}}", "sequence.length=3", "frames=3", "render.width=96",
                   "render.height=72", "render.samples=1", "output.labels=[tracks,amodal]", *case.args,
                   f"output.dir={out}", cwd=out.parent)
    assert r.returncode == 0, r.stderr[-3000:]
    metas = [json.loads((out / "meta" / f"{i:06d}.json").read_text()) for i in range(3)]
    steps = [m["params"]["animation"]["frame"] for m in metas]
    assert all(abs(a - b) == 1 for a, b in zip(steps, steps[1:])), steps
    exported = exported_meshes(MODELS / case.file, case.part, steps, out.parent / "exported",
                               every_clip="scene.animation_clip=all" in case.args)
    (part,) = [o for o in metas[0]["objects"] if o["name"] == f"env_{case.part}"]
    assert len(metas[0]["objects"]) == 1 and part["category_id"] > 0 and part.get("deforms")
    a, b = exported[steps[0]], exported[steps[-1]]
    assert np.abs(a.vertices - b.vertices).max() > case.bends, "the part hardly deforms: nothing to test"
    return Played(out, metas, steps, [exported[s] for s in steps], part["instance_id"])


@pytest.mark.render
@pytest.mark.slow  # a 3-step render and three exports by Blender per file: ~15 s each on 2 cores
def test_a_played_skinned_parts_ids_and_amodal_masks_are_where_blenders_export_has_it(played):
    """Ids: the part where a ray through the pixel centre meets Blender's export at the step's frame,
    background elsewhere (nothing else is in these scenes), on >= 0.99 of the pixels, and at most one
    pixel apart (none measured).
    Amodal: its mask the pixels whose ray meets the export beyond clip_start."""
    from simgen.io.dataset.layout import read_frame

    for k, (meta, mesh) in enumerate(zip(played.metas, played.exported)):
        t, tri, _ = surface_hits(meta, mesh)
        h, w = meta["height"], meta["width"]
        ids = np.where(tri >= 0, played.part_id, 0).reshape(h, w)
        assert (ids > 0).sum() > 300, "the part barely in view: nothing to test"
        instance = read_frame(played.root, k)["instance"].astype(np.int64)
        assert (instance == ids).mean() >= 0.99, (k, (instance == ids).mean())
        assert (instance != ids).sum() <= 1, "the part is not where Blender's export has it"  # 30 pixels: quads split anew
        amodal = np.load(played.root / "amodal" / f"{k:06d}.npz")
        assert list(amodal["instance_ids"]) == [played.part_id]
        truth = (np.isfinite(t) & (t >= meta["clip_start"])).reshape(h, w)
        assert (amodal["masks"][0] == truth).mean() >= 0.99, (k, (amodal["masks"][0] == truth).mean())


@pytest.mark.render
@pytest.mark.slow  # the played fixture's renders and exports
def test_a_played_skinned_parts_flow_follows_its_surface_points_as_blender_exports_them(played):
    """Forward and backward flow on the part: each pixel's hit on Blender's export at its step (its
    triangle, its barycentric coordinates) moved to that mix of the triangle's corners in the export at
    the other step, projected by that step's camera: EPE < 0.01 px on every valid pixel of the part."""
    from simgen.io.dataset.layout import read_frame

    metas, meshes, root = played.metas, played.exported, played.root
    errors = bending_flow_errors(root, metas, meshes, [read_frame(root, k)["instance"] for k in range(3)],
                                 played.part_id,
                                 ((0, 1, "forward"), (1, 2, "forward"), (1, 0, "backward"), (2, 1, "backward")))
    for e in errors:
        assert e["valid_share"] > 0.4  # the rest leaves the view or turns away (a shell camera moves)
        assert e["motion"] > 0.5, "the part barely moved in the image"
        assert e["epe"] < 0.01, e
    assert sum(e["valid"] for e in errors) > 1000


@pytest.mark.render
@pytest.mark.slow  # the played fixture's renders and exports
def test_tracks_on_a_played_skinned_part_ride_their_triangles_as_blender_exports_them(played):
    """Every track on the part: its query pixel's ray met on the export at the query step (triangle,
    barycentric coordinates), that mix of the triangle's corners in the export at each step, projected:
    its uv within 0.01 px. Its visibility against a ray cast through that point (the export the only
    surface): in the image, facing the camera on the side first seen, and the first surface the ray
    meets; on >= 0.99 of the points not seen at a grazing angle (there the frame's depth decides)."""
    metas, meshes = played.metas, played.exported
    tracks = np.load(played.root / "tracks" / "000000.npz")
    on = np.flatnonzero(tracks["instance_id"] == played.part_id)
    assert len(on) >= 100, "too few tracks on the part"
    assert (tracks["triangle"][on] >= 0).all()
    agree = total = 0
    for k in on:
        for step, (uv, seen) in enumerate(ridden_track(metas, meshes, int(tracks["query_step"][k]),
                                                       tracks["query_uv"][k])):
            assert np.abs(uv - tracks["uv"][k, step]).max() < 0.01, (k, step)
            if seen is not None:
                agree += seen == bool(tracks["visible"][k, step])
                total += 1
    assert total > 300 and agree / total >= 0.99, (agree, total)


# ------------------------------------------------------------------ an FBX with a light; a file without a level area

LIT_SCRIPT = """
import sys, bpy
from pathlib import Path
folder = Path(sys.argv[1])
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
me = bpy.data.meshes.new("slope")  # tilted 45 degrees: no level area
me.from_pydata([(-1, -1, 0), (1, -1, 0), (1, 1, 2), (-1, 1, 2)], [], [(0, 1, 2, 3)])
scene.collection.objects.link(bpy.data.objects.new("slope", me))
lamp = bpy.data.objects.new("Lamp", bpy.data.lights.new("Lamp", "POINT"))
lamp.location = (0.5, -2.0, 3.0)
scene.collection.objects.link(lamp)
cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
cam.location, cam.rotation_euler = (0.0, -5.0, 1.0), (1.5708, 0.0, 0.0)
scene.collection.objects.link(cam)
bpy.ops.export_scene.fbx(filepath=str(folder / "lit.fbx"))
"""


@pytest.fixture(scope="module")
def lit(tmp_path_factory, environment_cache) -> Path:
    return blender_wrote(LIT_SCRIPT, tmp_path_factory.mktemp("lit"), ("lit.fbx",)) / "lit.fbx"


def test_an_fbx_with_a_light_is_read_with_its_light(lit):
    """bpy 5.0.1's own FBX importer failed on every file with a light ('CyclesLightSettings' object has
    no attribute 'cast_shadow'): simgen gives Cycles' light settings that property back before it imports."""
    from simgen.assets.environment import load_environment

    env = load_environment(lit)
    assert [p.name for p in env.parts] == ["slope"]
    assert [(light["name"], light["kind"]) for light in env.lights] == [("Lamp", "point")]
    np.testing.assert_allclose(np.array(env.lights[0]["matrix"])[:3, 3], (0.5, -2.0, 3.0), atol=1e-5)


def test_a_file_without_a_level_area_plays_with_no_objects_and_is_refused_with_some(lit, tmp_path):
    """objects.count=[0,0] stands nothing on the file: no level area is needed (a character alone);
    asked to stand objects, the same file is refused in one line naming scene.supports."""
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.recipes import load_recipe

    def scenes(count: str):
        s = check_dataset(["scene=environment", f"scene.file={lit}", "scene.cameras=[Camera]", f"objects.count={count}",
                           "sequence.length=2", f"output.dir={tmp_path / 'out'}"])
        return make_sequence_scenes(load_recipe(s.scene.recipe), s, catalog_for(s), 0)

    played = scenes("[0,0]")
    assert [[o.name for o in sc.objects] for sc in played] == [["env_slope"]] * 2
    assert played[0].params["surfaces"] == []
    with pytest.raises(SimgenError) as e:
        scenes("[1,1]")
    assert "\n" not in str(e.value) and "no level, upward-facing area" in str(e.value) and "scene.supports" in str(e.value)


# ------------------------------------------------------------------ scripts/fetch_skinned.py, without the network


def _deb(members: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    """A .deb (an ar archive: debian-binary, control.tar.xz, data.tar.xz) whose data holds ``members``
    (paths below ./) and symbolic links named ``links``."""
    def tar(files: dict[str, bytes]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:xz") as t:
            for name, body in files.items():
                info = tarfile.TarInfo(f"./{name}")
                info.size = len(body)
                t.addfile(info, io.BytesIO(body))
            for name in links:
                info = tarfile.TarInfo(f"./{name}")
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                t.addfile(info)
        return buf.getvalue()

    out = b"!<arch>\n"
    for name, body in (("debian-binary", b"2.0\n"), ("control.tar.xz", tar({"control": b"Package: x\n"})),
                       ("data.tar.xz", tar(members))):
        out += f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(body):<10}`\n".encode() + body
        out += b"\n" if len(body) % 2 else b""
    return out


def _fetch_script(monkeypatch, deb: bytes | None, apt: bool = True):
    """scripts/fetch_skinned.py as a module, its apt-get replaced by one that "downloads" ``deb``
    (None: apt-get fails as with a version its lists lack; ``apt`` False: no apt-get on PATH); the
    apt-get calls made, and the folder each ran in."""
    import shutil

    spec = importlib.util.spec_from_file_location("fetch_skinned", ROOT / "scripts" / "fetch_skinned.py")
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "fetch_skinned", mod)  # its dataclasses look their module up there
    spec.loader.exec_module(mod)
    calls, folders = [], []

    def apt_get(cmd, cwd=None, **kw):
        calls.append(cmd)
        folders.append(Path(cwd))
        if deb is None:
            return subprocess.CompletedProcess(cmd, 100, "", "E: Version '5.2.5~ds0-1' for 'assimp-testmodels' was "
                                                             "not found\n")
        (Path(cwd) / "assimp-testmodels_5.2.5~ds0-1_all.deb").write_bytes(deb)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", apt_get)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}" if apt else None)
    return mod, calls, folders


def _pin(monkeypatch, mod, members: dict[str, bytes], deb: bytes) -> None:
    """The module's assimp source pinned to the fake package's: its sha256, the files below its
    models folder and the copyright file."""
    import dataclasses

    digest = lambda body: hashlib.sha256(body).hexdigest()  # noqa: E731
    source = mod.SOURCES["assimp"]
    monkeypatch.setitem(mod.SOURCES, "assimp", dataclasses.replace(
        source, deb=dataclasses.replace(source.deb, sha256=digest(deb)),
        files={n.removeprefix(source.models): digest(b) for n, b in members.items() if n.startswith(source.models)},
        copyright=(*source.copyright[:2], digest(members[source.copyright[0]]))))


MEMBERS = {"usr/share/assimp/models/FBX/rig.fbx": b"Kaydara FBX Binary",
           "usr/share/assimp/models/glTF2/cube/cube.gltf": b'{"asset": {"version": "2.0"}}',
           "usr/share/assimp/models/OBJ/box.obj": b"v 0 0 0",
           "usr/share/doc/assimp-testmodels/copyright": b"Files: *\nLicense: BSD-3-clause\n"}


def test_the_skinned_fetch_says_in_one_line_what_is_wrong(monkeypatch, tmp_path, capsys):
    out, args = tmp_path / "assimp", ["--out", str(tmp_path), "--only", "assimp"]
    mod, calls, _ = _fetch_script(monkeypatch, _deb(MEMBERS), apt=False)
    assert mod.main(args) == 1 and calls == [] and not out.exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fetch_skinned: apt-get is not on PATH: assimp-testmodels=5.2.5~ds0-1")
    assert mod.main(["--out", str(tmp_path)]) == 1  # every source by default, each failing in its own line
    assert [ln.split(": ")[2].split("=")[0] for ln in capsys.readouterr().err.splitlines()] == \
        ["assimp-testmodels", "qt3d5-examples"]
    mod, calls, _ = _fetch_script(monkeypatch, None)
    assert mod.main(args) == 1 and calls == [["apt-get", "download", "assimp-testmodels=5.2.5~ds0-1"]]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "failed (exit 100): E: Version '5.2.5~ds0-1'" in err and "run apt-get update" in err
    mod, _, _ = _fetch_script(monkeypatch, _deb(MEMBERS))  # not the pinned package
    assert mod.main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"not the pinned {mod.SOURCES['assimp'].deb.sha256}" in err and not out.exists()


def test_the_skinned_fetch_keeps_only_its_files_records_them_and_then_does_nothing(monkeypatch, tmp_path, capsys):
    out, args = tmp_path / "assimp", ["--out", str(tmp_path), "--only", "assimp"]
    deb = _deb(MEMBERS)
    mod, calls, folders = _fetch_script(monkeypatch, deb)
    _pin(monkeypatch, mod, {n: b for n, b in MEMBERS.items() if "OBJ" not in n}, deb)
    assert mod.main(args) == 0, capsys.readouterr().err
    kept = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert kept == ["COPYRIGHT-assimp-testmodels.txt", "FBX/rig.fbx", "SOURCE.md", "entry.json", "glTF2/cube/cube.gltf"]
    assert not folders[0].exists() and len(calls) == 1  # the package and its folder are deleted
    entry = json.loads((out / "entry.json").read_text())
    assert entry["deb_sha256"] == mod.SOURCES["assimp"].deb.sha256 and entry["license"] == "BSD-3-Clause"
    assert entry["package"] == "assimp-testmodels" and entry["version"] == "5.2.5~ds0-1"
    assert entry["files"]["FBX/rig.fbx"]["sha256"] == hashlib.sha256(b"Kaydara FBX Binary").hexdigest()
    assert "BSD-3-clause" in (out / "SOURCE.md").read_text()
    assert mod.main(args) == 0 and len(calls) == 1  # there already: nothing downloaded
    assert "nothing to do" in capsys.readouterr().out
    (out / "FBX" / "rig.fbx").write_bytes(b"changed")  # changed: fetched again
    assert mod.main(args) == 0 and len(calls) == 2
    assert (out / "FBX" / "rig.fbx").read_bytes() == b"Kaydara FBX Binary"


def test_the_skinned_fetch_refuses_a_file_that_differs_or_is_a_link(monkeypatch, tmp_path, capsys):
    out, args = tmp_path / "assimp", ["--out", str(tmp_path), "--only", "assimp"]
    deb = _deb(MEMBERS)
    mod, _, _ = _fetch_script(monkeypatch, deb)
    _pin(monkeypatch, mod, {**MEMBERS, "usr/share/assimp/models/FBX/rig.fbx": b"another rig"}, deb)
    assert mod.main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the package's usr/share/assimp/models/FBX/rig.fbx has sha256" in err
    assert not out.exists()
    deb = _deb({n: b for n, b in MEMBERS.items() if "rig" not in n}, links=("usr/share/assimp/models/FBX/rig.fbx",))
    mod, _, _ = _fetch_script(monkeypatch, deb)
    _pin(monkeypatch, mod, MEMBERS, deb)
    assert mod.main(args) == 1
    assert "FBX/rig.fbx is not a regular file (a link or a folder)" in capsys.readouterr().err and not out.exists()
