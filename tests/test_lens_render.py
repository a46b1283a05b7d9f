"""Rendering through a real lens (simgen.blender.lens_camera): Cycles' custom camera with the lens
inverted in its OSL shader. The judge is independent of simgen.optics.lens and of Blender: each
pixel centre's ray comes from OpenCV (cv2.undistortPointsIter, cv2.fisheye.undistortPoints) or,
for the equisolid fisheye OpenCV lacks, its closed form; the ray is cast into the analytic scene
(a tilted wall and a tilted square in front of it) and gives the instance id and planar depth
every pixel must have."""

from __future__ import annotations

import bpy
import cv2
import numpy as np
import pytest

from simgen.blender import BlenderBackend
from simgen.blender.lens_camera import set_lens_camera
from simgen.blender.materials import add_normal_aov
from simgen.config import RenderConfig
from simgen.labels.frame import make_labels, ray_distance
from simgen.optics.lens import Equidistant, Equisolid, Fisheye, Pinhole, RadTan, ray_distance_to_depth

pytestmark = pytest.mark.render

W, H = 80, 60
CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-15)
LENSES = {
    "pinhole": Pinhole(fx=70.0, fy=70.0, cx=39.5, cy=29.5, width=W, height=H),
    "radtan": RadTan(fx=60.0, fy=60.6, cx=40.3, cy=29.1, width=W, height=H,
                     k1=-0.28, k2=0.07, p1=1e-4, p2=-2e-4, k3=-0.008),
    "rational": RadTan(fx=58.0, fy=58.0, cx=39.2, cy=30.2, width=W, height=H,
                       k1=0.4, k2=0.05, p1=-3e-4, p2=2e-4, k3=0.001, k4=0.5, k5=0.02, k6=0.001),
    "fisheye": Fisheye(fx=42.0, fy=42.4, cx=39.7, cy=29.6, width=W, height=H,
                       k1=0.02, k2=-0.005, k3=0.001, k4=-0.0002),
    "equidistant": Equidistant(fx=44.0, fy=44.0, cx=39.5, cy=29.5, width=W, height=H),
    "equisolid": Equisolid(fx=44.0, fy=44.0, cx=39.5, cy=29.5, width=W, height=H),
}
WALL = (np.array([0.0, 0.0, 3.0]), np.array([0.25, -0.15, -1.0]))  # a point and the normal (camera frame)
SQUARE = (np.array([0.2, -0.1, 1.6]), np.array([-0.3, 0.2, -1.0]), 0.5)  # centre, normal, half size


def rays_of(name: str, lens) -> np.ndarray:
    """(H*W, 3) unit rays through the pixel centres, row by row, from OpenCV or a closed form."""
    u, v = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
    px = np.stack([u.ravel(), v.ravel()], -1).reshape(-1, 1, 2)
    if name in ("pinhole", "radtan", "rational"):
        coeffs = np.array([getattr(lens, k) for k in ("k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6")]) \
            if name != "pinhole" else np.zeros(5)
        xy = cv2.undistortPointsIter(px, lens.K, coeffs, None, None, CRITERIA)[:, 0]
        d = np.concatenate([xy, np.ones((len(xy), 1))], -1)
    elif name in ("fisheye", "equidistant"):
        coeffs = np.array([lens.k1, lens.k2, lens.k3, lens.k4]) if name == "fisheye" else np.zeros(4)
        xy = cv2.fisheye.undistortPoints(px, lens.K, coeffs, criteria=CRITERIA)[:, 0]
        d = np.concatenate([xy, np.ones((len(xy), 1))], -1)
    else:  # equisolid: r = 2 f sin(theta / 2)
        xd = (px[:, 0, 0] - lens.cx) / lens.fx
        yd = (px[:, 0, 1] - lens.cy) / lens.fy
        r = np.hypot(xd, yd)
        theta = 2 * np.arcsin(r / 2)
        s = np.where(r > 0, np.sin(theta) / np.where(r > 0, r, 1), 1.0)
        d = np.stack([xd * s, yd * s, np.cos(theta)], -1)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def frame_of(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = normal / np.linalg.norm(normal)
    a = np.cross(n, [0.0, 1.0, 0.0])
    a /= np.linalg.norm(a)
    return a, np.cross(n, a)


def cast(rays: np.ndarray, f: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per ray: the id it must see (1 wall, 2 square), its planar depth, and whether it passes
    within 1e-3 px of the square's edge (where float32 may decide either way)."""
    def hit(point, normal):
        n = normal / np.linalg.norm(normal)
        s = (point @ n) / (rays @ n)
        return np.where(s > 0, s, np.inf)

    s_wall = hit(*WALL)
    c, n, half = SQUARE
    s_sq = hit(c, n)
    a, b = frame_of(n)
    p = rays * s_sq[:, None] - c
    inside = np.maximum(np.abs(p @ a), np.abs(p @ b))
    on_square = np.isfinite(s_sq) & (inside <= half)
    ids = np.where(on_square & (s_sq < s_wall), 2, np.where(np.isfinite(s_wall), 1, 0))
    s = np.where(ids == 2, s_sq, s_wall)
    z = rays[:, 2] * s
    pixel_size = z / f  # metres a pixel spans there, about
    edge = np.isfinite(s_sq) & (np.abs(inside - half) < 1e-3 * np.where(np.isfinite(pixel_size), pixel_size, 1))
    return ids.reshape(H, W), z.reshape(H, W), edge.reshape(H, W)


def plane(name: str, index: int, centre: np.ndarray, normal: np.ndarray, half: float) -> None:
    """A square of ``half`` size (camera frame = OpenCV axes = world axes here) with pass index."""
    a, b = frame_of(normal)
    corners = [centre + half * (sa * a + sb * b) for sa, sb in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(p) for p in corners], [], [(0, 1, 2, 3)])
    material = bpy.data.materials.new(name)  # writes the geometric normal, as simgen's materials do
    add_normal_aov(material.node_tree)
    mesh.materials.append(material)
    ob = bpy.data.objects.new(name, mesh)
    ob.pass_index = index
    bpy.context.scene.collection.objects.link(ob)


@pytest.fixture(scope="module")
def backend():
    b = BlenderBackend(RenderConfig(width=W, height=H, samples=1, device="cpu", denoise=False))
    plane("wall", 1, *WALL, 50.0)
    plane("square", 2, *SQUARE)
    yield b
    b.close()


@pytest.mark.parametrize("name", list(LENSES))
def test_every_pixel_sees_through_the_lens_what_an_opencv_ray_cast_sees(backend, name):
    lens = LENSES[name]
    lens.check()
    set_lens_camera(backend._camera, lens, np.eye(4), (0.01, 100.0), exact_labels=True,
                    filter_width=backend.settings.filter_width)
    passes = backend.render_passes()
    ids, z, edge = cast(rays_of(name, lens), lens.fx)
    assert (ids == 2).sum() > 100 and (ids == 1).sum() > 100  # the square and the wall both in view
    wrong = (passes["index"] != ids) & ~edge
    assert not wrong.any(), f"{wrong.sum()} pixel(s) with another id, first at {np.argwhere(wrong)[:3].tolist()}"
    both = (ids > 0) & ~edge
    # Cycles' Depth pass through a custom camera is the distance along the ray, not planar z
    length = z / rays_of(name, lens)[:, 2].reshape(H, W)
    assert (np.abs(passes["depth"][both] - length[both]) / length[both]).max() < 1e-5
    depth = ray_distance_to_depth(lens.pixel_rays(), passes["depth"])  # simgen's label: planar z
    rel = np.abs(depth[both] - z[both]) / z[both]
    assert rel.max() < 1e-5, rel.max()
    assert np.isinf(depth[ids == 0]).all()
    # the distance label: back from planar z to the length along the lens's ray, as OpenCV's ray cast has it
    distance = ray_distance(depth, lens.K, lens)
    assert (np.abs(distance[both] - length[both]) / length[both]).max() < 1e-5
    assert np.isinf(distance[ids == 0]).all()
    # normals in the camera frame (here the world's), turned towards the camera along the lens's rays
    labels = make_labels({**passes, "depth": depth}, {1: 1, 2: 1}, np.eye(4), lens.K, lens)
    for i, (_, n, *_) in ((1, WALL), (2, SQUARE)):
        want = n / np.linalg.norm(n)
        got = labels.normal[(ids == i) & ~edge]
        assert np.abs(got - want).max() < 1e-4, (i, np.abs(got - want).max())
    assert edge.sum() < 0.01 * edge.size


def test_a_lens_on_a_gpu_backend_without_osl_is_refused_before_it_renders(backend):
    """Cycles runs OSL (a lens camera) on the CPU and with OptiX only: a CUDA render is refused
    in one line instead of rendering something else (no GPU here: the chosen device is set)."""
    import dataclasses

    from simgen import SimgenError
    from simgen.scene.data import Camera, Scene

    lens = LENSES["equidistant"]  # square pixels: its K is also a pinhole Blender's camera takes
    scene = Scene(objects=[], lights=[], camera=Camera(width=W, height=H, K=lens.K, world_to_camera=np.eye(4),
                                                       lens=lens))
    backend.device = "CUDA"
    try:
        with pytest.raises(SimgenError, match="OptiX only, not with CUDA: use render.device=optix"):
            backend.build(scene)
        backend.build(dataclasses.replace(scene, camera=dataclasses.replace(scene.camera, lens=None)))  # a pinhole
    finally:
        backend.device = "CPU"


# ---- through the whole pipeline: camera.calibration=FILE ------------------------------------------

def calibration_file(path, K: np.ndarray, width: int, height: int, dist, model: str | None = None) -> str:
    """An OpenCV FileStorage YAML calibration, written as cv2.FileStorage writes one (``model``:
    its distortion_model, e.g. fisheye; None: none written, radial-tangential)."""
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    fs.write("image_width", width)
    fs.write("image_height", height)
    fs.write("camera_matrix", np.asarray(K, float))
    fs.write("distortion_coefficients", np.asarray(dist, float).reshape(1, -1))
    if model is not None:
        fs.write("distortion_model", model)
    fs.release()
    return str(path)


def run(tmp_path, name: str, *args: str):
    import json

    from conftest import simgen_cli

    out = tmp_path / name
    r = simgen_cli(f"output.dir={out}", "frames=2", "seed=5", "render.width=96", "render.height=72",
                   "render.samples=1", *args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    metas = [json.loads(p.read_text()) for p in sorted((out / "meta").glob("*.json"))]
    ids = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted((out / "instance").glob("*.png"))]
    depth = [np.load(p) for p in sorted((out / "depth").glob("*.npy"))]
    return metas, ids, depth


@pytest.mark.slow
def test_a_calibration_without_distortion_gives_the_labels_of_the_pinhole_camera_it_equals(tmp_path):
    from simgen.optics.camera import intrinsics

    K = intrinsics(35.0, 36.0, 96, 72)
    cal = calibration_file(tmp_path / "pinhole.yaml", K, 96, 72, np.zeros(5))
    metas_a, ids_a, depth_a = run(tmp_path, "pinhole", "camera.focal_length=[35,35]")
    metas_b, ids_b, depth_b = run(tmp_path, "calibrated", f"camera.calibration={cal}")
    for ma, mb, ia, ib, za, zb in zip(metas_a, metas_b, ids_a, ids_b, depth_a, depth_b):
        assert "lens" not in ma and mb["lens"]["model"] == "pinhole"  # no distortion: read as a pinhole
        np.testing.assert_allclose(mb["K"], ma["K"], atol=1e-12)
        assert (ia == ib).mean() > 0.999  # the same scene through the same rays (float32 at silhouettes)
        both = np.isfinite(za) & np.isfinite(zb) & (ia == ib).all(-1 if ia.ndim == 3 else None)
        assert both.sum() > 0.9 * both.size
        assert (np.abs(za[both] - zb[both]) / za[both]).max() < 1e-5  # planar depth either way
        for oa, ob in zip(ma["objects"], mb["objects"]):
            pa, pb = ([[np.nan, np.nan] if q is None else q for q in o["box3d"]["projected"]] for o in (oa, ob))
            np.testing.assert_allclose(pb, pa, atol=1e-9)  # NaN (null, behind the camera) in the same places


def test_3d_boxes_project_through_the_calibrated_lens_as_opencv_projects_them(tmp_path):
    K = np.array([[70.0, 0.0, 48.3], [0.0, 70.4, 35.2], [0.0, 0.0, 1.0]])
    dist = np.array([-0.3, 0.09, 4e-4, -3e-4, -0.01])
    cal = calibration_file(tmp_path / "wide.yaml", K, 96, 72, dist)
    metas, ids, depth = run(tmp_path, "wide", f"camera.calibration={cal}")
    from simgen.io.dataset.reader import Dataset

    lens = Dataset(tmp_path / "wide")[0].lens
    np.testing.assert_allclose(lens.K, K)
    np.testing.assert_allclose(lens.distortion_coefficients()[:5], dist)
    checked = 0
    for meta, idmap, z in zip(metas, ids, depth):
        assert meta["lens"]["coefficients"]["k1"] == -0.3 and meta["lens"]["K"] == K.tolist()
        for o in meta["objects"]:
            corners = np.array(o["box3d"]["corners"] + [o["box3d"]["center"]], float)
            want, _ = cv2.projectPoints(corners, np.zeros(3), np.zeros(3), K, dist)
            got = o["box3d"]["projected"]
            for g, w, p in zip(got, want[:, 0], corners):
                if g is not None:
                    np.testing.assert_allclose(g, w, atol=1e-6)
                    checked += 1
                else:
                    assert p[2] <= 0 or np.hypot(*(p[:2] / p[2])) > 1.0  # behind, or where the lens folds
        assert np.isinf(z[idmap == 0] if idmap.ndim == 2 else z[(idmap == 0).all(-1)]).all()
    assert checked > 20


def test_flow_through_a_fisheye_is_the_opencv_projection_of_the_known_motion():
    """rigid_flow with lenses, judged by OpenCV alone: a wall's pixels lifted along
    cv2.fisheye.undistortPoints rays, moved by a known camera motion and an object motion, and
    projected by cv2.fisheye.projectPoints."""
    from simgen.optics.camera import look_at  # noqa: F401  (the camera axes are OpenCV's here)
    from simgen.labels.flow import rigid_flow

    lens = LENSES["fisheye"]
    rays = rays_of("fisheye", lens)
    centre, normal = WALL
    n = normal / np.linalg.norm(normal)
    s = (centre @ n) / (rays @ n)
    points = rays * s[:, None]  # camera t = world
    depth = points[:, 2].reshape(H, W).astype(np.float32)
    instance = np.ones((H, W), np.uint16)
    instance[:, W // 2:] = 2  # the right half moves on its own
    w2c_o = np.eye(4)
    w2c_o[:3, 3] = [-0.05, 0.02, -0.1]  # the camera moves right, up and forward
    c, s_ = np.cos(0.05), np.sin(0.05)
    spin = np.array([[c, -s_, 0, 0], [s_, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    motions = {1: np.eye(4), 2: spin}
    flow, z_o, in_view = rigid_flow(depth, instance, lens.K, np.eye(4), lens.K, w2c_o, motions, lens, lens)
    moved = points.copy()
    right = (instance.ravel() == 2)
    moved[right] = moved[right] @ spin[:3, :3].T
    moved = moved @ w2c_o[:3, :3].T + w2c_o[:3, 3]
    want, _ = cv2.fisheye.projectPoints(moved.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), lens.K,
                                        np.array([lens.k1, lens.k2, lens.k3, lens.k4]))
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    want = want[:, 0].reshape(H, W, 2) - np.stack([u, v], -1)
    assert in_view.mean() > 0.8
    err = np.abs(flow - want)[in_view]
    assert err.max() < 1e-3, err.max()  # float32 flow of a few pixels
    np.testing.assert_allclose(z_o.ravel()[in_view.ravel()], moved[in_view.ravel(), 2], rtol=1e-6)
    assert np.abs(want[in_view]).max() > 2  # it moved


def test_keypoints_through_a_calibrated_lens_are_the_opencv_projections_of_the_box_corners(tmp_path):
    import json

    K = np.array([[70.0, 0.0, 48.3], [0.0, 70.4, 35.2], [0.0, 0.0, 1.0]])
    dist = np.array([-0.3, 0.09, 4e-4, -3e-4, -0.01])
    cal = calibration_file(tmp_path / "wide.yaml", K, 96, 72, dist)
    metas, ids, depth = run(tmp_path, "kp", f"camera.calibration={cal}", "output.labels=[keypoints]",
                            "sequence.length=2", "camera.focal_jitter=0.02", "camera.principal_point_jitter=1.5")
    coco = json.loads((tmp_path / "kp" / "coco.json").read_text())
    corners = {(m["index"], o["instance_id"]): np.array(o["box3d"]["corners"] + [o["box3d"]["center"]])
               for m in metas for o in m["objects"]}
    lens_K = {m["index"]: np.array(m["lens"]["K"]) for m in metas}  # jittered per scene, the same along it
    assert not np.allclose(lens_K[0], K) and np.allclose(lens_K[0], lens_K[1])
    frame_of = {im["id"]: int(im["file_name"].split("/")[-1].split(".")[0]) for im in coco["images"]}
    checked = 0
    for a in coco["annotations"]:
        kp = np.array(a["keypoints"], float).reshape(-1, 3)
        frame = frame_of[a["image_id"]]
        want, _ = cv2.projectPoints(corners[(frame, a["simgen"]["instance_id"])], np.zeros(3), np.zeros(3),
                                    lens_K[frame], dist)
        on = kp[:, 2] > 0  # the box's corners in DOPE's order, then its centre: matched as a set
        gap = np.linalg.norm(kp[on, None, :2] - want[None, :, 0], axis=-1).min(axis=1)
        assert gap.max() < 1e-6, gap.max()
        checked += on.sum()
    assert checked > 20
    assert all(m["flow"] for m in metas)  # the sequence's flow was made through the lens


@pytest.mark.slow
@pytest.mark.parametrize("name", ["radtan", "fisheye"])
def test_amodal_masks_through_a_lens_are_a_ray_cast_of_each_object_alone_through_opencv_s_rays(tmp_path, name):
    import json

    from groundtruth import amodal_raycast, uniform_neighbourhood
    from simgen.io.dataset.layout import read_frame

    K = np.array([[64.0, 0.0, 47.6], [0.0, 64.0, 35.7], [0.0, 0.0, 1.0]])
    if name == "radtan":
        coefficients = np.array([-0.3, 0.09, 4e-4, -3e-4, -0.01])
        cal = calibration_file(tmp_path / "lens.yaml", K, 96, 72, coefficients)
        rays = cv2.undistortPointsIter
    else:
        K[0, 0] = K[1, 1] = 44.0
        coefficients = np.array([0.02, -0.005, 0.001, -0.0002])
        cal = calibration_file(tmp_path / "lens.yaml", K, 96, 72, coefficients, "fisheye")
        rays = None
    run(tmp_path, "amodal", f"camera.calibration={cal}", "output.labels=[amodal,visibility]", "scene.distractors=[2,4]",
        "scene.camera_distance=[0.6,0.8]")
    u, v = np.meshgrid(np.arange(96, dtype=float), np.arange(72, dtype=float))
    px = np.stack([u.ravel(), v.ravel()], -1).reshape(-1, 1, 2)
    xy = (rays(px, K, coefficients, None, None, CRITERIA) if rays is not None
          else cv2.fisheye.undistortPoints(px, K, coefficients, criteria=CRITERIA))[:, 0]
    dirs = np.concatenate([xy, np.ones((len(xy), 1))], -1)
    root, compared = tmp_path / "amodal", 0
    for index in range(2):
        frame = read_frame(root, index)
        inst, amodal = frame["instance"], frame["amodal"]
        truth = amodal_raycast(root, index, dirs)
        got = dict(zip(amodal["instance_ids"].tolist(), amodal["masks"]))
        assert set(got) == {i for i, m in truth.items() if m.any()}
        for iid, mask in got.items():
            assert np.all(mask[inst == iid]), "every visible pixel is in the amodal mask"
            ref = truth[iid] | (inst == iid)
            inner = uniform_neighbourhood(ref.astype(np.int64))
            assert np.array_equal(mask[inner], ref[inner]), f"frame {index} object {iid}: off a mask edge"
            assert np.mean(mask == ref) >= 0.999
            compared += int(ref.sum())
        annotations = json.loads((root / "meta" / f"{index:06d}.json").read_text())["coco"]["annotations"]
        assert all(0 < a["simgen"]["visibility"] <= 1 for a in annotations)
    assert compared > 500


def test_amodal_masks_through_a_lens_that_sees_beyond_90_degrees_are_refused(tmp_path):
    from conftest import tiny_settings
    from simgen import SimgenError
    from simgen.compose.settings import validate

    K = np.array([[18.0, 0.0, 47.5], [0.0, 18.0, 35.5], [0.0, 0.0, 1.0]])  # the corners are ~3.3 rad out
    s = tiny_settings(tmp_path / "out", frames=1, width=96, height=72)
    s.camera.calibration = calibration_file(tmp_path / "wide.yaml", K, 96, 72, [0.0, 0.0, 0.0, 0.0], "fisheye")
    s.output.labels = ["amodal"]
    with pytest.raises(SimgenError, match=r"sees 90 degrees or more from its axis inside the image; "
                                          r"output.labels=\['amodal'\] are made for rays that go forward"):
        validate(s)
    s.output.labels = []
    validate(s)  # the lens itself is fine
