"""A mesh renders with its own appearance: textures through its UVs, materials per slot,
vertex colours; labels never change with appearance.

The proof renders a textured cube written by this file (OBJ + MTL + PNG, and the same cube as
a GLB with the PNG embedded, written from the glTF 2.0 specification) and compares each
object pixel's hue with the texel at the UV where an independent ray cast through the pixel
centre hits the cube (the UVs are the ones this file wrote, not what simgen read).
"""

from __future__ import annotations

import colorsys
import json
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
import trimesh
from PIL import Image

from groundtruth import intersect
from simgen import SimgenError
from simgen.assets.meshes import clear_mesh_cache, load_asset

SIDE = 0.16
PALETTE = np.array([[230, 20, 20], [20, 200, 20], [20, 40, 230], [230, 220, 20], [20, 210, 220], [220, 20, 220]],
                   np.uint8)
BLOCKS = 4
TEX = 64


def texture() -> np.ndarray:
    """(64, 64, 3) uint8: 4 x 4 blocks of saturated colours, row 0 at the top."""
    k = np.arange(BLOCKS)
    ids = (k[:, None] * 2 + k[None, :] * 3) % len(PALETTE)
    return np.repeat(np.repeat(PALETTE[ids], TEX // BLOCKS, 0), TEX // BLOCKS, 1)


def cube() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices (24, 3) resting on z = 0, triangles (12, 3) and per-vertex UVs (24, 2) in the
    OBJ convention (origin bottom-left): every face shows the whole texture, each turned."""
    verts, faces, uvs = [], [], []
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    for axis in range(3):
        for sign in (-1, 1):
            u_ax, v_ax = [a for a in range(3) if a != axis]
            quad = []
            for cu, cv in corners:
                p = np.zeros(3)
                p[axis] = sign * 0.5
                p[u_ax], p[v_ax] = cu - 0.5, cv - 0.5
                quad.append(p)
            quad = np.array(quad) if sign > 0 else np.array(quad)[::-1]
            base = len(verts)
            verts += list(quad)
            turn = axis * 2 + (sign > 0)
            uvs += list(np.roll(corners, turn, axis=0) * 0.9 + 0.05)
            faces += [[base, base + 1, base + 2], [base, base + 2, base + 3]]
    v = np.array(verts) * SIDE
    v[:, 2] += SIDE / 2
    return v, np.array(faces), np.array(uvs)


def write_obj(folder: Path) -> Path:
    v, f, uv = cube()
    Image.fromarray(texture()).save(folder / "blocks.png")
    (folder / "cube.mtl").write_text("newmtl blocks\nKd 1 1 1\nNs 10\nmap_Kd blocks.png\n")
    lines = ["mtllib cube.mtl"] + [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in v]
    lines += [f"vt {a:.6f} {b:.6f}" for a, b in uv] + ["usemtl blocks"]
    lines += ["f " + " ".join(f"{i + 1}/{i + 1}" for i in tri) for tri in f]
    (folder / "cube.obj").write_text("\n".join(lines) + "\n")
    return folder / "cube.obj"


def write_glb(folder: Path) -> Path:
    """The same cube as a GLB (glTF 2.0 binary): positions, TEXCOORD_0 with the spec's top-left
    origin (v' = 1 - v), uint16 indices, the PNG embedded in a buffer view, one material with
    baseColorTexture, metallic 0 and roughness 0.9."""
    v, f, uv = cube()
    import io
    png = io.BytesIO()
    Image.fromarray(texture()).save(png, format="PNG")
    pos = v.astype("<f4").tobytes()
    tex = np.stack([uv[:, 0], 1.0 - uv[:, 1]], -1).astype("<f4").tobytes()
    idx = f.astype("<u2").tobytes()
    img = png.getvalue()
    chunks, views, offset = b"", [], 0
    for data in (pos, tex, idx, img):
        views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(data)})
        pad = b"\0" * (-len(data) % 4)
        chunks += data + pad
        offset += len(data) + len(pad)
    doc = {
        "asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "TEXCOORD_0": 1}, "indices": 2, "material": 0}]}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": len(v), "type": "VEC3",
             "min": v.min(0).tolist(), "max": v.max(0).tolist()},
            {"bufferView": 1, "componentType": 5126, "count": len(v), "type": "VEC2"},
            {"bufferView": 2, "componentType": 5123, "count": f.size, "type": "SCALAR"}],
        "bufferViews": views, "buffers": [{"byteLength": len(chunks)}],
        "images": [{"bufferView": 3, "mimeType": "image/png"}], "textures": [{"source": 0}],
        "materials": [{"name": "blocks", "pbrMetallicRoughness": {
            "baseColorTexture": {"index": 0}, "metallicFactor": 0.0, "roughnessFactor": 0.9}}]}
    js = json.dumps(doc).encode()
    js += b" " * (-len(js) % 4)
    body = struct.pack("<II", len(js), 0x4E4F534A) + js + struct.pack("<II", len(chunks), 0x004E4942) + chunks
    out = folder / "cube.glb"
    out.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body)
    return out


def catalog(folder: Path, mesh: Path) -> Path:
    path = folder / "catalog.yaml"
    path.write_text(f"categories: [toy]\nassets:\n  - mesh: {mesh.name}\n    category: toy\n")
    return path


RENDER = ["render.width=96", "render.height=72", "render.samples=8", "render.adaptive_threshold=0",
          "render.denoise=false", "render.device=cpu", "objects.count=[1,1]", "scene.object_scale=[1,1]",
          "scene.camera_distance=[0.45,0.5]", "scene.camera_elevation=[25,35]", "camera.focal_length=[40,40]",
          "lighting=narrow", "lighting.count=[1,1]", "'lighting.types=[sun]'", "scene.look_at_jitter=0"]


def render(folder: Path, mesh: Path, out: Path, *extra: str, frames: int = 3) -> Path:
    from omegaconf import OmegaConf

    from simgen.compose.store import compose
    from simgen.pipeline import run
    from simgen.compose.settings import to_settings

    cfg = compose([
        *[o.strip("'") for o in RENDER], f"objects.catalog={catalog(folder, mesh)}", f"frames={frames}",
        "seed=5", f"output.dir={out}", *extra])
    run(to_settings(cfg), OmegaConf.to_container(cfg, resolve=True))
    return out


def hue_agreement(root: Path, index: int, turn: float = 0.0) -> tuple[int, int]:
    """(pixels whose hue agrees with the texel the ray cast finds, turned by ``turn``, pixels
    compared)."""
    meta = json.loads((root / "meta" / f"{index:06d}.json").read_text())
    rgb = cv2.imread(str(root / "images" / f"{index:06d}.png"))[:, :, ::-1]
    inst = cv2.imread(str(root / "instance" / f"{index:06d}.png"), cv2.IMREAD_UNCHANGED)
    obj = next(o for o in meta["objects"] if o["category_id"] == 1)
    v, f, uv = cube()
    world = np.c_[v, np.ones(len(v))] @ np.array(obj["mesh_to_world"]).T
    tris = world[:, :3][f]
    K, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
    R, t = w2c[:3, :3], w2c[:3, 3]
    H, W = inst.shape

    def block_at(u: np.ndarray, vv: np.ndarray):
        d = np.stack([(u - K[0, 2]) / K[0, 0], (vv - K[1, 2]) / K[1, 1], np.ones_like(u)], -1) @ R
        hit_t, tri = intersect(-R.T @ t, d, tris)
        ok = tri >= 0
        p = (-R.T @ t) + d * hit_t[:, None]
        a, b, c = (tris[np.maximum(tri, 0), k] for k in range(3))
        # barycentric coordinates of p in (a, b, c)
        v0, v1, v2 = b - a, c - a, p - a
        d00, d01, d11 = (v0 * v0).sum(1), (v0 * v1).sum(1), (v1 * v1).sum(1)
        d20, d21 = (v2 * v0).sum(1), (v2 * v1).sum(1)
        den = d00 * d11 - d01 * d01
        with np.errstate(invalid="ignore", divide="ignore"):
            l1 = (d11 * d20 - d01 * d21) / den
            l2 = (d00 * d21 - d01 * d20) / den
        fc = f[np.maximum(tri, 0)]
        st = uv[fc[:, 0]] * (1 - l1 - l2)[:, None] + uv[fc[:, 1]] * l1[:, None] + uv[fc[:, 2]] * l2[:, None]
        col = np.clip((st[:, 0] * TEX).astype(int), 0, TEX - 1)
        row = np.clip(((1.0 - st[:, 1]) * TEX).astype(int), 0, TEX - 1)  # OBJ: v up; image row 0 at the top
        return ok, row // (TEX // BLOCKS) * BLOCKS + col // (TEX // BLOCKS), row, col

    vs, us = np.nonzero(inst == obj["instance_id"])
    ok, block, row, col = block_at(us.astype(float), vs.astype(float))
    same = ok.copy()
    for du, dv in ((-0.5, 0), (0.5, 0), (0, -0.5), (0, 0.5)):  # the pixel's footprint stays in one block
        ok2, b2, _, _ = block_at(us + du, vs + dv)
        same &= ok2 & (b2 == block)
    texel = texture()[row, col]
    seen = rgb[vs, us]
    hsv_seen = np.array([colorsys.rgb_to_hsv(*(c / 255.0)) for c in seen])
    hsv_tex = np.array([colorsys.rgb_to_hsv(*(c / 255.0)) for c in texel])
    usable = same & (hsv_seen[:, 2] > 0.12)  # hue means nothing in the dark
    diff = np.abs(hsv_seen[:, 0] - (hsv_tex[:, 0] + turn) % 1.0)
    diff = np.minimum(diff, 1 - diff)
    return int((usable & (diff < 1 / 12)).sum()), int(usable.sum())


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    base = tmp_path_factory.mktemp("own")
    (base / "obj").mkdir()
    (base / "glb").mkdir()
    obj, glb = write_obj(base / "obj"), write_glb(base / "glb")
    clear_mesh_cache()
    return {"obj": render(base / "obj", obj, base / "out_obj"),
            "glb": render(base / "glb", glb, base / "out_glb"),
            "replaced": render(base / "obj", obj, base / "out_replaced", "materials.own_replace=1"),
            "turned": render(base / "obj", obj, base / "out_turned", "materials.own_hue=[0.5,0.5]", frames=1)}


@pytest.mark.render
@pytest.mark.parametrize("kind", ["obj", "glb"])
def test_texture_hue_follows_the_uvs(renders, kind):
    agree = total = 0
    for i in range(3):
        a, n = hue_agreement(renders[kind], i)
        agree, total = agree + a, total + n
    assert total > 300, f"too few comparable pixels ({total}): the test no longer tests anything"
    assert agree / total > 0.95, f"{kind}: hue agrees with the texture on {agree}/{total} pixels"


@pytest.mark.render
def test_random_materials_do_not_follow_the_texture(renders):
    """The same check on the same scenes with the own appearance replaced: chance agreement."""
    agree = total = 0
    for i in range(3):
        a, n = hue_agreement(renders["replaced"], i)
        agree, total = agree + a, total + n
    assert total > 300 and agree / total < 0.5


@pytest.mark.render
def test_the_hue_jitter_turns_the_texture_round_the_colour_wheel(renders):
    """materials.own_hue=[0.5,0.5]: every texel's hue turned by half a turn (red shows cyan)."""
    agree, total = hue_agreement(renders["turned"], 0, turn=0.5)
    assert total > 100 and agree / total > 0.9, (agree, total)
    meta = json.loads((renders["turned"] / "meta" / "000000.json").read_text())
    assert next(o for o in meta["objects"] if o["category_id"] == 1)["material"]["own"]["hue"] == 0.5


@pytest.mark.render
def test_labels_do_not_change_with_appearance(renders):
    a, b = renders["obj"], renders["replaced"]
    for kind in ("instance", "semantic", "depth", "normal"):
        files = sorted(p.name for p in (a / kind).iterdir())
        assert files and files == sorted(p.name for p in (b / kind).iterdir())
        assert all((a / kind / n).read_bytes() == (b / kind / n).read_bytes() for n in files), kind
    ca, cb = (json.loads((r / "coco.json").read_text()) for r in (a, b))
    assert ca["annotations"] == cb["annotations"]


@pytest.mark.render
def test_meta_records_own_look(renders):
    meta = json.loads((renders["obj"] / "meta" / "000000.json").read_text())
    obj = next(o for o in meta["objects"] if o["category_id"] == 1)
    assert obj["material"]["own"]["materials"] == ["blocks"]
    assert obj["material"]["own"]["textures"] == ["blocks.png"]
    meta = json.loads((renders["replaced"] / "meta" / "000000.json").read_text())
    obj = next(o for o in meta["objects"] if o["category_id"] == 1)
    assert "own" not in obj["material"] and "base_color" in obj["material"]


@pytest.mark.render
def test_materials_per_slot_and_vertex_colours_render(tmp_path):
    """A cube OBJ with two materials (top face red, the others blue) and a PLY box whose vertex
    colours are all green: object pixels take the colour of their slot (told apart by the
    normal label: faces whose normal is world +Z are the top) and of their vertices."""
    v, f, _ = cube()
    top = np.all(np.isclose(v[f][:, :, 2], SIDE), axis=1)
    (tmp_path / "two.mtl").write_text("newmtl red\nKd 0.8 0.05 0.05\nnewmtl blue\nKd 0.05 0.05 0.8\n")
    lines = ["mtllib two.mtl"] + [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in v]
    for name, faces in (("red", f[top]), ("blue", f[~top])):
        lines += [f"usemtl {name}"] + ["f " + " ".join(str(i + 1) for i in tri) for tri in faces]
    (tmp_path / "two.obj").write_text("\n".join(lines) + "\n")
    box = trimesh.Trimesh(v, f, process=False)
    box.visual.vertex_colors = np.tile([[20, 200, 20, 255]], (len(v), 1))
    box.export(tmp_path / "green.ply")
    hues = {}
    for mesh in ("two.obj", "green.ply"):
        out = render(tmp_path, tmp_path / mesh, tmp_path / f"out_{mesh}", frames=2)
        for i in range(2):
            meta = json.loads((out / "meta" / f"{i:06d}.json").read_text())
            rgb = cv2.imread(str(out / "images" / f"{i:06d}.png"))[:, :, ::-1] / 255.0
            inst = cv2.imread(str(out / "instance" / f"{i:06d}.png"), cv2.IMREAD_UNCHANGED)
            normal = np.load(out / "normal" / f"{i:06d}.npy")
            up_cam = np.array(meta["world_to_camera"])[:3, :3] @ [0, 0, 1.0]
            obj = next(o for o in meta["objects"] if o["category_id"] == 1)["instance_id"]
            for part, mask in (("top", (inst == obj) & (normal @ up_cam > 0.99)),
                               ("side", (inst == obj) & (normal @ up_cam < 0.5))):
                hsv = np.array([colorsys.rgb_to_hsv(*c) for c in rgb[mask]])
                hues.setdefault((mesh, part), []).extend(hsv[hsv[:, 2] > 0.12, 0].tolist())
    def share(key, lo, hi):
        h = np.array(hues[key])
        assert len(h) > 20, (key, len(h))
        return float(np.mean((h >= lo) & (h <= hi)) if lo < hi else np.mean((h >= lo) | (h <= hi)))
    assert share(("two.obj", "top"), 0.95, 0.05) > 0.95  # red, round the wheel's zero
    assert share(("two.obj", "side"), 0.58, 0.75) > 0.95  # blue
    assert share(("green.ply", "top"), 0.25, 0.42) > 0.95 and share(("green.ply", "side"), 0.25, 0.42) > 0.95


# ---------------------------------------------------------------- loading, without Blender

def test_obj_and_glb_read_the_same_uvs_and_slots(tmp_path):
    (tmp_path / "o").mkdir()
    (tmp_path / "g").mkdir()
    for path in (write_obj(tmp_path / "o"), write_glb(tmp_path / "g")):
        loaded = load_asset(path)
        look = loaded.appearance
        assert [m.name for m in look.materials] == ["blocks"]
        v, f, uv = cube()
        # every face corner carries the UV written for it (compared as (position, uv) rows)
        written = np.round(np.c_[v[f].reshape(-1, 3), uv[f].reshape(-1, 2)], 5).tolist()
        read = np.round(np.c_[np.asarray(loaded.mesh.vertices, float)[loaded.mesh.faces].reshape(-1, 3),
                              look.uv.reshape(-1, 2).astype(float)], 5).tolist()
        assert sorted(map(tuple, written)) == sorted(map(tuple, read))


def test_several_materials_and_vertex_colours(tmp_path):
    (tmp_path / "two.mtl").write_text("newmtl red\nKd 1 0 0\nPr 0.25\nnewmtl blue\nKd 0 0 1\nd 0.5\n")
    (tmp_path / "two.obj").write_text("mtllib two.mtl\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 0 1\n"
                                      "usemtl red\nf 1 2 3\nf 1 3 4\nusemtl blue\nf 1 2 5\n")
    look = load_asset(tmp_path / "two.obj").appearance
    by_name = {m.name: m for m in look.materials}
    assert by_name["red"].base_color == (1.0, 0.0, 0.0) and by_name["red"].roughness == 0.25
    assert by_name["blue"].alpha == 0.5 and by_name["blue"].alpha_mode == "BLEND"
    names = [look.materials[k].name for k in look.face_material]
    assert sorted(names) == ["blue", "red", "red"]
    # COFF: per-vertex colours (0..255), decoded from sRGB to linear
    (tmp_path / "c.off").write_text("COFF\n3 1 0\n0 0 0 255 0 0 255\n1 0 0 0 255 0 255\n0 1 0 0 0 255 255\n3 0 1 2\n")
    look = load_asset(tmp_path / "c.off").appearance
    assert np.allclose(look.colors[0, :, :3], np.eye(3)) and look.materials[0].vertex_colors
    # PLY vertex colours
    m = trimesh.creation.box()
    m.visual.vertex_colors = np.tile([[188, 188, 188, 255]], (len(m.vertices), 1))
    m.export(tmp_path / "grey.ply")
    look = load_asset(tmp_path / "grey.ply").appearance
    assert np.allclose(look.colors[..., 0], ((188 / 255 + 0.055) / 1.055) ** 2.4, atol=1e-6)
    # no appearance at all: a drawn material as before
    trimesh.creation.box().export(tmp_path / "plain.stl")
    assert load_asset(tmp_path / "plain.stl").appearance is None


@pytest.mark.parametrize("mtl, message", [
    ("newmtl a\nKd 0.5 0.5 0.5\nmap_Kd missing.png\n", "not found"),
    ("newmtl a\nKd 0.5 0.5 0.5\nmap_Kd ../outside.png\n", "outside the asset's folder"),
    ("newmtl a\nKd 0.5 0.5 0.5\nmap_Kd /etc/hostname\n", "absolute path"),
    ("newmtl a\nKd 0.5 0.5 0.5\nmap_Kd link.png\n", "outside the asset's folder"),
    ("newmtl a\nKd 0.5 0.5 0.5\nmap_Kd broken.png\n", "does not decode"),
])
def test_bad_textures_are_left_out_or_one_line_errors(tmp_path, mtl, message, caplog):
    """A texture that is missing or outside the asset's folder is not read: the mesh keeps its
    material without the map, the reason is recorded, validate_catalog warns once (or with
    materials.own_strict stops in one line). A texture that is there but corrupt always stops."""
    from simgen.assets.catalog import build_catalog
    from simgen.assets.meshes import validate_catalog

    folder = tmp_path / "asset"
    folder.mkdir()
    Image.fromarray(texture()).save(tmp_path / "outside.png")
    (folder / "link.png").symlink_to(tmp_path / "outside.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "m.mtl").write_text(mtl)
    (folder / "m.obj").write_text("mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\n"
                                  "usemtl a\nf 1/1 2/2 3/3\n")
    clear_mesh_cache()
    catalog = build_catalog(catalog=None, dirs={"thing": str(folder)})
    if message == "does not decode":
        with pytest.raises(SimgenError, match=message):
            validate_catalog(catalog)
        return
    loaded = load_asset(folder / "m.obj")
    assert len(loaded.problems) == 1 and message in loaded.problems[0] and "\n" not in loaded.problems[0]
    (material,) = loaded.appearance.materials
    assert material.base_color_map is None and np.allclose(material.base_color, ((0.5 + 0.055) / 1.055) ** 2.4)
    with caplog.at_level("WARNING", logger="simgen.assets.meshes"):
        validate_catalog(catalog)
        validate_catalog(catalog)
    assert len([r for r in caplog.records if "m.obj renders without part of its own look" in r.getMessage()]) == 1
    with pytest.raises(SimgenError) as e:
        validate_catalog(catalog, strict=True)
    assert message in str(e.value) and "materials.own_strict=true" in str(e.value) and "\n" not in str(e.value)


def pybullet_like(tmp_path: Path) -> Path:
    """A folder of meshes as pybullet's data folder ships them: lego.obj names a lego.mtl that is
    not there, torus_textured.mtl takes its texture from ../cube.png (outside the mesh's folder),
    jenga.mtl names a jenga.tga that is not there (each mesh a unit cube here)."""
    box = trimesh.creation.box()
    obj = "".join(f"v {x} {y} {z}\n" for x, y, z in box.vertices) + "".join(
        f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in box.faces)
    for name, mtl in {"lego": None, "torus_textured": "newmtl t\nKd 0.8 0.2 0.2\nmap_Kd ../cube.png\n",
                      "jenga": "newmtl j\nKd 0.6 0.4 0.2\nmap_Kd jenga.tga\n"}.items():
        folder = tmp_path / "data" / name
        folder.mkdir(parents=True)
        (folder / f"{name}.obj").write_text(f"mtllib {name}.mtl\nusemtl {'t' if 'torus' in name else name[0]}\n{obj}")
        if mtl:
            (folder / f"{name}.mtl").write_text(mtl)
    Image.fromarray(texture()).save(tmp_path / "data" / "cube.png")
    return tmp_path / "data"


def test_meshes_as_pybullet_ships_them_load_without_what_is_missing(tmp_path):
    """Each loads its geometry; lego has no material of its own (a drawn one dresses it), torus
    and jenga keep their colours without the maps; the catalog lists what each was loaded without."""
    from simgen.assets.catalog import build_catalog
    from simgen.assets.meshes import asset_problems

    data = pybullet_like(tmp_path)
    clear_mesh_cache()
    lego, torus, jenga = (load_asset(data / n / f"{n}.obj") for n in ("lego", "torus_textured", "jenga"))
    assert all(len(a.mesh.faces) == 12 for a in (lego, torus, jenga))
    assert lego.appearance is None and "material file (mtllib) of mesh" in lego.problems[0]
    assert "lego.mtl" in lego.problems[0] and "not found" in lego.problems[0]
    assert "cube.png" in torus.problems[0] and "outside the asset's folder" in torus.problems[0]
    assert "jenga.tga" in jenga.problems[0] and "not found" in jenga.problems[0]
    for a, kd in ((torus, 0.8), (jenga, 0.6)):
        (m,) = a.appearance.materials
        assert m.base_color_map is None and np.isclose(m.base_color[0], ((kd + 0.055) / 1.055) ** 2.4)
    catalog = build_catalog(catalog=None, dirs={"toy": str(data)})
    assert sorted(Path(k).name for k in asset_problems(catalog)) == ["jenga.obj", "lego.obj", "torus_textured.obj"]


@pytest.mark.render
def test_a_run_renders_such_meshes_warns_and_records_them_or_stops_when_strict(tmp_path):
    from conftest import simgen_cli

    data = pybullet_like(tmp_path)
    run = ["objects.catalog=null", f"objects.dirs={{toy: '{data}'}}", "objects.dir_scale=0.08", "frames=1",
           "render.width=64",
           "render.height=48", "render.samples=1", "objects.count=[3,3]"]
    r = simgen_cli(*run, f"output.dir={tmp_path / 'out'}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "lego.obj renders without part of its own look" in r.stdout + r.stderr
    recorded = json.loads((tmp_path / "out" / "dataset.json").read_text())["asset_problems"]
    assert sorted(Path(k).name for k in recorded) == ["jenga.obj", "lego.obj", "torus_textured.obj"]
    strict = simgen_cli(*run, "materials.own_strict=true", f"output.dir={tmp_path / 'strict'}", cwd=tmp_path)
    lines = strict.stderr.strip().splitlines()
    assert strict.returncode == 2 and len(lines) == 1 and "materials.own_strict=true" in lines[0], strict.stderr
    assert not (tmp_path / "strict").exists()
