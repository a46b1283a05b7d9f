"""Cloth: a sheet as plain data (simgen.scene.cloth) simulated by Blender's own cloth solver
(simgen.blender.cloth.simulate).

Pure (no Blender):

* sheet(): vertex and triangle counts, vertex order as documented, triangle areas summing to
  the sheet's area, every normal along +Z;
* bad settings end in one line naming the field; the vertex cap names the largest resolution;
* the explosion check on synthetic vertices (non-finite, far away, fine).

Rendered (Blender's cloth solver, tiny sheets):

* a 1 m sheet, turned and dropped from 0.5 m onto a 0.3 m box on the ground, settles: no vertex
  below the ground or inside the box (the box's distance computed analytically), its centre
  rests on the box top at its collision distance and its corners lie on the ground; the same
  run twice gives identical arrays and no datablock is left behind;
* with no settling frame, step 0 is the flat sheet where mesh_to_world puts it;
* the vertices equal what Blender's own OBJ exporter writes for the evaluated sheet at a frame
  (a child Python builds the same scene and exports it);
* stiff, weightless cloth explodes, named by its frame, and leaves nothing behind;
* bad input to simulate ends in one line; scripts/bench_cloth.py prints its figures;
* three cloths dropped on the box together (simulate_together): no edge of one crosses a triangle
  of another at any step (a segment-triangle test in numpy), where simulated without collision
  between them thousands do; each one's vertices equal Blender's OBJ export of that simulation;
* self-collision: a long sheet folding over a thin bar never crosses itself (non-adjacent edge
  against triangle) with cloth.self_collision, and does without; the setting reaches Blender.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from groundtruth import box_distance
from simgen.errors import SimgenError
from simgen.scene.cloth import (CABLE_SIDES, MAX_VERTICES, POUCH_BULGE, Cloth, ClothRun, check_exploded, grid,
                                max_resolution, sheet)

ROOT = Path(__file__).resolve().parents[1]
BOX_TOP = 0.3
BOX_TO_WORLD = np.diag([0.3, 0.3, 0.3, 1.0])
BOX_TO_WORLD[2, 3] = 0.15  # a 0.3 m cube standing on z = 0
SETTLE, STEPS = 60, 3


# ------------------------------------------------------------------ pure


@pytest.mark.parametrize("size, resolution, expect", [((1.0, 1.0), 4, (4, 4)), ((2.0, 0.5), 8, (8, 2)),
                                                       ((0.3, 0.9), 5, (2, 5)), ((1.0, 0.01), 3, (3, 1))])
def test_sheet_counts_order_and_area(size, resolution, expect):
    cloth = Cloth(size=size, resolution=resolution)
    nx, ny = grid(cloth)
    assert (nx, ny) == expect
    v, f = sheet(cloth)
    assert v.shape == ((nx + 1) * (ny + 1), 3) and v.dtype == np.float64 and cloth.vertex_count == len(v)
    assert f.shape == (2 * nx * ny, 3) and np.issubdtype(f.dtype, np.integer)
    assert np.array_equal(np.unique(f), np.arange(len(v)))  # every vertex on a triangle, no other index
    for j in (0, ny):  # the documented order: row-major from the -X,-Y corner, X fastest
        for i in (0, nx):
            expect_xy = [-size[0] / 2 + i * size[0] / nx, -size[1] / 2 + j * size[1] / ny, 0]
            assert np.allclose(v[j * (nx + 1) + i], expect_xy)
    cross = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    assert np.all(cross[:, 2] > 0) and np.allclose(cross[:, :2], 0)  # counter-clockwise from +Z
    assert np.isclose(0.5 * cross[:, 2].sum(), size[0] * size[1], rtol=1e-12)
    # the documented diagonal: quad (0, 0) is (a, b, d), (a, d, c)
    assert f[:2].tolist() == [[0, 1, nx + 2], [0, nx + 2, nx + 1]]


@pytest.mark.parametrize("kw, field", [
    (dict(size=(0.0, 1.0)), "size"), (dict(size=(1.0, -2.0)), "size"), (dict(size=(1.0,)), "size"),
    (dict(size=(float("nan"), 1.0)), "size"), (dict(resolution=0), "resolution"), (dict(resolution=2.5), "resolution"),
    (dict(mass=0.0), "mass"), (dict(tension=0.0), "tension"), (dict(bending=-1.0), "bending"),
    (dict(shear=1e5), "shear"), (dict(air_damping=11.0), "air_damping"), (dict(friction=81.0), "friction"),
    (dict(thickness=0.0), "thickness"), (dict(thickness=float("inf")), "thickness"), (dict(quality=0), "quality"),
    (dict(collision_quality=True), "collision_quality"), (dict(mass="1"), "mass"),
    (dict(self_collision="yes"), "self_collision"),
])
def test_bad_settings_end_in_one_line_naming_the_field(kw, field):
    with pytest.raises(ValueError) as e:
        Cloth(**kw)
    msg = str(e.value)
    assert msg.startswith(f"cloth.{field}=") and "\n" not in msg and "must be" in msg


def test_the_vertex_cap_names_the_largest_resolution():
    for size in [(1.0, 1.0), (2.0, 0.5), (0.2, 3.0)]:
        r = max_resolution(size)
        assert Cloth(size=size, resolution=r).vertex_count <= MAX_VERTICES
        with pytest.raises(ValueError, match=rf"^cloth.resolution={r + 1}: .* more than {MAX_VERTICES}; use a "
                                             rf"resolution of at most {r}$"):
            Cloth(size=size, resolution=r + 1)


def test_to_dict_gives_the_cloth_back():
    cloth = Cloth(size=(1.2, 0.8), resolution=12, mass=0.2, tension=40, bending=10, friction=3, thickness=0.01)
    d = json.loads(json.dumps(cloth.to_dict()))
    assert Cloth(**{**d, "size": tuple(d["size"])}) == cloth
    assert isinstance(cloth.tension, float)  # an integer setting is stored as the float Blender takes


def test_the_explosion_check():
    cloth = Cloth(size=(2.0, 1.0), resolution=4)
    start = sheet(cloth)[0]
    check_exploded(start + [0, 0, -199.0], start, cloth, "step 3 of 5")  # within 100 x 2 m: fine
    far = start.copy()
    far[7] += [0, 0, 201.0]
    with pytest.raises(SimgenError, match=r"^cloth simulation exploded at step 3 of 5: vertex 7 \(of 15\) is over "
                                          r"200 m from its start; raise cloth.quality \(now 5\)"):
        check_exploded(far, start, cloth, "step 3 of 5")
    nan = start.copy()
    nan[11, 1] = np.nan
    with pytest.raises(SimgenError, match=r"at settling frame 9 of 40: vertex 11 \(of 15\) is not finite"):
        check_exploded(nan, start, cloth, "settling frame 9 of 40")


def test_self_collision_is_a_sheets_only():
    assert Cloth(self_collision=True).self_collision is True
    for shape, size in (("pouch", (0.4, 0.3)), ("cable", (0.8, 0.02))):
        with pytest.raises(ValueError, match=rf"^cloth\.self_collision=True: a {shape} cannot collide with itself"):
            Cloth(size=size, shape=shape, self_collision=True)


def edges_of(faces: np.ndarray) -> np.ndarray:
    """The unique edges (E, 2) of triangles (F, 3), each (low, high)."""
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    return np.unique(e, axis=0)


def crossings(va: np.ndarray, ea: np.ndarray, vb: np.ndarray, fb: np.ndarray, adjacent: bool = True,
              chunk: int = 1024) -> int:
    """How many (edge, triangle) pairs cross: the segment va[ea[i]] has its two ends strictly on
    either side of triangle vb[fb[j]]'s plane and meets the plane inside the (closed) triangle.
    ``adjacent=False`` leaves out pairs that share a vertex index (an edge against a triangle of
    the same mesh). Written here in numpy, apart from simgen and Blender."""
    p, q = va[ea[:, 0]], va[ea[:, 1]]
    a, b, c = vb[fb[:, 0]], vb[fb[:, 1]], vb[fb[:, 2]]
    lo, hi = np.minimum(p, q), np.maximum(p, q)
    tlo, thi = np.minimum(np.minimum(a, b), c), np.maximum(np.maximum(a, b), c)
    count = 0
    for s in range(0, len(p), chunk):
        near = (lo[s:s + chunk, None] <= thi[None]).all(-1) & (hi[s:s + chunk, None] >= tlo[None]).all(-1)
        if not adjacent:
            e = ea[s:s + chunk, :, None, None]
            near &= ~(e == fb[None, None]).any(axis=(1, 3))
        i, j = np.nonzero(near)
        i = i + s
        P, Q, A, B, C = p[i], q[i], a[j], b[j], c[j]
        n = np.cross(B - A, C - A)
        dp, dq = np.einsum("ij,ij->i", P - A, n), np.einsum("ij,ij->i", Q - A, n)
        straddle = dp * dq < 0
        X = P + (dp / np.where(straddle, dp - dq, 1.0))[:, None] * (Q - P)
        inside = np.ones(len(X), bool)
        for U, V in ((A, B), (B, C), (C, A)):
            inside &= np.einsum("ij,ij->i", np.cross(V - U, X - U), n) >= 0
        count += int((straddle & inside).sum())
    return count


def test_the_crossing_check():
    """A segment through a triangle crosses it, one beside it, above it or lying in its plane does
    not; an edge of the triangle's own mesh is left out with adjacent=False."""
    tri, face = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]]), np.array([[0, 1, 2]])
    for seg, expect in (([[0.2, 0.2, -1], [0.2, 0.2, 1]], 1), ([[0.8, 0.8, -1], [0.8, 0.8, 1]], 0),
                        ([[0.2, 0.2, 0.1], [0.2, 0.2, 1]], 0), ([[0.1, 0.1, 0], [0.3, 0.2, 0]], 0),
                        ([[0.0, 0, -1], [0, 0, 1]], 1)):  # through a corner: closed triangles
        assert crossings(np.array(seg), np.array([[0, 1]]), tri, face) == expect, seg
    v = np.concatenate([tri, [[0.2, 0.2, -1], [0.2, 0.2, 1]]])
    assert crossings(v, np.array([[3, 4], [0, 4]]), v, face, adjacent=False) == 1  # [0, 4] shares vertex 0
    # two sheets of the sheet() grid, one stood up through the other: of its edges across z = 0, the 5 upright
    # ones and the 4 diagonals, all but the upright one at x = 0.51 (off the flat sheet's side) cross
    cloth = Cloth(size=(1.0, 1.0), resolution=4)
    flat, faces = sheet(cloth)
    upright = flat[:, [0, 2, 1]] + [0.01, 0.03, 0.1]  # the sheet stood up in an XZ plane, across the flat one
    assert crossings(upright, edges_of(faces), flat, faces) == 8
    assert crossings(upright + [0, 0, 0.6], edges_of(faces), flat, faces) == 0


def test_a_run_reports_its_figures():
    run = ClothRun(vertices=np.zeros((3, 10, 3)), settled=True, max_speed=0.01, seconds=1.5, frames=12)
    assert run.to_dict() == {"steps": 3, "vertices": 10, "settled": True, "max_speed": 0.01, "seconds": 1.5,
                             "frames": 12}


# ------------------------------------------------------------------ Blender


def box_mesh() -> tuple[np.ndarray, np.ndarray]:
    m = trimesh.creation.box(extents=(0.3, 0.3, 0.3))
    m.apply_translation((0, 0, 0.15))
    return np.asarray(m.vertices), np.asarray(m.faces)


def turned_pose(angle: float = 0.5, at=(0.02, -0.01, 0.5)) -> np.ndarray:
    pose = np.eye(4)
    c, s = np.cos(angle), np.sin(angle)
    pose[:2, :2] = [[c, -s], [s, c]]
    pose[:3, 3] = at
    return pose


def datablocks() -> dict[str, int]:
    import bpy

    return {k: len(getattr(bpy.data, k)) for k in ("meshes", "objects", "scenes", "collections", "materials",
                                                    "node_groups", "textures")}


CLOTH = Cloth(size=(1.0, 1.0), resolution=16)


@pytest.fixture(scope="module")
def drape():
    """The sheet dropped over the box twice, and the datablocks before and after."""
    from simgen.blender.cloth import simulate

    before = datablocks()
    runs = [simulate(CLOTH, turned_pose(), [box_mesh()], steps=STEPS, settle=SETTLE) for _ in range(2)]
    return runs, before, datablocks()


@pytest.mark.render
def test_a_dropped_sheet_drapes_over_a_box(drape):
    (run, again), before, after = drape
    v = run.vertices
    assert v.shape == (STEPS, CLOTH.vertex_count, 3) and v.dtype == np.float64
    assert run.settled and run.max_speed < 0.05 and run.frames == SETTLE + STEPS - 1 and run.seconds > 0
    t = CLOTH.thickness
    assert v[..., 2].min() >= 0.5 * t  # nothing below the ground (it keeps its collision distance)
    assert box_distance(v.reshape(-1, 3), BOX_TO_WORLD).min() >= 0.5 * t  # nothing inside the box
    n = CLOTH.resolution + 1
    centre, corners = v[-1, (n * n) // 2], v[-1, [0, n - 1, n * n - n, n * n - 1]]
    assert np.allclose(centre[:2], [0.02, -0.01], atol=0.03)  # it fell straight down
    assert BOX_TOP + 0.5 * t <= centre[2] <= BOX_TOP + t + 0.005  # resting on the box top
    assert np.all(corners[:, 2] < 0.1 * BOX_TOP) and np.all(corners[:, 2] >= 0.5 * t)  # the corners on the ground
    assert np.array_equal(run.vertices, again.vertices)  # deterministic
    assert after == before  # no datablock left behind


@pytest.mark.parametrize("size, resolution", [((0.4, 0.3), 8), ((0.2, 0.2), 2), ((1.0, 0.25), 8)])
def test_a_pouch_is_two_sheets_sewn_into_one_closed_surface(size, resolution):
    """Closed (every edge between two triangles), outward (positive volume), no flat triangle, the
    first sheet's vertices first and in its order (its bulge up), the edge shared."""
    flat, faces_flat = sheet(Cloth(size=size, resolution=resolution))
    cloth = Cloth(size=size, resolution=resolution, shape="pouch")
    v, f = sheet(cloth)
    m = trimesh.Trimesh(v, f, process=False)
    assert len(v) == cloth.vertex_count and m.is_watertight and m.is_winding_consistent and m.volume > 0
    assert (m.area_faces > 0).all()
    np.testing.assert_array_equal(v[:len(flat), :2], flat[:, :2])
    np.testing.assert_array_equal(f[:len(faces_flat)], faces_flat)
    assert (v[:len(flat), 2] >= 0).all() and (v[len(flat):, 2] < 0).all()


def test_a_cable_is_a_closed_tube_along_x():
    """Closed and outward; its rings along X at the cable's length, each a circle of its diameter."""
    cloth = Cloth(size=(0.8, 0.02), resolution=20, shape="cable")
    v, f = sheet(cloth)
    m = trimesh.Trimesh(v, f, process=False)
    assert len(v) == cloth.vertex_count == 21 * CABLE_SIDES + 2
    assert m.is_watertight and m.is_winding_consistent and m.volume > 0 and (m.area_faces > 0).all()
    rings = v[:-2].reshape(21, CABLE_SIDES, 3)
    np.testing.assert_allclose(rings[:, :, 0], np.linspace(-0.4, 0.4, 21)[:, None] + 0 * rings[:, :, 0])
    np.testing.assert_allclose(np.hypot(rings[..., 1], rings[..., 2]), 0.01)


def test_a_pouch_needs_two_quads_across():
    with pytest.raises(ValueError, match=r"^cloth\.resolution=3: a pouch of size \(1\.0, 0\.1\) would have 1 quad"):
        Cloth(size=(1.0, 0.1), resolution=3, shape="pouch")
    with pytest.raises(ValueError, match=r"^cloth\.shape='bag': must be one of sheet, pouch, cable"):
        Cloth(shape="bag")


@pytest.mark.render
def test_a_pouch_fills_with_its_pressure_and_rests_on_the_box():
    """Dropped on the box: at rest on its top, outside it; with pressure 20 it holds more than twice
    the volume it holds with none (it fills), and more than it started with."""
    from simgen.blender.cloth import simulate

    volumes = {}
    for pressure in (0.0, 20.0):
        cloth = Cloth(size=(0.4, 0.3), resolution=12, shape="pouch", pressure=pressure)
        run = simulate(cloth, turned_pose(at=(0.0, 0.0, 0.5)), [box_mesh()], steps=1, settle=60)
        v, f = run.vertices[-1], sheet(cloth)[1]
        assert run.settled and box_distance(v, BOX_TO_WORLD).min() >= 0.5 * cloth.thickness
        assert abs(v[:, 2].min() - (BOX_TOP + cloth.thickness)) < 0.01 or pressure == 0.0
        volumes[pressure] = trimesh.Trimesh(v, f, process=False).volume
    start = trimesh.Trimesh(*sheet(Cloth(size=(0.4, 0.3), resolution=12, shape="pouch")), process=False).volume
    assert volumes[20.0] > 2 * volumes[0.0] and volumes[20.0] > start


@pytest.mark.render
def test_a_cable_drapes_over_the_box():
    """A 0.8 m cable dropped across the box: at rest, its middle on the box's top, both ends down
    near the ground, never inside the box or under the ground, still round (most of its volume)."""
    from simgen.blender.cloth import simulate

    cloth = Cloth(size=(0.8, 0.02), resolution=32, shape="cable", pressure=5.0, mass=0.05, thickness=0.005)
    run = simulate(cloth, turned_pose(at=(0.0, 0.0, 0.4)), [box_mesh()], steps=1, settle=72)
    v = run.vertices[-1]
    rings = v[:-2].reshape(33, CABLE_SIDES, 3)
    assert run.settled
    assert BOX_TOP <= rings[16, :, 2].mean() <= BOX_TOP + 0.03  # the middle ring on the box
    assert (rings[[0, -1], :, 2].mean(axis=1) < 0.15).all()  # the ends hang down
    assert box_distance(v, BOX_TO_WORLD).min() >= 0.5 * cloth.thickness and v[:, 2].min() >= 0.5 * cloth.thickness
    start = trimesh.Trimesh(*sheet(cloth), process=False).volume
    assert trimesh.Trimesh(v, sheet(cloth)[1], process=False).volume > 0.4 * start


@pytest.mark.render
def test_a_moving_collider_lifts_the_sheet_lying_on_it():
    """A box under the sheet (held while it settles) rises 5 mm a step (12 cm/s): the sheet's centre
    rises with it, resting on its top at every step, and never enters it. (Blender's solver lets a
    collider that starts from rest at 48 cm/s through by 2 cm for a frame: objects in simgen's
    sequences move a few cm/s.)"""
    from simgen.blender.cloth import simulate

    cloth = Cloth(size=(0.6, 0.6), resolution=10)
    v, f = box_mesh()
    lift = np.stack([np.eye(4)] * 8)
    lift[:, 2, 3] = 0.005 * np.arange(8)
    unit = np.diag([1 / 0.3, 1 / 0.3, 1 / 0.3, 1])  # BOX_TO_WORLD without its scale: box_mesh is 0.3 m
    run = simulate(cloth, turned_pose(at=(0.0, 0.0, 0.4)), [(v - [0, 0, 0.15], f, lift @ BOX_TO_WORLD @ unit)],
                   steps=8, settle=30)
    n = cloth.resolution + 1
    centre = run.vertices[:, (n * n) // 2]
    t = cloth.thickness
    for k in range(8):
        top = BOX_TOP + 0.005 * k
        assert top + 0.5 * t <= centre[k, 2] <= top + t + 0.005, (k, centre[k, 2], top)
        assert box_distance(run.vertices[k], lift[k] @ BOX_TO_WORLD).min() >= 0.5 * t  # never inside the box


@pytest.mark.render
def test_with_no_settling_step_0_is_the_sheet_where_the_pose_puts_it():
    from simgen.blender.cloth import simulate

    pose = turned_pose(1.0, at=(-0.3, 0.2, 1.0))
    pose[:3, :3] = pose[:3, :3] @ trimesh.transformations.rotation_matrix(0.4, [1, 0, 0])[:3, :3]  # tilted
    local = sheet(CLOTH)[0]
    run = simulate(CLOTH, pose, [], steps=3, settle=0, ground=None)
    assert np.abs(run.vertices[0] - (local @ pose[:3, :3].T + pose[:3, 3])).max() < 1e-6
    assert not run.settled and run.max_speed == float("inf")  # no settling frame: no speed measured
    # it falls freely: every vertex lower at each step, by about g t^2 / 2 (air damping slows it a little)
    drop = run.vertices[0, :, 2] - run.vertices[2, :, 2]
    assert np.all(np.diff(run.vertices[:, :, 2], axis=0) < 0)
    assert 0.3 * 9.81 * (2 / 24) ** 2 / 2 < drop.mean() < 3 * 9.81 * (2 / 24) ** 2 / 2


EXPORT_SCRIPT = """
import json, sys
import bpy, numpy as np
from simgen.blender.cloth import START_FRAME, built
from simgen.scene.cloth import Cloth
spec = json.loads(sys.argv[1])
cloth = Cloth(**{**spec["cloth"], "size": tuple(spec["cloth"]["size"])})
colliders = [(np.array(v), np.array(f)) for v, f in spec["colliders"]]
with built(cloth, np.array(spec["pose"]), colliders, spec["frame"], 24, spec["ground"]) as (sim, ob):
    for k in range(spec["frame"] + 1):  # the point cache needs every frame from the start
        sim.frame_set(START_FRAME + k)
    with bpy.context.temp_override(scene=sim, view_layer=sim.view_layers[0]):
        bpy.ops.wm.obj_export(filepath=spec["out"], forward_axis="Y", up_axis="Z", apply_modifiers=True,
                              export_uv=False, export_normals=False, export_materials=False)
"""


def obj_object_vertices(path: Path, name: str) -> np.ndarray:
    """The ``v`` lines of object ``name`` in an OBJ file."""
    out, inside = [], False
    for line in path.read_text().splitlines():
        if line.startswith("o "):
            inside = line[2:].strip() == name
        elif inside and line.startswith("v "):
            out.append([float(x) for x in line.split()[1:4]])
    return np.array(out)


@pytest.mark.render
def test_the_vertices_are_what_blenders_exporter_writes(drape, tmp_path):
    """A second path: a child Python builds the same scene, steps it to the last step's frame
    and has Blender's OBJ exporter write the evaluated sheet (modifiers applied, world space)."""
    (run, _), _, _ = drape
    v, f = box_mesh()
    spec = dict(cloth=CLOTH.to_dict(), colliders=[(v.tolist(), f.tolist())], pose=turned_pose().tolist(),
                frame=SETTLE + STEPS - 1, ground=0.0, out=str(tmp_path / "sheet.obj"))
    r = subprocess.run([sys.executable, "-c", EXPORT_SCRIPT, json.dumps(spec)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    exported = obj_object_vertices(tmp_path / "sheet.obj", "cloth_sheet")
    assert exported.shape == run.vertices[-1].shape
    assert np.abs(exported - run.vertices[-1]).max() < 1e-5  # the OBJ's 6 decimals
    assert np.abs(exported - run.vertices[0]).max() > 1e-4  # and the steps differ: the frame matters


@pytest.mark.render
def test_stiff_weightless_cloth_explodes_in_one_line_and_leaves_nothing():
    from simgen.blender.cloth import simulate

    before = datablocks()
    cloth = Cloth(size=(1.0, 1.0), resolution=10, tension=1e4, shear=1e4, bending=1e4, mass=1e-6, quality=1,
                  air_damping=0)
    with pytest.raises(SimgenError, match=r"^cloth simulation exploded at settling frame \d+ of 30: vertex \d+ "
                                          r"\(of 121\) is (not finite|over 100 m from its start); raise "
                                          r"cloth.quality \(now 1\)[^\n]*$"):
        simulate(cloth, turned_pose(), [box_mesh()], steps=2, settle=30)
    assert datablocks() == before


@pytest.mark.render
@pytest.mark.parametrize("kw, match", [
    (dict(steps=0), r"^cloth simulation steps=0: must be an integer >= 1$"),
    (dict(settle=-1), r"^cloth simulation settle=-1: must be an integer >= 0$"),
    (dict(fps=0.0), r"^cloth simulation fps=0.0: must be"),
    (dict(ground="floor"), r"^cloth simulation ground='floor': must be the ground's height"),
    (dict(mesh_to_world=np.diag([2.0, 2.0, 2.0, 1.0])), r"^cloth mesh_to_world: .* \(no scale .*cloth.size$"),
    (dict(mesh_to_world=np.eye(3)), r"^cloth mesh_to_world: must be a finite 4x4 matrix"),
    (dict(colliders=[(np.zeros((4, 3)), np.array([[0, 1, 4]]))]), r"^cloth collider 0: a face names vertex 4 of 4"),
    (dict(colliders=[(np.zeros((4, 2)), np.array([[0, 1, 2]]))]), r"^cloth collider 0: vertices must be"),
    (dict(colliders=[(np.zeros((4, 3)), np.array([[0.0, 1, 2]]))]), r"^cloth collider 0: faces must be an integer"),
    (dict(cloth={"size": (1, 1)}), r"^cloth: must be a simgen.scene.cloth.Cloth"),
])
def test_bad_input_to_simulate_ends_in_one_line(kw, match):
    from simgen.blender.cloth import simulate

    before = datablocks()
    args = dict(cloth=CLOTH, mesh_to_world=turned_pose(), colliders=[box_mesh()], steps=2, settle=2, **{})
    args.update(kw)
    with pytest.raises(SimgenError, match=match) as e:
        simulate(**args)
    assert "\n" not in str(e.value)
    assert datablocks() == before


@pytest.mark.render
@pytest.mark.slow  # three tabletop runs besides the simulations: ~60 s on 2 cores
def test_the_bench_script_prints_its_figures():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_cloth.py"), "--sizes", "4", "6", "--frames",
                        "3", "--cloths", "2", "--runs", "2"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.strip().splitlines()
    assert lines[0].split() == ["sheet", "vertices", "frames", "seconds", "s/frame", "at", "rest", "self", "s/frame"]
    table = lines.index(next(line for line in lines if line.startswith("tabletop per frame")))
    assert lines[table + 1].split() == ["stage", "no", "cloth", "cloth", "2", "cloths"]
    stages = {line.split()[0]: [float(x) for x in line.split()[1:]] for line in lines[table + 2:]}
    assert all(x > 0 for x in stages["frame"]) and stages["settle"][1] > 0 and stages["settle"][2] > 0
    together = lines.index(next(line for line in lines if line.split()[0] == "cloths"))
    assert lines[together].split() == ["cloths", "vertices", "frames", "seconds", "s/frame", "collide"]
    for line, collide in zip(lines[together + 1:table], ["yes", "no"], strict=True):
        name, vertices, frames, seconds, per_frame, said = line.split()
        assert (name, int(vertices), int(frames), said) == ("2x4x4", 50, 3, collide)
        assert float(seconds) > 0 and np.isclose(float(per_frame), float(seconds) / 3, atol=1e-3)
    for line, (n, verts) in zip(lines[1:together], [(4, 25), (6, 49)], strict=True):
        sheet_, vertices, frames, seconds, per_frame, rest, itself = line.split()
        assert (sheet_, int(vertices), int(frames)) == (f"{n}x{n}", verts, 3)
        assert float(seconds) > 0 and np.isclose(float(per_frame), float(seconds) / 3, atol=1e-3)
        assert rest in ("yes", "no") and float(itself) > 0


# ------------------------------------------------------------------ several cloths, self-collision

PILE = [Cloth(size=(0.6, 0.5), resolution=10), Cloth(size=(0.5, 0.4), resolution=10, bending=0.05),
        Cloth(size=(0.4, 0.3), resolution=10, shape="pouch", pressure=5.0)]
PILE_STEPS = 40  # no settling frame: every simulated frame is a step, and every one is checked


def pile_poses() -> list[np.ndarray]:
    """The three turned a different way each, stacked over the box: 5 cm between one's top and the
    next one's underside (the pouch's bulge below it)."""
    return [turned_pose(0.3, at=(0.02, 0.0, 0.35)), turned_pose(1.1, at=(0.02, 0.0, 0.40)),
            turned_pose(2.0, at=(0.02, 0.0, 0.45 + POUCH_BULGE * 0.3))]


def pile_crossings(runs: list[ClothRun]) -> list[int]:
    """Per step: edges of one cloth crossing a triangle of another, every ordered pair."""
    faces = [sheet(c)[1] for c in PILE]
    return [sum(crossings(runs[i].vertices[k], edges_of(faces[i]), runs[j].vertices[k], faces[j])
                for i in range(len(PILE)) for j in range(len(PILE)) if i != j)
            for k in range(PILE_STEPS)]


@pytest.fixture(scope="module")
def pile():
    """The three dropped together, colliding with each other, and again without collision between them."""
    from simgen.blender.cloth import simulate_together

    before = datablocks()
    sheets = list(zip(PILE, pile_poses()))
    together = simulate_together(sheets, [box_mesh()], steps=PILE_STEPS, settle=0)
    apart = simulate_together(sheets, [box_mesh()], steps=PILE_STEPS, settle=0, collide=False)
    return together, apart, before, datablocks()


@pytest.mark.render
@pytest.mark.slow  # two runs of three cloths and a child exporting a third: ~20 s on 2 cores
def test_cloths_dropped_together_never_pass_through_each_other(pile, tmp_path):
    together, apart, before, after = pile
    assert after == before  # no datablock left behind
    for run, cloth in zip(together, PILE):
        assert run.vertices.shape == (PILE_STEPS, cloth.vertex_count, 3) and run.frames == PILE_STEPS - 1
        assert run.vertices[..., 2].min() >= 0.5 * cloth.thickness  # above the ground
        assert box_distance(run.vertices.reshape(-1, 3), BOX_TO_WORLD).min() >= 0.5 * cloth.thickness
    assert together[0].seconds == together[2].seconds  # one run
    crossed = pile_crossings(apart)
    assert sum(crossed) > 1000 and sum(k > 0 for k in crossed) > PILE_STEPS // 2  # without: they pass through
    assert pile_crossings(together) == [0] * PILE_STEPS, "cloths simulated together crossed each other"
    # they rest on each other: the pouch, dropped last, ends higher than when it falls through the others
    assert together[2].vertices[-1, :, 2].min() > apart[2].vertices[-1, :, 2].min() + 0.01

    # Blender's own OBJ export of the same simulation, in a child Python, at the last step: each cloth
    v, f = box_mesh()
    spec = dict(cloths=[c.to_dict() for c in PILE], poses=[p.tolist() for p in pile_poses()],
                colliders=[(v.tolist(), f.tolist())], frame=PILE_STEPS - 1, ground=0.0, out=str(tmp_path / "pile.obj"))
    r = subprocess.run([sys.executable, "-c", EXPORT_TOGETHER, json.dumps(spec)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    for k, run in enumerate(together):
        exported = obj_object_vertices(tmp_path / "pile.obj", "cloth_sheet" if k == 0 else f"cloth_sheet{k}")
        assert exported.shape == run.vertices[-1].shape
        assert np.abs(exported - run.vertices[-1]).max() < 1e-5  # the OBJ's 6 decimals
        assert np.abs(exported - apart[k].vertices[-1]).max() > 1e-3  # and colliding changed where it lies


EXPORT_TOGETHER = """
import json, sys
import bpy, numpy as np
from simgen.blender.cloth import START_FRAME, built_together
from simgen.scene.cloth import Cloth
spec = json.loads(sys.argv[1])
sheets = [(Cloth(**{**c, "size": tuple(c["size"])}), np.array(p)) for c, p in zip(spec["cloths"], spec["poses"])]
colliders = [(np.array(v), np.array(f)) for v, f in spec["colliders"]]
with built_together(sheets, colliders, spec["frame"], 24, spec["ground"]) as together:
    for k in range(spec["frame"] + 1):  # the point cache needs every frame from the start
        together.frame_set(START_FRAME + k)
    sim = together.scene
    with bpy.context.temp_override(scene=sim, view_layer=sim.view_layers[0]):
        bpy.ops.wm.obj_export(filepath=spec["out"], forward_axis="Y", up_axis="Z", apply_modifiers=True,
                              export_uv=False, export_normals=False, export_materials=False)
"""


def bar_mesh() -> tuple[np.ndarray, np.ndarray]:
    """A thin bar, 4 cm square and 0.6 m long along Y, its top 0.52 m up."""
    m = trimesh.creation.box(extents=(0.04, 0.6, 0.04))
    m.apply_translation((0.0, 0.0, 0.5))
    return np.asarray(m.vertices), np.asarray(m.faces)


@pytest.mark.render
def test_a_sheet_folding_over_a_bar_never_crosses_itself_with_self_collision():
    """A long, limp sheet (1.2 x 0.25 m, silk's bending) dropped across a thin bar folds over it, its
    two halves swinging into each other: with cloth.self_collision no edge crosses a triangle of the
    sheet it does not touch, at any of 48 frames; without, some do."""
    from simgen.blender.cloth import simulate

    pose = np.eye(4)
    pose[:3, 3] = (0.05, 0.0, 0.56)
    counts = {}
    for on in (False, True):
        cloth = Cloth(size=(1.2, 0.25), resolution=30, bending=0.05, self_collision=on)
        faces = sheet(cloth)[1]
        run = simulate(cloth, pose, [bar_mesh()], steps=48, settle=0)
        counts[on] = [crossings(v, edges_of(faces), v, faces, adjacent=False) for v in run.vertices]
        ends = run.vertices[-1, [0, 30], 2]  # the -X end's two corners of the first row
        assert (ends < 0.45).all() and run.vertices[-1, :, 2].max() < 0.6  # folded over the bar, hanging
    assert sum(counts[False]) > 100, counts[False]  # without it, the folds cross
    assert counts[True] == [0] * 48, counts[True]


@pytest.mark.render
def test_the_self_collision_setting_reaches_blender():
    from simgen.blender.cloth import built, built_together

    for on in (False, True):
        cloth = Cloth(size=(1.0, 0.5), resolution=4, thickness=0.01, friction=3.0, self_collision=on)
        with built(cloth, turned_pose(), [], 2, 24, 0.0) as (_, ob):
            c = ob.modifiers["Cloth"].collision_settings
            assert c.use_self_collision is on and [m.type for m in ob.modifiers] == ["CLOTH"]
            if on:
                assert np.isclose(c.self_distance_min, 0.01) and np.isclose(c.self_friction, 3.0)
    poses = [turned_pose(at=(0, 0, z)) for z in (0.5, 1.0, 1.5)]
    with built_together([(CLOTH, p) for p in poses], [box_mesh()], 2, 24, 0.0) as together:
        obs, proxies = together.sheets, together.proxies
        # several: each a collider of those after it, after its cloth modifier, no culling; each after the
        # first has a proxy; each collides with the box, the ground, the sheets before it and the proxies after
        assert [[m.type for m in ob.modifiers] for ob in obs] == [["CLOTH", "COLLISION"]] * 2 + [["CLOTH"]]
        assert proxies[0] is None and all(p.modifiers[0].type == "COLLISION" for p in proxies[1:])
        assert not any(ob.collision.use_culling or ob.collision.use_normal for ob in [*obs[:2], *proxies[1:]])
        for k, ob in enumerate(obs):
            names = sorted(o.name for o in ob.modifiers["Cloth"].collision_settings.collection.objects)
            expect = ["cloth_collider0", "cloth_collider1", *(x.name for x in obs[:k]),
                      *(p.name for p in proxies[k + 1:])]
            assert names == sorted(expect), (k, names)
