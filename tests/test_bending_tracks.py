"""Point tracks on a surface that bends (simgen.labels.tracks), without Blender: a square of two
triangles at z = 2 whose far corner alone moves; each track's position at the next step is its
query point's barycentric mix (trimesh's, of the plane point its pixel sees) of the moved corners."""

from __future__ import annotations

import numpy as np
import trimesh

from simgen.labels.tracks import TrackParams, View, track_sequence

W, H = 64, 48
K = np.array([[50.0, 0.0, 31.5], [0.0, 50.0, 23.5], [0.0, 0.0, 1.0]])
SQUARE = np.array([[-0.6, -0.5, 2.0], [0.6, -0.5, 2.0], [0.6, 0.5, 2.0], [-0.6, 0.5, 2.0]])
FACES = np.array([[0, 1, 2], [0, 2, 3]])


class Step:
    """One step's frame: the square (instance 1) at its vertices, seen by a fixed camera."""

    def __init__(self, step: int, vertices: np.ndarray):
        self.vertices = vertices
        self.meta = {"index": step, "K": K.tolist(), "world_to_camera": np.eye(4).tolist(), "width": W, "height": H,
                     "objects": [{"instance_id": 1, "category_id": 1, "mesh_to_world": np.eye(4).tolist(),
                                  "deforms": True, "mesh": f"models/stuff/square_f{step}.ply"}]}
        u, v = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
        point = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T * 2.0
        self.inside = (np.abs(point[..., 0]) <= 0.55) & (np.abs(point[..., 1]) <= 0.45)
        self.point = point

    def view(self) -> View:
        return View.from_meta(self.meta, shapes={1: (self.vertices, FACES)})

    def depth(self) -> np.ndarray:  # the flat square at step 0; nothing in front of anything after
        return np.where(self.inside, 2.0, np.inf) if self.meta["index"] == 0 else np.full((H, W), np.inf)

    def bodies(self) -> np.ndarray:
        return self.inside.astype(np.uint16)

    def normal(self) -> np.ndarray:
        return np.where(self.inside[..., None], [0.0, 0.0, -1.0], 0.0)  # towards the camera


def test_a_track_on_a_bending_surface_rides_its_triangle():
    moved = SQUARE.copy()
    moved[2] += [0.15, 0.1, -0.3]
    steps = [Step(0, SQUARE), Step(1, moved)]
    t = track_sequence(np.random.default_rng(0), steps, TrackParams(points=50, query_step=0, background=0.0))
    assert len(t["triangle"]) == 50 and set(t["triangle"]) <= {0, 1}
    u, v = t["query_uv"].T.astype(int)
    plane = steps[0].point[v, u]
    first = trimesh.triangles.points_to_barycentric(np.repeat(SQUARE[FACES[:1]], 50, 0), plane)
    tri = np.where(first.min(1) >= -1e-9, 0, 1)
    bary = trimesh.triangles.points_to_barycentric(SQUARE[FACES[tri]], plane)
    assert (t["triangle"] == tri).sum() >= 48  # a point on the diagonal may take either triangle
    there = np.einsum("nk,nkj->nj", bary, moved[FACES[tri]])
    expected = (there @ K.T)[:, :2] / there[:, 2:]
    assert np.abs(expected - np.stack([u, v], 1)).max() > 1.0  # it bends
    np.testing.assert_allclose(t["uv"][:, 1], expected, atol=1e-4)
    np.testing.assert_allclose(t["uv"][:, 0], np.stack([u, v], 1), atol=1e-9)
    assert t["visible"].all()  # facing the camera at both steps, nothing in front
