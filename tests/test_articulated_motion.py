"""An arm with a gripper whose joints move through a sequence, labelled link by link.

Franka's Panda (as pybullet_data ships it: seven revolute joints, two prismatic fingers) in a
tabletop sequence with objects.joint_motion: every pixel's part id, instance id and depth, the
optical flow between steps and the point tracks, each against ground truth built without simgen's
model code: the URDF's visuals read here with ElementTree, each link posed by PyBullet's forward
kinematics at the joint values the frame's meta records and placed by the object's mesh_to_world
(the rest of the scene from the dataset's models/), rays cast through every pixel centre
(tests/groundtruth.py), each hit point moved with its own link to the next step and projected.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from conftest import set_settings, tiny_settings
from groundtruth import incidence_cos, intersect, pixel_centre_rays
from simgen.io.dataset.layout import read_frame
from test_articulated import DATA, MODELS, bullet_link_poses, urdf_link_visuals

pytestmark = [pytest.mark.render, pytest.mark.slow]  # a 3-step render and its ray casts: ~40 s on 2 cores
KEY = "panda"
STEPS = 3


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("motion")
    rel, packages = MODELS[KEY]
    catalog = root / "catalog.yaml"
    catalog.write_text(f"categories: [robot]\nassets:\n  - mesh: {DATA / rel}\n    category: robot\n"
                       f"    scale: 0.6\n    packages: [{', '.join(str(DATA / p) for p in packages)}]\n")
    out = root / "data"
    from simgen.pipeline import run

    run(set_settings(tiny_settings(out, frames=STEPS, width=80, height=60), objects__catalog=str(catalog),
                     objects__count=[1, 1], sequence__length=STEPS, objects__joint_motion=2,
                     output__labels=["tracks", "amodal"], output__formats=["coco", "bop"],
                     output__track_background=0.0, output__track_points=200))
    return out


@pytest.fixture(scope="module")
def links() -> dict[str, trimesh.Trimesh]:
    return urdf_link_visuals(DATA / MODELS[KEY][0])


def arm_of(meta: dict) -> dict:
    (arm,) = [o for o in meta["objects"] if "joints" in o]
    return arm


def link_to_world(meta: dict) -> dict[str, np.ndarray]:
    """Each link's pose in the world at the frame's joint values, by PyBullet, placed by the object's
    mesh_to_world (the root link's pose)."""
    arm = arm_of(meta)
    poses = bullet_link_poses(DATA / MODELS[KEY][0], arm["joints"])
    return {p["link"]: np.array(arm["mesh_to_world"]) @ poses[p["link"]] for p in arm["parts"]}


def ray_cast(root: Path, meta: dict, links: dict[str, trimesh.Trimesh]) -> dict[str, np.ndarray]:
    """Per pixel centre: the part id hit (the arm's links by the meta's part table, every other
    object its instance id), the planar depth, the hit point in the world and the face normal."""
    K, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
    W, H = meta["width"], meta["height"]
    origin, dirs, _ = pixel_centre_rays(K, w2c, W, H)
    R = w2c[:3, :3]
    depth, part, normal = np.full(W * H, np.inf), np.zeros(W * H, np.int64), np.zeros((W * H, 3))
    bodies = []
    for o in meta["objects"]:
        if "joints" in o:
            ids = {p["link"]: p["id"] for p in o["parts"]}
            poses = link_to_world(meta)
            bodies += [(ids[name], m.copy().apply_transform(poses[name])) for name, m in links.items()]
        else:
            bodies.append((o["instance_id"], trimesh.load(root / o["mesh"], force="mesh").apply_transform(
                np.array(o["mesh_to_world"]))))
    covers = {}
    for body_id, mesh in bodies:
        hit_t, tri = intersect(origin, dirs, mesh.triangles)
        covers[body_id] = np.isfinite(hit_t).reshape(H, W)
        closer = hit_t < depth
        depth[closer], part[closer] = hit_t[closer], body_id
        normal[closer] = mesh.face_normals[tri[closer]] @ R.T
    points = origin + depth[:, None] * dirs
    return {"part": part.reshape(H, W), "depth": depth.reshape(H, W), "normal": normal.reshape(H, W, 3),
            "points": points.reshape(H, W, 3), "covers": covers}


@pytest.fixture(scope="module")
def frames(rendered, links):
    out = []
    for i in range(STEPS):
        frame = read_frame(rendered, i)
        out.append((frame, ray_cast(rendered, frame["meta"], links)))
    return out


def project(meta: dict, world: np.ndarray) -> np.ndarray:
    K, w2c = np.array(meta["K"]), np.array(meta["world_to_camera"])
    cam = world @ w2c[:3, :3].T + w2c[:3, 3]
    uv = cam @ K.T
    return uv[..., :2] / uv[..., 2:]


def test_the_joints_move_smoothly_through_drawn_configurations(frames):
    """Period 2: steps 0 and 2 are drawn configurations, step 1 the eased half way (smoothstep(1/2)
    = 1/2) between them; every value within its limits."""
    from simgen.assets.articulated import load_articulated

    rel, packages = MODELS[KEY]
    limits = {j.name: (j.lower, j.upper) for j in load_articulated(DATA / rel, [DATA / p for p in packages]).actuated}
    q = [arm_of(f["meta"])["joints"] for f, _ in frames]
    assert all(set(x) == set(limits) for x in q)
    assert all(limits[k][0] <= x[k] <= limits[k][1] for x in q for k in x)
    assert all(q[2][k] != q[0][k] for k in limits), "a joint that did not move"
    for k in limits:
        assert q[1][k] == pytest.approx((q[0][k] + q[2][k]) / 2, abs=1e-12)
    assets = [arm_of(f["meta"])["asset"] for f, _ in frames]
    assert len(set(assets)) == STEPS  # each configuration's own models/ file


@pytest.mark.parametrize("step", range(STEPS))
def test_every_pixel_has_its_links_part_id_and_exact_depth(frames, step):
    frame, gt = frames[step]
    arm = arm_of(frame["meta"])
    part_ids = {p["id"] for p in arm["parts"]}
    assert len(part_ids) == len(arm["parts"]) >= 9 and min(part_ids) > max(o["instance_id"] for o in frame["meta"]["objects"])
    seen = set(np.unique(gt["part"]).tolist()) & part_ids
    assert len(seen) >= 4, f"only links {seen} of the arm in view: nothing to test"
    parts = frame["parts"].astype(np.int64)
    assert np.array_equal(parts, gt["part"]), f"{(parts != gt['part']).sum()} pixels disagree"
    merged = np.where(np.isin(gt["part"], list(part_ids)), arm["instance_id"], gt["part"])
    assert np.array_equal(frame["instance"].astype(np.int64), merged)
    same = gt["part"] > 0
    facing = same & (incidence_cos(np.array(frame["meta"]["K"]), gt["normal"]) > 0.1)
    rel = np.abs(frame["depth"][facing] - gt["depth"][facing]) / gt["depth"][facing]
    assert rel.max() < 1e-5, f"max relative depth error {rel.max():.2e}"


@pytest.mark.parametrize("step", range(STEPS - 1))
def test_forward_flow_follows_each_link(rendered, frames, step):
    """Each ray-cast hit point moved with its own link's PyBullet poses (still objects stay),
    projected into the next step: the flow within 0.01 px on every valid pixel of the arm."""
    (frame, gt), (later, _) = frames[step], frames[step + 1]
    flow = np.load(rendered / "flow_forward" / f"{step:06d}.npy")
    valid = np.asarray(read_png_bool(rendered / "flow_forward_valid" / f"{step:06d}.png"))
    ids = {p["id"]: p["link"] for p in arm_of(frame["meta"])["parts"]}
    now, then = link_to_world(frame["meta"]), link_to_world(later["meta"])
    moved = gt["points"].copy()
    for pid, link in ids.items():
        sel = gt["part"] == pid
        motion = then[link] @ np.linalg.inv(now[link])
        moved[sel] = gt["points"][sel] @ motion[:3, :3].T + motion[:3, 3]
    h, w = gt["part"].shape
    u, v = np.meshgrid(np.arange(w, dtype=float), np.arange(h, dtype=float))
    expected = project(later["meta"], moved) - np.stack([u, v], axis=-1)
    on_arm = np.isin(gt["part"], list(ids)) & valid & (frame["parts"] == gt["part"])
    assert on_arm.sum() > 20, "too little of the arm valid to test"
    moving = np.linalg.norm(expected[on_arm], axis=-1)
    assert moving.max() > 0.5, "the arm barely moved in the image"
    epe = np.linalg.norm(flow[on_arm] - expected[on_arm], axis=-1)
    assert epe.max() < 0.01, f"max end-point error {epe.max():.4f} px on the arm"
    rest = (gt["part"] > 0) & ~np.isin(gt["part"], list(ids)) & valid
    epe_rest = np.linalg.norm(flow[rest] - expected[rest], axis=-1)
    assert epe_rest.max() < 0.01


def read_png_bool(path: Path) -> np.ndarray:
    from simgen.io.files import read_png

    return read_png(path) > 0


def test_tracks_on_the_arm_follow_their_link(rendered, frames):
    """Every track's point, in its part's own coordinates, placed by its link's PyBullet pose at
    each step and projected: its uv within 0.01 px wherever the lens projects it."""
    tracks = np.load(rendered / "tracks" / "000000.npz")
    arm = arm_of(frames[0][0]["meta"])
    ids = {p["id"]: p["link"] for p in arm["parts"]}
    on_arm = np.isin(tracks["part_id"], list(ids))
    assert on_arm.sum() >= 10, "too few tracks on the arm"
    assert (tracks["instance_id"][on_arm] == arm["instance_id"]).all()
    assert (tracks["part_id"][~on_arm] == tracks["instance_id"][~on_arm]).all()
    for t, (frame, _) in enumerate(frames):
        poses = link_to_world(frame["meta"])
        for k in np.flatnonzero(on_arm):
            pose = poses[ids[int(tracks["part_id"][k])]]
            world = pose[:3, :3] @ tracks["points_object"][k].astype(float) + pose[:3, 3]
            assert np.abs(project(frame["meta"], world) - tracks["uv"][k, t]).max() < 0.01


def test_each_part_has_its_links_3d_box(frames, links):
    """The meta's box3d of each part: the corners of its link mesh's bounds (read here from the
    URDF's files), placed by PyBullet's link pose, in the frame's camera."""
    for frame, _ in frames:
        meta = frame["meta"]
        w2c, poses = np.array(meta["world_to_camera"]), link_to_world(meta)
        for p in arm_of(meta)["parts"]:
            lo, hi = links[p["link"]].bounds
            assert np.allclose(p["box3d"]["min"], lo, atol=1e-6) and np.allclose(p["box3d"]["max"], hi, atol=1e-6)
            corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
            camera = (w2c @ poses[p["link"]] @ np.c_[corners, np.ones(8)].T).T[:, :3]
            got = np.array(p["box3d"]["corners"])
            assert np.abs(got[:, None] - camera[None]).sum(-1).min(1).max() < 1e-6  # the same 8 points


@pytest.mark.parametrize("step", range(STEPS))
def test_each_link_has_its_own_amodal_mask(frames, step):
    """amodal/'s part_masks: each link's pixel centres its rays meet (the link alone, ray cast),
    its visible pixels among them."""
    frame, gt = frames[step]
    amodal, arm = frame["amodal"], arm_of(frame["meta"])
    ids = [int(i) for i in amodal["part_ids"]]
    assert ids == sorted(p["id"] for p in arm["parts"] if gt["covers"][p["id"]].any() or (frame["parts"] == p["id"]).any())
    for pid, mask in zip(ids, amodal["part_masks"]):
        assert np.all(mask[frame["parts"] == pid])
        assert (mask != gt["covers"][pid]).sum() <= 2, f"part {pid}: {(mask != gt['covers'][pid]).sum()} pixels disagree"


def test_bop_makes_each_link_an_object_where_its_own_kinematics_puts_it(rendered, frames, links):
    """The BOP export (read back by tests/test_bop.py's reader, written from the format's own
    description) holds the arm as its links: each a BOP model (models_simgen.json names the link)
    whose gt pose puts it where PyBullet's forward kinematics puts the link's URDF mesh, its
    mask_visib the pixels of its part id (parts/, against the ray cast above), its mask the link's
    amodal mask."""
    from test_bop import _json_by_id, expected_place, read_bop

    bop = read_bop(rendered / "bop")
    simgen_of = _json_by_id(rendered / "bop" / "models" / "models_simgen.json")
    assert sorted(m["link"] for m in simgen_of.values()) == sorted(links)  # one BOP model per link, every step
    visible = 0
    for frame, _ in frames:
        meta, arm = frame["meta"], arm_of(frame["meta"])
        im = bop["images"][expected_place(meta)]
        w2c, poses = np.array(meta["world_to_camera"]), link_to_world(meta)
        amodal = dict(zip(frame["amodal"]["part_ids"].tolist(), frame["amodal"]["part_masks"]))
        parts = sorted(arm["parts"], key=lambda p: p["id"])
        assert [simgen_of[g["obj_id"]]["link"] for g in im["gt"]] == [p["link"] for p in parts]
        for g, p, (mask, visib), info in zip(im["gt"], parts, im["masks"], im["gt_info"]):
            model = trimesh.load(bop["models"][g["obj_id"]][1], force="mesh", process=False)
            got = model.vertices @ g["R"].T + g["t"]  # mm, in the camera
            want = trimesh.transform_points(links[p["link"]].vertices, w2c @ poses[p["link"]]) * 1000.0
            assert np.abs(got.min(0) - want.min(0)).max() < 0.01 and np.abs(got.max(0) - want.max(0)).max() < 0.01
            own = frame["parts"] == p["id"]
            assert np.array_equal(visib > 0, own) and info["px_count_visib"] == own.sum()
            assert np.array_equal(mask > 0, amodal.get(p["id"], np.zeros_like(own)))
            visible += bool(own.any())
    assert visible >= 2 * STEPS


def test_bop_refuses_an_articulated_frame_without_its_parts_in_one_line(rendered, tmp_path):
    """A dataset whose articulated frames lack parts/ (rendered before the bop format brought it)
    is refused with the fix, not exported with each arm as one rigid model."""
    import shutil

    from simgen import SimgenError
    from simgen.io.dataset.coco_index import CocoIndex
    from simgen.io.dataset.layout import frames_on_disk
    from simgen.io.formats.bop import write_bop

    root = tmp_path / "ds"
    shutil.copytree(rendered, root)
    shutil.rmtree(root / "bop")
    (root / "parts" / "000001.png").unlink()
    index = CocoIndex(root, json.loads((root / "dataset.json").read_text())["categories"])
    index.update(frames_on_disk(root))
    with pytest.raises(SimgenError, match=r"frame 1 has articulated objects and no parts/000001.png.*"
                                          r"output.labels=\[amodal,parts\]"):
        write_bop(root, index, ["train", "val", "test"])
