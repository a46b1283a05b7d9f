"""The frame loop against a fake renderer (tests/fake_renderer.py), without Blender: what it
writes is what the renderer returned; it renders what is missing, in order; it writes the same
files with and without the worker thread, in batches of processes or not; it stops between
frames on a signal. Each run here is guarded: reaching bpy or simgen.blender fails it."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_same_dataset, dataset_files, set_settings, tiny_settings
from fake_renderer import FakeRenderer, passes_of, squares
from simgen import Interrupted
from simgen.io.dataset.layout import read_frame
from simgen.pipeline import PRODUCER_STAGES, Hooks, catalog_for, load_recipe, make_frame_scene, run
from simgen.sampling.random import render_seed

TESTS = Path(__file__).resolve().parent


class _NoBlender(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise AssertionError(f"the frame loop with a fake renderer reached {self.__name__}.{name}")


@pytest.fixture
def no_blender(monkeypatch):
    """bpy and simgen.blender replaced by modules that fail when used."""
    for name in ("bpy", "simgen.blender"):
        monkeypatch.setitem(sys.modules, name, _NoBlender(name))
    FakeRenderer.made.clear()
    yield
    FakeRenderer.made.clear()


def settings(out: Path, frames: int, **kw):
    """Tiny settings; ``group__name=value`` sets ``settings.group.name`` (``name=value``: a top-level one)."""
    return set_settings(tiny_settings(out, frames=frames, width=64, height=48, samples=1), **kw)


def expected_passes(s, index: int) -> tuple[object, dict]:
    """Frame ``index``'s scene and the passes the fake renders for it."""
    scene = make_frame_scene(load_recipe(s.scene.recipe), s, catalog_for(s), index)
    r = s.render
    return scene, passes_of(scene, r.tone, r.auto_exposure)


def test_the_dataset_holds_what_the_renderer_returned(tmp_path, no_blender):
    s = settings(tmp_path, frames=3)
    summary = run(s, make_renderer=FakeRenderer)
    assert summary.rendered == [0, 1, 2] and summary.skipped == []
    [fake] = FakeRenderer.made
    assert fake.seeds == [render_seed(s.seed, i) for i in range(3)] and fake.closed
    coco = json.loads((tmp_path / "coco.json").read_text())
    assert [im["id"] for im in coco["images"]] == [1, 2, 3]
    assert summary.images == 3 and summary.annotations == len(coco["annotations"])
    seen_ids, painted = set(), 0
    for i in range(3):
        scene, raw = expected_passes(s, i)
        assert [o.name for o in fake.built[i].objects] == [o.name for o in scene.objects]
        frame = read_frame(tmp_path, i)
        index = raw["index"].astype(np.uint16)
        category_of = {o.instance_id: o.category_id for o in scene.objects}
        assert np.array_equal(frame["rgb"], raw["rgb"])
        assert np.array_equal(frame["instance"], index)
        assert np.array_equal(frame["semantic"], np.vectorize(lambda v: category_of.get(v, 0))(index))
        assert np.array_equal(frame["depth"], raw["depth"])  # inf where nothing was hit
        hit = index > 0
        assert np.allclose(frame["normal"][hit], [0.0, 0.0, -1.0], atol=1e-6)  # facing the camera
        assert not frame["normal"][~hit].any()
        meta = frame["meta"]
        assert meta["index"] == i and meta["image"] == raw["image"]
        assert np.allclose(meta["K"], scene.camera.K) and np.allclose(meta["world_to_camera"],
                                                                        scene.camera.world_to_camera)
        assert [(o["name"], o["instance_id"]) for o in meta["objects"]] == [(o.name, o.instance_id)
                                                                            for o in scene.objects]
        anns = [a for a in coco["annotations"] if a["image_id"] == i + 1]
        assert anns == meta["coco"]["annotations"]
        visible = sorted(int(v) for v in np.unique(index) if category_of.get(int(v), 0))  # 0: stuff, not annotated
        assert [a["simgen"]["instance_id"] for a in anns] == visible
        painted += len(squares(scene))
        for a in anns:
            ys, xs = np.nonzero(index == a["simgen"]["instance_id"])
            assert a["area"] == len(xs) and a["category_id"] == category_of[a["simgen"]["instance_id"]]
            assert a["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            seen_ids.add(a["id"])
    assert len(seen_ids) == len(coco["annotations"]) > 0 and painted > 0
    assert json.loads((tmp_path / "dataset.json").read_text())["device"] == "fake renderer"
    assert "fake: rendered with seed" in (tmp_path / "logs" / "blender.log").read_text()
    assert not fake.folder.exists()


def test_a_second_run_renders_only_the_missing_frames_in_order(tmp_path, no_blender):
    run(settings(tmp_path / "a", frames=2), make_renderer=FakeRenderer)
    s = settings(tmp_path / "a", frames=5)
    summary = run(s, make_renderer=FakeRenderer)
    assert summary.skipped == [0, 1] and summary.rendered == [2, 3, 4]
    assert FakeRenderer.made[1].seeds == [render_seed(s.seed, i) for i in (2, 3, 4)]
    run(settings(tmp_path / "b", frames=5), make_renderer=FakeRenderer)
    assert_same_dataset(tmp_path / "a", tmp_path / "b")
    assert run(s, make_renderer=FakeRenderer).rendered == [] and len(FakeRenderer.made) == 3  # nothing to do


class Shuffle(Hooks):
    """Sleeps a random while in the worker stages, so that frames finish out of order, and
    records the order frames are completed in."""

    def __init__(self, seed: int):
        self.rng, self.done = random.Random(seed), []

    def wrap(self, stage, fn):
        if stage in PRODUCER_STAGES:
            return fn
        nap = self.rng.random() * 0.01

        def slow(*a):
            time.sleep(nap)
            return fn(*a)
        return slow

    def frame_done(self, index, times):
        self.done.append(index)


@pytest.mark.parametrize("length", [1, 3])
def test_any_number_of_workers_writes_the_same_files_in_order(tmp_path, no_blender, length):
    roots = {}
    for overlap, workers in ((False, 0), (True, 1), (True, 4)):
        roots[workers] = tmp_path / str(workers)
        hooks = Shuffle(workers)
        run(settings(roots[workers], frames=12, sequence__length=length, render__overlap=overlap,
                     render__workers=workers), hooks=hooks, make_renderer=FakeRenderer)
        assert hooks.done == list(range(12))
    files = sorted(p.relative_to(roots[0]) for p in roots[0].rglob("*") if p.is_file() and "logs" not in p.parts)
    for workers in (1, 4):
        assert files == sorted(p.relative_to(roots[workers]) for p in roots[workers].rglob("*")
                               if p.is_file() and "logs" not in p.parts)
        for rel in files:
            if rel.name != "dataset.json":  # holds the config, which differs in render.overlap
                assert (roots[workers] / rel).read_bytes() == (roots[0] / rel).read_bytes(), rel
    if length > 1:
        meta = json.loads((roots[4] / "meta" / "000001.json").read_text())
        assert set(meta["flow"]) == {"forward", "backward"} and all(meta["flow"].values())


def test_a_failing_frame_leaves_every_frame_before_it_complete_and_none_after(tmp_path, no_blender):
    class FailOnFrame5(Shuffle):
        def wrap(self, stage, fn):
            slow = super().wrap(stage, fn)
            if stage != "write":
                return slow

            def write(out):
                if out.index == 5:
                    raise OSError("the disk went away")
                return slow(out)
            return write

    s = settings(tmp_path, frames=12, render__workers=4)
    with pytest.raises(OSError, match="went away"):
        run(s, hooks=FailOnFrame5(1), make_renderer=FakeRenderer)
    assert sorted(p.name for p in (tmp_path / "meta").iterdir()) == [f"{i:06d}.json" for i in range(5)]
    assert run(s, make_renderer=FakeRenderer).rendered == list(range(5, 12))  # the same command resumes


def test_a_frame_whose_flow_needs_frames_outside_the_run_renders_them_too(tmp_path, no_blender):
    s = settings(tmp_path, frames=1, start=4, sequence__length=3)  # step 1 of sequence 1
    assert run(s, make_renderer=FakeRenderer).rendered == [4]
    assert FakeRenderer.made[0].seeds == [render_seed(s.seed, i) for i in (3, 4, 5)]
    assert sorted(p.name for p in (tmp_path / "meta").iterdir()) == ["000004.json"]


def test_a_signal_stops_the_loop_between_frames(tmp_path, no_blender):
    class TermDuringSecondRender(Hooks):
        renders = 0

        def wrap(self, stage, fn):
            if stage != "render":
                return fn

            def render(*a):
                self.renders += 1
                if self.renders == 2:
                    os.kill(os.getpid(), signal.SIGTERM)
                return fn(*a)
            return render

    s = settings(tmp_path, frames=5)
    with pytest.raises(Interrupted) as stopped:
        run(s, hooks=TermDuringSecondRender(), make_renderer=FakeRenderer)
    assert stopped.value.signum == signal.SIGTERM and stopped.value.summary.rendered == [0, 1]
    assert json.loads((tmp_path / "dataset.json").read_text())["frames"] == [0, 1]
    assert FakeRenderer.made[0].closed
    assert run(s, make_renderer=FakeRenderer).rendered == [2, 3, 4]  # the same command resumes


def test_batches_in_fresh_processes_write_the_same_dataset(tmp_path, no_blender):
    """render.recycle_every: the renderer's factory goes to each batch's process (it pickles)."""
    batched = run(settings(tmp_path / "batched", frames=4, render__recycle_every=2), make_renderer=FakeRenderer)
    assert batched.rendered == [0, 1, 2, 3] and FakeRenderer.made == []  # made in the batches' processes
    s = settings(tmp_path / "one", frames=4)
    run(s, make_renderer=FakeRenderer)  # 4 frames, fewer than render.recycle_every: in this process
    a, b = dataset_files(tmp_path / "batched"), dataset_files(tmp_path / "one")
    assert a.keys() == b.keys() and [k for k in a if a[k] != b[k]] == ["dataset.json"]
    info = [json.loads(files["dataset.json"]) for files in (a, b)]
    assert [i["config"]["render"].pop("recycle_every") for i in info] == [2, s.render.recycle_every]
    assert info[0] == info[1]  # but for the setting that made the batches


def test_a_frame_that_cannot_place_all_its_objects_renders_short_recorded_and_counted(tmp_path, no_blender):
    """A rare draw that cannot place objects.count[0] objects does not stop the run: the frame holds what
    fits, its meta says what is missing, the run's summary lists it (in batches too); a config most of
    whose draws fall short is refused before the first frame."""
    from simgen import SimgenError

    frames = 12
    crowd = {"objects__count": [12, 12], "scene__area_radius": 0.3}
    s = settings(tmp_path / "one", frames=frames, **crowd)
    recipe, catalog = load_recipe("tabletop"), catalog_for(s)
    expected = [i for i in range(frames) if "shortfall" in make_frame_scene(recipe, s, catalog, i).params]
    assert 0 < len(expected) < frames / 2
    summary = run(s, make_renderer=FakeRenderer)
    assert summary.rendered == list(range(frames)) and summary.short == expected
    for i in range(frames):
        meta = read_frame(tmp_path / "one", i)["meta"]
        record = meta["params"].get("shortfall")
        assert (record is not None) == (i in expected)
        if record:
            assert record["wanted"] == 12 and record["placed"] == len([o for o in meta["objects"]
                                                                       if o["category_id"] > 0]) < 12
    batched = run(settings(tmp_path / "batched", frames=frames, render__recycle_every=5, **crowd),
                  make_renderer=FakeRenderer)
    assert batched.short == expected
    crowded = settings(tmp_path / "crowded", frames=2, objects__count=[40, 40], scene__area_radius=0.2)
    with pytest.raises(SimgenError, match=r"^impossible placement: 40 objects .* in 9 of the 9 scenes drawn first"):
        run(crowded, make_renderer=FakeRenderer)
    assert not (tmp_path / "crowded").exists()


def test_a_run_with_the_fake_imports_no_blender(tmp_path):
    """In a fresh interpreter: the package, the loop and a whole run leave bpy unimported."""
    code = ("import sys\n"
            "from conftest import tiny_settings\n"
            "from fake_renderer import FakeRenderer\n"
            "from simgen.pipeline import run\n"
            f"run(tiny_settings({str(tmp_path)!r}, frames=2, width=32, height=24), make_renderer=FakeRenderer)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'bpy' or m.startswith('simgen.blender')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=TESTS,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])},
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert sorted(p.name for p in (tmp_path / "meta").iterdir()) == ["000000.json", "000001.json"]
