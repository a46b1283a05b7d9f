"""One validator: every rule about settings is checked by :func:`simgen.compose.settings.validate`
before anything renders, and each entry point reaches it: ``simgen`` (a run), ``simgen validate
KEY=VALUE ...``, ``simgen study`` (every arm's config) and ``simgen fit`` (its base config; the
space's corners go through the same check). Each case runs in this process with Blender guarded
(tests/test_bad_inputs.py's runner): exit status 2, the rule's one line, Blender never reached."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from test_bad_inputs import TINY, _box, run_in_process
from test_cli import q
from test_study_command import one_error_line

RULES = {
    # rule: (overrides, what the one line says)
    "format-needs-labels": (["output.formats=[bop]"], "the bop format is made from the amodal label kind"),
    "stereo-format-needs-rig": (["output.formats=[kitti_stereo]"], "write stereo pairs: set camera.rig=stereo"),
    "unknown-label": (["output.labels=[depht]"], "output.labels=['depht']"),
    "unknown-flow-format": (["sequence.formats=[flox]"], "sequence.formats=['flox']"),
    "lens": (["camera.focal_jitter=0.1"], "camera.focal_jitter=0.1 varies a calibration's focal lengths"),
    "upload-without-shards": (["output.upload=s3://bucket/run"], "output.upload sends the streaming formats' shards"),
    "upload-store-module": (["output.upload=s3://bucket/run", "output.formats=[webdataset]"], "pip install -e '.[cloud]'"),
    "format-module": (["output.formats=[parquet]"], "pip install -e '.[stream]'"),
    "recipe-keys": (["scene=flying", "camera.exposure=[0.5,1]"], "does nothing with scene=flying"),
    "tracks-need-a-sequence": (["output.labels=[tracks]"], "output.labels=[tracks] follows points through a sequence"),
    "keypoint-sources": (["output.labels=[keypoints]", "output.keypoints=catalog", "objects.catalog=null",
                          "objects.dirs={thing: @DIR@}"], "output.keypoints=catalog, but"),
}
MODULES = {"format-module": ("pyarrow",), "upload-store-module": ("s3fs", "fsspec")}
"""Optional modules hidden from the case (as if their extra were not installed)."""


def _target(tmp: Path) -> Path:
    d = tmp / "target"
    d.mkdir()
    for i in range(2):
        Image.fromarray(np.full((48, 64, 3), 60 * i + 40, np.uint8)).save(d / f"{i}.png")
    return d


def _entry(point: str, overrides: list[str], tmp: Path) -> list[str]:
    out = f"output.dir={q(tmp / 'out')}"
    if point == "run":
        return [*TINY, *overrides, out]
    if point == "validate":
        return ["validate", *TINY, *overrides]
    if point == "study":
        study = tmp / "one_arm.yaml"
        study.write_text("study:\n  arms:\n    a: {overrides: []}\n")
        return ["study", str(study), *overrides]
    assert point == "fit"
    return ["fit", f"target={q(_target(tmp))}", "name=check", *overrides]


@pytest.mark.parametrize("point", ["run", "validate", "study", "fit"])
@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_rule_is_reached_from_each_entry_point(rule, point, tmp_path, monkeypatch, capfd):
    overrides, expected = RULES[rule]
    if any("@DIR@" in o for o in overrides):
        meshes = q(_box(tmp_path / "meshes" / "box.ply").parent)
        overrides = [o.replace("@DIR@", meshes) for o in overrides]
    for name in MODULES.get(rule, ()):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError: the extra is not installed
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    code, out, err, touched = run_in_process(_entry(point, overrides, tmp_path), cwd, monkeypatch, capfd)
    assert not touched, "Blender was reached"
    line = one_error_line(code, err)
    assert expected in line, (expected, line)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.png"))


def test_validate_says_what_a_valid_config_renders(tmp_path, monkeypatch, capfd):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    code, out, err, touched = run_in_process(["validate", "frames=3", "output.formats=[yolo]",
                                              "output.labels=[amodal]"], cwd, monkeypatch, capfd)
    assert (code, err, touched) == (0, "", False)
    assert "the config is valid (nothing rendered): scene=tabletop, 3 frame(s) of 320x240" in out
    assert "'amodal'" in out and "formats ['yolo']" in out
    assert not list(cwd.iterdir())


def test_a_lens_rule_holds_for_every_recipe_that_takes_a_lens():
    """The lens check is the validator's, not a recipe's: scene=environment (which draws its camera
    through the lens as tabletop does) refuses a focal jitter without a calibration too."""
    from simgen import SimgenError
    from simgen.config import Settings
    from simgen.compose.settings import default_scene, validate

    scene = default_scene("environment")
    scene.file = str(Path(__file__).resolve().parents[1] / "assets" / "environments" / "bin.glb")
    s = Settings(scene=scene)
    s.camera.focal_jitter = 0.05
    with pytest.raises(SimgenError, match="camera.focal_jitter=0.05 varies a calibration"):
        validate(s)
