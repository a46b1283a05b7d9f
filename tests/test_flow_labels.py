"""Optical flow from depth + instance ids + poses, checked against analytic scenes.

Every expectation is derived by hand from the scene (planes, pure camera or object
motions), never from ``rigid_flow`` itself.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from PIL import Image

from simgen.optics.camera import pixel_rays
from simgen.io.formats.flow import (
    encode_flo,
    read_flo,
    read_kitti_flow,
    read_valid_png,
    write_flo,
    write_kitti_flow,
    write_valid_png,
)
from simgen.labels import (
    flow_to_color,
    flow_validity,
    flow_wheel_legend,
    object_motions,
    rigid_flow,
)
from simgen.labels.flow import STEP_RATIO, _depth_slopes, seen_depth

W, H = 64, 48
F = 50.0
CX, CY = 31.5, 23.5
K = np.array([[F, 0.0, CX], [0.0, F, CY], [0.0, 0.0, 1.0]])
EYE = np.eye(4)
U, V = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
TOL = 1e-4


def translation(x: float, y: float, z: float) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = (x, y, z)
    return m


def rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    m = np.eye(4)
    m[:2, :2] = [[c, -s], [s, c]]
    return m


def rot_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    m = np.eye(4)
    m[[0, 0, 2, 2], [0, 2, 0, 2]] = (c, s, -s, c)
    return m


def random_rigid(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    m = np.eye(4)
    m[:3, :3] = q
    m[:3, 3] = rng.normal(size=3)
    return m


def plane_depth(n: np.ndarray, d: float) -> np.ndarray:
    """Planar depth (H, W) of the plane n . X = d (camera coordinates) through every pixel."""
    rays = pixel_rays(K, W, H)
    return (d / (rays @ np.asarray(n, float))).astype(np.float32)


def full(value, dtype) -> np.ndarray:
    return np.full((H, W), value, dtype)


# ----------------------------------------------------------------- analytic flow


def test_camera_translating_sideways_gives_constant_opposite_flow():
    tx = 0.08  # the camera moves right by 8 cm; a plane at z = 2 moves left in the image
    depth, inst = full(2.0, np.float32), full(1, np.uint16)
    w2c_o = translation(-tx, 0, 0)  # camera centre at (tx, 0, 0)
    flow, z_o, in_view = rigid_flow(depth, inst, K, EYE, K, w2c_o, {1: np.eye(4)})
    assert flow.dtype == np.float32 and flow.shape == (H, W, 2)
    assert z_o.dtype == np.float32 and in_view.dtype == bool
    np.testing.assert_allclose(flow[..., 0], -F * tx / 2, atol=TOL)  # -2 px
    np.testing.assert_allclose(flow[..., 1], 0.0, atol=TOL)
    np.testing.assert_allclose(z_o, 2.0, atol=1e-6)
    # u' = u - 2 leaves the image (u' < -0.5) for u = 0, 1 only
    np.testing.assert_array_equal(in_view, U - 2.0 >= -0.5)


def test_camera_moving_forward_gives_radial_flow():
    tz, z = 0.5, 2.0
    depth, inst = full(z, np.float32), full(7, np.uint16)
    flow, z_o, in_view = rigid_flow(depth, inst, K, EYE, K, translation(0, 0, -tz), {7: np.eye(4)})
    gain = tz / (z - tz)  # (u' - cx) = (u - cx) * z / (z - tz)
    np.testing.assert_allclose(flow[..., 0], (U - CX) * gain, atol=TOL)
    np.testing.assert_allclose(flow[..., 1], (V - CY) * gain, atol=TOL)
    np.testing.assert_allclose(z_o, z - tz, atol=1e-6)
    # away from the principal point
    radial = (flow[..., 0] * (U - CX) + flow[..., 1] * (V - CY))
    assert np.all(radial > 0)
    expected_in = ((U - CX) * (1 + gain) + CX >= -0.5) & ((U - CX) * (1 + gain) + CX < W - 0.5) \
        & ((V - CY) * (1 + gain) + CY >= -0.5) & ((V - CY) * (1 + gain) + CY < H - 0.5)
    np.testing.assert_array_equal(in_view, expected_in)


def test_object_rotating_about_optical_axis_rotates_pixels_about_principal_point():
    rng = np.random.default_rng(1)
    angle = 0.1
    depth = rng.uniform(1.0, 5.0, (H, W)).astype(np.float32)  # any depth: z is preserved
    inst = full(3, np.uint16)
    flow, z_o, _ = rigid_flow(depth, inst, K, EYE, K, EYE, {3: rot_z(angle)})
    c, s = np.cos(angle), np.sin(angle)
    du, dv = U - CX, V - CY
    np.testing.assert_allclose(flow[..., 0], c * du - s * dv - du, atol=TOL)
    np.testing.assert_allclose(flow[..., 1], s * du + c * dv - dv, atol=TOL)
    np.testing.assert_allclose(z_o, depth, rtol=1e-6)


def test_gap_of_two_with_constant_velocity_doubles_the_flow():
    vel = np.array([0.03, -0.02, 0.0])  # per frame, parallel to the image plane
    z = 2.5
    poses = [translation(*(np.array([0.1, 0.2, z]) + k * vel)) for k in range(3)]
    metas = [[{"name": "box", "instance_id": 4, "mesh_to_world": p.tolist()}] for p in poses]
    depth, inst = full(z, np.float32), full(4, np.uint16)
    f1, _, _ = rigid_flow(depth, inst, K, EYE, K, EYE, object_motions(metas[0], metas[1]))
    f2, _, _ = rigid_flow(depth, inst, K, EYE, K, EYE, object_motions(metas[0], metas[2]))
    np.testing.assert_allclose(f1[..., 0], F * vel[0] / z, atol=TOL)
    np.testing.assert_allclose(f1[..., 1], F * vel[1] / z, atol=TOL)
    np.testing.assert_allclose(f2, 2 * f1, atol=TOL)
    # backward flow (frame 2 -> frame 0 from frame 2's view) is the opposite
    fb, _, _ = rigid_flow(depth, inst, K, EYE, K, EYE, object_motions(metas[2], metas[0]))
    np.testing.assert_allclose(fb, -f2, atol=TOL)


def test_flow_does_not_depend_on_the_world_frame():
    """Move camera and objects by the same world transform: flow is unchanged."""
    rng = np.random.default_rng(5)
    depth = rng.uniform(1.0, 4.0, (H, W)).astype(np.float32)
    inst = np.where(U < W / 2, 1, 2).astype(np.uint16)
    w2c_t = random_rigid(rng)
    w2c_o = w2c_t @ rot_y(0.02) @ translation(0.05, 0.0, 0.02)
    m1 = {1: random_rigid(rng), 2: random_rigid(rng)}
    m2 = {1: m1[1] @ rot_z(0.03), 2: translation(0.01, 0.02, 0.0) @ m1[2]}

    def objs(poses: dict[int, np.ndarray]) -> list[dict]:
        return [{"instance_id": k, "mesh_to_world": v} for k, v in poses.items()]

    base = rigid_flow(depth, inst, K, w2c_t, K, w2c_o, object_motions(objs(m1), objs(m2)))
    G = random_rigid(rng)
    Gi = np.linalg.inv(G)
    moved = rigid_flow(depth, inst, K, w2c_t @ Gi, K, w2c_o @ Gi,
                       object_motions(objs({k: G @ v for k, v in m1.items()}),
                                      objs({k: G @ v for k, v in m2.items()})))
    np.testing.assert_allclose(moved[0], base[0], atol=TOL)
    np.testing.assert_allclose(moved[1], base[1], rtol=1e-5)
    np.testing.assert_array_equal(moved[2], base[2])


# ------------------------------------------------------ forward / backward


def test_forward_backward_consistency_integer_shift():
    """Camera translation with a flow of exactly 3 px: fwd(p) + bwd(p + fwd(p)) = 0."""
    z = 2.0
    tx = 3.0 * z / F
    depth, inst = full(z, np.float32), full(1, np.uint16)
    w2c_o = translation(tx, 0, 0)  # camera moves left -> image content moves right by 3 px
    fwd, _, _ = rigid_flow(depth, inst, K, EYE, K, w2c_o, {1: np.eye(4)})
    bwd, _, _ = rigid_flow(depth, inst, K, w2c_o, K, EYE, {1: np.eye(4)})
    np.testing.assert_allclose(fwd[..., 0], 3.0, atol=TOL)
    u2 = (U + np.rint(fwd[..., 0])).astype(int)
    ok = u2 < W
    np.testing.assert_allclose(fwd[..., 0][ok] + bwd[V.astype(int)[ok], u2[ok], 0], 0.0, atol=TOL)


def bilinear(field: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x0, y0 = np.clip(x0, 0, W - 2), np.clip(y0, 0, H - 2)
    ax, ay = (x - x0)[..., None], (y - y0)[..., None]
    return ((1 - ax) * (1 - ay) * field[y0, x0] + ax * (1 - ay) * field[y0, x0 + 1]
            + (1 - ax) * ay * field[y0 + 1, x0] + ax * ay * field[y0 + 1, x0 + 1])


def test_forward_backward_consistency_tilted_plane_moving_object_and_camera():
    # frame t: camera at the world origin, a tilted plane n . X = d in front of it
    n_t = np.array([0.2, -0.3, 1.0])
    n_t /= np.linalg.norm(n_t)
    d_t = 3.0
    D = translation(0.05, -0.03, 0.04) @ rot_y(0.03) @ rot_z(0.02)  # the object's motion
    w2c_o = rot_y(-0.02) @ translation(-0.04, 0.01, 0.05)            # camera o
    # the plane in camera o coordinates: X_o = A X_t + b
    T = w2c_o @ D
    A, b = T[:3, :3], T[:3, 3]
    Ainv = np.linalg.inv(A)
    n_o = Ainv.T @ n_t
    d_o = d_t + n_t @ Ainv @ b
    depth_t, depth_o = plane_depth(n_t, d_t), plane_depth(n_o, d_o)
    inst = full(9, np.uint16)
    fwd, z_fwd, in_fwd = rigid_flow(depth_t, inst, K, EYE, K, w2c_o, {9: D})
    bwd, _, _ = rigid_flow(depth_o, inst, K, w2c_o, K, EYE, {9: np.linalg.inv(D)})
    assert np.abs(fwd).max() > 1.0  # a real motion
    # z' of the forward flow is frame o's depth where the point lands
    x2, y2 = U + fwd[..., 0], V + fwd[..., 1]
    inside = in_fwd & (x2 <= W - 1) & (y2 <= H - 1) & (x2 >= 0) & (y2 >= 0)
    assert inside.mean() > 0.7
    back = bilinear(bwd.astype(np.float64), x2, y2)
    np.testing.assert_allclose((fwd + back)[inside], 0.0, atol=2e-4)
    z_there = bilinear(depth_o.astype(np.float64)[..., None], x2, y2)[..., 0]
    np.testing.assert_allclose(z_fwd[inside], z_there[inside], rtol=1e-4)
    valid = flow_validity(fwd, z_fwd, in_fwd, inst, depth_o, inst)
    np.testing.assert_array_equal(valid, in_fwd)


# ------------------------------------------------------------------ validity


def test_validity_leaving_occluded_nothing_hit_and_depth_tolerance():
    tx = 0.2  # flow = -F * tx / 2 = -5 px
    depth = full(2.0, np.float32)
    inst = full(1, np.uint16)
    inst[:, W - 4:] = 0  # sky at the right edge
    depth[inst == 0] = np.inf
    w2c_o = translation(-tx, 0, 0)
    flow, z_o, in_view = rigid_flow(depth, inst, K, EYE, K, w2c_o, {1: np.eye(4)})
    # nothing hit: zero flow, inf z', not in view
    assert np.all(flow[inst == 0] == 0) and np.all(np.isinf(z_o[inst == 0]))
    assert not in_view[inst == 0].any()

    # frame o: the plane everywhere, plus an occluder (id 2, depth 1) over columns 20..29
    depth_o, inst_o = full(2.0, np.float32), full(1, np.uint16)
    depth_o[:, 20:30], inst_o[:, 20:30] = 1.0, 2
    valid = flow_validity(flow, z_o, in_view, inst, depth_o, inst_o)
    target = U - 5.0
    expected = (inst != 0) & (target >= -0.5) & ~((target >= 20) & (target < 30))
    np.testing.assert_array_equal(valid, expected)
    assert not valid[:, :5].any()  # left the image
    assert valid[:, 5:25].all() and not valid[:, 25:35].any()  # targets 0..19 seen, 20..29 hidden
    # occluded pixels keep their computed flow
    np.testing.assert_allclose(flow[:, 25:35, 0], -5.0, atol=TOL)

    # depth tolerance: a surface seen 0.5 % in front of the point is the point itself,
    # 2 % in front hides it; one seen behind it never does (the point is in front of it)
    assert flow_validity(flow, z_o, in_view, inst, full(2.0 / 1.005, np.float32), full(1, np.uint16))[10, 30]
    assert not flow_validity(flow, z_o, in_view, inst, full(2.0 * 0.98, np.float32), full(1, np.uint16))[10, 30]
    assert flow_validity(flow, z_o, in_view, inst, full(2.0 * 0.98, np.float32), full(1, np.uint16),
                         rel_tol=0.03)[10, 30]
    assert flow_validity(flow, z_o, in_view, inst, full(2.0 * 1.5, np.float32), full(1, np.uint16))[10, 30]
    # another object in front is an occluder, whatever its id
    assert not flow_validity(flow, z_o, in_view, inst, full(1.9, np.float32), full(5, np.uint16)).any()


def test_nearest_pixel_rounding_and_image_border():
    # flow of -0.5 px: u' = u - 0.5 is inside for u = 0 (u' = -0.5) and rounds up to u
    depth, inst = full(2.0, np.float32), full(1, np.uint16)
    tx = 0.5 * 2.0 / F
    flow, z_o, in_view = rigid_flow(depth, inst, K, EYE, K, translation(-tx, 0, 0), {1: np.eye(4)})
    np.testing.assert_allclose(flow[..., 0], -0.5, atol=TOL)
    assert in_view[:, 1:].all()
    # a 1-column occluder in frame o at column 10 hides targets rounding to 10: u' in [9.5, 10.5)
    inst_o, depth_o = full(1, np.uint16), depth.copy()
    inst_o[:, 10], depth_o[:, 10] = 2, 1.0
    valid = flow_validity(np.full((H, W, 2), [-0.5, 0.0], np.float32), z_o, np.ones((H, W), bool),
                          inst, depth_o, inst_o)
    hidden = ~valid.all(axis=0)
    np.testing.assert_array_equal(np.flatnonzero(hidden), [10])  # u = 10 -> u' = 9.5 -> pixel 10


def test_points_behind_camera_o_have_zero_flow_and_are_not_in_view():
    depth, inst = full(2.0, np.float32), full(1, np.uint16)
    inst[:, :W // 2] = 2
    depth[:, :W // 2] = 5.0
    # camera o moves 3 m forward: the plane at z = 2 is behind it, the one at 5 is not
    flow, z_o, in_view = rigid_flow(depth, inst, K, EYE, K, translation(0, 0, -3.0),
                                    {1: np.eye(4), 2: np.eye(4)})
    behind = inst == 1
    np.testing.assert_allclose(z_o[behind], -1.0, atol=1e-6)
    assert np.all(flow[behind] == 0) and not in_view[behind].any()
    np.testing.assert_allclose(z_o[~behind], 2.0, atol=1e-6)
    np.testing.assert_allclose(flow[~behind][:, 0], ((U - CX) * 1.5)[~behind], atol=TOL)


# --------------------------------------------------------------- motions & errors


def test_object_motions_from_meta():
    rng = np.random.default_rng(3)
    m = {i: random_rigid(rng) for i in (1, 2, 3)}
    scale = np.diag([2.0, 2.0, 2.0, 1.0])
    objects_t = [{"name": "a", "instance_id": 1, "mesh_to_world": (m[1] @ scale).tolist()},
                 {"name": "b", "instance_id": 2, "mesh_to_world": m[2].tolist()},
                 {"name": "gone", "instance_id": 3, "mesh_to_world": m[3].tolist()}]
    new1, new2 = translation(0.1, 0, 0) @ m[1] @ scale, rot_z(0.2) @ m[2]
    objects_o = [{"name": "b", "instance_id": 2, "mesh_to_world": new2.tolist()},
                 {"name": "a", "instance_id": 1, "mesh_to_world": new1.tolist()},
                 {"name": "new", "instance_id": 8, "mesh_to_world": np.eye(4).tolist()}]
    motions = object_motions(objects_t, objects_o)
    assert sorted(motions) == [1, 2]
    np.testing.assert_allclose(motions[1], translation(0.1, 0, 0), atol=1e-12)
    np.testing.assert_allclose(motions[2], rot_z(0.2), atol=1e-12)
    np.testing.assert_allclose(motions[1] @ (m[1] @ scale), new1, atol=1e-12)
    with pytest.raises(ValueError, match="twice"):
        object_motions(objects_t + objects_t[:1], objects_o)
    with pytest.raises(ValueError, match="singular"):
        object_motions([{"instance_id": 1, "mesh_to_world": np.zeros((4, 4))}], objects_o)


def test_missing_motion_is_an_error_naming_the_ids():
    depth, inst = full(2.0, np.float32), full(1, np.uint16)
    inst[0, :3] = [5, 6, 7]
    with pytest.raises(ValueError, match=r"\[6, 7\]"):
        rigid_flow(depth, inst, K, EYE, K, EYE, {1: np.eye(4), 5: np.eye(4), 99: np.eye(4)})
    with pytest.raises(ValueError, match="shape"):
        rigid_flow(depth, inst[:, 1:], K, EYE, K, EYE, {1: np.eye(4)})
    with pytest.raises(ValueError, match="4x4"):
        rigid_flow(depth, full(1, np.uint16), K, EYE, K, EYE, {1: np.eye(3)})


def test_many_objects_each_get_their_own_motion():
    """30 vertical stripes, each translated sideways by its own amount."""
    z = 2.0
    inst = (1 + (U * 30 // W)).astype(np.uint16)
    inst[:5] = 0
    depth = np.where(inst > 0, z, np.inf).astype(np.float32)
    shifts = {i: 0.01 * (i - 15) for i in range(1, 31)}
    flow, _, _ = rigid_flow(depth, inst, K, EYE, K, EYE,
                            {i: translation(s, 0, 0) for i, s in shifts.items()})
    expected = np.zeros((H, W))
    for i, s in shifts.items():
        expected[inst == i] = F * s / z
    np.testing.assert_allclose(flow[..., 0], expected, atol=TOL)
    np.testing.assert_allclose(flow[..., 1], 0.0, atol=TOL)


def _slopes_by_formula(depth, inst):
    def along(d, ids):
        diff = np.diff(d, axis=1)
        ok = (ids[:, 1:] == ids[:, :-1]) & (ids[:, 1:] != 0) & np.isfinite(diff)
        diff = np.where(ok, diff, 0.0)
        total, count = np.zeros_like(d), np.zeros_like(d)
        total[:, 1:] += diff
        count[:, 1:] += ok
        total[:, :-1] += diff
        count[:, :-1] += ok
        slope = np.where(count > 0, total / np.maximum(count, 1), 0.0)
        back, ahead = diff[:, :-1], diff[:, 1:]  # a middle pixel's differences to the pixel before and after it
        both = ok[:, :-1] & ok[:, 1:]
        # a step in depth on one side (more than STEP_RATIO times the other): the other side's slope
        slope[:, 1:-1] = np.where(both & (np.abs(ahead) > STEP_RATIO * np.abs(back)), back, slope[:, 1:-1])
        slope[:, 1:-1] = np.where(both & (np.abs(back) > STEP_RATIO * np.abs(ahead)), ahead, slope[:, 1:-1])
        return slope

    return along(depth, inst), along(depth.T, inst.T).T


def _flow_by_formula(depth, inst, K_t, w2c_t, K_o, w2c_o, motions, depth_o, inst_o, rel_tol=0.01):
    """rigid_flow and flow_validity as first written (a gather per coefficient, masked writes,
    slopes from np.diff of the transposed maps): the reference that their faster form must equal
    bit for bit (datasets keep flow)."""
    ids = np.array(sorted(set(np.unique(inst).tolist()) - {0}), np.intp)
    from_pixels = np.eye(4)
    from_pixels[:3, :3] = np.linalg.inv(K_t)
    coef = np.zeros((len(ids) + 1, 3, 4))
    for row, iid in enumerate(ids.tolist(), start=1):
        coef[row] = K_o @ (w2c_o @ motions[iid] @ np.linalg.inv(w2c_t) @ from_pixels)[:3]
    planes = np.ascontiguousarray(coef.reshape(len(ids) + 1, 12).T)
    lut = np.zeros(65536, np.intp)
    lut[ids] = np.arange(1, len(ids) + 1)
    h, w = depth.shape
    hit = (inst != 0) & np.isfinite(depth) & (depth > 0)
    idx = lut[inst]
    idx[~hit] = 0
    z = np.where(hit, depth, 0.0).astype(np.float64)
    u, v = np.arange(w, dtype=np.float64)[None, :], np.arange(h, dtype=np.float64)[:, None]
    qu, qv, qz = (z * (c[0][idx] * u + c[1][idx] * v + c[2][idx]) + c[3][idx]
                  for c in (planes[4 * r:4 * r + 4] for r in range(3)))
    front = hit & (qz > 0)
    u2, v2 = qu / qz, qv / qz
    in_view = front & (u2 >= -0.5) & (u2 < w - 0.5) & (v2 >= -0.5) & (v2 < h - 0.5)
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0] = np.where(front, u2 - u, 0.0)
    flow[..., 1] = np.where(front, v2 - v, 0.0)
    flow[~np.isfinite(flow)] = 0.0
    z_other = np.where(hit, qz, np.inf).astype(np.float32)

    valid = in_view & (inst != 0)
    pu, pv = u + flow[..., 0], v + flow[..., 1]
    ui = np.clip(np.floor(np.where(valid, pu, 0.0) + 0.5), 0, w - 1).astype(np.intp)
    vi = np.clip(np.floor(np.where(valid, pv, 0.0) + 0.5), 0, h - 1).astype(np.intp)
    d_o = depth_o.astype(np.float64)
    gx, gy = _slopes_by_formula(d_o, inst_o)
    seen_z = d_o[vi, ui] + gx[vi, ui] * (pu - ui) + gy[vi, ui] * (pv - vi)
    return flow, z_other, in_view, valid & (seen_z >= z_other.astype(np.float64) * (1.0 - rel_tol))


@pytest.mark.parametrize("seed", range(4))
def test_flow_bits_equal_the_formula(seed):
    """Random objects at random depths (some missing, inf, NaN or <= 0), moving and turning under
    a moving camera: flow, z', in-view and validity equal the first formula bit for bit."""
    rng = np.random.default_rng(seed)
    h, w = [(48, 64), (1, 7), (9, 1), (31, 45)][seed]
    inst = rng.integers(0, 6, (h, w)).astype(np.uint16)
    inst[: h // 2, : w // 2] = 3  # a patch of one object: slopes inside it
    depth = (rng.uniform(0.5, 6.0, (h, w)) + 0.01 * np.arange(w)).astype(np.float32)
    depth.ravel()[rng.integers(0, h * w, 6)] = [np.inf, np.nan, 0.0, -1.0, np.inf, 1e-30]
    inst_o = np.roll(inst, 2, axis=1)
    depth_o = np.roll(depth, 2, axis=1) * np.float32(1.01)

    def pose(scale):
        a = rng.normal(size=3) * scale
        c, s = np.cos(a[2]), np.sin(a[2])
        m = np.eye(4)
        m[:2, :2] = [[c, -s], [s, c]]
        m[:3, 3] = rng.normal(size=3) * scale
        return m

    motions = {i: pose(0.2) for i in range(1, 6)}
    w2c_t, w2c_o = pose(0.1), pose(0.1)
    K_t = np.array([[40.0, 0, (w - 1) / 2], [0, 41.0, (h - 1) / 2], [0, 0, 1]])
    with np.errstate(all="ignore"):
        flow, z_o, in_view = rigid_flow(depth, inst, K_t, w2c_t, K_t, w2c_o, motions)
        valid = flow_validity(flow, z_o, in_view, inst, depth_o, inst_o)
        want = _flow_by_formula(depth, inst, K_t, w2c_t, K_t, w2c_o, motions, depth_o, inst_o)
    for got, ref in zip((flow, z_o, in_view, valid), want):
        assert got.dtype == ref.dtype and got.shape == ref.shape and got.tobytes() == ref.tobytes()


def test_depth_slopes_bits_equal_the_formula():
    rng = np.random.default_rng(3)
    for h, w in [(40, 50), (1, 6), (6, 1), (2, 2)]:
        inst = rng.integers(0, 4, (h, w)).astype(np.uint16)
        depth = rng.uniform(-1.0, 5.0, (h, w))
        depth.ravel()[rng.integers(0, h * w, 3)] = [np.inf, np.nan, -0.0]
        with np.errstate(invalid="ignore"):
            got, want = _depth_slopes(depth, inst), _slopes_by_formula(depth, inst)
        for g, r in zip(got, want):
            assert g.dtype == r.dtype and g.shape == r.shape and g.tobytes() == r.tobytes()



def test_a_step_in_depth_within_one_object_is_not_its_slope():
    """One object (a person is one instance): a plane rising 1 cm a pixel along x with an arm 40 cm
    nearer in front of columns 6-7. Each plane pixel beside the arm keeps the plane's slope (the mean
    of its two sides, -0.22 m a pixel, took the step for a slope and hid the plane's points there);
    a point of the plane between column 5 and the arm is seen (valid); one behind the arm is not."""
    depth = np.tile(2.0 + 0.01 * np.arange(12.0), (5, 1))
    depth[:, 6:8] = 1.6
    inst = np.ones((5, 12), np.uint16)
    gx, gy = _depth_slopes(depth, inst)
    np.testing.assert_allclose(gx[:, [0, 4, 5, 8, 9, 11]], 0.01, rtol=1e-9)
    np.testing.assert_array_equal(gx[:, 6:8], [[0.0, 0.0]] * 5)  # the arm's own (flat) slope
    np.testing.assert_allclose(gy, 0.0, atol=1e-12)
    assert seen_depth(depth, inst, np.array([5.4]), np.array([2.0]))[0] == pytest.approx(2.054, abs=1e-12)
    flow = np.zeros((5, 12, 2))
    flow[2, 3] = [5.4 - 3, 0.0]  # to the plane beside the arm
    flow[2, 4] = [6.2 - 4, 0.0]  # behind the arm
    z_other = np.zeros((5, 12))
    z_other[2, 3], z_other[2, 4] = 2.054, 2.062
    in_view = np.zeros((5, 12), bool)
    in_view[2, 3:5] = True
    valid = flow_validity(flow, z_other, in_view, inst, depth, inst)
    assert valid[2, 3] and not valid[2, 4] and valid.sum() == 1


# -------------------------------------------------------------------- formats


def test_flo_round_trip_and_header(tmp_path):
    rng = np.random.default_rng(0)
    flow = rng.normal(0, 20, (5, 7, 2)).astype(np.float32)
    flow[0, 0] = [np.nan, np.inf]
    path = tmp_path / "a.flo"
    write_flo(path, flow)
    data = path.read_bytes()
    assert data[:4] == b"PIEH"
    assert struct.unpack("<f", data[:4])[0] == 202021.25
    assert struct.unpack("<ii", data[4:12]) == (7, 5)
    assert len(data) == 12 + 5 * 7 * 2 * 4
    assert struct.unpack("<ff", data[12 + 8 * 8:12 + 8 * 9]) == tuple(flow[1, 1].tolist())  # (u, v) of row 1, col 1
    back = read_flo(path)
    assert back.dtype == np.float32 and back.shape == (5, 7, 2)
    np.testing.assert_array_equal(back.view(np.uint32), flow.view(np.uint32))
    assert encode_flo(flow.astype(np.float64)) == data
    (tmp_path / "bad.flo").write_bytes(b"XXXX" + data[4:])
    with pytest.raises(ValueError, match="magic"):
        read_flo(tmp_path / "bad.flo")
    (tmp_path / "short.flo").write_bytes(data[:-4])
    with pytest.raises(ValueError, match="bytes"):
        read_flo(tmp_path / "short.flo")
    assert not list(tmp_path.glob(".*.tmp"))


def test_kitti_png_round_trip_and_channel_order(tmp_path):
    rng = np.random.default_rng(1)
    flow = rng.uniform(-500, 500, (6, 9, 2)).astype(np.float32)
    valid = rng.random((6, 9)) > 0.3
    flow[0, 0], valid[0, 0] = [100.0, -100.0], True
    flow[0, 1], valid[0, 1] = [np.nan, 0.0], False
    path = tmp_path / "k.png"
    write_kitti_flow(path, flow, valid)
    back, back_valid = read_kitti_flow(path)
    assert back.dtype == np.float32 and back.shape == flow.shape and back_valid.dtype == bool
    np.testing.assert_array_equal(back_valid, valid)
    finite = np.isfinite(flow).all(axis=-1)
    assert np.abs(back - flow)[finite].max() <= 1 / 128
    assert np.all(back[0, 1] == 0)
    # on disk: 16-bit RGB (IHDR bit depth 16, colour type 2), channel R = u
    data = path.read_bytes()
    assert data[24] == 16 and data[25] == 2
    pil = np.asarray(Image.open(path))  # PIL reduces 16-bit RGB to the high bytes
    assert pil[0, 0].tolist() == [(100 * 64 + 2 ** 15) >> 8, (-100 * 64 + 2 ** 15) >> 8, 0]
    # values are 1/64 px steps: a quantized flow round-trips exactly; beyond 512 px clips
    q = np.where(finite[..., None], np.round(flow * 64) / 64, 0.0).astype(np.float32)
    write_kitti_flow(path, q, valid)
    np.testing.assert_array_equal(read_kitti_flow(path)[0], q)
    write_kitti_flow(path, np.full((2, 2, 2), 1000.0, np.float32), np.ones((2, 2), bool))
    np.testing.assert_allclose(read_kitti_flow(path)[0], (65535 - 2 ** 15) / 64)
    with pytest.raises(ValueError, match="not finite"):
        write_kitti_flow(path, np.full((2, 2, 2), np.nan, np.float32), np.ones((2, 2), bool))


def test_valid_png_round_trip(tmp_path):
    valid = np.random.default_rng(2).random((5, 6)) > 0.5
    write_valid_png(tmp_path / "v.png", valid)
    raw = np.asarray(Image.open(tmp_path / "v.png"))
    assert raw.dtype == np.uint8 and set(np.unique(raw).tolist()) <= {0, 255}
    np.testing.assert_array_equal(read_valid_png(tmp_path / "v.png"), valid)


# --------------------------------------------------------------- visualisation


def test_flow_to_color():
    flow = np.zeros((4, 5, 2), np.float32)
    flow[0, 0] = [3.0, 0.0]     # +x
    flow[0, 1] = [-3.0, 0.0]    # -x
    flow[0, 2] = [0.0, 3.0]     # +y (down)
    flow[0, 3] = [0.0, -3.0]    # -y (up)
    flow[1, 0] = [0.0, 0.0]     # zero
    flow[1, 1] = [np.nan, 0.0]  # not finite
    valid = np.ones((4, 5), bool)
    valid[2, 2] = False
    flow[2, 2] = [3.0, 3.0]
    img = flow_to_color(flow, valid, max_flow=3.0)
    assert img.dtype == np.uint8 and img.shape == (4, 5, 3)
    right, left, down, up = (img[0, k].astype(int) for k in range(4))
    assert right.tolist() == [255, 0, 0]               # saturated red
    assert left[0] < 50 and left[2] > 200               # cyan/blue side
    assert len({tuple(c) for c in (right, left, down, up)}) == 4
    assert img[1, 0].tolist() == [255, 255, 255]        # zero flow: white
    assert img[1, 1].tolist() == [0, 0, 0] and img[2, 2].tolist() == [0, 0, 0]
    # half the magnitude: half the saturation
    half = flow_to_color(np.array([[[1.5, 0.0]]]), max_flow=3.0)[0, 0].tolist()
    assert half[0] == 255 and abs(half[1] - 128) <= 1 and half[1] == half[2]
    # default max_flow: robust percentile, never 0
    assert flow_to_color(np.zeros((3, 3, 2))).tolist() == np.full((3, 3, 3), 255).tolist()
    assert flow_to_color(flow, np.zeros((4, 5), bool)).max() == 0
    big = np.zeros((20, 20, 2))
    big[..., 0] = 1.0
    big[0, 0, 0] = 1e6  # one outlier does not wash out the rest
    assert flow_to_color(big)[5, 5].tolist() == [255, 0, 0]


def test_flow_wheel_legend():
    leg = flow_wheel_legend(32)
    assert leg.shape == (32, 32, 3) and leg.dtype == np.uint8
    assert leg[0, 0].tolist() == [0, 0, 0]             # outside the disc
    r, g, b = leg[16, 31].tolist()                      # right rim: +x flow, (almost) saturated red
    assert r == 255 and g < 20 and b < 20
    r, g, b = leg[16, 0].tolist()                       # left rim: -x flow, cyan/blue
    assert r < 20 and b > 200
    assert min(leg[16, 16]) > 200                       # near the centre: almost white
    assert flow_wheel_legend().shape == (64, 64, 3)


# ------------------------------------------------------------- surfaces that bend


def test_ray_hits_are_the_first_triangle_each_pixel_ray_meets():
    """Against trimesh's own ray caster on a sphere seen whole (two hits a ray: the nearer kept)."""
    import trimesh

    from simgen.labels.amodal import rasterize_rays, ray_hits

    sphere = trimesh.creation.icosphere(3, radius=0.5)
    centre = np.array([0.1, 0.0, 2.0])
    rays = pixel_rays(K, W, H)
    tri, bary, dist = ray_hits(sphere.vertices + centre, sphere.faces, rays, 0.1)
    assert ((tri >= 0).reshape(H, W) == rasterize_rays(sphere.vertices + centre, sphere.faces, rays, 0.1)).all()
    flat = rays.reshape(-1, 3)
    where, ray, theirs = sphere.ray.intersects_location(np.tile(-centre, (len(flat), 1)), flat, multiple_hits=False)
    assert len(ray) == (tri >= 0).sum() > 300
    assert (tri[ray] == theirs).all()
    ours = np.einsum("nk,nkj->nj", bary[ray], (sphere.vertices + centre)[sphere.faces[tri[ray]]])
    np.testing.assert_allclose(ours, where + centre, atol=1e-9)
    np.testing.assert_allclose(dist[ray, None] * flat[ray], where + centre, atol=1e-9)
    assert np.isnan(bary[tri < 0]).all()
    row = K.copy()
    row[1, 2] = 23.0  # pixel row 23's rays lie in the plane y = 0
    edge_on = np.array([[0.0, 0.0, 1.0], [0.1, 0.0, 1.0], [0.0, 0.0, 2.0]])  # in that plane: seen edge-on
    tri, bary, dist = ray_hits(edge_on, np.array([[0, 1, 2]]), pixel_rays(row, W, H), 0.1)
    assert (tri == -1).all() and np.isnan(dist).all()  # it meets no ray (it raised an IndexError)


def test_the_flow_of_a_bending_surface_follows_each_point_with_its_triangle():
    """A square of two triangles at z = 2 whose far corner alone moves (no rigid or affine motion
    of the whole maps it): each pixel's flow is where its hit point's barycentric mix of the moved
    corners projects, computed here with trimesh's barycentric coordinates of the plane point."""
    import trimesh

    from simgen.labels.flow import Deforming

    at_t = np.array([[-0.6, -0.5, 2.0], [0.6, -0.5, 2.0], [0.6, 0.5, 2.0], [-0.6, 0.5, 2.0]])
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    at_o = at_t.copy()
    at_o[2] += [0.15, 0.1, -0.3]
    depth = np.full((H, W), np.inf)
    instance = np.zeros((H, W), np.uint16)
    point = np.stack([U, V, np.ones_like(U)], -1) @ np.linalg.inv(K).T * 2.0  # the plane z = 2
    inside = (np.abs(point[..., 0]) <= 0.6) & (np.abs(point[..., 1]) <= 0.5)
    depth[inside], instance[inside] = 2.0, 3
    flow, z_other, in_view = rigid_flow(depth, instance, K, EYE, K, EYE, {}, deforming={3: Deforming(faces, at_t, at_o)})
    tri = np.where(trimesh.triangles.points_to_barycentric(np.repeat(at_t[faces[:1]], inside.sum(), 0),
                                                           point[inside]).min(1) >= -1e-12, 0, 1)
    bary = trimesh.triangles.points_to_barycentric(at_t[faces[tri]], point[inside])
    moved = np.einsum("nk,nkj->nj", bary, at_o[faces[tri]])
    expected = (moved @ K.T)[:, :2] / moved[:, 2:] - np.stack([U, V], -1)[inside]
    assert np.abs(expected).max() > 3 and np.abs(expected).min() < 1e-9  # it bends: some move, some do not
    np.testing.assert_allclose(flow[inside], expected, atol=1e-4)
    np.testing.assert_allclose(z_other[inside], moved[:, 2], rtol=1e-6)
    assert in_view[inside].all() and not in_view[~inside].any() and (flow[~inside] == 0).all()
    with pytest.raises(ValueError, match=r"instance ids \[3\] appear in the image but have no motion"):
        rigid_flow(depth, instance, K, EYE, K, EYE, {})
