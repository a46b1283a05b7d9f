"""``simgen people prepare``: nothing to do on a prepared library, one line on bad usage, and a library
not prepared stops a render's model load with one line naming the command. (Building the model data
itself takes 5 minutes: .ci/run runs it, and every people test then loads from what it made.)"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simgen.errors import SimgenError


def _people(*args: str) -> subprocess.CompletedProcess:
    simgen = Path(sys.executable).with_name("simgen")   # the console script, as a user runs it
    return subprocess.run([str(simgen), "people", *args], capture_output=True, text=True, timeout=120)


def test_a_prepared_library_is_nothing_to_do(people_library, tmp_path):
    # a copy, so that a prepare that wrongly rebuilt would not touch the shared library
    lib = tmp_path / "lib"
    shutil.copytree(people_library, lib)
    before = sorted(p.relative_to(lib) for p in lib.rglob("*"))
    r = _people("prepare", "--library", str(lib))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"simgen people: {lib} is prepared (Anny 0.6.2); nothing to do"
    assert sorted(p.relative_to(lib) for p in lib.rglob("*")) == before


@pytest.mark.parametrize("args, match", [((), "the following arguments are required: COMMAND"),
                                         (("prepare", "--bogus"), "unrecognized arguments: --bogus"),
                                         (("build",), "invalid choice: 'build'")])
def test_bad_usage_is_one_line_and_exit_2(args, match):
    r = _people(*args)
    assert r.returncode == 2
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("simgen people: error: ") and match in last


def test_an_unprepared_library_names_the_prepare_command(tmp_path):
    pytest.importorskip("anny")
    from simgen.people.model import load_model, prepared

    assert prepared(tmp_path) is None
    with pytest.raises(SimgenError, match=rf"run `simgen people prepare --library {tmp_path}`"):
        load_model(str(tmp_path))
    # a manifest whose model data file is missing (a half-copied library) is not prepared either
    (tmp_path / "simgen-people.json").write_text(json.dumps({"anny": "0.6.2", "model_data": "v14/x.safetensors"}))
    assert prepared(tmp_path) is None
    with pytest.raises(SimgenError, match="simgen people prepare"):
        load_model(str(tmp_path))
