"""Robots as their packages ship them, rendered: the cases simgen refused before issue 75, each
labelled link by link on every pixel.

- pybullet_data's laikago (``laikago_toes_zup.urdf``): its four toe spheres of radius 0 left out.
  Ground truth built without simgen's model code: the URDF's visuals read here with ElementTree
  (the toes have no surface to hit), each link posed by PyBullet's forward kinematics at the
  joint values the frame's meta records, placed by the object's mesh_to_world, rays cast through
  every pixel centre (tests/groundtruth.py).
- dm_control's humanoid (``suite/humanoid.xml``, fetched by scripts/fetch_robots.py): a free root
  joint, held where the file puts the torso. PyBullet's MJCF loader cannot read dm_control's
  defaults, so the ground truth is each part's mesh under models/ placed by the meta's
  mesh_to_world; that the torso's pose is the object's placement times the file's own torso pose
  (its pos read here with ElementTree) is checked, and the hinges' kinematics is MuJoCo's, checked
  against PyBullet's on other models (tests/test_articulated.py).

Both render one object in a tiny frame (slow tier: two renders and their ray casts).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import trimesh

from conftest import require, set_settings, tiny_settings
from groundtruth import intersect, pixel_centre_rays
from simgen.io.dataset.layout import read_frame
from test_articulated import DATA, _rpy, bullet_link_poses

pytestmark = [pytest.mark.render, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
LAIKAGO = DATA / "laikago" / "laikago_toes_zup.urdf"
HUMANOID = ROOT / ".robots" / "dm_control" / "suite" / "humanoid.xml"
FETCH = ".venv/bin/python scripts/fetch_robots.py --out .robots/dm_control"


def render(tmp_path: Path, model: Path, scale: float) -> Path:
    from simgen.pipeline import run

    (tmp_path / "catalog.yaml").write_text(f"categories: [robot]\nassets:\n  - mesh: {model}\n    category: robot\n"
                                           f"    scale: {scale}\n")
    out = tmp_path / "data"
    run(set_settings(tiny_settings(out, frames=1, width=96, height=72), objects__catalog=str(tmp_path / "catalog.yaml"),
                     objects__count=[1, 1], output__labels=["parts"]))
    return out


def laikago_visuals() -> dict[str, trimesh.Trimesh]:
    """Each link's visuals in its own frame, read here with ElementTree and trimesh: meshes (scaled,
    at their origin); a sphere of radius 0 has no surface (the toes); any other primitive fails here."""
    out = {}
    for link in ET.parse(LAIKAGO).getroot().findall("link"):
        parts = []
        for visual in link.findall("visual"):
            geometry = visual.find("geometry")[0]
            if geometry.tag == "sphere" and float(geometry.get("radius")) == 0.0:
                continue
            assert geometry.tag == "mesh", geometry.tag
            origin = visual.find("origin")
            local = np.eye(4)
            local[:3, :3] = _rpy(*(float(s) for s in origin.get("rpy", "0 0 0").split()))
            local[:3, 3] = [float(s) for s in origin.get("xyz", "0 0 0").split()]
            m = trimesh.load(LAIKAGO.parent / geometry.get("filename"), force="mesh")
            m.apply_transform(np.diag([*(float(s) for s in geometry.get("scale", "1 1 1").split()), 1.0]))
            parts.append(m.apply_transform(local))
        if parts:
            out[link.get("name")] = trimesh.util.concatenate(parts)
    return out


def ray_cast_parts(root: Path, meta: dict, bodies: list[tuple[int, trimesh.Trimesh]]) -> np.ndarray:
    """The id of the first body each pixel centre's ray hits (0: none); ``bodies`` in the world,
    the scene's other objects (ground, walls) added from models/."""
    K, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
    W, H = meta["width"], meta["height"]
    origin, dirs, _ = pixel_centre_rays(K, w2c, W, H)
    others = [(o["instance_id"], trimesh.load(root / o["mesh"], force="mesh").apply_transform(np.array(o["mesh_to_world"])))
              for o in meta["objects"] if "parts" not in o]
    depth, part = np.full(W * H, np.inf), np.zeros(W * H, np.int64)
    for body_id, mesh in bodies + others:
        hit_t, _ = intersect(origin, dirs, mesh.triangles)
        closer = hit_t < depth
        depth[closer], part[closer] = hit_t[closer], body_id
    return part.reshape(H, W)


def robot_of(meta: dict) -> dict:
    (robot,) = [o for o in meta["objects"] if "parts" in o]
    return robot


def check_parts(frame: dict, gt: np.ndarray, at_least: int) -> None:
    robot = robot_of(frame["meta"])
    ids = {p["id"] for p in robot["parts"]}
    seen = set(np.unique(gt).tolist()) & ids
    assert len(seen) >= at_least, f"only parts {seen} in view: nothing to test"
    parts = frame["parts"].astype(np.int64)
    assert np.array_equal(parts, gt), f"{(parts != gt).sum()} pixels disagree"
    merged = np.where(np.isin(gt, list(ids)), robot["instance_id"], gt)
    assert np.array_equal(frame["instance"].astype(np.int64), merged)


def test_laikago_renders_without_its_toes_each_link_exact(tmp_path):
    from simgen.assets.articulated import load_articulated

    (note,) = load_articulated(LAIKAGO).notes
    assert "left out 4 geometries of size 0" in note and "'toeFR'" in note
    out = render(tmp_path, LAIKAGO, 0.8)
    frame = read_frame(out, 0)
    robot = robot_of(frame["meta"])
    assert len(robot["joints"]) == 12 and all("toe" not in p["link"] for p in robot["parts"])
    poses = bullet_link_poses(LAIKAGO, robot["joints"])
    ids = {p["link"]: p["id"] for p in robot["parts"]}
    visuals = laikago_visuals()
    assert set(visuals) == set(ids)
    bodies = [(ids[name], m.copy().apply_transform(np.array(robot["mesh_to_world"]) @ poses[name]))
              for name, m in visuals.items()]
    check_parts(frame, ray_cast_parts(out, frame["meta"], bodies), at_least=5)


def _torso_in_file() -> np.ndarray:
    torso = next(b for b in ET.parse(HUMANOID).getroot().iter("body") if b.get("name") == "torso")
    assert set(torso.attrib) & {"quat", "euler", "axisangle", "xyaxes", "zaxis"} == set()
    t = np.eye(4)
    t[:3, 3] = [float(v) for v in torso.get("pos").split()]
    return t


def test_dm_controls_humanoid_renders_from_its_free_root_each_link_exact(tmp_path):
    require("dm_control's models (.robots/dm_control)", HUMANOID.is_file(), FETCH)
    out = render(tmp_path, HUMANOID, 0.4)
    frame = read_frame(out, 0)
    robot = robot_of(frame["meta"])
    assert robot["free_joints"] == ["root"] and "root" not in robot["joints"] and len(robot["joints"]) == 21
    torso = next(p for p in robot["parts"] if p["link"] == "torso")
    np.testing.assert_allclose(np.array(torso["mesh_to_world"]),
                               np.array(robot["mesh_to_world"]) @ _torso_in_file(), atol=1e-9)
    bodies = [(p["id"], trimesh.load(out / p["mesh"], force="mesh").apply_transform(np.array(p["mesh_to_world"])))
              for p in robot["parts"]]
    check_parts(frame, ray_cast_parts(out, frame["meta"], bodies), at_least=8)
    meta = json.loads((out / "meta" / "000000.json").read_text())
    assert robot_of(meta)["free_joints"] == ["root"]
