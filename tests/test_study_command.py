"""``simgen study NAME|FILE [study.KEY=VALUE ...] [simgen overrides ...]``: a study is a command of
its own, and ``experiment=`` is a Hydra overlay group only. The usage lists simgen's studies; the
command hands the study runner the study and the overrides (the runner itself, which renders and
trains for minutes, is replaced by a recorder here: tests/test_experiment.py runs it); a bad name
or file, a flag, or a study named as an ``experiment=`` overlay ends in one line, exit status 2."""

from __future__ import annotations

import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest

import simgen.cli
from simgen.experiment.config import is_study_file, load_study, studies
from test_cli import COMMAND

REPO = Path(__file__).resolve().parents[1]
STUDIES = ("dr_gap", "fit_gap", "own_look", "people_diversity")


def run_main(argv: list[str], monkeypatch, capfd, cwd: Path) -> tuple[int, str, str]:
    """``simgen ARGV`` in this process (tests/test_bad_inputs.py's runner): (exit status, stdout,
    stderr); Blender is never reached."""
    from test_bad_inputs import run_in_process

    code, out, err, touched = run_in_process(argv, cwd, monkeypatch, capfd)
    assert not touched, "Blender was reached"
    return code, out, err


def one_error_line(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("simgen: error: "), (code, err)
    assert "Traceback" not in err
    return lines[0]


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, *args, **kw):
        self.calls.append((args, kw))
        return {"headline": "recorded"}


@pytest.fixture
def recorder(monkeypatch) -> Recorder:
    import simgen.experiment.runner as runner

    record = Recorder()
    monkeypatch.setattr(runner, "run_study", record)
    return record


def test_the_shipped_studies_are_in_configs_study_and_no_experiment_is_one():
    assert set(studies()) == set(STUDIES)
    for name in STUDIES:
        assert studies()[name] == simgen.cli.CONFIG_DIR / "study" / f"{name}.yaml"
    experiments = sorted((simgen.cli.CONFIG_DIR / "experiment").glob("*.yaml"))
    assert experiments and not any(is_study_file(p) for p in experiments)


@pytest.mark.parametrize("argv", [["study"], ["study", "--help"], ["study", "-h"], ["study", "dr_gap", "--help"]])
def test_the_usage_lists_the_studies(argv, tmp_path, monkeypatch, capfd, recorder):
    code, out, err = run_main(argv, monkeypatch, capfd, tmp_path)
    assert code == 0 and not err, err
    assert out.startswith("usage: simgen study NAME|FILE [study.KEY=VALUE ...] [simgen overrides ...]")
    for name in STUDIES:
        assert f"\n  {name} " in out, name
    assert "Is a fitted randomization worth more than the default one?" in out  # fit_gap's question
    assert "docs/how-to/study-file.md" in out and not recorder.calls and not list(tmp_path.iterdir())


def test_the_console_script_answers_study_help(tmp_path):
    r = subprocess.run([*COMMAND, "study", "dr_gap", "--help"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: simgen study") and all(name in r.stdout for name in STUDIES)


def test_simgen_study_name_hands_the_runner_the_study_and_the_overrides(tmp_path, monkeypatch, capfd, recorder):
    from simgen.cli.study import check_dataset

    args = ["study.seeds=[0]", "study.frames=[4]", f"study.out={tmp_path / 'out'}", "render.width=64",
            "lighting=wide"]
    code, _, err = run_main(["study", "dr_gap", *args], monkeypatch, capfd, tmp_path)
    assert code == 0, err
    (call, kw), = recorder.calls
    study, overrides = call
    expected = load_study(REPO / "configs" / "study" / "dr_gap.yaml", args[:3])
    assert asdict(study) == asdict(expected) and study.seeds == [0] and study.out == str(tmp_path / "out")
    assert overrides == ["render.width=64", "lighting=wide"]  # simgen overrides of every dataset
    assert kw == {"name": "dr_gap", "validate": check_dataset}


def test_simgen_study_file_runs_a_study_of_ones_own(tmp_path, monkeypatch, capfd, recorder):
    path = tmp_path / "mine.yaml"
    path.write_text("# my study\nstudy:\n  arms:\n    a: {overrides: [lighting=narrow]}\n    b: {overrides: []}\n"
                    "  seeds: [0]\n")
    code, _, err = run_main(["study", str(path), "study.frames=[2]", "render.samples=2"], monkeypatch, capfd, tmp_path)
    assert code == 0, err
    (call, kw), = recorder.calls
    assert list(call[0].arms) == ["a", "b"] and call[0].frames == [2] and call[1] == ["render.samples=2"]
    assert kw["name"] == "mine"


@pytest.mark.parametrize("argv, words", [
    (["study", "dr_gpa"], "unknown study 'dr_gpa'; did you mean 'dr_gap'? simgen's studies are dr_gap, fit_gap, "
                          "own_look, people_diversity (configs/study/), or give the path of a study file"),
    (["study", "nosuch"], "unknown study 'nosuch'; simgen's studies are dr_gap"),
    (["study", "/no/such/study.yaml"], "study file /no/such/study.yaml not found"),
    (["study", str(REPO / "configs" / "experiment" / "dr_ablation.yaml")], "dr_ablation.yaml is not a study"),
    (["study", "study.seeds=[0]"], "simgen study takes the study's name or file first, e.g. simgen study dr_gap "
                                   "study.seeds=[0]"),
    (["study", "dr_gap", "-m"], "drop -m (study.launch=[-m,...]"),
    (["study", "dr_gap", "study.trainer.stepz=3"], "did you mean 'study.trainer.steps'"),
    (["study", "dr_gap", "experiment=own_look"], "experiment=own_look is a study, not an overlay: studies run with "
                                                 "simgen study own_look"),
])
def test_bad_study_commands_are_one_line(argv, words, tmp_path, monkeypatch, capfd, recorder):
    line = one_error_line(*run_main(argv, monkeypatch, capfd, tmp_path)[::2])
    assert words in line, line
    assert not recorder.calls and not list(tmp_path.iterdir())


@pytest.mark.parametrize("argv, study", [
    (["experiment=dr_gap"], "dr_gap"),
    (["experiment=fit_gap", "study.seeds=[0]", "render.width=64"], "fit_gap"),
    (["-m", "experiment=dr_ablation,own_look"], "own_look"),
    (["--cfg", "job", "experiment=dr_gap"], "dr_gap"),  # Hydra's own flags too
    (["study=dr_gap"], "dr_gap"),
])
def test_experiment_naming_a_study_says_the_command(argv, study, tmp_path, monkeypatch, capfd, recorder):
    line = one_error_line(*run_main(argv, monkeypatch, capfd, tmp_path)[::2])
    assert f"studies run with simgen study {study} " in line, line
    assert not recorder.calls and not list(tmp_path.iterdir())


def test_experiment_stays_an_overlay_group(tmp_path, monkeypatch, capfd):
    code, out, err = run_main(["--cfg", "job", "experiment=dr_ablation"], monkeypatch, capfd, tmp_path)
    assert code == 0, err
    assert "frames: 8" in out
    line = one_error_line(*run_main(["experiment=dr_gpa"], monkeypatch, capfd, tmp_path)[::2])
    assert "unknown option experiment=dr_gpa" in line and "dr_ablation" in line
