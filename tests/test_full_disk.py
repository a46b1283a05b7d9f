"""A full disk mid-run: one line, nothing lost, and the same command resumes once there is
space. The output folder is a real small tmpfs, mounted in a private mount namespace
(`unshare --mount`, root: CI runs as root) so that nothing outlives the test."""

import json
import subprocess
import sys
import textwrap

import pytest

from conftest import SIMGEN, require_root_mounts

pytestmark = [pytest.mark.render, pytest.mark.slow]

ARGS = ["render.width=48", "render.height=32", "render.samples=1", "render.device=cpu", "frames=6",
        "output.formats=[coco,yolo]"]

INSIDE = textwrap.dedent("""
    import json, os, shutil, subprocess, sys
    mnt, after, simgen, free = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    args = json.loads(sys.argv[5])
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt], check=True)
    st = os.statvfs(mnt)
    with open(os.path.join(mnt, "ballast"), "wb") as f:  # the disk, nearly full
        f.write(bytes(st.f_bavail * st.f_frsize - free))
    cmd = [simgen, f"output.dir={mnt}/data", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.run(cmd, capture_output=True, text=True, env=env)
    full = sorted(os.path.relpath(os.path.join(d, f), mnt) for d, _, fs in os.walk(mnt) for f in fs)
    os.unlink(os.path.join(mnt, "ballast"))  # space again
    second = subprocess.run(cmd, capture_output=True, text=True, env=env)
    shutil.copytree(os.path.join(mnt, "data"), after, symlinks=True)
    print(json.dumps({"first": [first.returncode, first.stderr], "second": [second.returncode, second.stderr],
                      "full": full}))
""")


def dataset(root):
    """Every file but the logs, dataset.json with the output folder's path taken out."""
    out = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
           if p.is_file() and p.relative_to(root).parts[0] != "logs"}
    out["dataset.json"] = json.loads(out["dataset.json"])
    out["dataset.json"]["config"]["output"].pop("dir")
    out["yolo/data.yaml"] = b""  # names its own folder
    return out


def test_full_disk_is_one_line_and_the_same_command_resumes(tmp_path):
    require_root_mounts()
    reference = tmp_path / "reference"
    done = subprocess.run([SIMGEN, f"output.dir={reference}", *ARGS], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    mnt, after = tmp_path / "mnt", tmp_path / "after"
    mnt.mkdir()
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, "-c", INSIDE,
                             str(mnt), str(after), SIMGEN, str(300_000), json.dumps(ARGS)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    code, err = report["first"]
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if not line.startswith("frames ")]  # but the progress
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("simgen: error: no space left on the device of "), err
    assert "free some space and run the same command again" in lines[0]
    complete = int(lines[0].split("; the ")[1].split(" frame(s)")[0])
    assert 1 <= complete < 6, lines[0]  # the disk filled mid-run
    assert [f for f in report["full"] if f.endswith(".tmp")] == []  # no half-written file left
    code, err = report["second"]
    assert code == 0, err
    a, b = dataset(reference), dataset(after)
    assert sorted(a) == sorted(b)
    assert [k for k in a if a[k] != b[k]] == []
