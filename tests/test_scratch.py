"""Scratch space for the renders in flight (simgen.io.scratch): chosen by free space for the
configured resolution, settable, one line when it is full, and a work folder's liveness decided
by its owner's lock, never by a PID. The container case renders for real: a 1920x1080 job with a
64 MB /dev/shm, in a private mount namespace (`unshare --mount`, root: CI runs as root)."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import SIMGEN, require_root_mounts
from simgen import SimgenError
from simgen.io import scratch

MB = 2**20


def fake_free(sizes):
    return lambda folder: sizes[folder]


def test_a_1080p_job_skips_a_64mb_ram_disk_and_a_small_one_fits(tmp_path):
    ram, tmp, out = tmp_path / "shm", tmp_path / "tmp", tmp_path / "out" / "logs" / "scratch"
    free = fake_free({ram: 64 * MB, tmp: 10_000 * MB, out: 50_000 * MB})
    need = scratch.need_bytes(1920, 1080, workers=1, depth_of_field=False)
    assert need > 3 * 1920 * 1080 * 56  # three EXRs of 56 bytes per pixel (measured) in flight
    assert scratch.need_bytes(1920, 1080, workers=4, depth_of_field=False) > 6 * 1920 * 1080 * 56  # workers + 2
    assert 1920 * 1080 * 56 < scratch.need_bytes(1920, 1080, workers=0, depth_of_field=False) < 2 * 1920 * 1080 * 56
    choice = scratch.choose(need, None, out, free=free, places=[ram, tmp, out])
    assert choice.folder == tmp and "too little in" in choice.why and str(ram) in choice.why
    small = scratch.need_bytes(320, 240, workers=1, depth_of_field=True)
    assert scratch.choose(small, None, out, free=free, places=[ram, tmp, out]).folder == ram
    free = fake_free({ram: 64 * MB, tmp: 64 * MB, out: 50_000 * MB})
    assert scratch.choose(need, None, out, free=free, places=[ram, tmp, out]).folder == out  # the output's disk
    mine = tmp_path / "mine"
    free = fake_free({ram: 64 * MB, tmp: 64 * MB, out: 50_000 * MB, mine: 1000 * MB})
    assert scratch.choose(need, str(mine), out, free=free, places=[ram, tmp, out]).folder == mine  # the key wins
    (tmp_path / "file").write_text("")
    with pytest.raises(SimgenError, match="render.scratch_dir=.*cannot be made"):
        scratch.choose(need, str(tmp_path / "file" / "x"), out)


def test_a_live_owners_work_folder_survives_and_a_dead_ones_goes(tmp_path):
    code = ("import sys, time; from pathlib import Path; from simgen.io.scratch import WorkFolder; "
            f"w = WorkFolder(Path({str(tmp_path)!r})); print(w.path, flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        live = Path(child.stdout.readline().strip())
        renamed = live.with_name("simgen-999999-abc")  # its name's PID runs nowhere: it must not matter
        live.rename(renamed)
        (tmp_path / "simgen-12-old").mkdir()  # no lock file (being made, or an older simgen): left alone
        assert scratch.remove_stale(tmp_path) == []
        assert renamed.is_dir()
    finally:
        child.kill()
        child.wait()
    assert scratch.remove_stale(tmp_path) == [renamed]
    assert (tmp_path / "simgen-12-old").is_dir()
    mine = scratch.WorkFolder(tmp_path)
    assert scratch.remove_stale(tmp_path) == [] and mine.path.is_dir()
    mine.cleanup()
    assert not mine.path.exists()


def test_a_full_scratch_folder_is_named_with_its_fix(tmp_path):
    error = scratch.full_scratch_error(tmp_path, 100 * MB, KeyError("Object Index.X"), free=lambda f: 3 * MB)
    assert "scratch folder" in str(error) and "render.scratch_dir" in str(error) and "\n" not in str(error)
    assert scratch.full_scratch_error(tmp_path, 100 * MB, KeyError("x"), free=lambda f: 300 * MB) is None


INSIDE = textwrap.dedent("""
    import json, os, subprocess, sys
    shm_size, simgen, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={shm_size}", "tmpfs", "/dev/shm"], check=True)
    r = subprocess.run([simgen, *args], capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    print(json.dumps([r.returncode, r.stdout, r.stderr, os.listdir("/dev/shm")]))
""")


def in_small_shm(size: str, args: list[str]) -> tuple[int, str, str, list[str]]:
    import json

    r = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, "-c", INSIDE, size, SIMGEN,
                        json.dumps(args)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return tuple(json.loads(r.stdout.strip().splitlines()[-1]))


@pytest.mark.render
@pytest.mark.slow
def test_a_1080p_job_renders_in_a_container_sized_dev_shm(tmp_path):
    require_root_mounts()
    out = tmp_path / "out"
    code, stdout, stderr, left = in_small_shm("64m", [
        f"output.dir={out}", "render.width=1920", "render.height=1080", "render.samples=1", "render.denoise=false",
        "render.device=cpu", "frames=2", "objects.count=[1,2]"])
    assert code == 0, stderr
    assert sorted(p.name for p in (out / "meta").iterdir()) == ["000000.json", "000001.json"]
    log = (out / "logs" / "simgen.log").read_text()
    assert f"scratch folder for the renders in flight: {tempfile_dir()}" in log or str(out / "logs" / "scratch") in log
    assert "/dev/shm (64 MB)" in log  # it was considered and found too small
    assert left == []  # nothing left on the RAM disk
    assert not list((out / "logs").glob("scratch/simgen-*"))  # the work folder went at the end


def tempfile_dir() -> str:
    import tempfile

    return tempfile.gettempdir()


@pytest.mark.render
def test_a_scratch_dir_that_fills_is_one_line(tmp_path):
    require_root_mounts()
    out = tmp_path / "out"
    code, stdout, stderr, left = in_small_shm("4m", [
        f"output.dir={out}", "render.scratch_dir=/dev/shm", "render.width=640", "render.height=480",
        "render.samples=1", "render.denoise=false", "render.device=cpu", "frames=1", "objects.count=[1,2]"])
    assert code == 2, stderr
    lines = [line for line in stderr.strip().splitlines() if not line.startswith("frames ")]
    assert "Traceback" not in stderr and len(lines) == 1, stderr
    assert lines[0].startswith("simgen: error: the scratch folder /dev/shm/") and "render.scratch_dir" in lines[0]
