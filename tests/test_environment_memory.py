"""Memory of a played scene-file animation stays bounded (issue 76): each frame of the file's animation
is an environment of its own (Environment.at), and the environment recipe keeps the triangles and
support surfaces (grids of tens of MB) of only the last few it used, not of every start frame a run
draws; what drawing a sequence freed is given back to the system (simgen.pipeline.memory), once every
RELEASE_EVERY rendered frames. No Blender: the environment is built here, the loop runs a fake renderer."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest
import trimesh

from simgen.assets.environment import Animation, Environment, Part
from simgen.scene.meshes import EnvironmentMesh

FRAMES = 13


def cart_world(tmp_path: Path) -> Environment:
    """A 2 m floor and a cart on it that drives across it over frames 1..13 (its matrices keyframed)."""
    file = tmp_path / "cart.blend"  # named by the parts, never read: the environment is built here
    floor = trimesh.creation.box(extents=[2.0, 2.0, 0.1], transform=trimesh.transformations.translation_matrix(
        [0, 0, -0.05]))
    cart = trimesh.creation.box(extents=[0.6, 0.4, 0.3], transform=trimesh.transformations.translation_matrix(
        [0, 0, 0.15]))
    moves = np.repeat(np.eye(4)[None], FRAMES, axis=0)
    moves[:, 0, 3] = np.linspace(-0.5, 0.5, FRAMES)
    parts = (Part("floor", EnvironmentMesh(file, "floor"), np.eye(4)), Part("cart", EnvironmentMesh(file, "cart"),
                                                                             moves[0]))
    return Environment(file=file, parts=parts, meshes={"floor": floor, "cart": cart}, cameras=(), lights=(),
                       animation=Animation(frames=(1, FRAMES), current=1, fps=24.0, matrices={"cart": moves}))


def test_the_surfaces_of_every_frame_of_a_played_animation_are_not_all_kept(tmp_path):
    from simgen.scenes import environment as recipe

    saved = cart_world(tmp_path)
    sc = recipe.Config(cell=0.01)
    first = recipe.surfaces_of(saved.at(1), sc, 1, saved)
    assert {p for s in first for p in s.parts} == {"floor", "cart"}  # the floor, and the cart's top
    freed = weakref.ref(first[0])
    lowest = first[0].z
    del first
    for frame in range(2, FRAMES + 1):  # a run's sequences start at one frame after another
        surfaces = recipe.surfaces_of(saved.at(frame), sc, frame, saved)
        recipe.geometry_of(saved.at(frame))
        assert surfaces[0].z == lowest
        assert len(recipe._CACHE) <= recipe.KEPT_ENVIRONMENTS
    gc.collect()
    # frame 1's environment is still kept (Environment.at keeps its frames): its surfaces are not
    assert saved.at(1) is saved.at(1)
    assert freed() is None, "the surfaces of a frame no sequence uses any more are still held"
    assert all(env is saved.at(f) for env, f in zip(recipe._CACHE, (FRAMES - 1, FRAMES)))


def test_the_environment_last_used_keeps_its_surfaces_between_sequences(tmp_path):
    from simgen.scenes import environment as recipe

    saved, other = cart_world(tmp_path), cart_world(tmp_path)
    sc = recipe.Config(cell=0.01)
    kept = recipe.surfaces_of(saved, sc)  # a still file: every sequence stands its objects on these
    assert recipe.surfaces_of(saved, sc) is kept
    recipe.surfaces_of(other.at(3), sc, 3, other)  # another environment between: still within the bound
    assert recipe.surfaces_of(saved, sc) is kept
    assert recipe.geometry_of(saved) is recipe.geometry_of(saved)


RELEASE_CHILD = """
import ctypes, json
import numpy as np
from simgen.pipeline.memory import release_freed_memory
from simgen.pipeline.runner import keep_freed_memory

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

keep_freed_memory()  # as a run has it: blocks under 32 MB come from the heap
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
big, pins = [], []
for _ in range(100):
    big.append(np.ones(2 << 20, np.uint8))  # 2 MiB, its pages touched
    pins.append(libc.malloc(256))  # a small block made meanwhile, alive: the heap cannot shrink past it
del big
freed = rss()
released = release_freed_memory()
print(json.dumps({"freed": freed, "after": rss(), "released": released}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's (Linux)")
def test_the_pages_of_freed_arrays_pinned_by_small_blocks_go_back_to_the_system():
    r = subprocess.run([sys.executable, "-c", RELEASE_CHILD], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads(r.stdout)
    assert m["released"]
    assert m["freed"] - m["after"] > 40, m  # MiB of the 200 freed that stayed resident until then

def _rising_sheet(tmp_path, frames: int):
    """A played file's one deforming part: a thin sheet that rises frame by frame over ``frames``
    frames (its shapes file as the extraction writes it). Returns (each frame's vertices, the Environment)."""
    sheet = trimesh.creation.box(extents=[1.0, 1.0, 0.01])
    waves = sheet.vertices[None] + np.linspace(0, 1, frames)[:, None, None] * [0, 0, 0.1]
    np.savez(tmp_path / "shapes-0.npz", sheet=waves.astype(np.float32))
    file = tmp_path / "sheet.blend"
    return waves, Environment(file=file, parts=(Part("sheet", EnvironmentMesh(file, "sheet"), np.eye(4)),),
                              meshes={"sheet": sheet}, cameras=(), lights=(),
                              animation=Animation(frames=(1, frames), current=1, fps=24.0, matrices={},
                                                  deforming=("sheet",), shapes=tmp_path / "shapes-0.npz"))



def test_the_loop_gives_freed_memory_back_after_drawing_a_sequence_every_so_many_frames(tmp_path, monkeypatch):
    from conftest import set_settings, tiny_settings
    from fake_renderer import FakeRenderer
    from simgen.pipeline import loop, run

    FakeRenderer.made.clear()
    rendered_at_call = []
    monkeypatch.setattr(loop, "release_freed_memory", lambda: rendered_at_call.append(len(FakeRenderer.made[0].seeds)))
    s = set_settings(tiny_settings(tmp_path, frames=45, width=32, height=24, samples=1), sequence__length=5)
    run(s, make_renderer=FakeRenderer)
    assert len(FakeRenderer.made[0].seeds) == 45  # renders
    # once 20 frames (loop.RELEASE_EVERY) were rendered since the last call, before the next sequence's
    assert loop.RELEASE_EVERY == 20 and rendered_at_call == [20, 40]
    FakeRenderer.made.clear()


def test_the_frames_of_a_played_deforming_part_are_not_all_kept(tmp_path):
    from simgen.assets.environment import AT_FRAMES

    frames = AT_FRAMES + 40
    waves, env = _rising_sheet(tmp_path, frames)
    first = weakref.ref(env.at(1).meshes["sheet"])
    for f in range(1, frames + 1):  # a played sequence's steps, one frame after another
        np.testing.assert_allclose(env.at(f).meshes["sheet"].vertices, waves[f - 1], atol=1e-6)
        assert env.at(f).parts[0].mesh.frame == f
    gc.collect()
    assert first() is None, "frame 1's deformed mesh is still held after every later frame was played"
    assert env.at(frames) is env.at(frames)  # the frames in flight stay made
    np.testing.assert_allclose(env.at(1).meshes["sheet"].vertices, waves[0], atol=1e-6)  # made again


def test_a_played_frames_mesh_let_go_is_freed_when_the_loop_releases_memory_not_at_a_later_full_collection(tmp_path):
    """A trimesh is a reference cycle (its visuals and ray helpers point back at it): a played deforming
    part's mesh of a frame that Environment.at lets go waits for Python's collector of cycles, which a
    run of ~150,000 long-lived objects runs fully only every couple of hundred frames (issue 76: the
    played skinned bar's memory grew by 0.3 to 0.6 MiB a frame meanwhile). release_freed_memory, which
    the frame loop calls every RELEASE_EVERY frames, collects it."""
    from simgen.assets.environment import AT_FRAMES
    from simgen.pipeline.memory import release_freed_memory

    frames = AT_FRAMES + 5
    waves, env = _rising_sheet(tmp_path, frames)
    was = gc.isenabled()
    gc.disable()  # the collector's own (rare) full collection must not be what frees it
    try:
        first = env.at(1).meshes["sheet"]
        first.triangles  # noqa: B018 (what its cache computes: the labels ask for it)
        freed = weakref.ref(first)
        del first
        for f in range(2, frames + 1):  # frame 1 falls out of Environment.at's frames kept
            env.at(f)
        assert freed() is not None, "a trimesh is no longer a cycle: this test no longer tests the collection"
        release_freed_memory()
        assert freed() is None, "the mesh of a frame let go outlived the loop's release of freed memory"
    finally:
        if was:
            gc.enable()


def test_the_run_sets_aside_the_objects_alive_at_its_start_from_the_collector_and_gives_them_back(tmp_path,
                                                                                                monkeypatch):
    """A full collection walks every object: ~150,000 after a run's imports, 100 to 300 ms. Within the
    run those alive at its start are frozen (gc.freeze), so the loop's collection every RELEASE_EVERY
    frames walks only what the run made since; afterwards they are the collector's again."""
    from conftest import set_settings, tiny_settings
    from fake_renderer import FakeRenderer
    from simgen.pipeline import loop, run

    assert gc.get_freeze_count() == 0
    FakeRenderer.made.clear()
    seen = []
    monkeypatch.setattr(loop, "release_freed_memory", lambda: seen.append((gc.get_freeze_count(), len(gc.get_objects()))))
    alive = len(gc.get_objects())
    s = set_settings(tiny_settings(tmp_path, frames=25, width=32, height=24, samples=1), sequence__length=5)
    run(s, make_renderer=FakeRenderer)
    FakeRenderer.made.clear()
    assert len(seen) == 1  # after 20 rendered frames
    frozen, walked = seen[0]
    assert frozen >= alive // 2, (frozen, alive)  # the objects alive before the run (a few went meanwhile)
    assert walked < frozen // 4, (walked, frozen)  # a collection within the run walks far fewer than those
    assert gc.get_freeze_count() == 0  # given back


def test_objects_a_caller_froze_stay_frozen_through_frozen_before():
    from simgen.pipeline.memory import frozen_before

    gc.freeze()
    try:
        before = gc.get_freeze_count()
        young = [[] for _ in range(1000)]  # tracked objects that a second gc.freeze would set aside too
        with frozen_before():
            within = gc.get_freeze_count()
        after = gc.get_freeze_count()
        # a frozen object freed meanwhile (by another thread of the worker) lowers the count by one
        # (seen: 2 in a CI run): the count never grows (nothing more frozen) and is not emptied (nothing
        # unfrozen)
        assert before - 100 < within <= before and before - 100 < after <= before, (before, within, after)
        del young
    finally:
        gc.unfreeze()


def test_the_flow_of_a_bending_part_tests_a_bounded_number_of_cells_at_once(monkeypatch):
    """ray_hits (the flow and tracks of a surface that bends) tests its triangles against the pixels'
    rays in chunks: 2,048 triangles at once, each spanning the image (a played skinned bar's, seen
    close), gave 5 million cells and 300 MB of arrays at 64x48 (issue 76); a chunk now stops at
    MAX_CANDIDATES cells. The hits are the same as with one chunk of every triangle."""
    from simgen.labels import amodal

    rng = np.random.default_rng(7)
    w, h = 64, 48
    K = np.array([[50.0, 0, w / 2 - 0.5], [0, 50.0, h / 2 - 0.5], [0, 0, 1]])
    u, v = np.meshgrid(np.arange(w), np.arange(h))
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u, float)], -1).reshape(-1, 3)
    n = 300  # triangles, each covering the whole view, at depths 1..3
    corners = np.array([[-3.0, -3.0], [3.0, -3.0], [0.0, 3.0]])
    z = rng.uniform(1.0, 3.0, n)
    tris = np.concatenate([(corners[None] + rng.normal(0, 0.1, (n, 3, 2))) * z[:, None, None], np.repeat(z[:, None, None], 3, 1)], 2)
    vertices, faces = tris.reshape(-1, 3), np.arange(3 * n).reshape(n, 3)
    monkeypatch.setattr(amodal, "MAX_CANDIDATES", 20_000)
    chunks = list(amodal._ray_pairs(tris, rays))
    pairs = sum(len(t) for t, _ in chunks)
    assert pairs > 0.9 * n * w * h  # every triangle covers (nearly) every pixel
    assert max(len(t) for t, _ in chunks) <= 4 * 20_000, "a chunk's pairs are not bounded by MAX_CANDIDATES cells"
    bounded = amodal.ray_hits(vertices, faces, rays, 0.1)
    monkeypatch.setattr(amodal, "MAX_CANDIDATES", 10**12)  # one chunk of all 300 (under TRIANGLES_AT_ONCE)
    assert len(list(amodal._ray_pairs(tris, rays))) == 1
    whole = amodal.ray_hits(vertices, faces, rays, 0.1)
    for a, b in zip(bounded, whole):
        np.testing.assert_array_equal(a, b)
    assert (bounded[0] == np.argmin(z)).all()  # the nearest triangle, at every pixel
