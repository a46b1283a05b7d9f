"""The Python API (simgen.api, re-exported by simgen): render gives the dataset the ``simgen``
command writes for the same overrides, byte for byte, and its one-line errors; open_dataset reads
frames, label maps, camera and annotations equal to the files read independently, and refuses
paths that lead out of the dataset; run_study and run_fit hand their arguments to the runners
exactly as ``simgen study NAME`` and ``simgen fit`` do (the runners themselves, which
render and train for minutes, are replaced by recorders here: tests/test_experiment.py and
tests/test_fit.py run them)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import simgen
from conftest import assert_same_dataset, simgen_cli
from simgen import SimgenError

TINY = ["render.width=64", "render.height=48", "render.samples=1", "render.device=cpu", "seed=5",
        "sequence.length=2", "output.labels=[amodal]"]
"""One sequence of 2 frames (optical flow both ways between them) with amodal masks."""
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[simgen.Dataset, Path]:
    """(the dataset simgen.render made, the one the command made with the same overrides)."""
    tmp = tmp_path_factory.mktemp("api")
    ds = simgen.render(TINY, out=tmp / "api", frames=2, quiet=True)
    done = simgen_cli(*TINY, "frames=2", f"output.dir={tmp / 'cli'}", cwd=tmp)
    assert done.returncode == 0, done.stderr
    return ds, tmp / "cli"


@pytest.mark.render
def test_render_writes_what_the_command_writes(made):
    ds, cli = made
    assert isinstance(ds, simgen.Dataset) and len(ds) == 2 and ds.indices == [0, 1]
    assert_same_dataset(ds.root, cli)  # every file but the logs, byte for byte


@pytest.mark.render
def test_render_composes_from_a_config_of_ones_own(made, tmp_path):
    """config_dir and config_name are --config-dir and --config-name: a primary config built on
    simgen's (as a fit's best.yaml is) holding two of the overrides gives the same dataset."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "tiny.yaml").write_text("defaults:\n  - config\n  - _self_\nseed: 5\nsequence:\n  length: 2\n")
    rest = [o for o in TINY if not o.startswith(("seed=", "sequence.length="))]
    ds = simgen.render(rest, out=tmp_path / "out", frames=2, config_dir=tmp_path / "mine", config_name="tiny",
                       quiet=True)
    assert_same_dataset(ds.root, made[0].root)
    with pytest.raises(SimgenError, match="nope") as e:
        simgen.render(rest, out=tmp_path / "other", config_dir=tmp_path / "mine", config_name="nope", quiet=True)
    assert "\n" not in str(e.value) and not (tmp_path / "other").exists()


def png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


@pytest.mark.render
def test_open_dataset_reads_the_files(made):
    root = made[0].root
    ds = simgen.open_dataset(root)
    coco = json.loads((root / "coco.json").read_text())
    assert ds.coco == coco
    assert ds.categories == json.loads((root / "dataset.json").read_text())["categories"]
    assert ds.info["config"]["render"]["width"] == 64
    assert [f.index for f in ds] == [0, 1] and [f.index for f in ds[:]] == [0, 1] and ds[-1].index == 1
    assert ds.frame(1).index == 1
    with pytest.raises(KeyError):
        ds.frame(7)
    for frame in ds:
        name = f"{frame.index:06d}"
        meta = json.loads((root / "meta" / f"{name}.json").read_text())
        assert frame.meta == meta
        assert frame.image.dtype == np.uint8 and frame.image.shape == (48, 64, 3)
        assert np.array_equal(frame.image, png(root / "images" / f"{name}.png"))
        for kind in ("instance", "semantic"):
            assert np.array_equal(getattr(frame, kind), cv2.imread(str(root / kind / f"{name}.png"),
                                                                    cv2.IMREAD_UNCHANGED))
        for kind in ("depth", "normal"):
            assert np.array_equal(getattr(frame, kind), np.load(root / kind / f"{name}.npy"), equal_nan=True)
        amodal = np.load(root / "amodal" / f"{name}.npz")
        assert frame.label("amodal").keys() == set(amodal.files)
        assert all(np.array_equal(frame.label("amodal")[k], amodal[k]) for k in amodal.files)
        direction = "forward" if frame.index == 0 else "backward"  # the other end of the sequence has none
        assert frame.labels == ("rgb", "instance", "semantic", "depth", "normal", "amodal",
                                f"flow_{direction}", f"flow_{direction}_valid")
        files = meta["flow"][direction]
        assert np.array_equal(frame.label(f"flow_{direction}"), np.load(root / files["flow"]))
        assert np.array_equal(frame.label(f"flow_{direction}_valid"), png(root / files["valid"]) != 0)
        with pytest.raises(KeyError, match="has no label map 'linear'; it has rgb, instance"):
            frame.label("linear")
        assert np.array_equal(frame.K, meta["K"]) and frame.K.shape == (3, 3)
        assert np.array_equal(frame.world_to_camera, meta["world_to_camera"])
        assert np.allclose(frame.camera_to_world @ frame.world_to_camera, np.eye(4))
        image = next(im for im in coco["images"] if im["id"] == frame.index + 1)
        assert frame.image_info == image and frame.split == image["simgen"]["split"]
        assert frame.annotations == [a for a in coco["annotations"] if a["image_id"] == frame.index + 1]
        assert frame.annotations  # the tiny scene has objects in view
        for a in frame.annotations:
            assert (frame.instance == a["simgen"]["instance_id"]).sum() == a["area"]
        everything = frame.read()
        assert np.array_equal(everything["rgb"], frame.image) and everything["meta"] == meta


def copy_of(made, tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(made[0].root, root, symlinks=True)
    return root


@pytest.mark.render
def test_paths_that_lead_out_of_the_dataset_are_refused(made, tmp_path):
    root = copy_of(made, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(root / "images" / "000000.png", outside / "x.png")
    coco = json.loads((root / "coco.json").read_text())

    def with_file_name(name: str) -> simgen.Dataset:
        coco["images"][0]["file_name"] = name
        (root / "coco.json").write_text(json.dumps(coco))
        return simgen.open_dataset(root)

    for name, why in [("../outside/x.png", "climbs out with '..'"), (str(outside / "x.png"), "is absolute"),
                      ("images/link.png", "leads out through the symbolic link")]:
        if name == "images/link.png":
            (root / "images" / "link.png").symlink_to(outside / "x.png")
        with pytest.raises(SimgenError, match=f"coco.json images\\[0\\].file_name gives the path .*{why}") as e:
            with_file_name(name).coco
        assert "\n" not in str(e.value)
    with_file_name("images/000000.png").coco  # back to what it was: read
    # a frame's image that is a link out of the folder
    (root / "images" / "000001.png").unlink()
    (root / "images" / "000001.png").symlink_to(outside / "x.png")
    ds = simgen.open_dataset(root)
    ds[0].image
    with pytest.raises(SimgenError, match="frame 1 gives the path 'images/000001.png', which leads out through"):
        ds[1].image
    # a flow file named in the meta outside the folder
    meta = json.loads((root / "meta" / "000000.json").read_text())
    meta["flow"]["forward"]["flow"] = "../outside/flow.npy"
    (root / "meta" / "000000.json").write_text(json.dumps(meta))
    with pytest.raises(SimgenError, match="flow gives the path '../outside/flow.npy', which climbs out"):
        simgen.open_dataset(root)[0].label("flow_forward")
    # a meta folder that is a link out of the dataset
    shutil.move(root / "meta", outside / "meta")
    (root / "meta").symlink_to(outside / "meta")
    with pytest.raises(SimgenError, match="gives the path 'meta', which leads out through the symbolic link"):
        simgen.open_dataset(root)


def test_a_folder_that_is_no_dataset_is_one_line(tmp_path):
    with pytest.raises(SimgenError, match="is not a simgen dataset folder"):
        simgen.open_dataset(tmp_path)


# ------------------------------------------------------------------ render's errors


def test_bad_overrides_are_the_commands_one_line_and_write_nothing(tmp_path):
    for bad, words in ((["frmaes=3"], "did you mean 'frames'?"), (["render.width=100000"], "must be in [4, 65536]")):
        with pytest.raises(SimgenError) as e:
            simgen.render(bad, out=tmp_path / "out", frames=1, quiet=True)
        cli = simgen_cli(*bad, "frames=1", f"output.dir={tmp_path / 'out'}", cwd=tmp_path)
        assert cli.returncode == 2 and cli.stderr.strip() == f"simgen: error: {e.value}"
        assert words in str(e.value) and "\n" not in str(e.value) and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_ctrl_c_stops_the_render_after_its_frame_in_flight_and_a_second_call_resumes(tmp_path):
    """SIGINT to a script in simgen.render: the command it runs stops as Ctrl-C stops it (its frames
    complete and listed in coco.json), the script gets KeyboardInterrupt, and render again finishes."""
    import os
    import signal
    import subprocess
    import sys

    from conftest import wait_for_frames

    out = tmp_path / "out"
    script = (f"import simgen\nsimgen.render({TINY[:5]!r}, out={str(out)!r}, frames=24, quiet=True)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    wait_for_frames(out, 2, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "KeyboardInterrupt: stopped by SIGINT: rendered" in err, err
    on_disk = sorted(p.stem for p in (out / "meta").glob("*.json"))
    coco = json.loads((out / "coco.json").read_text())
    assert 2 <= len(on_disk) < 24 and [im["file_name"] for im in coco["images"]] == \
        [f"images/{n}.png" for n in on_disk]
    assert len(simgen.render(TINY[:5], out=out, frames=24, quiet=True)) == 24


def test_render_checks_its_own_arguments(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(TypeError, match=r"a list of KEY=VALUE strings, e.g. \['frames=2'\]"):
        simgen.render("frames=2", out=out)
    with pytest.raises(TypeError, match="frames is an integer"):
        simgen.render([], out=out, frames=2.0)
    with pytest.raises(SimgenError, match="give output.dir as out=..."):
        simgen.render([f"output.dir={out}"], out=out)
    with pytest.raises(SimgenError, match="give frames as frames=..."):
        simgen.render(["frames=3"], out=out, frames=2)
    with pytest.raises(SimgenError, match="not the flag -m"):
        simgen.render(["-m", "seed=1,2"], out=out)
    with pytest.raises(SimgenError, match=r"experiment=dr_gap is a study; run it with simgen.run_study\('dr_gap'"):
        simgen.render(["experiment=dr_gap"], out=out)
    with pytest.raises(SimgenError, match=r"experiment=own_look is a study; run it with simgen.run_study\('own_look'"):
        simgen.render(["experiment=dr_ablation,own_look"], out=out)
    assert not out.exists()


def test_the_api_names_are_simgens():
    import simgen.api

    assert {n: getattr(simgen, n) for n in simgen.API} == {n: getattr(simgen.api, n) for n in simgen.api.__all__}
    with pytest.raises(AttributeError, match="has no attribute 'rendr'"):
        simgen.rendr


# ------------------------------------------------------------------ run_study and run_fit: the runners' arguments


class Recorder:
    def __init__(self, result):
        self.calls, self.result = [], result

    def __call__(self, *args, **kw):
        self.calls.append((args, kw))
        return self.result


def test_run_study_hands_the_runner_what_the_command_does(monkeypatch, tmp_path):
    import simgen.experiment.runner as runner
    from simgen.cli.study import check_dataset, study_main

    record = Recorder({"headline": "narrow wins"})
    monkeypatch.setattr(runner, "run_study", record)
    args = ["study.seeds=[0]", "study.frames=[4]", f"study.out={tmp_path / 'study'}", "render.width=64"]
    assert simgen.run_study("dr_gap", args) == {"headline": "narrow wins"}
    assert simgen.run_study(REPO / "configs" / "study" / "dr_gap.yaml", args) == {"headline": "narrow wins"}
    study_main(["dr_gap", *args])  # simgen study dr_gap ARGS
    (api, kw), (by_path, kw2), (cli, kw3) = record.calls
    assert asdict(api[0]) == asdict(by_path[0]) == asdict(cli[0])
    assert api[0].seeds == [0] and api[0].frames == [4] and api[0].out == str(tmp_path / "study")
    assert api[1:] == cli[1:] == (["render.width=64"],)
    assert kw == kw2 == kw3 == {"name": "dr_gap", "validate": check_dataset}


def test_run_study_errors_are_one_line(tmp_path):
    with pytest.raises(SimgenError, match=r"run_study: unknown study 'nope'; simgen's studies are dr_gap, fit_gap"):
        simgen.run_study("nope")
    with pytest.raises(SimgenError, match=r"run_study: unknown study 'dr_gpa'; did you mean 'dr_gap'\?"):
        simgen.run_study("dr_gpa")
    with pytest.raises(SimgenError, match=r"run_study: .*dr_ablation.yaml is not a study"):
        simgen.run_study(REPO / "configs" / "experiment" / "dr_ablation.yaml")
    with pytest.raises(SimgenError, match="experiment=fit_gap is a study, not an overlay: studies run with "
                                          "simgen study fit_gap"):
        simgen.run_study("dr_gap", ["experiment=fit_gap"])
    with pytest.raises(SimgenError, match="did you mean 'study.trainer.steps'"):
        simgen.run_study("dr_gap", ["study.trainer.stepz=3"])
    with pytest.raises(SimgenError, match="not the flag -m"):
        simgen.run_study("dr_gap", ["-m"])
    with pytest.raises(TypeError):
        simgen.run_study("dr_gap", "study.seeds=[0]")


@pytest.fixture
def target(tmp_path) -> Path:
    """Four 64x48 target images in a folder whose name needs quoting."""
    from simgen.io.files import write_png

    folder = tmp_path / "real images: shop's"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(4):
        write_png(folder / f"{k}.png", rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    return folder


def test_run_fit_plans_the_fit_the_command_plans(monkeypatch, tmp_path, target):
    import simgen.fit.runner as runner
    from simgen.cli.fit import fit_main

    monkeypatch.chdir(tmp_path)
    outcome = runner.Outcome(tmp_path / "fits" / "api", 3, 1.5, 0.5)
    record = Recorder(outcome)
    monkeypatch.setattr(runner, "run_fit", record)
    lines = []
    more = ["fit.trials=3", "fit.frames=2", "render.samples=2"]
    assert simgen.run_fit(target, name="api", overrides=more, say=lines.append) is outcome
    quoted = "'" + str(target).replace("'", "''") + "'"  # what the command needs for this name: the API quotes it
    fit_main([f"target={quoted}", "name=api", *more])
    (api, kw), (cli, _) = record.calls
    plan, plan_cli = api[0], cli[0]
    assert kw["say"] == lines.append
    assert asdict(plan.fit) == asdict(plan_cli.fit)
    assert plan.fit.target == str(target) and plan.fit.name == "api" and plan.fit.trials == 3
    assert plan.base == plan_cli.base and "render.samples=2" in plan.base and "render.width=64" in plan.base
    assert plan.fingerprint == plan_cli.fingerprint and plan.folder == plan_cli.folder


def test_run_fit_errors_are_one_line(monkeypatch, tmp_path, target):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SimgenError, match="did you mean 'fit.trials'"):
        simgen.run_fit(target, overrides=["fit.trails=3"])
    with pytest.raises(SimgenError, match="give target as target=..."):
        simgen.run_fit(target, overrides=[f"target={target}"])
    with pytest.raises(SimgenError, match="fit.target=.*missing: no such folder"):
        simgen.run_fit(tmp_path / "missing")


@pytest.mark.render
def test_the_modules_example_runs_as_written(tmp_path):
    """The example in simgen.api's docstring (shown on the docs' API page), with its output folders in
    tmp_path: it renders, reads and checks its own assertions."""
    import simgen.api

    code = re.search(r"```python\n(.*?)```", simgen.api.__doc__, re.S).group(1)
    code = code.replace("/tmp/simgen-demo", str(tmp_path / "demo")).replace("/tmp/simgen-bad", str(tmp_path / "bad"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Dataset(" in r.stdout and "did you mean 'frames'" in r.stdout


@pytest.mark.render
def test_the_readmes_example_runs_as_written(tmp_path):
    """The README's first Python block (its output folder in tmp_path)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1).replace("/tmp/demo", str(tmp_path / "demo"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    printed = re.findall(r"^(\d+) \(48, 64, 3\) float32 \d+ [\d.]+$", r.stdout, re.M)
    assert printed == ["0", "1"], r.stdout[-2000:]
