"""scene=bin_picking: objects dropped into a bin from a file settle inside it, a camera looks down
into it, and the labels are exact; and the tutorial that writes a short version of the recipe
(docs/tutorials/own-recipe.md) runs as written.

Every expectation about the bin comes from the numbers of scripts/make_bin.py, which wrote the
bundled file, not from simgen's reading of it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import tomllib
from pathlib import Path

import numpy as np
import pytest
import trimesh

from conftest import SIMGEN, simgen_cli
from docblocks import ROOT, blocks_of
from groundtruth import intersect, pixel_centre_rays
from simgen import SimgenError

_spec = importlib.util.spec_from_file_location("make_bin", ROOT / "scripts" / "make_bin.py")
MAKE_BIN = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(MAKE_BIN)

INSIDE_LO = np.array([-MAKE_BIN.INNER[0] / 2, -MAKE_BIN.INNER[1] / 2, MAKE_BIN.WALL])
INSIDE_HI = np.array([MAKE_BIN.INNER[0] / 2, MAKE_BIN.INNER[1] / 2, MAKE_BIN.WALL + MAKE_BIN.DEPTH])
"""The bin's inside (world, metres) as scripts/make_bin.py built it."""
MARGIN = 1e-3
"""m a resting object may reach past the inside's faces (Bullet's margins are 0.2 mm)."""
TILT = 15.0
"""scene.camera_tilt's upper end in the run below (its default)."""


def boxes() -> dict[str, trimesh.Trimesh]:
    out = {}
    for name, (lo, hi, _) in MAKE_BIN.PARTS.items():
        b = trimesh.creation.box(extents=np.subtract(hi, lo))
        b.apply_translation(np.add(lo, hi) / 2)
        out[name] = b
    return out


def posed(root: Path, o: dict) -> trimesh.Trimesh:
    m = trimesh.load(root / o["mesh"], force="mesh").copy()
    m.apply_transform(np.array(o["mesh_to_world"]))
    return m


def world_meshes(root: Path, meta: dict) -> list[tuple[int, trimesh.Trimesh]]:
    """The frame's objects (their models, posed) and the file's boxes (as make_bin.py wrote them)."""
    parts = boxes()
    return [(o["instance_id"], parts[o["name"][4:]] if o["name"].startswith("env_") else posed(root, o))
            for o in meta["objects"]]


def raycast(root: Path, meta: dict) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """The instance id hit first through every pixel centre, from the meta's K and pose; and each
    id's ray parameter (depth along the unit-z ray, inf where missed) at every pixel."""
    H, W = meta["height"], meta["width"]
    origin, dirs, _ = pixel_centre_rays(np.array(meta["K"]), np.array(meta["world_to_camera"]), W, H)
    depth, ids, hits = np.full(H * W, np.inf), np.zeros(H * W, np.int64), {}
    for iid, mesh in world_meshes(root, meta):
        hits[iid], _ = intersect(origin, dirs, mesh.triangles)
        closer = hits[iid] < depth
        depth[closer], ids[closer] = hits[iid][closer], iid
    return ids.reshape(H, W), {iid: t.reshape(H, W) for iid, t in hits.items()}


def assert_inside_the_bin(root: Path, meta: dict) -> int:
    """Every object of the frame rests inside the bin (not fallen); how many there are."""
    settle = meta["params"]["placement"]["settle"]
    assert settle["at_rest"] and not settle.get("fallen"), settle
    placed = [o for o in meta["objects"] if not o["name"].startswith("env_") and "joints" not in o]  # no robot
    for o in placed:
        v = posed(root, o).vertices
        lo, hi = v.min(axis=0), v.max(axis=0)
        assert np.all(lo[:2] >= INSIDE_LO[:2] - MARGIN) and np.all(hi[:2] <= INSIDE_HI[:2] + MARGIN), \
            f"{o['name']} is out of the bin: x {lo[0]:.4f}..{hi[0]:.4f}, y {lo[1]:.4f}..{hi[1]:.4f}"
        assert v[:, 2].min() >= INSIDE_LO[2] - MARGIN, f"{o['name']} enters the bin's floor ({v[:, 2].min():.4f})"
    return len(placed)


# ------------------------------------------------------------------ fast: the config

def test_a_bad_bin_picking_config_is_one_line(tmp_path):
    from simgen.cli.study import check_dataset

    with pytest.raises(SimgenError, match=r"^scene.file=/nowhere/cell.glb: no such file$"):
        check_dataset(["scene=bin_picking", "scene.file=/nowhere/cell.glb", f"output.dir={tmp_path}"])
    with pytest.raises(SimgenError, match=r"scene.camera_tilt"):
        check_dataset(["scene=bin_picking", "scene.camera_tilt=[0,90]", f"output.dir={tmp_path}"])
    with pytest.raises(SimgenError, match=r"^scene.bin=\[\]: name the bin's parts"):
        check_dataset(["scene=bin_picking", "scene.bin=[]", f"output.dir={tmp_path}"])
    s = check_dataset(["scene=bin_picking", f"output.dir={tmp_path}"])
    assert s.scene.bin == ["bin*"] and s.scene.physics.max_seconds > 0  # the shared settle settings
    with pytest.raises(SimgenError, match=r"^scene.robot=/nowhere/arm.urdf: give a URDF or MJCF file that exists"):
        check_dataset(["scene=bin_picking", "scene.robot=/nowhere/arm.urdf", f"output.dir={tmp_path}"])
    with pytest.raises(SimgenError, match=r"^scene.robot_at=\[0.4, 0.0\]: give x, y, z"):
        check_dataset(["scene=bin_picking", "scene.robot=bundled", "scene.robot_at=[0.4,0.0]", f"output.dir={tmp_path}"])


def test_a_robot_labelled_as_a_category_is_one_coco_object(tmp_path):
    """scene.robot_category names a catalog category: the robot is one annotated object (its links
    one instance); a category the catalog lacks is one line."""
    from fake_renderer import FakeRenderer
    from conftest import set_settings, tiny_settings
    from simgen.cli.study import check_dataset
    from simgen.pipeline import run

    (tmp_path / "catalog.yaml").write_text(f"categories: [box, robot]\nassets:\n  - mesh: "
                                           f"{ROOT / 'assets' / 'meshes' / 'box' / 'cube.obj'}\n    category: box\n")
    s = check_dataset(["scene=bin_picking", "scene.robot=bundled", "scene.robot_category=robot", "frames=2",
                       f"objects.catalog={tmp_path / 'catalog.yaml'}", "objects.count=[1,1]", "render.width=32",
                       "render.height=24", f"output.dir={tmp_path / 'out'}"])
    run(s, make_renderer=FakeRenderer)
    coco = json.loads((tmp_path / "out" / "coco.json").read_text())
    robot = {c["name"]: c["id"] for c in coco["categories"]}["robot"]
    seen = 0
    for index in range(2):
        meta = json.loads((tmp_path / "out" / "meta" / f"{index:06d}.json").read_text())
        (arm,) = [o for o in meta["objects"] if "parts" in o]
        assert arm["category_id"] == robot and arm["category"] == "robot"
        annotated = [a for a in coco["annotations"] if a["image_id"] == index + 1 and a["category_id"] == robot]
        assert [a["simgen"]["instance_id"] for a in annotated] in ([], [arm["instance_id"]])  # in view or not
        seen += len(annotated)
    assert seen, "the robot in view of no frame: nothing to test"
    s = check_dataset(["scene=bin_picking", "scene.robot=bundled", "scene.robot_category=crane",
                       f"output.dir={tmp_path / 'out2'}"])
    with pytest.raises(SimgenError, match=r"scene.robot_category=crane: no such category in the catalog"):
        run(s, make_renderer=FakeRenderer)


# ------------------------------------------------------------------ frames (Blender)

@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> Path:
    """3 frames of the default bin picking scene, 96x72, 2 samples."""
    out = tmp_path_factory.mktemp("bin_picking") / "out"
    r = simgen_cli("scene=bin_picking", "frames=3", "seed=2", "render.width=96", "render.height=72",
                   "render.samples=2", "objects.count=[4,6]", f"output.dir={out}", cwd=out.parent)  # the served child
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.mark.render
def test_dropped_objects_settle_inside_the_bin(frames):
    for index in range(3):
        meta = json.loads((frames / "meta" / f"{index:06d}.json").read_text())
        assert meta["params"]["recipe"] == "bin_picking" and meta["params"]["bin"]["parts"] == ["bin_floor"]
        assert 4 <= assert_inside_the_bin(frames, meta) <= 6
        drops = meta["params"]["objects"]["objects"]
        assert all(d["drop_center"][2] - d["radius"] >= INSIDE_LO[2] + d["gap"] - 1e-9 for d in drops)


@pytest.mark.render
def test_bin_picking_instance_ids_are_a_ray_cast_of_the_bin_and_the_objects(frames):
    from simgen.io.dataset.layout import read_frame

    for index in range(3):
        f = read_frame(frames, index)
        meta = f["meta"]
        ids, hits = raycast(frames, meta)
        env = {o["instance_id"] for o in meta["objects"] if o["name"].startswith("env_")}
        assert set(np.unique(ids)) - env - {0}, "no object in view"
        rendered = f["instance"].astype(np.int64)
        nearest = np.min(list(hits.values()), axis=0)
        for y, x in zip(*np.nonzero(rendered != ids)):  # a tie: two surfaces in contact, within 0.1 mm there
            assert rendered[y, x] and hits[rendered[y, x]][y, x] - nearest[y, x] < 1e-4, (index, y, x)
        assert (rendered == ids).mean() > 0.999


@pytest.mark.render
def test_the_camera_looks_down_into_the_bin_within_its_tilt(frames):
    for index in range(3):
        meta = json.loads((frames / "meta" / f"{index:06d}.json").read_text())
        w2c = np.array(meta["world_to_camera"])
        axis, eye = w2c[2, :3], -w2c[:3, :3].T @ w2c[:3, 3]  # the optical axis (world) and the camera centre
        tilt = np.degrees(np.arccos(-axis[2]))
        assert tilt <= TILT + 1e-6 and tilt == pytest.approx(meta["params"]["camera"]["tilt_deg"], abs=1e-6)
        floor = eye + (INSIDE_LO[2] - eye[2]) / axis[2] * axis  # where the axis meets the bin's floor
        assert eye[2] > INSIDE_HI[2] and np.all(np.abs(floor[:2]) < INSIDE_HI[:2])


@pytest.mark.render
def test_a_bin_that_names_no_part_is_one_line(frames):
    from simgen.assets.environment import load_environment
    from simgen.recipes import bin_floor
    from simgen.scenes.bin_picking import BUNDLED_BIN

    with pytest.raises(SimgenError, match=r"scene.bin=\['crate\*'\] names no part of .*bin.glb \(its parts: table, bin_"):
        bin_floor(load_environment(BUNDLED_BIN), ["crate*"])
    with pytest.raises(SimgenError, match=r"scene.bin=\['table'\]: no level area of at least 9.0 m\^2 in those parts"):
        bin_floor(load_environment(BUNDLED_BIN), ["table"], min_area=9.0)


# ------------------------------------------------------------------ the tutorial

TUTORIAL = ROOT / "docs" / "tutorials" / "own-recipe.md"
TINY = ["render.width=64", "render.height=48", "render.samples=1", "frames=2"]


def install_like_pip(folder: Path, site: Path) -> None:
    """What ``pip install -e .`` of ``folder`` leaves for importlib.metadata: a dist-info with the
    entry points its pyproject.toml declares (the package itself is found on PYTHONPATH)."""
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    info = site / f"{project['name']}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items())
        for group, points in project["entry-points"].items()))


@pytest.mark.slow  # over 10 s on 2 cores
@pytest.mark.render
def test_the_own_recipe_tutorial_runs_as_written(tmp_path):
    """Each block of docs/tutorials/own-recipe.md in order, in a folder of its own: the pieces the
    page builds the recipe from (the file so far written after each) are the whole file it then
    shows, in order; that file written, its shell lines run (a render at 64x48, 1 sample, 2 frames; ``pip install -e .`` as the dist-info it
    leaves), the renamed recipe by its entry point."""
    site = tmp_path / "site"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{site}",
           "PATH": f"{Path(SIMGEN).parent}{os.pathsep}{os.environ['PATH']}"}  # simgen: the tests' environment's
    ran, pieces = [], []

    def code_lines(text: str) -> list[str]:
        return [ln for ln in text.splitlines() if ln.strip()]

    for b in blocks_of(TUTORIAL):
        if b.lang == "python" and b.verdict.kind == "text":  # a piece of the recipe, before the whole file
            pieces.append(b.text)
            (tmp_path / "myscenes" / "pick.py").write_text("\n\n".join(pieces))  # the file so far
        elif b.lang == "python" and "RECIPE = Recipe(" in b.text:
            assert len(pieces) >= 4 and code_lines("".join(pieces)) == code_lines(b.text)[:-1], \
                "the pieces of the recipe the page shows are not the whole file, in order"
            (tmp_path / "myscenes" / "pick.py").write_text(b.text)
        elif b.lang == "python":  # a line of the recipe changed
            name = b.text.split("=")[0]
            recipe = tmp_path / "myscenes" / "pick.py"
            lines = recipe.read_text().splitlines()
            changed = [b.text.strip() if ln.startswith(name) else ln for ln in lines]
            assert changed != lines, b.text
            recipe.write_text("\n".join(changed) + "\n")
        elif b.lang == "toml":
            (tmp_path / "pyproject.toml").write_text(b.text)
        elif b.is_shell:
            for c in (c for c in b.commands if c.verdict.kind == "by"):  # the others: tests/test_doc_blocks.py
                if c.text.startswith("pip install"):
                    install_like_pip(tmp_path, site)
                    continue
                line = c.text
                words = shlex.split(line, comments=True)
                if words[0] == "simgen" and words[1] != "inspect":
                    line = shlex.join(words + TINY)
                r = subprocess.run(["bash", "-ec", line], cwd=tmp_path, env=env, capture_output=True, text=True,
                                   timeout=600)
                assert r.returncode == 0, f"{c.text}\n{r.stderr[-3000:]}"
                ran.append(words[:2])
    assert ["simgen", "inspect"] in ran and len(ran) >= 5
    for name, recipe in (("my_picks", "myscenes.pick"), ("my_picks2", "pick")):  # by dotted path, then entry point
        root = tmp_path / name
        for index in range(2):
            meta = json.loads((root / "meta" / f"{index:06d}.json").read_text())
            assert assert_inside_the_bin(root, meta) >= 1
            assert [o["category_id"] for o in meta["objects"] if "parts" in o] == [0]  # the robot, drawn as its links
        assert json.loads((root / "dataset.json").read_text())["config"]["scene"]["recipe"] == recipe
    assert (tmp_path / "my_picks" / "inspect.html").is_file()


# ------------------------------------------------------------------ a robot in the cell


@pytest.fixture(scope="module")
def with_robot(tmp_path_factory) -> Path:
    """2 frames of the bin picking cell with the bundled arm beside the bin, its links as parts."""
    out = tmp_path_factory.mktemp("bin_robot") / "out"
    r = simgen_cli("scene=bin_picking", "scene.robot=bundled", "frames=2", "seed=4", "render.width=96",
                   "render.height=72", "render.samples=2", "objects.count=[2,3]", "scene.camera_distance=[1.6,1.8]",
                   "output.labels=[parts]", f"output.dir={out}", cwd=out.parent)  # the served child
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.mark.render
@pytest.mark.slow  # its own render: ~20 s on 2 cores
def test_a_robot_stands_beside_the_bin_each_link_a_part(with_robot):
    """The bundled arm at scene.robot_at, turned within scene.robot_yaw, its joints within their limits;
    its links' poses those of PyBullet's forward kinematics; every pixel's part id a ray cast of the
    dataset's models placed by those poses; background (category 0): no COCO annotation, one instance."""
    from simgen.io.dataset.layout import read_frame
    from test_articulated import bullet_link_poses

    urdf = ROOT / "assets" / "robots" / "arm.urdf"
    seen = 0
    for index in range(2):
        f = read_frame(with_robot, index)
        meta = f["meta"]
        (robot,) = [o for o in meta["objects"] if "joints" in o]
        drawn = meta["params"]["robot"]
        assert drawn["at"] == [0.42, 0.0, 0.0] and 150 <= drawn["yaw_deg"] <= 210 and drawn["joints"] == robot["joints"]
        assert robot["category_id"] == 0 and np.allclose(np.array(robot["mesh_to_world"])[:3, 3], [0.42, 0, 0])
        theirs = bullet_link_poses(urdf, robot["joints"])
        for p in robot["parts"]:
            expected = np.array(robot["mesh_to_world"]) @ theirs[p["link"]]
            assert np.allclose(p["mesh_to_world"], expected, atol=1e-6), p["link"]  # PyBullet: single precision
        H, W = meta["height"], meta["width"]
        origin, dirs, _ = pixel_centre_rays(np.array(meta["K"]), np.array(meta["world_to_camera"]), W, H)
        depth, ids = np.full(H * W, np.inf), np.zeros(H * W, np.int64)
        parts = {p["id"]: p for p in robot["parts"]}
        meshes = [(o["instance_id"], mesh) for o, (_, mesh) in zip(meta["objects"], world_meshes(with_robot, meta))
                  if "joints" not in o]
        meshes += [(pid, posed(with_robot, p)) for pid, p in parts.items()]
        for iid, mesh in meshes:
            t, _ = intersect(origin, dirs, mesh.triangles)
            closer = t < depth
            depth[closer], ids[closer] = t[closer], iid
        ids = ids.reshape(H, W)
        seen += int(np.isin(ids, list(parts)).sum())
        assert (f["parts"].astype(np.int64) == ids).mean() > 0.999
        assert np.array_equal(f["instance"][np.isin(ids, list(parts))], np.full(np.isin(ids, list(parts)).sum(),
                                                                                 robot["instance_id"]))
        coco_ids = [a["simgen"]["instance_id"] for a in meta["coco"]["annotations"]]
        assert robot["instance_id"] not in coco_ids
    assert seen > 50, "the robot barely in view: nothing to test"
