"""output.dir is the user's folder: simgen writes into a new or empty folder or its own dataset,
never through a symlinked subfolder, deletes only what it wrote, and claims the folder for one
config before the first frame (simgen.io.dataset.outdir). Pure tests (no rendering) here; the ones that
render are in tests/test_outdir_runs.py."""

import json
import os
import subprocess
import sys

import pytest

from simgen import SimgenError
from simgen.io.dataset.layout import config_fingerprint
from simgen.io.dataset.outdir import check_output_folder, claim, foreign_files, remove_dataset

RECORD = {"simgen_version": "test", "seed": 0, "categories": []}


def config(seed: int = 0) -> dict:
    return {"seed": seed, "output": {"dir": "x"}, "render": {"samples": 1}}


def one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text
    return text


def test_new_empty_and_hydra_folders_are_fine(tmp_path):
    """A new folder, an empty one and one holding only Hydra's run files pass, untouched; the same
    folder with one file of someone else's is refused, so the check is not a no-op."""
    check_output_folder(tmp_path / "new")
    assert not (tmp_path / "new").exists()  # checking creates nothing
    check_output_folder(tmp_path)
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("a: 1\n")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "simgen.log").write_text("")
    before = sorted(tmp_path.rglob("*"))
    check_output_folder(tmp_path)
    assert sorted(tmp_path.rglob("*")) == before and (tmp_path / ".hydra" / "config.yaml").read_text() == "a: 1\n"
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SimgenError, match="is not empty and holds no simgen dataset"):
        check_output_folder(tmp_path)


@pytest.mark.parametrize("files", [["coco.json"], ["images/000000.png"], ["yolo/data.yaml"], ["notes.txt"],
                                   ["logs/mine.txt"]])
def test_user_folder_is_refused_and_kept(tmp_path, files):
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("the user's")
    with pytest.raises(SimgenError, match="not empty and holds no simgen dataset") as e:
        claim(tmp_path, config(), config_fingerprint, False, RECORD)
    assert files[0].split("/")[0] in one_line(e)
    for f in files:
        assert (tmp_path / f).read_text() == "the user's"
    assert not (tmp_path / "dataset.json").exists()


@pytest.mark.parametrize("folder", ["depth", "meta", "images", "previews/overlay", "flow_forward", "yolo", "logs"])
def test_symlinked_subfolder_is_refused(tmp_path, folder):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "dataset.json").write_text(json.dumps({"config": config()}))
    (out / folder).parent.mkdir(parents=True, exist_ok=True)
    (out / folder).symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(SimgenError, match="symbolic link") as e:
        claim(out, config(), config_fingerprint, False, RECORD)
    assert folder in one_line(e)
    assert list(elsewhere.iterdir()) == []


def test_claim_is_written_before_any_frame_and_refuses_another_config(tmp_path):
    hold = claim(tmp_path, config(0), config_fingerprint, False, RECORD)
    data = json.loads((tmp_path / "dataset.json").read_text())
    assert data["config"] == config(0) and data["frames"] == [] and data["seed"] == 0
    claim(tmp_path, {**config(0), "output": {"dir": "y"}}, config_fingerprint, False, RECORD).release()  # a run key
    with pytest.raises(SimgenError, match="another run is writing") as e:  # while the first one runs
        claim(tmp_path, config(1), config_fingerprint, True, RECORD)
    one_line(e)
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "000000.json").write_text("{}")  # its first frame
    hold.release()
    with pytest.raises(SimgenError, match="another config"):  # after it, with a frame on disk
        claim(tmp_path, config(1), config_fingerprint, False, RECORD)
    assert json.loads((tmp_path / "dataset.json").read_text())["config"] == config(0)


def test_claim_of_a_run_without_frames_is_replaced_or_taken_back(tmp_path):
    claim(tmp_path, config(0), config_fingerprint, False, RECORD).release()  # that run failed before a frame
    assert not (tmp_path / "dataset.json").exists()  # and took its claim back
    hold = claim(tmp_path, config(0), config_fingerprint, False, RECORD)
    os.close(hold._fd)  # killed before a frame: its claim stays, its lock goes
    hold._fd = None
    hold = claim(tmp_path, config(1), config_fingerprint, False, RECORD)
    assert json.loads((tmp_path / "dataset.json").read_text())["config"] == config(1)
    hold.release()


def test_claim_held_by_another_process_refuses_overwrite(tmp_path):
    claim(tmp_path, config(0), config_fingerprint, False, RECORD).release()
    code = ("import sys, time; from simgen.io.dataset.outdir import claim; from simgen.io.dataset.layout import config_fingerprint; "
            f"h = claim(__import__('pathlib').Path({str(tmp_path)!r}), {config(0)!r}, config_fingerprint, False, {{}}); "
            "print('claimed', flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "claimed"
        with pytest.raises(SimgenError, match="another run is writing"):
            claim(tmp_path, config(1), config_fingerprint, True, RECORD)
    finally:
        child.kill()
        child.wait()
    hold = claim(tmp_path, config(1), config_fingerprint, True, RECORD)  # its run ended: replaced
    assert json.loads((tmp_path / "dataset.json").read_text())["config"] == config(1)
    hold.release()


def make_dataset(root, frames=2):
    files = ["dataset.json", "coco.json", "coco_train.json", "index/chunks.json", "index/coco-000000.jsonl",
             "models/box/mesh.ply", "yolo/data.yaml"]
    for i in range(frames):
        n = f"{i:06d}"
        files += [f"images/{n}.png", f"instance/{n}.png", f"semantic/{n}.png", f"depth/{n}.npy",
                  f"normal/{n}.npy", f"meta/{n}.json", f"previews/overlay/{n}.png", f"flow_forward/{n}.npy",
                  f"yolo/images/train/{n}.png", f"yolo/labels/train/{n}.txt"]
    for f in files:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_text(json.dumps({"config": config(0)}) if f == "dataset.json" else "simgen's")
    return files


def test_overwrite_removes_the_old_dataset_and_only_it(tmp_path):
    make_dataset(tmp_path)
    mine = ["notes.txt", "images/holiday.jpg", "meta/README", "models/mine.blend"]
    for f in mine:
        (tmp_path / f).write_text("the user's")
    hold = claim(tmp_path, config(1), config_fingerprint, True, RECORD)
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == sorted(["dataset.json", "logs/dataset.lock", "logs/run.lock", *mine])
    data = json.loads((tmp_path / "dataset.json").read_text())
    assert data["config"] == config(1) and data["frames"] == []
    assert not (tmp_path / "instance").exists() and not (tmp_path / "yolo").exists()
    hold.release()


def test_remove_dataset_never_follows_links(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    make_dataset(out, frames=1)
    (elsewhere / "000000.png").write_text("keep")
    (out / "semantic" / "000001.png").symlink_to(elsewhere / "000000.png")
    os.rename(out / "depth", tmp_path / "depth-real")
    (out / "depth").symlink_to(elsewhere, target_is_directory=True)
    remove_dataset(out)
    assert (elsewhere / "000000.png").read_text() == "keep"
    assert (out / "semantic" / "000001.png").is_symlink()  # not simgen's: a link, left alone


def test_export_folder_with_user_files_is_refused(tmp_path):
    make_dataset(tmp_path, frames=1)
    assert foreign_files(tmp_path / "yolo") == []
    (tmp_path / "yolo" / "my_weights.pt").write_text("the user's")
    assert foreign_files(tmp_path / "yolo") == ["my_weights.pt"]
    with pytest.raises(SimgenError, match="yolo/ holds files simgen did not write") as e:
        claim(tmp_path, config(0), config_fingerprint, False, RECORD)
    assert "my_weights.pt" in one_line(e)


MOUNTINFO = r"""22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
40 27 0:50 / /scratch rw,relatime - nfs4 fs1:/export/scratch rw,vers=4.2,rsize=1048576,hard,proto=tcp,local_lock=none,addr=10.0.0.1
41 40 0:51 / /scratch/team\040a rw,relatime - nfs fs2:/team rw,vers=3,hard,local_lock=flock,addr=10.0.0.2
42 27 0:52 / /lustre rw - lustre 10.0.0.3@tcp:/fs rw,localflock,lazystatfs
43 27 0:53 / /lustre2 rw - lustre 10.0.0.3@tcp:/fs2 rw,flock,lazystatfs
44 27 0:54 / /share rw - cifs //srv/share rw,vers=3.1.1,nobrl
"""


@pytest.mark.parametrize("path, expected", [
    ("/data/run1", None), ("/scratch/run1", None), ("/scratch/team a/run1", "nfs mounted with local_lock=flock"),
    ("/scratch/team a", "nfs mounted with local_lock=flock"), ("/scratch/team", None),
    ("/lustre/x/y", "lustre mounted with localflock"), ("/lustre2/x", None), ("/share/ds", "cifs mounted with nobrl")])
def test_file_systems_whose_locks_are_local_are_told(path, expected):
    from simgen.io.dataset.outdir import local_locks

    assert local_locks(path, MOUNTINFO) == expected
