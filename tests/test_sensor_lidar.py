"""LiDAR (sensor.lidar; simgen.sensors.lidar, simgen.blender.lidar_camera, simgen.io.formats.lidar).

The judges are independent of simgen's beam code: each beam's direction is written here from the
data sheet (the VLP-16's 16 elevations -15..+15 deg in 2 deg steps, the azimuth step of its
55.296 us firing cycle at the rotation rate, clockwise from ahead in KITTI's x forward, y left,
z up) and cast with a float64 Moller-Trumbore ray cast (tests/groundtruth.py) into the scene's
triangles as trimesh builds them; the KITTI ``.bin`` is read back by a reader written here from
KITTI's devkit (four little-endian float32 a point: x, y, z, reflectance).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import trimesh

from groundtruth import intersect
from simgen.io.formats.lidar import encode_kitti_bin, encode_ply, read_ply
from simgen.sensors.lidar import (FIELDS, HDL32E, SCANNERS, VLP16, Returns, beam_directions, beam_times, point_cloud,
                                  scanner_to_world)

FIRING_CYCLE = 55.296e-6  # VLP-16 User Manual 63-9243 Rev. D, 8.1
SHEET_ELEVATIONS = [-15, -13, -11, -9, -7, -5, -3, -1, 1, 3, 5, 7, 9, 11, 13, 15]  # Table 9-1, sorted
HDL32E_CYCLE = 46.08e-6  # HDL-32E User's Manual, Appendix E: -542.592 + offset / 100 x 46.08 + DSR x 1.152 us
HDL32E_ELEVATIONS = [  # HDL-32E User's Manual, Laser Firing Sequence table, sorted (as listed, to 0.01 deg)
    -30.67, -29.33, -28.00, -26.66, -25.33, -24.00, -22.67, -21.33, -20.00, -18.67, -17.33, -16.00, -14.67,
    -13.33, -12.00, -10.67, -9.33, -8.00, -6.66, -5.33, -4.00, -2.67, -1.33, 0.00, 1.33, 2.67, 4.00, 5.33,
    6.67, 8.00, 9.33, 10.67]


def sheet_directions(rpm: float, elevations=SHEET_ELEVATIONS, cycle=FIRING_CYCLE) -> tuple[np.ndarray, np.ndarray]:
    """(rings, C, 3) beams in the scanner frame from the data sheet alone, and the azimuths (deg)."""
    columns = round(60.0 / rpm / cycle)
    az = np.arange(columns) * 360.0 / columns
    e, a = np.meshgrid(np.radians(elevations), np.radians(az), indexing="ij")
    return np.stack([np.cos(e) * np.cos(a), -np.cos(e) * np.sin(a), np.sin(e)], axis=-1), az


def kitti_read(path) -> np.ndarray:
    """KITTI's devkit: a velodyne scan is N records of 4 float32 (x, y, z, reflectance), little endian."""
    data = open(path, "rb").read()
    assert len(data) % 16 == 0
    return np.array([struct.unpack("<4f", data[i:i + 16]) for i in range(0, len(data), 16)], np.float64).reshape(-1, 4)


# ---- pure -----------------------------------------------------------------------------------------

def test_the_vlp16_beams_are_the_data_sheet_s():
    for rpm, step in ((300, 0.1), (600, 0.2), (900, 0.3), (1200, 0.4)):  # the manual's 8.3.1 table, about
        dirs = beam_directions(VLP16, rpm)
        want, az = sheet_directions(rpm)
        assert dirs.shape == want.shape == (16, len(az), 3)
        np.testing.assert_allclose(dirs, want, atol=1e-12)
        assert abs(az[1] - step) < 0.005  # 360 * rpm / 60 * 55.296 us, a whole number of steps a turn
        elevation = np.degrees(np.arcsin(dirs[:, 0, 2]))
        np.testing.assert_allclose(elevation, SHEET_ELEVATIONS, atol=1e-9)
    assert VLP16.max_range == 100.0 and VLP16.range_sigma == 0.03  # data sheet: 100 m, +-3 cm typical


def test_the_hdl32e_beams_are_its_manual_s():
    for rpm, step in ((300, 0.083), (600, 0.166), (1200, 0.332)):  # the data sheet's 0.08-0.33 deg at 5-20 Hz
        dirs = beam_directions(HDL32E, rpm)
        want, az = sheet_directions(rpm, HDL32E_ELEVATIONS, HDL32E_CYCLE)
        assert dirs.shape == want.shape == (32, len(az), 3) and abs(az[1] - step) < 0.001
        np.testing.assert_allclose(np.degrees(np.arcsin(dirs[:, 0, 2])), HDL32E_ELEVATIONS, atol=0.0075)
    assert HDL32E.max_range == 100.0 and HDL32E.range_sigma == 0.02


def test_sensor_lidar_offers_every_scanner():
    from simgen.config.sensor import LIDARS

    assert set(LIDARS) == set(SCANNERS)


def test_a_point_s_time_is_its_azimuth_s_share_of_the_turn():
    t = beam_times(VLP16, 600)
    _, az = sheet_directions(600)
    np.testing.assert_allclose(t, az / 360.0 * 0.1, atol=1e-15)


def test_the_scanner_looks_where_the_camera_looks():
    cam = np.eye(4)  # OpenCV camera at the origin looking down +z (x right, y down)
    m = scanner_to_world(cam, [0.1, 0.2, 0.3])
    np.testing.assert_allclose(m[:3, 0], [0, 0, 1], atol=1e-15)   # forward = the camera's z
    np.testing.assert_allclose(m[:3, 1], [-1, 0, 0], atol=1e-15)  # left = -x (right)
    np.testing.assert_allclose(m[:3, 2], [0, -1, 0], atol=1e-15)  # up = -y (down)
    np.testing.assert_allclose(m[:3, 3], [-0.2, -0.3, 0.1], atol=1e-15)


def synthetic_returns(rpm=1200, distance=5.0, albedo=0.6):
    """A scanner inside a sphere-like return field: every beam hits at ``distance``, facing it."""
    dirs = beam_directions(VLP16, rpm)
    R, C = dirs.shape[:2]
    return Returns(distance=np.full((R, C), distance), index=np.ones((R, C), np.int32),
                   normal=-dirs.copy(), albedo=np.full((R, C, 3), albedo))


def test_exact_ranges_and_lambertian_intensity_without_noise():
    ret = synthetic_returns()
    cloud, report = point_cloud(ret, VLP16, 1200, np.eye(4), {1: 7}, rng=None)
    assert report["points"] == ret.distance.size and report["range_sigma"] == 0.0
    np.testing.assert_allclose(cloud["range"], 5.0, rtol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(np.stack([cloud[k] for k in "xyz"], -1), axis=-1), 5.0, rtol=1e-6)
    np.testing.assert_allclose(cloud["intensity"], 0.6, rtol=1e-6)  # rho x cos(0)
    assert (cloud["semantic"] == 7).all() and (cloud["noise"] == 0).all()
    # tilted by 60 degrees: cos = 0.5
    dirs = beam_directions(VLP16, 1200)
    side = np.cross(dirs, [0.0, 0.0, 1.0])
    side /= np.linalg.norm(side, axis=-1, keepdims=True)
    tilted = Returns(ret.distance, ret.index, -dirs * 0.5 + side * np.sqrt(0.75), ret.albedo)
    cloud, _ = point_cloud(tilted, VLP16, 1200, np.eye(4), {1: 7}, rng=None)
    np.testing.assert_allclose(cloud["intensity"], 0.3, rtol=1e-5)


def test_each_column_s_normal_is_read_in_its_own_scanner_pose():
    """A scanner that turns during its turn (a pose per column): a surface facing each beam, given in the
    world, is head-on in every column's own frame."""
    from scipy.spatial.transform import Rotation

    dirs = beam_directions(VLP16, 1200)
    C = dirs.shape[1]
    poses = np.repeat(np.eye(4)[None], C, axis=0)
    poses[:, :3, :3] = Rotation.from_rotvec(np.linspace(0, 0.4, C)[:, None] * [0.2, 0.5, 0.8]).as_matrix()
    normal_world = -np.einsum("cij,rcj->rci", poses[:, :3, :3], dirs)
    ret = Returns(np.full(dirs.shape[:2], 4.0), np.ones(dirs.shape[:2], np.int32), normal_world,
                  np.full(dirs.shape, 0.7))
    cloud, _ = point_cloud(ret, VLP16, 1200, poses, {1: 1}, rng=None)
    np.testing.assert_allclose(cloud["intensity"], 0.7, rtol=1e-6)
    cloud, _ = point_cloud(ret, VLP16, 1200, np.eye(4), {1: 1}, rng=None)  # read in one pose: not head-on
    assert cloud["intensity"].min() < 0.65


def test_sectors_cover_the_turn():
    from simgen.pipeline.lidar import sector_columns

    for columns, count in ((1808, 6), (904, 1), (10, 10), (5, 8)):
        spans = sector_columns(columns, count)
        assert spans[0][0] == 0 and spans[-1][1] == columns and len(spans) == min(count, columns)
        assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(spans, spans[1:]))


def test_range_noise_has_the_data_sheet_s_spread_and_its_draws_are_kept():
    ret = synthetic_returns(rpm=300, distance=2.0, albedo=0.8)
    cloud, report = point_cloud(ret, VLP16, 300, np.eye(4), {1: 1}, rng=np.random.default_rng(3))
    assert report["points"] == ret.distance.size  # bright, head-on and near: every beam returns
    err = cloud["range"] - 2.0
    n = len(err)
    assert abs(err.std() - 0.03) < 4 * 0.03 / np.sqrt(2 * n) and abs(err.mean()) < 4 * 0.03 / np.sqrt(n)
    np.testing.assert_allclose(cloud["range"] - cloud["noise"], 2.0, atol=1e-6)


def test_drop_outs_beyond_range_at_grazing_angles_and_on_dark_surfaces():
    ret = synthetic_returns(rpm=1200, distance=80.0, albedo=0.6)
    far = Returns(np.where(np.arange(ret.distance.shape[1]) % 2 == 0, 150.0, 80.0)[None].repeat(16, 0),
                  ret.index, ret.normal, ret.albedo)
    cloud, report = point_cloud(far, VLP16, 1200, np.eye(4), {1: 1}, rng=None)
    assert report["dropped"]["beyond_range"] == far.distance.size // 2 and (cloud["range"] <= 100).all()
    dirs = beam_directions(VLP16, 1200)
    side = np.cross(dirs, [0.0, 0.0, 1.0])
    side /= np.linalg.norm(side, axis=-1, keepdims=True)
    grazing = Returns(np.full_like(ret.distance, 5.0), ret.index, -dirs * np.cos(np.radians(88)) +
                      side * np.sin(np.radians(88)), ret.albedo)
    _, report = point_cloud(grazing, VLP16, 1200, np.eye(4), {1: 1}, rng=None, grazing=85.0)
    assert report["points"] == 0 and report["dropped"]["grazing"] == grazing.distance.size
    # dark and far: a 2 % surface at 80 m returns with probability 0.02 x (100 / 80)^2 / 0.1 = 0.3125
    dark = Returns(ret.distance, ret.index, ret.normal, np.full_like(ret.albedo, 0.02))
    _, report = point_cloud(dark, VLP16, 1200, np.eye(4), {1: 1}, rng=np.random.default_rng(0))
    share = report["points"] / dark.distance.size
    assert abs(share - 0.3125) < 4 * np.sqrt(0.3125 * 0.6875 / dark.distance.size)
    assert report["dropped"]["weak"] == dark.distance.size - report["points"]


def test_the_kitti_bin_and_the_ply_read_back():
    ret = synthetic_returns(rpm=1200, distance=3.0)
    cloud, _ = point_cloud(ret, VLP16, 1200, np.eye(4), {1: 4}, rng=np.random.default_rng(1))
    points = kitti_read_bytes(encode_kitti_bin(cloud))
    np.testing.assert_array_equal(points, np.stack([cloud[k] for k in ("x", "y", "z", "intensity")], -1))
    data = encode_ply(cloud)
    header = data[:data.index(b"end_header\n")].decode("ascii").splitlines()
    assert header[:2] == ["ply", "format binary_little_endian 1.0"]
    assert f"element vertex {len(cloud['x'])}" in header
    assert [h.split()[-1] for h in header if h.startswith("property")] == list(FIELDS)


def kitti_read_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, "<f4").reshape(-1, 4)


# ---- through Cycles: the scan against a ray cast of the scene ----------------------------------------------

def scene_meshes() -> list[tuple[int, trimesh.Trimesh, float]]:
    """(pass index, mesh in the world, albedo): a closed room around the scanner, a box and a tilted slab."""
    room = trimesh.creation.box(extents=[14.0, 10.0, 6.0])
    room.invert()  # faces inwards
    box = trimesh.creation.box(extents=[1.0, 2.0, 1.5], transform=trimesh.transformations.translation_matrix([3, 1, 0]))
    slab = trimesh.creation.box(extents=[3.0, 0.05, 2.0])
    slab.apply_transform(trimesh.transformations.rotation_matrix(0.7, [0.3, 0.2, 1.0]))
    slab.apply_translation([-2.0, -2.5, 0.5])
    return [(1, room, 0.5), (2, box, 0.8), (3, slab, 0.2)]


@pytest.fixture(scope="module")
def backend():
    import bpy

    from simgen.blender import BlenderBackend
    from simgen.blender.materials import add_normal_aov
    from simgen.config import RenderConfig

    b = BlenderBackend(RenderConfig(width=64, height=48, samples=1, device="cpu", denoise=False))
    for index, mesh, albedo in scene_meshes():
        data = bpy.data.meshes.new(f"m{index}")
        data.from_pydata(mesh.vertices.tolist(), [], mesh.faces.tolist())
        material = bpy.data.materials.new(f"m{index}")
        bsdf = material.node_tree.nodes.get("Principled BSDF")
        bsdf.inputs["Base Color"].default_value = (albedo, albedo, albedo, 1.0)
        add_normal_aov(material.node_tree)
        data.materials.append(material)
        ob = bpy.data.objects.new(f"o{index}", data)
        ob.pass_index = index
        b.scene.collection.objects.link(ob)
    yield b
    b.close()


POSE = np.array([[0.96, -0.28, 0.0, 0.3], [0.28, 0.96, 0.0, -0.2], [0.0, 0.0, 1.0, 0.1], [0, 0, 0, 1.0]])
"""The scanner's pose in the world (a turn of 16.3 degrees about z: 0.96^2 + 0.28^2 = 1, off the room's centre)."""


SHEETS = {"velodyne_vlp16": (SHEET_ELEVATIONS, FIRING_CYCLE), "velodyne_hdl32e": (HDL32E_ELEVATIONS, HDL32E_CYCLE)}


def ray_cast(to_world: np.ndarray, rpm: float, sheet=(SHEET_ELEVATIONS, FIRING_CYCLE)) -> dict[str, np.ndarray]:
    dirs, _ = sheet_directions(rpm, *sheet)
    world = dirs.reshape(-1, 3) @ to_world[:3, :3].T
    origin = to_world[:3, 3]
    best, ids, albedo = np.full(len(world), np.inf), np.zeros(len(world), int), np.zeros(len(world))
    cos = np.zeros(len(world))
    for index, mesh, rho in scene_meshes():
        with np.errstate(invalid="ignore"):  # a triangle edge-on to a beam: inf - inf, no hit
            t, tri = intersect(origin, world, mesh.triangles)
        closer = t < best
        best[closer], ids[closer], albedo[closer] = t[closer], index, rho
        cos[closer] = np.abs(np.einsum("ij,ij->i", world[closer], mesh.face_normals[tri[closer]]))
    shape = dirs.shape[:2]
    return {"distance": best.reshape(shape), "id": ids.reshape(shape), "albedo": albedo.reshape(shape),
            "cos": cos.reshape(shape)}


@pytest.mark.render
@pytest.mark.parametrize("name", list(SHEETS))
def test_every_beam_s_range_and_id_are_the_ray_cast_s(backend, name):
    rpm, device = 1200, SCANNERS[name]
    to_world = POSE
    ret = backend.render_scan(device, rpm, to_world, seed=1).load()
    if name == "velodyne_hdl32e":  # the manual lists its elevations to 0.01 deg: cast along the exact 4/3 steps
        sheet = ([-92 / 3 + 4 * k / 3 for k in range(32)], HDL32E_CYCLE)
        np.testing.assert_allclose(sheet[0], HDL32E_ELEVATIONS, atol=0.0075)
    else:
        sheet = SHEETS[name]
    truth = ray_cast(to_world, rpm, sheet)
    assert ret.distance.shape == truth["distance"].shape == (len(sheet[0]), device.columns(rpm))
    assert set(np.unique(truth["id"])) == {1, 2, 3}
    same = ret.index == truth["id"]
    assert same.mean() > 0.995, same.mean()  # the rest: beams within float32 of an edge
    rel = np.abs(ret.distance - truth["distance"]) / truth["distance"]
    assert rel[same].max() < 1e-5, rel[same].max()
    cloud, report = point_cloud(ret, device, rpm, to_world, {1: 0, 2: 5, 3: 6}, rng=None, grazing=90.0)
    assert report["points"] == ret.distance.size  # a closed room: every beam returns
    want = truth["distance"][cloud["ring"], np.rint(cloud["azimuth"] / (360.0 / device.columns(rpm))).astype(int)]
    ok = same[cloud["ring"], np.rint(cloud["azimuth"] / (360.0 / device.columns(rpm))).astype(int)]
    assert (np.abs(cloud["range"][ok] - want[ok]) / want[ok]).max() < 1e-5
    # the points, moved into the world, lie where the ray cast's beams end
    dirs, _ = sheet_directions(rpm, *sheet)
    pts = np.stack([cloud[k] for k in "xyz"], -1).astype(np.float64)
    end = dirs[cloud["ring"], np.rint(cloud["azimuth"] / (360.0 / device.columns(rpm))).astype(int)] * want[:, None]
    assert np.abs(pts[ok] - end[ok]).max() < 1e-5 * 10
    # intensity: the diffuse albedo of the surface hit (Cycles' Diffuse Color pass: the base colour less the
    # share the Principled BSDF's dielectric Fresnel takes, more of it at grazing angles) x |cos| of the beam
    # to the ray cast's face normal
    rho, cos = ret.albedo.mean(-1), truth["cos"]
    assert (rho[same] <= truth["albedo"][same] + 1e-6).all() and (rho[same] > 0.5 * truth["albedo"][same]).all()
    head_on = same & (cos > 0.9)
    assert head_on.sum() > 50 and (rho[head_on] >= 0.9 * truth["albedo"][head_on]).all()
    col = np.rint(cloud["azimuth"] / (360.0 / device.columns(rpm))).astype(int)
    np.testing.assert_allclose(cloud["intensity"][ok], (rho * cos)[cloud["ring"], col][ok], atol=1e-5)
    assert cloud["semantic"][cloud["instance"] == 2].tolist() == [5] * int((cloud["instance"] == 2).sum())


# ---- through the whole pipeline: sensor.lidar=velodyne_vlp16 --------------------------------------------

def world_ray_cast(root, meta: dict, lidar: dict, rpm: float) -> dict[str, np.ndarray]:
    """Every beam of the frame's scan cast into the frame's meshes (its models/, placed by its meta),
    from the pose the meta states: distance and instance id, (16, C)."""
    from groundtruth import load_world_meshes

    to_world = np.array(lidar["scanner_to_world"])
    dirs, _ = sheet_directions(rpm)
    world = dirs.reshape(-1, 3) @ to_world[:3, :3].T
    best, ids = np.full(len(world), np.inf), np.zeros(len(world), int)
    for iid, mesh in load_world_meshes(root, meta):
        with np.errstate(invalid="ignore"):  # a triangle edge-on to a beam: inf - inf, no hit
            t, _ = intersect(to_world[:3, 3], world, mesh.triangles)
        closer = t < best
        best[closer], ids[closer] = t[closer], iid
    return {"distance": best.reshape(dirs.shape[:2]), "id": ids.reshape(dirs.shape[:2])}


@pytest.fixture(scope="module")
def lidar_run(tmp_path_factory):
    from conftest import set_settings, tiny_settings
    from simgen.compose.settings import validate
    from simgen.pipeline import run

    root = tmp_path_factory.mktemp("lidar")
    s = tiny_settings(root, frames=2, width=64, height=48, samples=1)
    set_settings(s, sensor__lidar="velodyne_vlp16", sensor__lidar_noise=False, sensor__lidar_rpm=1200.0,
                 sensor__lidar_grazing=90.0, sequence__length=2)
    run(validate(s))
    return root


@pytest.mark.render
def test_each_point_s_range_and_ids_are_a_ray_cast_of_the_scene_along_its_beam(lidar_run):
    from simgen.io.dataset.reader import Dataset

    checked = 0
    for index in range(2):
        meta = json.loads((lidar_run / "meta" / f"{index:06d}.json").read_text())
        lidar = meta["sensor"]["lidar"]
        assert lidar["scanner"] == "velodyne_vlp16" and lidar["elevations"] == SHEET_ELEVATIONS
        assert lidar["noise"] is False and lidar["range_sigma"] == 0.0
        # the scanner stands on the camera's pose: x forward along the optical axis, z up = -y of the camera
        c2w = np.linalg.inv(np.array(meta["world_to_camera"]))
        to_world = np.array(lidar["scanner_to_world"])
        np.testing.assert_allclose(to_world[:3, 3], c2w[:3, 3], atol=1e-9)
        np.testing.assert_allclose(to_world[:3, 0], c2w[:3, 2], atol=1e-9)
        np.testing.assert_allclose(to_world[:3, 2], -c2w[:3, 1], atol=1e-9)
        truth = world_ray_cast(lidar_run, meta, lidar, 1200)
        assert "files" not in lidar  # named by the frame's index: lidar/NNNNNN.bin and .ply
        ply = read_ply(lidar_run / "lidar" / f"{index:06d}.ply")
        col = np.rint(ply["azimuth"] / lidar["azimuth_step"]).astype(int)
        ring = ply["ring"].astype(int)
        assert lidar["points"] == len(ply["x"]) > 1000
        want, ids = truth["distance"][ring, col], truth["id"][ring, col]
        same = ply["instance"] == ids
        assert same.mean() > 0.995, same.mean()  # the rest: beams within float32 of a silhouette
        assert (np.abs(ply["range"][same] - want[same]) / want[same]).max() <= 1e-5
        # every beam the ray cast sees within range returns (no noise, grazing 90: nothing drawn or dropped)
        hit = np.isfinite(truth["distance"]) & (truth["distance"] <= 100.0)
        assert len(ply["x"]) == hit.sum() and lidar["dropped"]["beyond_range"] == (~hit).sum()
        categories = {o["instance_id"]: o["category_id"] for o in meta["objects"]}
        assert [categories[i] for i in ply["instance"].tolist()] == ply["semantic"].tolist()
        # the world fields: where the ray cast's beam ends in the world
        dirs, _ = sheet_directions(1200)
        end = to_world[:3, 3] + (dirs[ring, col] @ to_world[:3, :3].T) * want[:, None]
        world = np.stack([ply[k] for k in ("world_x", "world_y", "world_z")], -1)
        assert world.dtype == np.float64 and (np.linalg.norm(world - end, axis=-1)[same] <= 1e-5 * want[same]).all()
        # KITTI's .bin, read as its devkit describes it, holds the PLY's x, y, z, intensity
        points = kitti_read(lidar_run / "lidar" / f"{index:06d}.bin")
        np.testing.assert_array_equal(points, np.stack([ply[k] for k in ("x", "y", "z", "intensity")], -1))
        np.testing.assert_allclose(np.linalg.norm(points[:, :3], axis=-1), ply["range"], rtol=1e-6)
        # time follows the spin; step k's turn starts at the step's time, k / sequence.fps
        period, fps = 60.0 / 1200, 30.0
        np.testing.assert_allclose(ply["time"], index / fps + ply["azimuth"].astype(np.float64) / 360 * period,
                                   atol=1e-9)
        assert lidar["turn_start"] == pytest.approx(index / fps)
        checked += same.sum()
        read = Dataset(lidar_run).frame(index).lidar  # simgen's reader gives the same fields
        assert all(np.array_equal(read[k], ply[k]) for k in FIELDS)
    assert checked > 2000


@pytest.mark.render
def test_validate_knows_the_scan_s_files(lidar_run, tmp_path):
    import shutil

    from simgen.report.validate import validate

    assert validate(lidar_run, full=True).ok
    broken = tmp_path / "broken"
    shutil.copytree(lidar_run, broken)
    data = (broken / "lidar" / "000001.bin").read_bytes()
    (broken / "lidar" / "000001.bin").write_bytes(data[:-16])  # one point short
    (broken / "lidar" / "000000.ply").unlink()
    report = validate(broken, full=True)
    text = report.text(broken, full=True)
    assert not report.ok and "lidar/000001.bin" in text and "lidar/000000.ply" in text, text


# ---- bad input: one line naming the key and the fix, before Blender ----------------------------------------

@pytest.mark.parametrize("args, expected", [
    (["sensor.lidar=velodyne_hdl64"], "sensor.lidar"),
    (["sensor.lidar=velodyne_vlp16", "sensor.lidar_rpm=100"], "sensor.lidar_rpm=100"),
    (["sensor.lidar=velodyne_vlp16", "sensor.lidar_offset=[0,0]"], "sensor.lidar_offset=[0.0, 0.0] must be 3 numbers"),
    (["sensor.lidar=velodyne_vlp16", "render.device=cuda"], "OptiX only, not with render.device=cuda"),
    (["sensor.lidar=velodyne_vlp16", "sensor.lidar_grazing=0"], "sensor.lidar_grazing=0"),
    (["sensor.lidar=velodyne_vlp16", "sensor.lidar_sectors=8"], "sensor.lidar_sectors=8 skews a turn"),
], ids=["unknown-scanner", "rpm-below-the-device-s", "offset-not-3d", "cuda-runs-no-osl", "grazing-zero",
        "sectors-without-a-sequence"])
def test_bad_lidar_settings_are_refused_in_one_line(args, expected, tmp_path, monkeypatch, capfd):
    from test_bad_inputs import TINY, _check, q, run_in_process

    cwd, out = tmp_path / "cwd", tmp_path / "out"
    cwd.mkdir()
    code, stdout, err, touched = run_in_process([*TINY, *args, f"output.dir={q(out)}"], cwd, monkeypatch, capfd)
    assert not touched, "Blender was reached for bad input"
    _check(code, stdout, err, expected, out, cwd, [])


@pytest.mark.render
def test_the_noise_drawn_is_kept_and_the_drop_outs_counted(tmp_path):
    """The default run (noise on): each point's range less its kept draw is the ray cast's; the meta's
    counts add up to the beams, and the draws repeat with the seed."""
    from conftest import set_settings, tiny_settings
    from simgen.compose.settings import validate
    from simgen.io.dataset.reader import Dataset
    from simgen.pipeline import run

    s = tiny_settings(tmp_path / "noisy", frames=1, width=64, height=48, samples=1)
    set_settings(s, sensor__lidar="velodyne_vlp16", sensor__lidar_rpm=1200.0)
    run(validate(s))
    frame = Dataset(tmp_path / "noisy").frame(0)
    lidar, cloud = frame.meta["sensor"]["lidar"], frame.lidar
    assert lidar["noise"] is True and lidar["range_sigma"] == 0.03
    assert lidar["points"] + sum(lidar["dropped"].values()) == lidar["beams"] == 16 * VLP16.columns(1200)
    assert 0.02 < cloud["noise"].std() < 0.04 and lidar["points"] > 1000
    truth = world_ray_cast(tmp_path / "noisy", frame.meta, lidar, 1200)
    col = np.rint(cloud["azimuth"] / lidar["azimuth_step"]).astype(int)
    want, ids = truth["distance"][cloud["ring"].astype(int), col], truth["id"][cloud["ring"].astype(int), col]
    same = cloud["instance"] == ids
    exact = cloud["range"].astype(np.float64) - cloud["noise"]
    assert same.mean() > 0.995 and (np.abs(exact[same] - want[same]) / want[same]).max() < 1e-5
    hit = np.isfinite(truth["distance"]) & (truth["distance"] <= 100.0)
    assert lidar["dropped"]["beyond_range"] == (~hit).sum()
    assert np.array_equal(cloud["noise"], frame_noise_again(tmp_path))


def frame_noise_again(tmp_path) -> np.ndarray:
    """The same frame's points made again from the same seed (its own stream: the draws repeat)."""
    from conftest import set_settings, tiny_settings
    from simgen.compose.settings import validate
    from simgen.io.dataset.reader import Dataset
    from simgen.pipeline import run

    s = tiny_settings(tmp_path / "again", frames=1, width=64, height=48, samples=1)
    set_settings(s, sensor__lidar="velodyne_vlp16", sensor__lidar_rpm=1200.0)
    run(validate(s))
    return Dataset(tmp_path / "again").frame(0).lidar["noise"]


@pytest.mark.slow
@pytest.mark.render
def test_a_moving_scanner_s_turn_is_skewed_sector_by_sector(tmp_path):
    """sensor.lidar_sectors=6 in a sequence whose camera moves: each sector of a turn is cast from the
    scanner's pose at its middle column's time: step k's turn starts at step k (k / sequence.fps seconds) and
    a share u of it is u x period x fps steps later, between steps or past the last (its position there
    checked linearly here); each point's range and id are a ray cast from that pose."""
    from conftest import set_settings, tiny_settings
    from groundtruth import load_world_meshes
    from simgen.compose.settings import validate
    from simgen.io.dataset.reader import Dataset
    from simgen.pipeline import run

    s = tiny_settings(tmp_path / "skew", frames=2, width=64, height=48, samples=1)
    set_settings(s, sensor__lidar="velodyne_vlp16", sensor__lidar_noise=False, sensor__lidar_rpm=1200.0,
                 sensor__lidar_grazing=90.0, sensor__lidar_sectors=6, sequence__length=2)
    run(validate(s))
    ds = Dataset(tmp_path / "skew")
    metas = [ds.frame(i).meta for i in range(2)]
    starts = [np.array(m["sensor"]["lidar"]["scanner_to_world"]) for m in metas]
    assert np.linalg.norm(starts[1][:3, 3] - starts[0][:3, 3]) > 1e-3, "the camera must move for this test"
    for m in metas[1:]:  # the objects stand still: each sector's scene differs by the scanner's pose only
        assert [o["mesh_to_world"] for o in m["objects"]] == [o["mesh_to_world"] for o in metas[0]["objects"]]
    dirs, az = sheet_directions(1200)
    columns, period, fps = len(az), 60.0 / 1200, s.sequence.fps
    assert period * fps > 1  # a turn lasts more than a step: the last step's sectors go past it
    checked = 0
    for index, meta in enumerate(metas):
        lidar = meta["sensor"]["lidar"]
        sectors = lidar["sectors"]
        assert len(sectors) == 6 and sectors[0]["columns"][0] == 0 and sectors[-1]["columns"][1] == columns
        assert all(a["columns"][1] == b["columns"][0] for a, b in zip(sectors, sectors[1:]))
        meshes = load_world_meshes(tmp_path / "skew", meta)
        cloud = ds.frame(index).lidar
        col = np.rint(cloud["azimuth"] / lidar["azimuth_step"]).astype(int)
        for sector in sectors:
            first, end = sector["columns"]
            share = (first + end - 1) / 2 / columns
            assert abs(sector["time"] - share * period) < 1e-12
            velocity = starts[1][:3, 3] - starts[0][:3, 3]  # per step; the last step's turn goes on past it
            pose = np.array(sector["scanner_to_world"])
            np.testing.assert_allclose(pose[:3, 3], starts[0][:3, 3] + (index + share * period * fps) * velocity,
                                       atol=1e-9)
            world = dirs[:, first:end].reshape(-1, 3) @ pose[:3, :3].T
            best, ids = np.full(len(world), np.inf), np.zeros(len(world), int)
            for iid, mesh in meshes:
                with np.errstate(invalid="ignore"):
                    t, _ = intersect(pose[:3, 3], world, mesh.triangles)
                closer = t < best
                best[closer], ids[closer] = t[closer], iid
            best, ids = best.reshape(16, end - first), ids.reshape(16, end - first)
            mine = (col >= first) & (col < end)
            ring, c = cloud["ring"][mine].astype(int), col[mine] - first
            same = cloud["instance"][mine] == ids[ring, c]
            hit = np.isfinite(best) & (best <= 100.0)
            assert mine.sum() == hit.sum()  # every beam of the sector the ray cast sees returns (none: the sky)
            if mine.any():
                assert same.mean() > 0.99
                want = best[ring, c]
                assert (np.abs(cloud["range"][mine][same] - want[same]) / want[same]).max() <= 1e-5
                # the world fields undo the skew: each point where its sector's beam ends in the world
                ends = pose[:3, 3] + world.reshape(16, end - first, 3)[ring, c] * want[:, None]
                got = np.stack([cloud[k][mine] for k in ("world_x", "world_y", "world_z")], -1)
                assert (np.linalg.norm(got - ends, axis=-1)[same] <= 1e-5 * want[same]).all()
                checked += int(same.sum())
    assert checked > 2000


@pytest.mark.slow
@pytest.mark.render
def test_merging_different_runs_carries_the_scans_with_the_new_category_ids(tmp_path):
    """simgen merge of two runs whose categories differ: each scan comes along under its new frame index,
    its points' semantic ids rewritten as the semantic maps are (each the category of its instance)."""
    from conftest import set_settings, simgen_cli, tiny_settings
    from simgen.compose.settings import validate
    from simgen.io.dataset.reader import Dataset
    from simgen.pipeline import run

    meshes = Path(__file__).resolve().parents[1] / "assets" / "meshes"
    a, b = tmp_path / "a", tmp_path / "b"
    for root, frames, extra in ((a, 1, {}), (b, 1, {"objects__catalog": None, "objects__dirs": {
            "widget": str(meshes / "box"), "ball": str(meshes / "ball")}})):
        s = tiny_settings(root, frames=frames, width=64, height=48, samples=1)
        set_settings(s, sensor__lidar="velodyne_vlp16", sensor__lidar_rpm=1200.0, **extra)
        run(validate(s))
    done = simgen_cli("merge", str(tmp_path / "m"), str(a), str(b), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    merged = Dataset(tmp_path / "m")
    changed = 0
    for index, source in ((0, a), (1, b)):
        frame, original = merged.frame(index), Dataset(source).frame(0)
        cloud, before = frame.lidar, original.lidar
        categories = {o["instance_id"]: o["category_id"] for o in frame.meta["objects"]}
        assert [categories[i] for i in cloud["instance"].tolist()] == cloud["semantic"].tolist()
        assert all(np.array_equal(cloud[k], before[k]) for k in FIELDS if k != "semantic")
        assert (tmp_path / "m" / "lidar" / f"{index:06d}.bin").read_bytes() == \
            (source / "lidar" / "000000.bin").read_bytes()
        changed += int((cloud["semantic"] != before["semantic"]).sum())
    assert changed > 0  # b's widget took a new id


@pytest.mark.render
def test_the_frames_are_those_of_a_run_without_the_lidar(lidar_run, tmp_path):
    """The scan renders after its frame, from a camera of its own: the frames (image, ids, depth) and the
    meta but for its sensor entry are those of the same run without sensor.lidar."""
    from conftest import set_settings, tiny_settings
    from simgen.compose.settings import validate
    from simgen.io.dataset.reader import Dataset
    from simgen.pipeline import run

    s = tiny_settings(tmp_path / "plain", frames=2, width=64, height=48, samples=1)
    set_settings(s, sequence__length=2)
    run(validate(s))
    with_lidar, plain = Dataset(lidar_run), Dataset(tmp_path / "plain")
    for i in range(2):
        a, b = with_lidar.frame(i), plain.frame(i)
        for name in ("image", "instance", "semantic", "depth", "normal"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), (i, name)
        meta = dict(a.meta)
        assert meta.pop("sensor").keys() == {"lidar"} and "sensor" not in b.meta
        assert meta["objects"] == b.meta["objects"] and meta["world_to_camera"] == b.meta["world_to_camera"]
