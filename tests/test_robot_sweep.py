"""Real robots as their packages ship them: every articulated model file of pybullet_data (the test
extra) and of dm_control (its models fetched once by ``scripts/fetch_robots.py --out
.robots/dm_control``; .ci/run does it) is loaded and posed (parsing and forward kinematics, no
render: tests/test_articulated_render.py renders some). Each loads, or is refused in one line that
names the file and what to do. The sweep is scripts/sweep_robots.py's; the counts it states are
printed (``pytest -s``) and asserted as a floor: a change that refuses a model that loaded fails here.

The dm_control half is skipped when the models are not fetched, and fails with CI=true
(conftest.require).
"""

from __future__ import annotations

import importlib.util
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from conftest import require

ROOT = Path(__file__).resolve().parents[1]
FETCH = ".venv/bin/python scripts/fetch_robots.py --out .robots/dm_control"
FIX = re.compile(r"; (.* )?(fix|give|remove|take|run|move|swap|make|convert|add|pass|name|define|join|save|"
                 r"decimate|use|report|load)\b")
"""A refusal's fix: after the problem, a clause that says what to do."""


def _sweep_module():
    spec = importlib.util.spec_from_file_location("sweep_robots", ROOT / "scripts" / "sweep_robots.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


sweep_robots = _sweep_module()


@pytest.fixture(scope="module")
def pybullet():
    return sweep_robots.pybullet_sweep()


@pytest.fixture(scope="module")
def dm_control():
    require("dm_control's models (.robots/dm_control)", (sweep_robots.DM_CONTROL / "entry.json").is_file(), FETCH)
    return sweep_robots.dm_control_sweep()


def _rel(s, names) -> set[Path]:
    return {s.root / n for n in names}


def _check_refusals(s) -> None:
    print(f"\n{sweep_robots.report(s)}")
    assert not s.crashed, f"a bug, not a refusal: {s.crashed}"
    for p, why in s.refused.items():
        assert "\n" not in why, why
        assert why.startswith(f"{p}: "), f"the refusal names another file first: {why}"
        assert FIX.search(why.removeprefix(f"{p}: ")), f"no fix named: {why}"


PYBULLET_LOADS = [
    "laikago/laikago_toes.urdf", "laikago/laikago_toes_limits.urdf", "laikago/laikago_toes_zup.urdf",
    "laikago/laikago_toes_zup_lores.urdf", "kuka_iiwa/model_for_sdf.urdf",
    *(f"mjcf/{shape}{axis}.xml" for shape in ("capsule", "cylinder") for axis in ("", "_fromtoX", "_fromtoY", "_fromtoZ")),
    "mjcf/hello_mjcf.xml", "mjcf/striker.xml", "mjcf/thrower.xml",
    "kuka_iiwa/model.urdf", "franka_panda/panda.urdf", "r2d2.urdf", "xarm/xarm6_robot.urdf", "mjcf/humanoid.xml",
]
"""Files the issue named (free joints, toes of size 0, missing collision meshes) and the arms
tested elsewhere."""


def test_pybullet_datas_models_load_or_are_refused_in_one_line_with_a_fix(pybullet):
    """Of pybullet_data's 69 articulated files (3.2.7, pinned by the test extra), 35 loaded before
    free joints were held, size-0 visuals and missing collision meshes left out: now 51, and each
    of the other 18 is one line naming the file and the fix."""
    _check_refusals(pybullet)
    assert pybullet.files == 69
    assert _rel(pybullet, PYBULLET_LOADS) <= set(pybullet.loaded)
    assert len(pybullet.loaded) >= 51 and len(pybullet.refused) <= 18
    husky = pybullet.refused[pybullet.root / "husky/husky.urdf"]
    assert "it is a xacro file never expanded ('$(optenv HUSKY_IMU_RPY" in husky and "run xacro first" in husky
    bike = pybullet.refused[pybullet.root / "bicycle/bike.urdf"]
    assert "numbers separated by commas" in bike and "remove the commas" in bike
    for toes in PYBULLET_LOADS[:4]:
        (warning,) = pybullet.warnings[pybullet.root / toes]
        assert "left out 4 geometries of size 0" in warning and "'toeFR', 'toeFL', 'toeRR', 'toeRL'" in warning
    (warning,) = pybullet.warnings[pybullet.root / "kuka_iiwa/model_for_sdf.urdf"]
    assert "left out 8 collision meshes it cannot read" in warning


DM_CONTROL_LOADS = ["suite/dog.xml", "suite/humanoid.xml", "suite/humanoid_CMU.xml", "suite/fish.xml",
                    "suite/cheetah.xml", "suite/walker.xml", "suite/manipulator.xml", "third_party/ant/ant.xml",
                    "third_party/kinova/jaco_arm.xml", "locomotion/walkers/assets/rodent.xml",
                    "locomotion/walkers/assets/fruitfly_v2/fruitfly.xml"]


def test_dm_controls_models_load_or_are_refused_in_one_line_with_a_fix(dm_control):
    """Of dm_control's 35 articulated files (1.0.50, as fetched), 24 loaded before free joints were
    held: now 30, and each of the other 5 (a mesh the package lacks, meshes outside the model's
    folder, a height field) is one line naming the file and the fix."""
    _check_refusals(dm_control)
    assert dm_control.files == 35
    assert _rel(dm_control, DM_CONTROL_LOADS) <= set(dm_control.loaded)
    assert len(dm_control.loaded) >= 30 and len(dm_control.refused) <= 5


def _file_pose(path: Path, body: str) -> np.ndarray:
    """The pose the MJCF file gives a child of the world body (its pos, and its quat or euler),
    read with ElementTree: MuJoCo's defaults, pos 0, quat identity, euler in degrees about x, then
    the new y, then the new z (the files below set no other angle unit or sequence)."""
    root = ET.parse(path).getroot()
    assert all(c.get("angle") in (None, "radian" if "euler" not in c.attrib else None) and c.get("eulerseq") is None
               for c in root.iter("compiler"))
    el = next(b for b in root.iter("body") if b.get("name") == body)
    assert set(el.attrib) & {"axisangle", "xyaxes", "zaxis"} == set()
    if "euler" in el.attrib:
        t = np.eye(4)
        for axis, deg in zip("xyz", (float(v) for v in el.get("euler").split())):
            c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
            r = {"x": [[1, 0, 0], [0, c, -s], [0, s, c]], "y": [[c, 0, s], [0, 1, 0], [-s, 0, c]],
                 "z": [[c, -s, 0], [s, c, 0], [0, 0, 1]]}[axis]
            t[:3, :3] = t[:3, :3] @ np.array(r)
        t[:3, 3] = [float(v) for v in el.get("pos", "0 0 0").split()]
        return t
    w, x, y, z = (float(v) for v in el.get("quat", "1 0 0 0").split())
    n = (w * w + x * x + y * y + z * z) ** 0.5
    w, x, y, z = w / n, x / n, y / n, z / n
    t = np.eye(4)
    t[:3, :3] = [[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                 [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                 [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]]
    t[:3, 3] = [float(v) for v in el.get("pos", "0 0 0").split()]
    return t


@pytest.mark.parametrize("rel, body, free", [
    ("suite/humanoid.xml", "torso", "root"), ("suite/fish.xml", "torso", "root"),
    ("suite/humanoid_CMU.xml", "root", "root")])
def test_a_free_root_stays_where_the_file_puts_it_at_any_configuration(dm_control, rel, body, free):
    from simgen.assets.articulated import draw_configuration, link_poses, load_articulated

    model = load_articulated(dm_control.root / rel)
    assert [j.name for j in model.held] == [free] and free not in {j.name for j in model.actuated}
    rng = np.random.default_rng(3)
    for _ in range(3):
        poses = link_poses(model, draw_configuration(model, rng))
        np.testing.assert_allclose(poses[body], _file_pose(dm_control.root / rel, body), atol=1e-9)


def test_a_free_body_beside_the_arm_stays_where_the_file_puts_it(pybullet):
    """pybullet's striker and thrower: an arm fixed to the world and a free object (target, ball):
    the object's pose is the file's whatever the arm's joints."""
    from simgen.assets.articulated import draw_configuration, link_poses, load_articulated

    for rel, joint in (("mjcf/striker.xml", "target_free"), ("mjcf/thrower.xml", "object_free")):
        model = load_articulated(pybullet.root / rel)
        (held,) = model.held
        assert held.name == joint and held.parent == "world"
        want = _file_pose(pybullet.root / rel, held.child)
        rng = np.random.default_rng(0)
        for _ in range(3):
            np.testing.assert_allclose(link_poses(model, draw_configuration(model, rng))[held.child], want, atol=1e-9)


def test_the_sweep_script_prints_the_counts(pybullet, capsys):
    assert sweep_robots.main(["--dm-control", str(ROOT / "no-such-folder")]) == 0
    out = capsys.readouterr().out
    assert f"pybullet_data ({pybullet.root}): {len(pybullet.loaded)} of 69 model files load, " \
           f"{len(pybullet.refused)} refused" in out
    assert "skipped: no dm_control models in" in out and "scripts/fetch_robots.py --out" in out


# ------------------------------------------------------------------ scripts/fetch_robots.py, without the network


def _fetch_script(monkeypatch, members: dict[str, bytes] | None):
    """scripts/fetch_robots.py as a module, its pip replaced by one that "downloads" a wheel of
    ``members`` and the two licence files (None: pip fails); and the list of the pip calls made."""
    import hashlib
    import io
    import subprocess
    import zipfile

    spec = importlib.util.spec_from_file_location("fetch_robots", ROOT / "scripts" / "fetch_robots.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    calls = []
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in {**(members or {}), **{m: b"Apache License 2.0" for m in mod.LICENSES}}.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    wheel = buf.getvalue()

    def pip(cmd, **kw):
        calls.append(cmd)
        if members is None:
            return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found for dm_control==1.0.50\n")
        (Path(cmd[cmd.index("-d") + 1]) / mod.WHEEL).write_bytes(wheel)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", pip)
    return mod, calls, hashlib.sha256(wheel).hexdigest()


def test_the_robot_fetch_refuses_a_wheel_that_is_not_the_pinned_one_in_one_line(monkeypatch, tmp_path, capsys):
    out = tmp_path / "dm"
    mod, calls, _ = _fetch_script(monkeypatch, None)
    assert mod.main(["--out", str(out)]) == 1
    assert capsys.readouterr().err == "fetch_robots: pip download dm_control==1.0.50 failed (exit 1): ERROR: No " \
                                      "matching distribution found for dm_control==1.0.50\n" and not out.exists()
    assert calls[0][1:4] == ["-m", "pip", "download"] and "--no-deps" in calls[0] and "--only-binary=:all:" in calls[0]
    mod, _, _ = _fetch_script(monkeypatch, {"dm_control/suite/a.xml": b"<mujoco/>"})
    assert mod.main(["--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"not the pinned {mod.WHEEL_SHA256}" in err and not out.exists()


def test_the_robot_fetch_keeps_only_model_files_records_them_and_then_does_nothing(monkeypatch, tmp_path, capsys):
    out = tmp_path / "dm"
    members = {"dm_control/suite/humanoid.xml": b"<mujoco/>", "dm_control/suite/dog_assets/bone.stl": b"solid",
               "dm_control/suite/__init__.py": b"code", "dm_control/mjcf/test_assets/broken.xml": b"<",
               "dm_control/third_party/ant/ant.xml": b"<mujoco/>"}
    mod, calls, digest = _fetch_script(monkeypatch, members)
    monkeypatch.setattr(mod, "WHEEL_SHA256", digest)
    assert mod.main(["--out", str(out)]) == 1  # 3 model files, not the pinned wheel's 451
    assert "holds 3 model files under" in capsys.readouterr().err
    monkeypatch.setattr(mod, "FILES", 3)
    assert mod.main(["--out", str(out)]) == 0, capsys.readouterr().err
    kept = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert kept == ["AUTHORS-dm_control.txt", "LICENSE-dm_control.txt", "SOURCE.md", "entry.json",
                    "suite/dog_assets/bone.stl", "suite/humanoid.xml", "third_party/ant/ant.xml"]
    assert not Path(calls[0][calls[0].index("-d") + 1]).exists()  # the wheel and its folder are deleted
    entry = __import__("json").loads((out / "entry.json").read_text())
    assert entry["wheel_sha256"] == digest and entry["files"]["suite/humanoid.xml"]["size"] == 9
    assert mod.main(["--out", str(out)]) == 0 and len(calls) == 2  # there already: nothing downloaded
    (out / "suite" / "humanoid.xml").write_bytes(b"<mujoco></mujoco>")  # changed: fetched again
    assert mod.main(["--out", str(out)]) == 0 and len(calls) == 3
    assert (out / "suite" / "humanoid.xml").read_bytes() == b"<mujoco/>"


def test_the_robot_fetch_refuses_a_member_that_climbs_out(monkeypatch, tmp_path, capsys):
    mod, _, digest = _fetch_script(monkeypatch, {"dm_control/suite/../../../evil.xml": b"<mujoco/>"})
    monkeypatch.setattr(mod, "WHEEL_SHA256", digest)
    assert mod.main(["--out", str(tmp_path / "dm")]) == 1
    assert "which is no plain relative path" in capsys.readouterr().err
    assert not (tmp_path / "evil.xml").exists()
