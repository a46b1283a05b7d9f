"""docs/tutorials/own-robot.md ("Your own robot") runs as written: each block in order, in a folder of
its own that stands in for the checkout (its ``assets`` the checkout's), the renders at 64x48, 1
sample, 2 frames; what each step says the reader gets is checked against the files."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import SIMGEN
from docblocks import ROOT, blocks_of
from simgen.io.files import read_png

TUTORIAL = ROOT / "docs" / "tutorials" / "own-robot.md"
TINY = ["render.width=64", "render.height=48", "render.samples=1", "frames=2"]


@pytest.mark.render
@pytest.mark.slow  # three small renders (one of them the bin's physics) and an inspect: ~40 s on 2 cores
def test_the_own_robot_tutorial_runs_as_written(tmp_path):
    """The catalog the page writes drops the bundled arm as an object of category robot, each link a
    part (parts/, the meta's parts); simgen inspect draws the parts; the Python block prints each
    link's pixel count as parts/ has it and the arm's instance pixels as their sum; the cell stands
    the reader's copy of the arm beside the bin as background, each link a part."""
    (tmp_path / "assets").symlink_to(ROOT / "assets")
    env = {**os.environ, "PATH": f"{Path(SIMGEN).parent}{os.pathsep}{os.environ['PATH']}"}
    ran, printed = [], ""
    for b in blocks_of(TUTORIAL):
        if b.lang == "yaml":
            target = re.search(r"written to (\S+)", b.verdict.reason).group(1)
            (tmp_path / target).write_text(b.text)
        elif b.lang == "python" and b.verdict.kind == "by":
            r = subprocess.run([sys.executable, "-c", b.text], cwd=tmp_path, capture_output=True, text=True, timeout=300)
            assert r.returncode == 0, r.stderr[-3000:]
            printed = r.stdout
        elif b.is_shell:
            for c in b.commands:
                assert c.verdict.kind == "by", c.text
                words = shlex.split(c.text, comments=True)
                if words[0] == "simgen" and words[1] != "inspect":
                    words += TINY
                r = subprocess.run(["bash", "-ec", shlex.join(words)], cwd=tmp_path, env=env, capture_output=True,
                                   text=True, timeout=600)
                assert r.returncode == 0, f"{c.text}\n{r.stderr[-3000:]}"
                ran.append(words[:2])
    assert ran[:2] == [["mkdir", "-p"], ["cp", "assets/robots/arm.urdf"]] and ["simgen", "inspect"] in ran
    assert (tmp_path / "my_robot" / "arm.urdf").read_bytes() == (ROOT / "assets" / "robots" / "arm.urdf").read_bytes()

    data = tmp_path / "my_robot_data"
    coco = json.loads((data / "coco.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["robot"]
    for index in range(2):
        meta = json.loads((data / "meta" / f"{index:06d}.json").read_text())
        parts = read_png(data / "parts" / f"{index:06d}.png")
        arms = [o for o in meta["objects"] if "parts" in o]
        assert 1 <= len(arms) <= 2 and all(o["category_id"] == 1 for o in arms)
        assert {p["link"] for p in arms[0]["parts"]} >= {"base", "upper_arm", "forearm", "hand"}
        assert sum(np.count_nonzero(parts == p["id"]) for o in arms for p in o["parts"]) > 0
    assert 'alt="frame 0 parts: ' in (data / "inspect.html").read_text()

    # what the Python block printed: each link's pixels as parts/ has them, the arm's as their sum
    meta = json.loads((data / "meta" / "000000.json").read_text())
    parts = read_png(data / "parts" / "000000.png")
    instance = read_png(data / "instance" / "000000.png")
    lines = printed.strip().splitlines()
    rows = [(o["name"], p["link"], p["id"]) for o in meta["objects"] for p in o.get("parts", ())]
    assert len(lines) == len(rows) + 1
    for line, (name, link, pid) in zip(lines, rows):
        assert line.split() == [name, link, "part", f"{pid}:", str(np.count_nonzero(parts == pid)), "pixels"], line
    first = meta["objects"][0]
    arm = int(np.count_nonzero(instance == first["instance_id"]))
    assert lines[-1] == f"the whole arm: {arm} pixels"
    assert arm == sum(int(np.count_nonzero(parts == p["id"])) for p in first["parts"])

    cell = tmp_path / "my_cell"
    for index in range(2):
        meta = json.loads((cell / "meta" / f"{index:06d}.json").read_text())
        assert Path(meta["params"]["robot"]["file"]) == (tmp_path / "my_robot" / "arm.urdf").resolve()
        robots = [o for o in meta["objects"] if "parts" in o]
        assert len(robots) == 1 and robots[0]["category_id"] == 0  # background: no COCO object
        assert (cell / "parts" / f"{index:06d}.png").is_file()
