"""scene=environment: a user's world from a file, objects on its surfaces, exact labels in it.

The world here is an analytic room written by the tests themselves (boxes: a floor, a table top on
four legs, a wall) as OBJ, GLB and .blend; every expectation comes from those boxes, not from
simgen's reading of the files.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from conftest import simgen_cli
from groundtruth import incidence_cos, intersect, pixel_centre_rays, uniform_neighbourhood
from simgen import SimgenError
from simgen.assets.environment import Part, check_file, load_environment
from simgen.scene.meshes import EnvironmentMesh
from simgen.sampling.surfaces import NO_LIMIT, Obstacles, Surface, find_surfaces, place_on_surfaces, segment_hits, within

ROOM = {"floor": ((-2, -2, -0.05), (2, 2, 0)), "table_top": ((-0.5, -0.3, 0.72), (0.5, 0.3, 0.75)),
        **{f"leg{i}": ((x - 0.02, y - 0.02, 0), (x + 0.02, y + 0.02, 0.72))
           for i, (x, y) in enumerate([(-0.45, -0.25), (0.45, -0.25), (-0.45, 0.25), (0.45, 0.25)])},
        "wall": ((1.9, -2, 0), (2, 2, 2.5))}
"""The room's boxes (lo, hi corners), Blender's world: Z up, metres."""


def box(lo, hi) -> trimesh.Trimesh:
    b = trimesh.creation.box(extents=np.subtract(hi, lo))
    b.apply_translation(np.add(lo, hi) / 2)
    return b


def room() -> dict[str, trimesh.Trimesh]:
    return {name: box(*corners) for name, corners in ROOM.items()}


def y_up(v: np.ndarray) -> np.ndarray:
    """Blender's (x, y, z) as a Y-up file (OBJ, glTF) writes it: (x, z, -y)."""
    return np.stack([v[:, 0], v[:, 2], -v[:, 1]], axis=1)


def write_obj(path: Path) -> Path:
    lines, first = [], 1
    for name, m in room().items():
        lines.append(f"o {name}")
        lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in y_up(m.vertices)]
        lines += ["f " + " ".join(str(first + i) for i in f) for f in m.faces]
        first += len(m.vertices)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_glb(path: Path, open_below: tuple[str, ...] = ()) -> Path:
    """The room as a GLB; the boxes ``open_below`` names without their bottom faces (an open shell:
    no longer a closed box)."""
    scene = trimesh.Scene()
    for name, m in room().items():
        faces = m.faces[m.face_normals[:, 2] > -0.5] if name in open_below else m.faces
        scene.add_geometry(trimesh.Trimesh(y_up(m.vertices), faces, process=False), node_name=name, geom_name=name)
    path.write_bytes(scene.export(file_type="glb"))
    return path


def write_usda(path: Path) -> Path:
    """The room as USD text (Z up, metres: no conversion), one Mesh prim per box."""
    prims = []
    for name, m in room().items():
        points = ", ".join(f"({x:.6f}, {y:.6f}, {z:.6f})" for x, y, z in m.vertices)
        prims.append(f'    def Mesh "{name}"\n    {{\n        point3f[] points = [{points}]\n'
                     f'        int[] faceVertexCounts = [{", ".join(["3"] * len(m.faces))}]\n'
                     f'        int[] faceVertexIndices = [{", ".join(str(i) for i in m.faces.ravel())}]\n    }}')
    path.write_text('#usda 1.0\n(\n    defaultPrim = "room"\n    metersPerUnit = 1\n    upAxis = "Z"\n)\n\n'
                    'def Xform "room"\n{\n' + "\n".join(prims) + "\n}\n")
    return path


BLEND_SCRIPT = """
import sys, json, bpy
rooms, out, evil = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
camera = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
bpy.ops.wm.read_factory_settings(use_empty=True)
tables = bpy.data.collections.new("furniture")
bpy.context.scene.collection.children.link(tables)
for name, (verts, faces) in rooms.items():
    me = bpy.data.meshes.new(name)
    me.from_pydata(verts, [], faces)
    ob = bpy.data.objects.new(name, me)
    (tables if name.startswith(("table", "leg")) else bpy.context.scene.collection).objects.link(ob)
    if name == "table_top":
        ob["support"] = True
if evil:  # what a hostile file may carry: a text block registered to run, a scripted driver
    text = bpy.data.texts.new("evil.py")
    text.write(f"open({evil!r}, 'w').write('ran')\\n")
    text.use_module = True
    ob = bpy.data.objects["wall"]
    ob["x"] = 0.0
    d = ob.driver_add('["x"]').driver
    d.type = "SCRIPTED"
    d.expression = f"__import__('pathlib').Path({evil!r}).write_text('ran') or 0"
if out.endswith(".fbx"):  # the same room through Blender's FBX exporter (metres, Z up)
    bpy.ops.export_scene.fbx(filepath=out, use_selection=False, apply_unit_scale=True, axis_forward="-Y",
                             axis_up="Z", object_types={"MESH"})
    sys.exit(0)
if camera and "light" in camera:  # a spot lamp as an artist sets one up
    lamp = bpy.data.lights.new("lamp", type="SPOT")
    lamp.energy, lamp.color, lamp.shadow_soft_size, lamp.spot_size = 150.0, (1.0, 0.8, 0.6), 0.05, 0.9
    ob = bpy.data.objects.new("Spot", lamp)
    bpy.context.scene.collection.objects.link(ob)
    ob.location = (0.3, -0.4, 2.0)
if camera and "markers" in camera:  # places the artist marks with objects hidden from rendering
    zone = bpy.data.objects.new("camera_zone", None)  # an empty: its display cube, 0.2 m each way
    zone.empty_display_size, zone.location, zone.hide_render = 0.2, (1.2, -1.4, 1.5), True
    bpy.context.scene.collection.objects.link(zone)
    me = bpy.data.meshes.new("half")
    me.from_pydata([(x, y, z) for x in (-0.5, 0.0) for y in (-0.3, 0.3) for z in (0.7, 1.2)], [],
                   [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)])
    half = bpy.data.objects.new("left_half", me)  # a box over the table top's left half
    half.hide_render = True
    bpy.context.scene.collection.objects.link(half)
if camera and "world" in camera:  # a world shader of the artist's: a uniform colour
    world = bpy.data.worlds.new("sky")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (*camera["world"], 1.0)
    bpy.context.scene.world = world
if camera and "matrix" in camera:  # a camera as an artist sets one up: lens, sensor, shift, a pose
    data = bpy.data.cameras.new("lens")
    data.lens, data.sensor_width, data.sensor_height = camera["lens"], 36.0, 24.0
    data.shift_x, data.shift_y = camera["shift"]
    ob = bpy.data.objects.new("Camera.main", data)
    bpy.context.scene.collection.objects.link(ob)
    from mathutils import Matrix
    ob.matrix_world = Matrix(camera["matrix"])  # rows
bpy.ops.wm.save_as_mainfile(filepath=out)
"""


def write_blend(path: Path, evil: str = "", camera: dict | None = None) -> Path:
    data = {name: (m.vertices.tolist(), m.faces.tolist()) for name, m in room().items()}
    r = subprocess.run([sys.executable, "-c", BLEND_SCRIPT, json.dumps(data), str(path), evil,
                        *([json.dumps(camera)] if camera else [])],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and path.is_file(), r.stderr[-2000:]
    return path


def triangles_of(meshes: dict[str, trimesh.Trimesh]) -> np.ndarray:
    return np.concatenate([m.triangles for m in meshes.values()])


# ------------------------------------------------------------------ surfaces (pure)

def test_the_level_surfaces_of_a_room_are_its_floor_table_top_and_wall_top_with_the_headroom_over_them():
    t = triangles_of(room())
    found = {round(s.z, 3): s for s in find_surfaces(t, t, min_area=0.05)}
    assert sorted(found) == [0.0, 0.75, 2.5]
    cell = found[0.0].cell
    for z, area in ((0.0, 16.0), (0.75, 0.6), (2.5, 0.4)):
        assert found[z].area == pytest.approx(area, abs=4 * cell * 4.1)  # a cell's worth round the edge
    floor = found[0.0]

    def at(x, y):
        return floor.headroom[int(round((y - floor.origin[1]) / cell)), int(round((x - floor.origin[0]) / cell))]

    assert 0.71 <= at(0.0, 0.0) <= 0.72 + 1e-6  # under the table top (float32)
    assert at(1.0, 1.0) > 100 and at(1.95, 0.0) == 0 and at(-0.45, -0.25) == 0  # open floor, the wall, a leg
    assert find_surfaces(t, t, min_area=1.0)[0].z == 0.0 and len(find_surfaces(t, t, min_area=1.0)) == 1


def cylinders_meet(a, b) -> bool:
    (xa, za, ra, ha), (xb, zb, rb, hb) = a, b
    return np.linalg.norm(xa - xb) < ra + rb and za < zb + hb and zb < za + ha


def box_meets_cylinder(lo, hi, xy, z, r, h) -> bool:
    """Whether a box's interior meets an upright cylinder's."""
    nearest = np.clip(xy, lo[:2], hi[:2])
    return np.linalg.norm(nearest - xy) < r - 1e-9 and z < hi[2] - 1e-9 and lo[2] < z + h - 1e-9


def test_objects_placed_on_surfaces_rest_on_them_and_meet_neither_the_room_nor_each_other():
    t = triangles_of(room())
    surfaces = find_surfaces(t, t, min_area=0.05)
    rng = np.random.default_rng(0)
    placed_in_all = 0
    for _ in range(60):
        n = int(rng.integers(1, 12))
        radii, heights = rng.uniform(0.02, 0.3, n).tolist(), rng.uniform(0.02, 1.0, n).tolist()
        region = None if rng.random() < 0.5 else (np.array([*rng.uniform(-1, 1, 2), 0.0]), 0.6)
        spots = place_on_surfaces(surfaces, radii, heights, 0.005, 50, rng, region)
        cyl = []
        for (k_xy, r, h) in zip(spots, radii, heights):
            if k_xy is None:
                continue
            k, xy = k_xy
            z = surfaces[k].z
            cyl.append((xy, z, r, h))
            if region is not None:
                assert np.linalg.norm(xy - region[0][:2]) + r <= region[1] + 1e-9
            below = [name for name, (lo, hi) in ROOM.items() if abs(hi[2] - z) < 1e-9
                     and np.all(np.abs(np.clip(xy, lo[:2], hi[:2]) - xy) < 1e-12)]
            assert below, f"nothing under an object at {xy} on z={z}"  # it rests on a box's top
            lo, hi = ROOM[below[0]]
            assert np.all(xy - r >= np.array(lo[:2]) - 1e-9) and np.all(xy + r <= np.array(hi[:2]) + 1e-9)
            for name, (lo, hi) in ROOM.items():
                assert not box_meets_cylinder(np.array(lo), np.array(hi), xy, z, r, h), (name, xy, z, r, h)
        for i in range(len(cyl)):
            for j in range(i):
                assert not cylinders_meet(cyl[i], cyl[j])
        placed_in_all += len(cyl)
    assert placed_in_all > 150
    assert {round(s.z, 2) for s in surfaces} == {0.0, 0.75, 2.5}


def test_a_cell_stands_where_no_cell_within_reach_lacks_headroom_by_brute_force():
    """Surface.stands against its definition, cell by cell: the surface reaches ``reach`` around the
    cell (room), and every cell centre within ``reach`` has at least the headroom asked for."""
    rng = np.random.default_rng(4)
    support = np.ones((40, 50), bool)
    support[:, :3] = False
    levels = np.array([0.0, 0.05, 0.12, 0.3, NO_LIMIT], np.float32)
    headroom = rng.choice(levels, (40, 50), p=[0.002, 0.002, 0.003, 0.003, 0.99])
    s = Surface(z=0.0, origin=np.zeros(2), cell=0.01, support=support, headroom=headroom)
    rows, cols = np.indices(support.shape)
    for radius, height in [(0.03, 0.04), (0.05, 0.1), (0.02, 0.25), (0.06, 0.01), (0.04, 0.5)]:
        reach = radius + 0.005 + s.cell
        got = s.stands(radius, height, 0.005)
        want = np.zeros_like(got)
        for r, c in zip(*np.nonzero(s.room() >= reach)):
            near = np.hypot(rows - r, cols - c) * s.cell <= reach
            want[r, c] = headroom[near].min() >= height + 0.005
        assert np.array_equal(got, want), (radius, height)
        assert 0 < got.sum() < support.sum()


def test_surfaces_within_a_volume_keep_the_footprints_inside_it_and_leave_out_its_rim():
    t = triangles_of(room())
    surfaces = find_surfaces(t, t, min_area=0.05)
    under = np.array([[[-0.5, -0.3, 0.0], [0.5, 0.3, 0.75]]])  # the table's box: the floor under it, not its top
    inside = within(surfaces, under)
    assert [s.z for s in inside] == [0.0] and 0.58 < inside[0].area < 0.61  # 1 x 0.6 m on 5 mm cells
    rng = np.random.default_rng(2)
    spots = place_on_surfaces(inside, [0.05] * 8, [0.3] * 8, 0.005, 100, rng)
    assert sum(s is not None for s in spots) >= 4
    for k_xy in spots:
        if k_xy is not None:
            assert np.all(np.abs(k_xy[1]) + 0.05 <= [0.5 + 1e-9, 0.3 + 1e-9])
    assert [s.z for s in within(surfaces, np.array([[[-0.5, -0.3, 0.7], [0.5, 0.3, 1.0]]]))] == [0.75]
    assert within(surfaces, np.array([[[5.0, 5.0, 0.0], [6.0, 6.0, 1.0]]])) == []


def test_a_segment_crosses_the_room_where_a_ray_cast_says_it_does():
    t = triangles_of(room())
    mesh = trimesh.util.concatenate(list(room().values()))
    rng = np.random.default_rng(1)
    a, b = rng.uniform([-2, -2, -0.2], [2.2, 2, 2.8], (200, 3)), rng.uniform([-2, -2, -0.2], [2.2, 2, 2.8], (200, 3))
    hits = [segment_hits(t, p, q) for p, q in zip(a, b)]
    for p, q, hit in zip(a, b, hits):
        d = (q - p) / np.linalg.norm(q - p)
        t_hit, _ = intersect(p, d[None], mesh.triangles)
        assert hit == bool(t_hit[0] < np.linalg.norm(q - p)), (p, q)
    assert 20 < sum(hits) < 180
    indexed = Obstacles.of(t, leaf=2)  # small leaves: many boxes to pass by, and empty ones padding the tree
    assert [indexed.blocks(p, q) for p, q in zip(a, b)] == hits
    assert list(indexed.blocked(a[0], b)) == [segment_hits(t, a[0], q) for q in b]


def test_parts_are_chosen_by_name_collection_material_or_property():
    p = Part(name="shelf_2", mesh=EnvironmentMesh(Path("/x.blend"), "shelf"), matrix=np.eye(4),
             collections=("storage",), materials=("oak",), props={"support": True, "zero": 0})
    assert p.matches("shelf_*") and p.matches("shelf") and not p.matches("table*")
    assert p.matches("collection:stor*") and not p.matches("collection:floor")
    assert p.matches("material:oak") and not p.matches("material:steel")
    assert p.matches("property:support") and not p.matches("property:zero") and not p.matches("property:none")


def test_a_bad_environment_file_is_one_line(tmp_path):
    with pytest.raises(SimgenError, match=r"scene.file=.*nothing.blend: no such file"):
        check_file(tmp_path / "nothing.blend")
    (tmp_path / "room.stl2").write_text("x")
    with pytest.raises(SimgenError, match=r"a \.stl2 file is not a scene simgen reads; use one of \.blend"):
        check_file(tmp_path / "room.stl2")


# ------------------------------------------------------------------ files (Blender in a child process)

@pytest.fixture(scope="module")
def cache(environment_cache):
    return environment_cache


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("rooms")
    return {"obj": write_obj(d / "room.obj"), "glb": write_glb(d / "room.glb"), "blend": write_blend(d / "room.blend"),
            "usda": write_usda(d / "room.usda"), "fbx": write_blend(d / "room.fbx")}


def sorted_rows(v: np.ndarray) -> np.ndarray:
    v = np.round(v, 5) + 0.0
    return v[np.lexsort(v.T[::-1])]


@pytest.mark.render
@pytest.mark.parametrize("kind", ["obj", "glb", "blend", "usda", "fbx"])
def test_an_environment_file_reads_as_the_geometry_it_was_written_with(files, cache, kind):
    env = load_environment(files[kind])
    assert sorted(p.name for p in env.parts) == sorted(ROOM)
    for p in env.parts:
        got = env.triangles([p]).reshape(-1, 3)
        assert np.array_equal(np.unique(sorted_rows(got), axis=0), np.unique(sorted_rows(room()[p.name].vertices), axis=0))
        assert len(env.meshes[p.mesh.key].faces) == 12
    if kind == "blend":
        by = {p.name: p for p in env.parts}
        assert by["table_top"].collections == ("furniture",) and by["table_top"].props == {"support": True}
        assert [p.name for p in env.select(["property:support"])] == ["table_top"]
        assert sorted(p.name for p in env.select(["collection:furniture"])) == ["leg0", "leg1", "leg2", "leg3", "table_top"]
    assert list(cache.glob("environments/*/environment.json"))  # read once, kept


@pytest.mark.render
def test_a_scene_file_runs_no_code_when_read_or_rendered(tmp_path, cache):
    marker = tmp_path / "ran"
    evil = write_blend(tmp_path / "evil.blend", evil=str(marker))
    env = load_environment(evil)
    assert sorted(p.name for p in env.parts) == sorted(ROOM)
    r = simgen_cli("scene=environment", f"scene.file={evil}", "frames=1",
                   "render.width=32", "render.height=24", "render.samples=1", f"output.dir={tmp_path / 'out'}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert not marker.exists()


@pytest.mark.render
def test_bad_supports_labels_cameras_and_a_file_without_geometry_are_one_line(tmp_path, files, cache):
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import catalog_for
    from simgen.scenes.environment import file_views, part_categories, surfaces_of

    s = check_dataset(["scene=environment", f"scene.file={files['obj']}", "scene.supports=[shelf*]",
                       f"output.dir={tmp_path}"])
    with pytest.raises(SimgenError, match=r"scene.supports=\['shelf\*'\] names no part of .*room.obj \(its parts: "):
        surfaces_of(load_environment(files["obj"]), s.scene)
    s = check_dataset(["scene=environment", f"scene.file={files['obj']}", "scene.cameras=[nope]", f"output.dir={tmp_path}"])
    with pytest.raises(SimgenError, match=r"scene.cameras=\['nope'\] names no camera of .*room.obj \(its cameras: none\)"):
        file_views(s, load_environment(files["obj"]), np.random.default_rng(0), 1)
    with pytest.raises(SimgenError, match=r"scene.camera_jitter=\[0.1\]: give two standard deviations"):
        check_dataset(["scene=environment", "scene.camera_jitter=[0.1]", f"output.dir={tmp_path}"])
    s = check_dataset(["scene=environment", f"scene.file={files['obj']}", "scene.volumes=[bin*]", f"output.dir={tmp_path}"])
    with pytest.raises(SimgenError, match=r"scene.volumes=\['bin\*'\] names no part of .*room.obj"):
        surfaces_of(load_environment(files["obj"]), s.scene)
    s = check_dataset(["scene=environment", f"scene.file={files['obj']}", "scene.volumes=[table_top]", f"output.dir={tmp_path}"])
    with pytest.raises(SimgenError, match=r"scene.volumes=\['table_top'\]: no surface of .*room.obj lies inside"):
        surfaces_of(load_environment(files["obj"]), s.scene)  # the table top's own box: its top is its rim
    s = check_dataset(["scene=environment", f"scene.file={files['obj']}", "scene.labels={shelf: [shelf*]}",
                       f"output.dir={tmp_path}"])
    with pytest.raises(SimgenError, match=r"scene.labels.shelf=\['shelf\*'\] names no part of .*room.obj \(its parts: "):
        part_categories(load_environment(files["obj"]), s.scene, catalog_for(s))
    with pytest.raises(SimgenError, match=r"scene.labels.shelf=\[\]: name the parts of that category"):
        check_dataset(["scene=environment", "scene.labels={shelf: []}", f"output.dir={tmp_path}"])
    with pytest.raises(SimgenError, match=r"bad category name 'a/b' \(scene.labels.a/b\)"):
        check_dataset(["scene=environment", "scene.labels={a/b: [x]}", f"output.dir={tmp_path}"])
    empty = tmp_path / "empty.obj"
    empty.write_text("# nothing\nv 0 0 0\n")
    with pytest.raises(SimgenError, match=r"scene.file=.*empty.obj: no geometry to render in it"):
        load_environment(empty)


@pytest.mark.render
def test_the_files_lights_are_read_and_switched_off_scaled_and_coloured_per_frame(tmp_path, cache):
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import make_frame_scene
    from simgen.recipes import load_recipe

    blend = write_blend(tmp_path / "lit.blend", camera={"light": True})
    (lamp,) = load_environment(blend).lights
    assert lamp["kind"] == "spot" and lamp["power"] == pytest.approx(150.0) and lamp["size"] == pytest.approx(0.05)
    assert lamp["spot_angle"] == pytest.approx(0.9) and np.allclose(lamp["color"], (1.0, 0.8, 0.6))
    assert np.allclose(np.array(lamp["matrix"])[:3, 3], (0.3, -0.4, 2.0))
    s = check_dataset(["scene=environment", f"scene.file={blend}", "lighting.count=[0,0]", "scene.file_light_off=0.5",
                       "scene.file_light_power=[0.5,2]", f"output.dir={tmp_path / 'out'}"])
    recipe, catalog = load_recipe("environment"), catalog_for(s)
    powers, colors = [], []
    for i in range(24):
        scene = make_frame_scene(recipe, s, catalog, i)
        (drawn,) = scene.params["file_lights"]
        assert [li.power for li in scene.lights] == ([drawn["power"]] if drawn["on"] else [])
        powers += [li.power for li in scene.lights]
        colors += [li.color for li in scene.lights]
    assert 4 < len(powers) < 20 and all(75.0 <= p <= 300.0 for p in powers) and max(powers) - min(powers) > 30
    assert all(np.allclose(c, (1.0, 0.8, 0.6)) for c in colors)  # the file's own colour unless asked
    s = check_dataset(["scene=environment", f"scene.file={blend}", "lighting.count=[0,0]",
                       "scene.file_light_temperature=[2000.0,12000.0]", f"output.dir={tmp_path / 'out'}"])
    kelvins = []
    for i in range(12):
        scene = make_frame_scene(recipe, s, catalog, i)
        (light,), (drawn,) = scene.lights, scene.params["file_lights"]
        r, _, b = light.color
        assert 2000.0 <= drawn["kelvin"] <= 12000.0 and list(light.color) == drawn["color"]
        if abs(drawn["kelvin"] - 6500.0) > 500.0:  # warmer than daylight is redder, colder bluer
            assert (r > b) == (drawn["kelvin"] < 6500.0)
        kelvins.append(drawn["kelvin"])
    assert max(kelvins) - min(kelvins) > 3000
    with pytest.raises(SimgenError, match=r"scene.file_light_temperature=\[6000.0, 3000.0\]: give a range"):
        check_dataset(["scene=environment", "scene.file_light_temperature=[6000.0,3000.0]", f"output.dir={tmp_path}"])


# ------------------------------------------------------------------ frames in it

@pytest.fixture(scope="module", params=["glb", pytest.param("blend", marks=pytest.mark.slow),
                                        pytest.param("usda", marks=pytest.mark.slow)])
def frames(request, tmp_path_factory, files, cache) -> Path:
    """3 frames in the room as each kind of file holds it (the .blend and USD ones in the slow tier)."""
    out = tmp_path_factory.mktemp(f"envframes-{request.param}") / "out"
    r = simgen_cli("scene=environment", f"scene.file={files[request.param]}",
                   "frames=3", "seed=3", "render.width=96", "render.height=72", "render.samples=2",
                   "objects.count=[4,6]", "scene.camera_distance=[0.9,1.4]", f"output.dir={out}",
                   "scene.labels={furniture: [table_top, 'leg*'], ground: [floor]}", cwd=out.parent)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


LABELLED = {**{name: "furniture" for name in ("table_top", "leg0", "leg1", "leg2", "leg3")}, "floor": "ground"}
"""The categories the frames give the room's boxes (scene.labels); the wall stays background."""


def world_meshes(root: Path, meta: dict) -> list[tuple[int, trimesh.Trimesh]]:
    """The frame's objects (their models, posed) and the room's boxes (as the test wrote them)."""
    out = []
    boxes = room()
    for o in meta["objects"]:
        if o["name"].startswith("env_"):
            out.append((o["instance_id"], boxes[o["name"][4:]]))
        else:
            m = trimesh.load(root / o["mesh"], force="mesh").copy()
            m.apply_transform(np.array(o["mesh_to_world"]))
            out.append((o["instance_id"], m))
    return out


def raycast(root: Path, meta: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Instance ids, planar depth and camera-frame normals at every pixel centre of a frame, from
    its meta's K and pose, the room's boxes and the posed models."""
    K, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
    H, W = meta["height"], meta["width"]
    origin, dirs, _ = pixel_centre_rays(K, w2c, W, H)
    R, n = w2c[:3, :3], H * W
    depth, ids, normal = np.full(n, np.inf), np.zeros(n, np.int64), np.zeros((n, 3))
    for iid, mesh in world_meshes(root, meta):
        hit_t, tri = intersect(origin, dirs, mesh.triangles)
        closer = hit_t < depth
        depth[closer], ids[closer] = hit_t[closer], iid
        normal[closer] = mesh.face_normals[tri[closer]] @ R.T
    return ids.reshape(H, W), depth.reshape(H, W), normal.reshape(H, W, 3)


@pytest.mark.render
@pytest.mark.parametrize("index", range(3))
def test_labels_in_an_environment_match_a_ray_cast_of_the_room_and_the_objects(frames, index):
    from simgen.io.dataset.layout import read_frame

    f = read_frame(frames, index)
    meta = f["meta"]
    ids, depth, normal = raycast(frames, meta)
    objects = {o["instance_id"] for o in meta["objects"] if not o["name"].startswith("env_")}
    assert len(set(np.unique(ids)) & objects) >= 1 and (ids > max(objects)).mean() > 0.3  # objects and the room in view
    assert np.array_equal(f["instance"].astype(np.int64), ids), f"{(f['instance'] != ids).sum()} pixels disagree"
    facing = incidence_cos(np.array(meta["K"]), normal) > 0.1
    assert np.allclose(f["depth"][facing], depth[facing], rtol=1e-4)
    coco = json.loads((frames / "coco.json").read_text())
    ids_of = {c["name"]: c["id"] for c in coco["categories"]}
    assert list(ids_of)[-2:] == ["furniture", "ground"] and ids_of["ground"] == len(ids_of)  # after the catalog's
    cats = {0: 0, **{o["instance_id"]: ids_of.get(LABELLED.get(o["name"][4:])) or 0 if o["name"].startswith("env_")
                     else o["category_id"] for o in meta["objects"]}}
    assert np.array_equal(f["semantic"], np.vectorize(cats.get)(ids))  # the wall is background (0)
    assert (f["semantic"] == ids_of["ground"]).mean() > 0.1
    image = next(im["id"] for im in coco["images"] if im["file_name"].endswith(f"{index:06d}.png"))
    labelled = {a["category_id"] for a in coco["annotations"] if a["image_id"] == image}
    assert labelled == set(np.unique(f["semantic"])) - {0}  # a COCO annotation for the labelled parts too
    # normals (the file's materials write the geometric normal too): exact inside the room's faces
    K = np.array(meta["K"])
    u, v = np.meshgrid(np.arange(meta["width"], dtype=float), np.arange(meta["height"], dtype=float))
    rays = np.dstack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)])
    normal[np.einsum("hwc,hwc->hw", normal, rays) > 0] *= -1  # facing the camera
    key = np.round(normal * 1e5).astype(np.int64) @ np.array([1, 10**6, 10**12])
    room = ids > max(objects)
    flat = uniform_neighbourhood(np.where(room, key, 0), radius=2) & uniform_neighbourhood(ids, radius=2) & room
    angle = np.degrees(np.arccos(np.clip(np.einsum("ij,ij->i", f["normal"][flat], normal[flat]), -1, 1)))
    assert flat.sum() > 100 and angle.max() < 0.1, f"max angle {angle.max():.3f} deg"


@pytest.mark.render
def test_a_frame_through_the_files_camera_has_its_lens_and_pose(tmp_path):
    """A .blend camera (35 mm on a 36 x 24 mm sensor, shifted, posed by the test): the frame's K and
    pose are the ones Blender's projection gives at the render's size, and the rendered labels
    agree with a ray cast through them."""
    from simgen.io.dataset.layout import read_frame

    eye, target = np.array([1.6, -1.5, 1.3]), np.array([0.0, 0.0, 0.5])
    forward = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(forward, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(x, forward)
    blender = np.eye(4)
    blender[:3, :3] = np.column_stack([x, y, -forward])  # a Blender camera looks down -Z, +Y up
    blender[:3, 3] = eye
    blend = write_blend(tmp_path / "cam.blend", camera={"lens": 35.0, "shift": [0.05, -0.03],
                                                          "matrix": blender.tolist()})
    out = tmp_path / "out"
    r = simgen_cli("scene=environment", f"scene.file={blend}",
                   "scene.cameras=[Camera*]", "frames=1", "render.width=96", "render.height=72",
                   "render.samples=1", "objects.count=[2,3]", f"output.dir={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    f = read_frame(out, 0)
    meta = f["meta"]
    W, H = 96, 72
    f_px = 35.0 / 36.0 * W  # AUTO sensor fit: the sensor width along the longer side; shift in its units
    assert np.allclose(meta["K"], [[f_px, 0, W / 2 - 0.5 - 0.05 * W], [0, f_px, H / 2 - 0.5 - 0.03 * W], [0, 0, 1]],
                       atol=1e-9)
    w2c = np.eye(4)
    w2c[:3, :3] = np.stack([x, -y, forward])  # OpenCV: x right, y down, z forward
    w2c[:3, 3] = -w2c[:3, :3] @ eye
    assert np.allclose(meta["world_to_camera"], w2c, atol=1e-6)
    assert meta["params"]["camera"]["file_camera"] == "Camera.main"
    ids, _, _ = raycast(out, meta)
    assert np.array_equal(f["instance"].astype(np.int64), ids)
    placed = {o["instance_id"] for o in meta["objects"] if not o["name"].startswith("env_")}
    assert set(np.unique(ids)) & placed  # the objects stand where the file's camera sees them


@pytest.mark.render
def test_cycles_prepares_the_rooms_meshes_for_ray_tracing_with_the_first_frame_only(files, cache):
    """Frames whose objects all differ rebuild the ray-tracing hierarchy of none of the room's meshes
    (Cycles names each one it builds in its progress messages): a file's million triangles are
    prepared once per process, not once per frame."""
    import bpy
    from simgen.blender.backend import BlenderBackend
    from simgen.compose.settings import catalog_for, to_settings
    from simgen.compose.store import compose
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.recipes import load_recipe

    settings = to_settings(compose(["scene=environment", f"scene.file={files['glb']}", "render.width=48",
                                    "render.height=36", "render.samples=1", "render.denoise=false",
                                    "objects.count=[2,6]", "output.dir=unused"]))  # persistent data: the default
    recipe = load_recipe("environment")
    catalog = catalog_for(settings, recipe)
    built: list[list[str]] = []

    def progress(stats: str) -> None:  # "... | Updating Geometry BVH NAME 3/9 | Building BVH"
        for part in str(stats).split("|"):
            if part.strip().startswith("Updating Geometry BVH "):
                built[-1].append(part.split("Updating Geometry BVH ")[1].strip().rsplit(" ", 1)[0])

    backend = BlenderBackend(settings.render)
    bpy.app.handlers.render_stats.append(progress)
    try:
        counts = []
        for i in range(4):
            scene = make_sequence_scenes(recipe, settings, catalog, i)[0]
            counts.append(len(scene.objects))
            built.append([])
            backend.build(scene)
            backend.render_passes(seed=i)
    finally:
        bpy.app.handlers.render_stats.remove(progress)
        backend.close()
    room = {name for name in built[0] if name.split(":")[-1] in ROOM}
    # the first frame builds the room's meshes, each on its own (a progress message may pass unreported)
    assert len(room) >= 3, built[0]
    assert len(set(counts)) > 1  # the frames' objects differ, in number too
    assert [sorted(set(b) & room) for b in built[1:]] == [[], [], []]


@pytest.mark.render
def test_with_persistent_data_a_frames_image_does_not_depend_on_the_frames_rendered_before(cache):
    """Cycles, when it keeps its scene between frames, orders its lights as they came into it and
    fills a removed object's place with its last one: lamps made anew each frame (frames 0-5 draw
    2, 1, 3, 3, 1 and 3 of them, of changing kinds) gave frames 2-5 another image after frames 0-1
    than rendered first (or without persistent data) in three runs out of three. Now all three
    are the same to the bit."""
    from simgen.blender.backend import BlenderBackend
    from simgen.compose.settings import catalog_for, to_settings
    from simgen.compose.store import compose
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.recipes import load_recipe

    def images(indices: list[int], persistent: bool) -> tuple[dict[int, np.ndarray], list[list[str]]]:
        settings = to_settings(compose(["scene=environment", "render.width=64", "render.height=48", "render.samples=8",
                                        "render.denoise=false", f"render.persistent_data={persistent}",
                                        "output.dir=unused"]))
        recipe = load_recipe("environment")
        catalog = catalog_for(settings, recipe)
        backend = BlenderBackend(settings.render)
        backend.keep_linear = True
        out, lamps = {}, []
        try:
            for i in indices:
                scene = make_sequence_scenes(recipe, settings, catalog, i)[0]
                lamps.append([light.kind for light in scene.lights])
                backend.build(scene)
                out[i] = backend.render_passes(seed=i)["linear"]
        finally:
            backend.close()
        return out, lamps

    after, lamps = images(list(range(6)), True)
    assert len({len(k) for k in lamps}) > 1 and lamps[2][0] != lamps[1][0]  # the lamps change in number and kind
    first, _ = images([2, 3, 4, 5], True)
    anew, _ = images([2, 3, 4, 5], False)
    for i in (2, 3, 4, 5):
        assert np.array_equal(after[i], first[i]) and np.array_equal(after[i], anew[i]), i


@pytest.mark.render
def test_objects_in_an_environment_rest_on_its_surfaces_and_penetrate_nothing(frames):
    for index in range(3):
        meta = json.loads((frames / "meta" / f"{index:06d}.json").read_text())
        placed = [o for o in meta["objects"] if not o["name"].startswith("env_")]
        assert len(placed) >= 4
        hulls = []
        for o in placed:
            m = trimesh.load(frames / o["mesh"], force="mesh")
            v = m.vertices @ np.array(o["mesh_to_world"])[:3, :3].T + np.array(o["mesh_to_world"])[:3, 3]
            bottom = v[:, 2].min()
            assert min(abs(bottom - z) for z in (0.0, 0.75)) < 1e-3  # contact within 1 mm
            for name, (lo, hi) in ROOM.items():
                inside = np.all((v > np.array(lo) + 1e-6) & (v < np.array(hi) - 1e-6), axis=1)
                assert not inside.any(), f"{o['name']} enters {name}"
                corners = trimesh.bounds.corners(np.array([lo, hi]))
                assert not trimesh.convex.convex_hull(v).contains(corners).any(), f"{name} enters {o['name']}"
            hulls.append(trimesh.convex.convex_hull(v))
        for i in range(len(hulls)):
            for j in range(i):
                assert not hulls[i].contains(hulls[j].vertices).any()


@pytest.mark.render
def test_objects_dropped_with_physics_settle_on_the_room_and_penetrate_nothing(tmp_path, files, cache):
    """scene.placement=physics: the objects fall onto the file's geometry (its closed boxes solid, the
    table top, open below, a static mesh) and come to rest on it, entering neither a box of the room
    nor each other; the labels of the settled frame agree with a ray cast."""
    from simgen.io.dataset.layout import read_frame

    out = tmp_path / "out"
    shell = write_glb(tmp_path / "open.glb", open_below=("table_top",))  # the top collides as triangles, the rest as boxes
    r = simgen_cli("scene=environment", f"scene.file={shell}",
                   "scene.placement=physics", "frames=3", "seed=5", "render.width=96", "render.height=72",
                   "render.samples=1", "objects.count=[3,4]", "scene.camera_distance=[0.9,1.4]",
                   "scene.supports=[table_top]", "objects.weights={ball: 0}",
                   f"output.dir={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    on_table = 0
    for index in range(3):
        f = read_frame(out, index)
        meta = f["meta"]
        settle = meta["params"]["placement"]["settle"]
        assert meta["params"]["placement"]["mode"] == "physics" and settle["at_rest"]
        drops = meta["params"]["objects"]["objects"]
        # an object that tumbles off the floor's open edge falls off the world: recorded, far below it
        fallen = set(settle.get("fallen", []))
        placed = [o for o in meta["objects"] if not o["name"].startswith("env_")]
        assert all(np.array(o["mesh_to_world"])[2, 3] < -0.5 for o in placed if o["instance_id"] in fallen)
        placed = [o for o in placed if o["instance_id"] not in fallen]
        assert len(placed) >= 2
        hulls, bottoms = [], []
        for o in placed:
            m = trimesh.load(out / o["mesh"], force="mesh")
            v = m.vertices @ np.array(o["mesh_to_world"])[:3, :3].T + np.array(o["mesh_to_world"])[:3, 3]
            for name, (lo, hi) in ROOM.items():  # no vertex more than 1 mm inside a box of the room
                inside = np.all((v > np.array(lo) + 1e-3) & (v < np.array(hi) - 1e-3), axis=1)
                assert not inside.any(), f"{o['name']} enters {name} by more than 1 mm"
            hulls.append(trimesh.convex.convex_hull(v))
            bottoms.append(v[:, 2].min())
        for k, b in enumerate(bottoms):  # resting on the floor, the table top, or another object
            on = min(abs(b - z) for z in (0.0, 0.75)) < 2e-3
            below = [h for j, h in enumerate(hulls) if j != k and h.bounds[1][2] > b - 2e-3 and h.bounds[0][2] < b]
            assert on or below, f"object {k} of frame {index} floats at z={b:.4f}"
            on_table += abs(b - 0.75) < 2e-3
        for i in range(len(hulls)):  # two resting hulls overlap by at most the collision margins (< 1 mm)
            for j in range(i):
                inner = hulls[j].vertices[hulls[i].contains(hulls[j].vertices)]
                assert not len(inner) or np.abs(trimesh.proximity.signed_distance(hulls[i], inner)).max() < 1e-3
        assert all("rotation" in d and d["gap"] > 0 for d in drops)
        ids, _, _ = raycast(out, meta)
        assert (f["instance"].astype(np.int64) == ids).mean() > 0.999  # exact but for a ray grazing a resting contact
    assert on_table >= 4  # most rest on the table top they were dropped over


@pytest.mark.render
def test_objects_stay_inside_the_volume_the_config_names(tmp_path, files, cache):
    """scene.volumes=[table_top, 'leg*']: the box of the table's top and legs together; the objects
    stand on the floor under the table, their footprints inside it and below its top."""
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import make_frame_scene
    from simgen.recipes import load_recipe

    s = check_dataset(["scene=environment", f"scene.file={files['glb']}", "scene.volumes=[table_top, 'leg*']",
                       "objects.count=[2,3]", "scene.object_scale=[0.4,0.6]", "objects.weights={ball: 0}",
                       f"output.dir={tmp_path}"])
    catalog, recipe, placed = catalog_for(s), load_recipe("environment"), 0
    for index in range(6):
        scene = make_frame_scene(recipe, s, catalog, index)
        for o in scene.objects:
            if o.role == "environment":
                continue
            v = np.asarray(trimesh.load(o.mesh, force="mesh").vertices) @ o.mesh_to_world[:3, :3].T + o.mesh_to_world[:3, 3]
            assert v[:, 2].min() == pytest.approx(0.0, abs=1e-6) and v[:, 2].max() < 0.72  # on the floor, under the top
            assert np.all(v[:, :2] >= [-0.5 - 1e-6, -0.3 - 1e-6]) and np.all(v[:, :2] <= [0.5 + 1e-6, 0.3 + 1e-6])
            placed += 1
    assert placed >= 10


@pytest.mark.render
def test_a_camera_sees_the_fraction_of_the_objects_the_config_asks_by_an_independent_ray_cast(tmp_path, files, cache):
    """scene.min_visible: the kept camera sees at least that fraction of the points on the objects
    (in its image, and a ray from it to each meets no box of the room: trimesh's ray cast on the
    test's own boxes); without it some draws see less, so the check is what keeps them."""
    from simgen.cli.study import check_dataset
    from simgen.optics.camera import project
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import make_frame_scene
    from simgen.recipes import load_recipe
    from simgen.scenes.environment import sight_points

    boxes = trimesh.util.concatenate(list(room().values()))
    ray = trimesh.ray.ray_triangle.RayMeshIntersector(boxes)

    def seen(scene) -> float:
        cam = scene.camera
        points = sight_points([o for o in scene.objects if o.role != "environment"], np.zeros(3))
        uv, z = project(cam.K, cam.world_to_camera, points)
        inside = (z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] <= cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] <= cam.height)
        eye = cam.camera_to_world[:3, 3]
        d = points - eye
        length = np.linalg.norm(d, axis=1)
        hits = ray.intersects_location(np.repeat(eye[None], len(points), 0), d / length[:, None])
        hit_at = np.full(len(points), np.inf)
        for (loc, k) in zip(hits[0], hits[1]):
            hit_at[k] = min(hit_at[k], np.linalg.norm(loc - eye))
        return float((inside & (hit_at > length - 1e-6)).mean())

    fractions = {}
    for need in (0.0, 0.9):
        s = check_dataset(["scene=environment", f"scene.file={files['glb']}", f"scene.min_visible={need}",
                           "scene.camera_elevation=[-10,60]", "scene.camera_distance=[1.5,3]", "objects.count=[2,4]",
                           f"output.dir={tmp_path}"])
        catalog, recipe = catalog_for(s), load_recipe("environment")
        fractions[need] = []
        for index in range(24):
            scene = make_frame_scene(recipe, s, catalog, index)
            truth = seen(scene)
            assert truth == pytest.approx(scene.params["camera"]["visible"], abs=0.02)
            fractions[need].append(truth)
    assert min(fractions[0.9]) >= 0.9 - 0.02
    assert min(fractions[0.0]) < 0.9  # unchecked, some cameras see less (behind the wall, under the table)


@pytest.mark.render
def test_parts_the_config_restyles_take_a_drawn_material_and_the_others_keep_the_files(tmp_path, files, cache):
    """scene.restyle=[floor]: the floor renders in the colour drawn for it each frame (its hue in the
    image is the recorded base colour's), the wall keeps the file's own grey."""
    import colorsys

    from simgen.io.dataset.layout import read_frame

    out = tmp_path / "out"
    r = simgen_cli("scene=environment", f"scene.file={files['glb']}",
                   "scene.restyle=[floor]", "frames=3", "seed=2", "render.width=96", "render.height=72",
                   "render.samples=4", "objects.count=[1,2]", "materials.saturation=[0.9,0.9]",
                   "materials.value=[0.6,0.6]", "materials.metallic_probability=0", "materials.roughness=[1,1]",
                   "lighting.count=[0,0]", "lighting.world=[uniform]", "lighting.world_strength=[1,1]",
                   "scene.camera_elevation=[20,40]", f"output.dir={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    hues = []
    for index in range(3):
        f = read_frame(out, index)
        by_name = {o["name"]: o for o in f["meta"]["objects"]}
        floor, wall = by_name["env_floor"], by_name["env_wall"]
        assert "own" in wall["material"] and "base_color" in floor["material"]
        rgb = f["rgb"].astype(float) / 255.0
        seen = f["instance"] == floor["instance_id"]
        assert seen.sum() > 200
        got = colorsys.rgb_to_hsv(*rgb[seen].mean(axis=0))
        want = colorsys.rgb_to_hsv(*np.asarray(floor["material"]["base_color"]) ** (1 / 2.2))
        assert min(abs(got[0] - want[0]), 1 - abs(got[0] - want[0])) < 0.04, (got, want)  # hue within 15 degrees
        assert got[1] > 0.3
        hues.append(got[0])
        if (f["instance"] == wall["instance_id"]).sum() > 50:
            assert colorsys.rgb_to_hsv(*rgb[f["instance"] == wall["instance_id"]].mean(axis=0))[1] < 0.1  # grey
    assert max(hues) - min(hues) > 0.05  # a colour drawn per frame


@pytest.mark.render
def test_the_files_world_shader_lights_the_scene_where_the_config_asks(tmp_path, files, cache):
    """scene.file_world=true: the .blend's own world (a red one) is what the camera sees where it hits
    nothing and what lights the room; a file without a world is refused in one line."""
    from simgen.cli.study import check_dataset
    from simgen.io.dataset.layout import read_frame
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import make_frame_scene
    from simgen.recipes import load_recipe

    blend = write_blend(tmp_path / "red.blend", camera={"world": [1.0, 0.0, 0.0]})
    assert load_environment(blend).world and not load_environment(files["glb"]).world
    s = check_dataset(["scene=environment", f"scene.file={files['glb']}", "scene.file_world=true", f"output.dir={tmp_path}"])
    with pytest.raises(SimgenError, match=r"scene.file_world=true but .*room.glb has no world shader of its own"):
        make_frame_scene(load_recipe("environment"), s, catalog_for(s), 0)
    means = {}
    for own in (True, False):
        out = tmp_path / f"out-{own}"
        r = simgen_cli("scene=environment", f"scene.file={blend}",
                       f"scene.file_world={str(own).lower()}", "frames=1", "seed=1", "render.width=96",
                       "render.height=72", "render.samples=4", "lighting.count=[0,0]", "lighting.world=[uniform]",
                       "objects.count=[1,2]", "scene.camera_elevation=[5,10]", f"output.dir={out}", cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
        f = read_frame(out, 0)
        assert f["meta"]["params"]["world"]["kind"] == ("file" if own else "uniform")
        sky, room_ = f["instance"] == 0, f["instance"] > 0
        assert sky.sum() > 50 and room_.sum() > 50
        rgb = f["rgb"].astype(float)
        means[own] = rgb[sky].mean(axis=0), rgb[room_].mean(axis=0)
    (sky_r, sky_g, sky_b), (lit_r, lit_g, lit_b) = means[True]
    assert sky_r > 100 and sky_r > 3 * max(sky_g, sky_b)  # the file's red world, seen
    assert lit_r > 1.5 * max(lit_g, lit_b)  # ... and lighting the grey room
    grey_sky = means[False][0]
    assert grey_sky.max() - grey_sky.min() < 10  # simgen's uniform world is grey


@pytest.mark.slow
@pytest.mark.render
def test_an_environment_run_in_shards_equals_one_run_and_inspects(tmp_path, files, cache):
    """Three shards of scene=environment, each its own process (each reading the file from the cache),
    write into one folder the dataset one run writes; a run stopped and run again resumes it;
    simgen inspect reads it."""
    from conftest import assert_same_dataset

    common = ["scene=environment", f"scene.file={files['glb']}", "frames=4", "seed=9", "render.width=64",
              "render.height=48", "render.samples=1", "objects.count=[2,3]", "scene.labels={furniture: [table_top]}"]
    whole = simgen_cli(*common, f"output.dir={tmp_path / 'whole'}", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr[-3000:]
    for i in range(2):
        shard = simgen_cli(*common, "shard.count=2", f"shard.index={i}", f"output.dir={tmp_path / 'shards'}", cwd=tmp_path)
        assert shard.returncode == 0, shard.stderr[-3000:]
    assert_same_dataset(tmp_path / "whole", tmp_path / "shards")
    part = simgen_cli(*common[:2], "frames=2", *common[3:], f"output.dir={tmp_path / 'resumed'}", cwd=tmp_path)
    rest = simgen_cli(*common, f"output.dir={tmp_path / 'resumed'}", cwd=tmp_path)  # the same command, 4 frames
    assert part.returncode == 0 and rest.returncode == 0, rest.stderr[-3000:]
    assert_same_dataset(tmp_path / "whole", tmp_path / "resumed")
    report = simgen_cli("inspect", str(tmp_path / "whole"), "--out", str(tmp_path / "report.html"), "--frames", "2",
                        "--jobs", "1", cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    assert "furniture" in (tmp_path / "report.html").read_text()


@pytest.mark.render
def test_objects_hidden_from_rendering_name_a_volume_and_a_cameras_region(tmp_path, cache):
    """A .blend's empty and box hidden from rendering render nothing, and name places: the camera
    stands inside the empty's cube (scene.camera_regions), the objects on the part of the table top
    inside the box (scene.volumes)."""
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import make_frame_scene
    from simgen.recipes import load_recipe

    blend = write_blend(tmp_path / "marked.blend", camera={"markers": True})
    env = load_environment(blend)
    assert sorted(p.name for p in env.parts) == sorted(ROOM)  # hidden: no part, no pixel
    marks = {m.name: (m.lo, m.hi) for m in env.markers}
    assert np.allclose(marks["camera_zone"], [[1.0, -1.6, 1.3], [1.4, -1.2, 1.7]])
    assert np.allclose(marks["left_half"], [[-0.5, -0.3, 0.7], [0.0, 0.3, 1.2]])
    s = check_dataset(["scene=environment", f"scene.file={blend}", "scene.camera_regions=[camera_zone]",
                       "scene.volumes=[left_half]", "objects.count=[1,2]", "scene.object_scale=[0.5,0.7]",
                       f"output.dir={tmp_path}"])
    recipe, catalog, placed = load_recipe("environment"), catalog_for(s), 0
    for index in range(8):
        scene = make_frame_scene(recipe, s, catalog, index)
        eye = scene.camera.camera_to_world[:3, 3]
        assert np.all(eye >= [1.0 - 1e-9, -1.6 - 1e-9, 1.3 - 1e-9]) and np.all(eye <= [1.4 + 1e-9, -1.2 + 1e-9, 1.7 + 1e-9])
        assert np.allclose(eye, scene.params["camera"]["eye_drawn"])
        for o in scene.objects:
            if o.role != "environment":
                v = np.asarray(trimesh.load(o.mesh, force="mesh").vertices) @ o.mesh_to_world[:3, :3].T + o.mesh_to_world[:3, 3]
                assert v[:, 2].min() == pytest.approx(0.75, abs=1e-6) and v[:, 0].max() <= 1e-6  # the top's left half
                placed += 1
    assert placed >= 8


@pytest.mark.slow
@pytest.mark.render
def test_flow_between_two_views_and_amodal_masks_in_an_environment_match_a_ray_cast(tmp_path, files, cache):
    """A sequence of two views in the room (its table labelled): the forward flow of the first is
    where a ray cast of its pixels lands in the second view, and each annotated object's amodal
    mask (the placed objects' and the table's) is a ray cast of it alone."""
    from groundtruth import amodal_raycast, reference_flow, uniform_neighbourhood
    from simgen.io.dataset.layout import read_frame
    from simgen.io.files import read_npy
    from simgen.io.formats.flow import read_valid_png

    out = tmp_path / "out"
    r = simgen_cli("scene=environment", f"scene.file={files['glb']}",
                   "frames=2", "sequence.length=2", "seed=4", "render.width=96", "render.height=72",
                   "render.samples=1", "objects.count=[3,4]", "scene.camera_distance=[1.2,1.6]",
                   "scene.camera_azimuth=[0,40]", "scene.labels={furniture: [table_top]}", "output.labels=[amodal]",
                   "scene.supports=[table_top]",
                   f"output.dir={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    flow = read_npy(out / "flow_forward" / "000000.npy")
    valid = read_valid_png(out / "flow_forward_valid" / "000000.png")
    ref, visible, ref_ids = reference_flow(out, 0, 1)
    inst = read_frame(out, 0)["instance"]
    both = valid & visible & (inst == ref_ids)
    assert both.sum() > 0.2 * inst.size and np.abs(ref[both]).max() > 2.0  # two views that share much
    epe = np.linalg.norm(flow[both] - ref[both], axis=-1)
    assert epe.mean() < 0.01 and np.quantile(epe, 0.99) < 0.05, (epe.mean(), np.quantile(epe, 0.99))
    assert (valid == visible)[inst > 0].mean() >= 0.99
    for index in range(2):
        frame = read_frame(out, index)
        got = dict(zip(frame["amodal"]["instance_ids"].tolist(), frame["amodal"]["masks"]))
        truth = {iid: m for iid, m in amodal_raycast(out, index).items() if m.any()}
        table = next(o["instance_id"] for o in frame["meta"]["objects"] if o["name"] == "env_table_top")
        assert set(got) == set(truth) and table in got  # the labelled part has its amodal mask too
        for iid, mask in got.items():
            ref_mask = truth[iid] | (frame["instance"] == iid)
            inner = uniform_neighbourhood(ref_mask.astype(np.int64))
            assert np.array_equal(mask[inner], ref_mask[inner]) and np.mean(mask == ref_mask) >= 0.999


@pytest.mark.slow
@pytest.mark.render
def test_a_stereo_pair_and_a_calibrated_lens_in_an_environment_match_a_ray_cast(tmp_path, files, cache):
    """camera.rig=stereo in the room: disparity and occlusion are a ray cast from the right camera
    (tests/test_stereo.py's proof); camera.calibration (a radial-tangential lens): each annotated
    object's amodal mask, the labelled table's too, is a ray cast of it alone along OpenCV's rays."""
    import cv2

    import test_stereo
    from groundtruth import amodal_raycast, uniform_neighbourhood
    from simgen.io.dataset.layout import read_frame
    from test_lens_render import CRITERIA, calibration_file

    common = ["scene=environment", f"scene.file={files['glb']}", "frames=2", "seed=6", "render.samples=1",
              "objects.count=[3,4]", "scene.supports=[table_top]", "scene.labels={furniture: [table_top]}"]
    out = tmp_path / "stereo"
    r = simgen_cli(*common, "camera.rig=stereo", "camera.baseline=[0.15,0.3]",
                   f"render.width={test_stereo.W}", f"render.height={test_stereo.H}", f"output.dir={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    test_stereo.check_against_ray_cast(out)

    K, coefficients = np.array([[64.0, 0.0, 47.6], [0.0, 64.0, 35.7], [0.0, 0.0, 1.0]]), np.array([-0.3, 0.09, 4e-4, -3e-4, -0.01])
    out = tmp_path / "lens"
    r = simgen_cli(*common, "render.width=96", "render.height=72",
                   f"camera.calibration={calibration_file(tmp_path / 'lens.yaml', K, 96, 72, coefficients)}",
                   "output.labels=[amodal]", f"output.dir={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    u, v = np.meshgrid(np.arange(96, dtype=float), np.arange(72, dtype=float))
    xy = cv2.undistortPointsIter(np.stack([u.ravel(), v.ravel()], -1).reshape(-1, 1, 2), K, coefficients, None, None,
                                 CRITERIA)[:, 0]
    dirs = np.concatenate([xy, np.ones((len(xy), 1))], -1)
    for index in range(2):
        frame = read_frame(out, index)
        got = dict(zip(frame["amodal"]["instance_ids"].tolist(), frame["amodal"]["masks"]))
        truth = {iid: m for iid, m in amodal_raycast(out, index, dirs).items() if m.any()}
        table = next(o["instance_id"] for o in frame["meta"]["objects"] if o["name"] == "env_table_top")
        assert set(got) == set(truth) and table in got
        for iid, mask in got.items():
            ref = truth[iid] | (frame["instance"] == iid)
            inner = uniform_neighbourhood(ref.astype(np.int64))
            assert np.array_equal(mask[inner], ref[inner]) and np.mean(mask == ref) >= 0.999, (index, iid)


@pytest.mark.slow
@pytest.mark.render
def test_a_study_renders_its_arms_and_target_in_an_environment_and_scores_them(tmp_path, files, cache):
    """simgen study dr_gap with scene=environment in its simgen settings: every arm's dataset and the
    target are frames of the room, trained on and scored (the study's machinery at its smallest)."""
    r = simgen_cli("study", "dr_gap", f"study.out={tmp_path / 'study'}",
                   "study.frames=[4]", "study.seeds=[0]", "study.target.frames=3", "study.trainer.steps=2",
                   "study.trainer.batch_size=2", "study.trainer.warmup=1",
                   f"study.simgen=[scene=environment,scene.file={files['glb']},render.width=64,render.height=48,"
                   "render.samples=1,'objects.count=[2,3]']", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    for arm in ("narrow", "wide", "target"):
        metas = sorted((tmp_path / "study" / "data" / arm / "meta").glob("*.json"))
        assert metas and all(json.loads(m.read_text())["params"]["recipe"] == "environment" for m in metas)
    rows = list(csv.DictReader((tmp_path / "study" / "results.csv").open()))
    assert {row["arm"] for row in rows} == {"narrow", "wide"}


# ------------------------------------------------------------------ what a scene file names stays in its folder

def write_textured_gltf(path: Path, uri: str, size: float = 1.0) -> Path:
    """One level triangle (edge ``2 * size`` metres) with UVs, whose material's base colour is the
    image at ``uri``; its geometry in a data URI (Y up, as glTF is)."""
    import base64
    import struct

    pos = [(-size, 0, size), (size, 0, size), (0, 0, -size)]
    blob = b"".join(struct.pack("<3f", *p) for p in pos) + struct.pack("<6f", 0, 0, 1, 0, 0.5, 1)
    doc = {"asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0, "name": "tri"}],
           "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "TEXCOORD_0": 1}, "material": 0}]}],
           "materials": [{"name": "look", "pbrMetallicRoughness": {"baseColorTexture": {"index": 0},
                                                                   "metallicFactor": 0.0, "roughnessFactor": 1.0}}],
           "textures": [{"source": 0}], "images": [{"uri": uri}],
           "buffers": [{"byteLength": len(blob),
                        "uri": "data:application/octet-stream;base64," + base64.b64encode(blob).decode()}],
           "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": 36}, {"buffer": 0, "byteOffset": 36, "byteLength": 24}],
           "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
                          "min": [-size, 0, -size], "max": [size, 0, size]},
                         {"bufferView": 1, "componentType": 5126, "count": 3, "type": "VEC2"}]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def png(path: Path, rgb: tuple[int, int, int]) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), rgb).save(path)
    return path


def test_a_gltf_buffer_outside_the_files_folder_is_refused_in_one_line(tmp_path):
    """Geometry cannot be partly left out: a glTF (or GLB) whose buffer is named by an absolute path,
    climbs out of its folder, leads out through a symbolic link or is missing is refused before
    Blender reads it; a buffer inside the folder, or in a data URI, is read."""
    d = tmp_path / "scene"
    write_textured_gltf(d / "ok.gltf", "tex.png")
    check_file(d / "ok.gltf")
    (tmp_path / "x.bin").write_bytes(bytes(60))
    (d / "in.bin").write_bytes(bytes(60))
    (d / "link.bin").symlink_to(tmp_path / "x.bin")
    for uri, why in [("in.bin", None), ("in%2Ebin", None), (str(tmp_path / "x.bin"), "an absolute path"),
                     ("file:///etc/passwd", "an absolute path"), ("../x.bin", "it leads out of the file's folder"),
                     ("sub/../../x.bin", "it leads out of the file's folder"),
                     ("link.bin", "it leads out of the file's folder"), ("gone.bin", "no such file")]:
        doc = json.loads((d / "ok.gltf").read_text())
        doc["buffers"][0]["uri"] = uri
        (d / "m.gltf").write_text(json.dumps(doc))
        if why is None:
            assert check_file(d / "m.gltf") == d / "m.gltf"
            continue
        with pytest.raises(SimgenError, match=rf"scene.file=.*m.gltf: its buffer .* is refused: {why}") as e:
            check_file(d / "m.gltf")
        assert "\n" not in str(e.value) and uri[:20] in str(e.value)
    text = json.dumps({"asset": {"version": "2.0"}, "buffers": [{"byteLength": 4, "uri": "../x.bin"}]}).encode()
    text += b" " * (-len(text) % 4)
    (d / "m.glb").write_bytes(b"glTF" + (2).to_bytes(4, "little") + (20 + len(text)).to_bytes(4, "little")
                              + len(text).to_bytes(4, "little") + b"JSON" + text)
    with pytest.raises(SimgenError, match=r"m.glb: its buffer '../x.bin' is refused: it leads out"):
        check_file(d / "m.glb")


LOAD_SCRIPT = """
import json, sys, bpy
from simgen.blender.environment import load
for path in sys.argv[1:]:
    bpy.ops.wm.read_factory_settings(use_empty=True)  # each file into Blender's empty start, as alone
    loaded = load(path)
    looks = {}
    for m in bpy.data.materials:
        nodes = m.node_tree.nodes if m.node_tree else []
        bsdf = [n for n in nodes if n.type == "BSDF_PRINCIPLED"]
        looks[m.name] = {"color": list(bsdf[0].inputs["Base Color"].default_value)[:3] if bsdf else None,
                         "images": [n.image.filepath for n in nodes if n.type == "TEX_IMAGE" and n.image]}
    print("LOADED " + json.dumps({"parts": sorted(p.name for p in loaded.parts), "skipped": loaded.skipped,
                                  "looks": looks, "images": sorted(i.name for i in bpy.data.images)}))
"""


def blender_loads(*paths: Path) -> list[dict]:
    """What :func:`simgen.blender.environment.load` (the render process's reading) makes of each of
    ``paths``: its parts, what it left out, its materials' base colours and images. One Blender
    process reads them one after another, from Blender's empty start each (as the render process
    reads a file after another); a Blender start is a few seconds on 2 cores."""
    r = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, *map(str, paths)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    got = [json.loads(ln[7:]) for ln in r.stdout.splitlines() if ln.startswith("LOADED ")]
    assert len(got) == len(paths), r.stdout[-3000:]
    return got


def blender_load(path: Path) -> dict:
    """:func:`blender_loads` of one file."""
    return blender_loads(path)[0]


TRI = "v -1 0 -1\nv 1 0 -1\nv 0 0 1\nvt 0 0\nvt 1 0\nvt 0.5 1\n"
BLEND_FIXTURE = """
import sys, bpy
args = sys.argv[1:]
for kind, out, image, lib in zip(args[0::4], args[1::4], args[2::4], args[3::4]):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    me = bpy.data.meshes.new(kind)
    me.from_pydata([(-1, -1, 0), (1, -1, 0), (0, 1, 0)] if kind != "lib" else [(0, 0, 1), (1, 0, 1), (0, 1, 1)], [], [(0, 1, 2)])
    me.uv_layers.new(name="UVMap")
    bpy.context.scene.collection.objects.link(bpy.data.objects.new("from_library" if kind == "lib" else "tri", me))
    if image:
        mat = bpy.data.materials.new("look")
        mat.use_nodes = True
        tex = mat.node_tree.nodes.new("ShaderNodeTexImage")
        tex.image = bpy.data.images.load(image)
        mat.node_tree.links.new(tex.outputs["Color"], mat.node_tree.nodes["Principled BSDF"].inputs["Base Color"])
        me.materials.append(mat)
    if lib:
        with bpy.data.libraries.load(lib, link=True, relative=True) as (src, dst):
            dst.objects = ["from_library"]
        bpy.context.scene.collection.objects.link(dst.objects[0])
    if kind == "fbx":  # the texture named by a path relative to the file (and an absolute one), not embedded
        bpy.ops.export_scene.fbx(filepath=out, path_mode="RELATIVE", embed_textures=False, object_types={"MESH"})
    else:
        bpy.ops.wm.save_as_mainfile(filepath=out, relative_remap=True)  # paths as //../red.png
"""


def blend_fixtures(*jobs: tuple[str, Path, Path | str, Path | str]) -> list[Path]:
    """Each job's file (kind, out, image, lib: see :func:`blend_fixture`), written in that order by
    one Blender process, from Blender's empty start each."""
    r = subprocess.run([sys.executable, "-c", BLEND_FIXTURE, *(str(a) for job in jobs for a in job)],
                       capture_output=True, text=True, timeout=300)
    outs = [Path(job[1]) for job in jobs]
    assert r.returncode == 0 and all(out.is_file() for out in outs), r.stderr[-2000:]
    return outs


def blend_fixture(kind: str, out: Path, image: Path | str = "", lib: Path | str = "") -> Path:
    return blend_fixtures((kind, out, image, lib))[0]


def usd_tri(name: str, z: float) -> str:
    return (f'def Mesh "{name}"\n{{\n    point3f[] points = [(-1, -1, {z}), (1, -1, {z}), (0, 1, {z})]\n'
            '    int[] faceVertexCounts = [3]\n    int[] faceVertexIndices = [0, 1, 2]\n}\n')


def named_outside(t: Path, kind: str, jobs: list | None = None) -> tuple[Path, list[str], list[str]]:
    """A scene file in ``t/scene`` that names something outside its folder (``t``), what
    :attr:`Loaded.skipped` must name, and the parts it must have (those from outside: none).
    With ``jobs``: the .blend and .fbx files that Blender writes are appended to it as
    :func:`blend_fixtures`' jobs, in the order to write them, not written."""
    def make(*job) -> Path:
        return (jobs.append(job) or Path(job[1])) if jobs is not None else blend_fixture(*job)

    d = t / "scene"
    d.mkdir()
    red = png(t / "red.png", (255, 0, 0))
    if kind == "gltf-image":
        return write_textured_gltf(d / "m.gltf", "../red.png"), ["image red.png", f"{red}: outside the file folder"], ["tri"]
    if kind == "obj-mtllib":
        (t / "far.mtl").write_text("newmtl a\nKd 1 0 0\nmap_Kd red.png\n")
        (d / "m.obj").write_text("mtllib ../far.mtl\n" + TRI + "usemtl a\nf 1/1 2/2 3/3\n")
        return d / "m.obj", ["material library ../far.mtl", f"{t / 'far.mtl'}: outside the file folder"], ["m"]
    if kind == "obj-own-mtl-symlink":  # NAME.mtl beside the OBJ (read without an mtllib line), a link out
        (t / "far.mtl").write_text("newmtl a\nKd 1 0 0\n")
        (d / "m.mtl").symlink_to(t / "far.mtl")
        (d / "m.obj").write_text(TRI + "usemtl a\nf 1/1 2/2 3/3\n")
        return d / "m.obj", ["material library m.mtl", f"{t / 'far.mtl'}: outside the file folder"], ["m"]
    if kind == "obj-mtl-map":
        (d / "m.mtl").write_text("newmtl a\nKd 0 0 1\nmap_Kd ../red.png\n")
        (d / "m.obj").write_text("mtllib m.mtl\n" + TRI + "usemtl a\nf 1/1 2/2 3/3\n")
        return d / "m.obj", ["image red.png", f"{red}: outside the file folder"], ["m"]
    if kind == "fbx-texture":
        return make("fbx", d / "m.fbx", red, ""), ["image red.png", f"{red}: outside the file folder"], ["tri"]
    if kind == "blend-image":
        return make("blend", d / "m.blend", red, ""), ["image red.png", f"{red}: outside the file folder"], ["tri"]
    if kind == "blend-library":
        lib = make("lib", t / "lib.blend", "", "")
        return make("blend", d / "m.blend", "", lib), ["linked library", f"{lib}: outside the file folder"], ["tri"]
    if kind.startswith("usd-") and kind != "usd-texture":
        (t / "far.usda").write_text("#usda 1.0\n" + usd_tri("far", 2) + usd_tri("thing", 3))
        (d / "near.usda").write_text("#usda 1.0\n" + usd_tri("thing", 4))
        arc = {"usd-sublayer": ("    subLayers = [@../far.usda@]\n", ""),
               "usd-reference": ("", 'def "refd" (prepend references = @../far.usda@</thing>) {}\n'),
               "usd-payload": ("", 'def "payd" (prepend payload = @../far.usda@</thing>) {}\n'),
               # an inside layer that itself names one outside: followed from layer to layer
               "usd-nested": ("", 'def "near" (prepend references = @near.usda@</thing>) {}\n')}[kind]
        if kind == "usd-nested":
            (d / "near.usda").write_text('#usda 1.0\n(\n    subLayers = [@../far.usda@]\n)\n' + usd_tri("thing", 4))
        (d / "m.usda").write_text('#usda 1.0\n(\n    upAxis = "Z"\n    metersPerUnit = 1\n' + arc[0] + ')\n'
                                  + usd_tri("tri", 0) + arc[1])
        return d / "m.usda", ["USD layer ../far.usda", f"{t / 'far.usda'}: outside the file folder"], \
            ["near", "tri"] if kind == "usd-nested" else ["tri"]
    if kind == "usd-texture":
        (d / "m.usda").write_text(USD_TEXTURED.replace("TEXTURE", "../red.png"))
        return d / "m.usda", ["image red.png", f"{red}: outside the file folder"], ["tri"]
    raise AssertionError(kind)


USD_TEXTURED = """#usda 1.0
(
    upAxis = "Z"
)
def Mesh "tri" (prepend apiSchemas = ["MaterialBindingAPI"])
{
    point3f[] points = [(-1, -1, 0), (1, -1, 0), (0, 1, 0)]
    int[] faceVertexCounts = [3]
    int[] faceVertexIndices = [0, 1, 2]
    texCoord2f[] primvars:st = [(0, 0), (1, 0), (0.5, 1)] (interpolation = "vertex")
    rel material:binding = </look>
}
def Material "look"
{
    token outputs:surface.connect = </look/pbr.outputs:surface>
    def Shader "pbr"
    {
        uniform token info:id = "UsdPreviewSurface"
        color3f inputs:diffuseColor.connect = </look/tex.outputs:rgb>
        token outputs:surface
    }
    def Shader "st"
    {
        uniform token info:id = "UsdPrimvarReader_float2"
        string inputs:varname = "st"
        float2 outputs:result
    }
    def Shader "tex"
    {
        uniform token info:id = "UsdUVTexture"
        asset inputs:file = @TEXTURE@
        float2 inputs:st.connect = </look/st.outputs:result>
        float3 outputs:rgb
    }
}
"""

OUTSIDE_KINDS = ["gltf-image", "obj-mtllib", "obj-own-mtl-symlink", "obj-mtl-map", "fbx-texture", "blend-image",
                 "blend-library", "usd-sublayer", "usd-reference", "usd-payload", "usd-nested", "usd-texture"]


@pytest.fixture(scope="module")
def outside_loaded(tmp_path_factory) -> dict[str, tuple[Path, Path, list[str], list[str], dict]]:
    """Each kind of OUTSIDE_KINDS: (its folder, its scene file, names, parts: :func:`named_outside`,
    what Blender made of the file: :func:`blender_load`). The .blend and .fbx files written by one
    Blender process and all the files read by one other (a Blender start each would be most of the
    test's time)."""
    jobs, made = [], {}
    for kind in OUTSIDE_KINDS:
        t = tmp_path_factory.mktemp(kind)
        made[kind] = (t, *named_outside(t, kind, jobs))
    blend_fixtures(*jobs)
    got = blender_loads(*(m[1] for m in made.values()))
    return {kind: (*m, g) for (kind, m), g in zip(made.items(), got)}


@pytest.mark.render
@pytest.mark.parametrize("kind", OUTSIDE_KINDS)
def test_what_a_scene_file_names_outside_its_folder_is_left_out_with_one_warning(outside_loaded, cache, caplog,
                                                                                   kind):
    """Each kind of path a scene file names (glTF images, OBJ material libraries and their maps, FBX
    textures, a .blend's images and linked libraries, USD sublayers, references, payloads and
    textures) leading out of its folder: left out, named once, in the Blender process (what renders)
    and in the warning the pure side gives; nothing of it reaches the materials or the parts."""
    import logging

    tmp_path, file, names, parts, got = outside_loaded[kind]
    assert len(got["skipped"]) == 1 and all(n in got["skipped"][0] for n in names), got["skipped"]
    assert got["parts"] == parts
    assert "red.png" not in got["images"]
    for look in got["looks"].values():
        assert not look["images"] or all(str(tmp_path / "scene") in f for f in look["images"])
        if look["color"] is not None:
            r, g, b = look["color"]
            assert not (r > 0.9 and g < 0.1 and b < 0.1), look  # the outside .mtl's red never arrives
    with caplog.at_level(logging.WARNING, logger="simgen.assets.environment"):
        env = load_environment(file)
    assert list(env.skipped) == got["skipped"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"scene.file={file}: left out " in warnings[0] and names[0] in warnings[0], warnings
    assert sorted(p.name for p in env.parts) == parts


@pytest.mark.render
@pytest.mark.slow
def test_what_a_scene_file_holds_itself_or_names_inside_its_folder_is_kept(tmp_path):
    """The counterpart: a GLB's own image, a data URI's, an image, material library, linked library
    and USD layer inside the folder (one reached through a link that stays inside) are kept."""
    import trimesh as tm
    from PIL import Image

    d = tmp_path / "scene"
    img = Image.new("RGB", (8, 8), (0, 0, 255))
    m = tm.Trimesh([[-1, 0, -1], [1, 0, -1], [0, 0, 1]], [[0, 1, 2]], process=False)
    m.visual = tm.visual.TextureVisuals(uv=[[0, 0], [1, 0], [0.5, 1]], image=img)
    d.mkdir()
    (d / "own.glb").write_bytes(m.export(file_type="glb"))
    got = blender_load(d / "own.glb")
    assert got["skipped"] == [] and len(got["images"]) == 1  # packed in the GLB: the file's own data
    import base64
    import io

    buf = io.BytesIO()
    img.save(buf, "PNG")
    got = blender_load(write_textured_gltf(d / "data.gltf", "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()))
    assert got["skipped"] == [] and len(got["images"]) == 1
    png(d / "tex" / "blue.png", (0, 0, 255))
    got = blender_load(write_textured_gltf(d / "in.gltf", "tex/blue.png"))
    assert got["skipped"] == [] and got["looks"]["look"]["images"] == [str(d / "tex" / "blue.png")]
    (d / "mats").mkdir()
    (d / "mats" / "a.mtl").write_text("newmtl a\nKd 0 1 0\nmap_Kd ../tex/blue.png\n")
    (d / "link.mtl").symlink_to(d / "mats" / "a.mtl")
    (tmp_path / "far.mtl").write_text("newmtl b\nKd 1 0 0\n")
    (d / "m.obj").write_text("mtllib ../far.mtl\nmtllib link.mtl\n" + TRI + "usemtl a\nf 1/1 2/2 3/3\nusemtl b\nf 1/1 2/2 3/3\n")
    got = blender_load(d / "m.obj")  # imported from a copy without the outside one: the inside one still read
    assert [s.split(" (")[0] for s in got["skipped"]] == ["material library ../far.mtl"]
    assert got["looks"]["a"]["color"] == [0.0, 1.0, 0.0] and got["looks"]["a"]["images"] == [str(d / "tex" / "blue.png")]
    assert got["looks"]["b"]["color"] != [1.0, 0.0, 0.0]
    lib = blend_fixture("lib", d / "lib.blend")
    got = blender_load(blend_fixture("blend", d / "m.blend", lib=lib))
    assert got["skipped"] == [] and got["parts"] == ["from_library", "tri"]
    (d / "near.usda").write_text("#usda 1.0\n" + usd_tri("thing", 4))
    (d / "m.usda").write_text('#usda 1.0\n' + usd_tri("tri", 0) + 'def "near" (prepend references = @near.usda@</thing>) {}\n')
    got = blender_load(d / "m.usda")
    assert got["skipped"] == [] and got["parts"] == ["near", "tri"]


@pytest.mark.render
@pytest.mark.slow
def test_a_gltf_image_outside_its_folder_renders_as_missing_not_as_its_pixels(tmp_path, cache):
    """A level triangle whose image is a red PNG: inside the folder, the triangle renders red; named
    as ../red.png (the same image, one folder up), it is left out with a warning naming it and the
    triangle's pixels are no longer red."""
    from simgen.io.dataset.layout import read_frame

    red = {}
    for where, uri in (("inside", "red.png"), ("outside", "../red.png")):
        d = tmp_path / where / "scene"
        png(d / "red.png" if where == "inside" else d.parent / "red.png", (255, 0, 0))
        file = write_textured_gltf(d / "tri.gltf", uri, size=6.0)
        out = tmp_path / where / "out"
        r = simgen_cli("scene=environment", f"scene.file={file}", "frames=1", "seed=1", "render.width=64",
                       "render.height=48", "render.samples=1", "objects.count=[1,1]", "lighting.count=[0,0]",
                       "lighting.world=[uniform]", "lighting.world_strength=[1,1]", "scene.camera_elevation=[50,60]",
                       f"output.dir={out}", cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
        log = (out / "logs" / "simgen.log").read_text()
        warned = [ln for ln in log.splitlines() if "left out image red.png" in ln]
        assert len(warned) == (where == "outside"), log[-3000:]
        if warned:
            assert f"scene.file={file}" in warned[0] and str(d.parent / "red.png") in warned[0]
        f = read_frame(out, 0)
        tri = next(o for o in f["meta"]["objects"] if o["name"] == "env_tri")
        seen = f["instance"] == tri["instance_id"]
        assert seen.sum() > 300
        rgb = f["rgb"][seen].astype(float).mean(axis=0)
        red[where] = rgb[0] > 2 * max(rgb[1], rgb[2]) + 10
    assert red == {"inside": True, "outside": False}
