"""output.dir in real runs of the console script: a user's folder or a symlinked subfolder is
refused in one line before Blender starts (simgen's entry point in the test's process, Blender's
modules guarded: :func:`refused_here`), a second config is refused while the first runs,
output.overwrite=true leaves no frame of the old config, and an export never deletes a user's
file (the pure rules: tests/test_outdir.py)."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import SIMGEN

pytestmark = pytest.mark.render

TINY = ["render.width=48", "render.height=32", "render.samples=1", "render.device=cpu", "objects.count=[1,2]"]


def simgen(out, *args, wait=True):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [SIMGEN, f"output.dir={out}", *TINY, *args]
    if not wait:
        return subprocess.Popen(argv, cwd=out.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(argv, cwd=out.parent, env=env, capture_output=True, text=True, timeout=600)


def refused_here(out, *args, monkeypatch, capfd, match: str) -> str:
    """:func:`refused` of ``simgen output.dir=OUT TINY ARGS`` run by simgen's entry point in this process
    (test_bad_inputs.run_in_process: no process start), in ``out``'s parent folder as :func:`simgen`
    runs it, and refused before Blender is reached."""
    from test_bad_inputs import run_in_process

    argv = [f"output.dir={out}", *TINY, *args]
    code, stdout, stderr, touched = run_in_process(argv, Path(out).parent, monkeypatch, capfd)
    assert not touched, "Blender was reached for a refused output.dir"
    return refused(subprocess.CompletedProcess(argv, code, stdout, stderr), match)


def refused(result, match: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("simgen: error: ") and match in lines[0], result.stderr
    return lines[0]


def files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("where", ["file", "proc"])
def test_an_output_folder_that_cannot_be_created_is_one_line(tmp_path, where, monkeypatch, capfd):
    """Below a file (the settings' check), or in /proc (mkdir fails: the claim's): refused in one
    line naming output.dir, before Blender starts."""
    (tmp_path / "a_file").write_text("not a folder")
    out = tmp_path / "a_file" / "out" if where == "file" else "/proc/nope/x"
    (tmp_path / "cwd").mkdir()
    from test_bad_inputs import run_in_process

    code, stdout, stderr, touched = run_in_process([f"output.dir={out}", *TINY, "frames=1"], tmp_path / "cwd",
                                                   monkeypatch, capfd)
    assert not touched, "Blender was reached for a refused output.dir"
    line = refused(subprocess.CompletedProcess([], code, stdout, stderr), f"output.dir={out} cannot be created: ")
    assert line.endswith("; choose another output.dir")


def test_user_folder_and_symlinked_subfolder_are_refused(tmp_path, monkeypatch, capfd):
    out = tmp_path / "out"
    out.mkdir()
    (out / "images").mkdir()
    (out / "images" / "000000.png").write_bytes(b"the user's photo")
    (out / "coco.json").write_text('{"the": "user\'s"}')
    before = files(out)
    refused_here(out, "frames=1", monkeypatch=monkeypatch, capfd=capfd, match="is not empty and holds no simgen dataset")
    assert files(out) == before

    elsewhere, out2 = tmp_path / "elsewhere", tmp_path / "out2"
    elsewhere.mkdir()
    out2.mkdir()
    (out2 / "depth").symlink_to(elsewhere, target_is_directory=True)
    refused_here(out2, "frames=1", monkeypatch=monkeypatch, capfd=capfd, match="depth is a symbolic link")
    assert list(elsewhere.iterdir()) == []


def test_second_config_is_refused_while_the_first_runs(tmp_path):
    out = tmp_path / "out"
    first = simgen(out, "frames=200", "seed=1", wait=False)  # stopped below, long before its end
    try:
        t0 = time.monotonic()
        while not (out / "dataset.json").exists():  # the claim, before the first frame
            assert first.poll() is None, first.stderr.read()
            assert time.monotonic() - t0 < 120
            time.sleep(0.02)
        refused(simgen(out, "frames=3", "seed=2"), "another run is writing a dataset with another config")
        assert first.poll() is None  # refused while the first one runs
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=600)
    assert first.returncode == 128 + signal.SIGINT
    data = json.loads((out / "dataset.json").read_text())
    assert data["config"]["seed"] == 1 and data["frames"]
    assert {json.loads(p.read_text())["seed"] for p in (out / "meta").glob("*.json")} == {1}
    refused(simgen(out, "frames=3", "seed=2"), "a dataset made with another config is in")  # and after it


def test_overwrite_leaves_no_frame_of_the_old_config(tmp_path):
    out = tmp_path / "out"
    assert simgen(out, "frames=3", "seed=1", "output.formats=[coco,yolo]", "output.previews=true").returncode == 0
    (out / "notes.txt").write_text("the user's")
    result = simgen(out, "start=1", "frames=1", "seed=2", "output.overwrite=true")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (out / "meta").iterdir()) == ["000001.json"]
    assert json.loads((out / "meta" / "000001.json").read_text())["seed"] == 2
    data = json.loads((out / "dataset.json").read_text())
    assert data["config"]["seed"] == 2 and data["frames"] == [1]
    assert not (out / "yolo").exists() and not (out / "previews").exists()
    assert sorted(p.name for p in (out / "images").iterdir()) == ["000001.png"]
    assert (out / "notes.txt").read_text() == "the user's"
    coco = json.loads((out / "coco.json").read_text())
    assert [im["id"] for im in coco["images"]] == [2]


def test_export_never_deletes_a_user_file(tmp_path, monkeypatch, capfd):
    out = tmp_path / "out"
    assert simgen(out, "frames=1", "output.formats=[coco,yolo]").returncode == 0
    (out / "yolo" / "best.pt").write_bytes(b"the user's weights")
    refused_here(out, "frames=2", "output.formats=[coco,yolo]", monkeypatch=monkeypatch, capfd=capfd,
                 match="yolo/ holds files simgen did not write (best.pt)")
    assert (out / "yolo" / "best.pt").read_bytes() == b"the user's weights"
    assert sorted(p.name for p in (out / "meta").iterdir()) == ["000000.json"]


def test_shards_on_a_file_system_with_node_local_locks_are_warned_about(tmp_path, monkeypatch, caplog):
    import simgen.pipeline.runner
    from simgen.io.dataset.outdir import local_locks

    from conftest import tiny_settings

    mountinfo = f"27 1 254:0 / / rw - ext4 /dev/vda rw\n40 27 0:50 / {tmp_path} rw - nfs4 srv:/x rw,local_lock=flock\n"
    monkeypatch.setattr(simgen.pipeline.runner, "local_locks", lambda path: local_locks(path, mountinfo))
    s = tiny_settings(tmp_path / "out", frames=2, width=48, height=32, samples=1)
    s.shard.count = 2
    with caplog.at_level("WARNING"):
        simgen.pipeline.run(s)
    assert "is on nfs4 mounted with local_lock=flock: its file locks reach this node only" in caplog.text
