"""Nothing is left in /dev/shm or the temp folder: tests/conftest.py compares what is there under
simgen's names when the test session ends with what was there when it started (left_behind); a
command killed with kill -9 leaves its temporary folders to the next command, which removes them."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import left_behind, own_entries
from simgen.io.locks import OwnerLock
from simgen.io.scratch import LOCK_NAME


def test_what_the_session_made_and_left_under_simgens_names_is_found(tmp_path):
    shm, tmp = tmp_path / "shm", tmp_path / "tmp"
    for place in (shm, tmp):
        place.mkdir()
    (shm / "simgen-old").mkdir()  # there before the session: not the session's
    before = own_entries([shm, tmp])
    assert before == {shm / "simgen-old"}
    for name in ("simgen-fake-x1", "simgen_gpu_y2", "pip-unpack-z3", "pytest-of-root"):
        (shm if "fake" in name else tmp).joinpath(name).mkdir()
    (tmp / "simgen-bench-pipeline-1.json").write_text("{}")
    live = shm / "simgen-123-live"  # a run going on (its owner lock held): not left
    live.mkdir()
    lock = OwnerLock(live / LOCK_NAME)
    killed = shm / "simgen-456-killed"  # a killed run's work folder: the next run removes it
    killed.mkdir()
    (killed / LOCK_NAME).touch()
    try:
        left, stale = left_behind(before, [shm, tmp], settle_s=0)
    finally:
        lock.release()
    assert left == [shm / "simgen-fake-x1", tmp / "simgen-bench-pipeline-1.json", tmp / "simgen_gpu_y2"]
    assert stale == [killed] and not killed.exists() and live.is_dir()
    assert left_behind(own_entries([shm, tmp]), [shm, tmp], settle_s=0) == ([], [])


KILLED_COMMAND = """
import os, sys, tempfile
tempfile.tempdir = sys.argv[1]
from simgen.cli.app import _run_dir_overrides
from simgen.cli.overrides import check_overrides
extra, work = _run_dir_overrides(check_overrides(["output.dir=/nowhere"]), multirun=False)
print(work.path, flush=True)
os.kill(os.getpid(), 9)
"""


def test_the_run_folder_of_a_killed_command_is_removed_by_the_next_command(tmp_path, monkeypatch):
    """Hydra's run folder of a command with output.dir is a temporary folder: a command killed with
    kill -9 cannot remove its own, the next command does (its lock is free); a command removes its
    own when it ends."""
    from simgen.cli.app import _run_dir_overrides
    from simgen.cli.overrides import check_overrides

    done = subprocess.run([sys.executable, "-c", KILLED_COMMAND, str(tmp_path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == -9, done.stderr[-2000:]
    killed = Path(done.stdout.strip())
    assert killed.parent == tmp_path and killed.is_dir() and killed.name.startswith("simgen-")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    extra, work = _run_dir_overrides(check_overrides(["output.dir=/nowhere"]), multirun=False)
    assert not killed.exists()
    assert f"hydra.run.dir='{work.path}'" in extra and work.path.is_dir()
    work.cleanup()
    assert os.listdir(tmp_path) == []
