"""One torchvision trainer config, declared once (simgen.experiment.training.TorchvisionTrainer),
travels from a study file through the runner's spec.json to the training job unchanged; the job
adds no defaults of its own (a missing or unknown key is a one-line error), and
scripts/train_detector.py's flags take their defaults from the same declaration.

Nothing here renders or trains: the runner's spec is built by its own function, and the job reads
it as it does before training."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
from pathlib import Path

import pytest

from simgen import SimgenError
from simgen.experiment.config import TrainerConfig, load_study
from simgen.experiment.runner import ArmData, TrainingInputs, train_command
from simgen.experiment.training import FIELDS, TorchvisionTrainer, from_spec, settings_of, to_spec
from simgen.io.files import read_json, write_json

REPO = Path(__file__).resolve().parents[1]
HAS_TORCH = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("torchvision") is not None

NOT_DEFAULT = {"arch": "fasterrcnn_mobilenet_v3_large_320_fpn", "steps": 7, "batch_size": 3, "optimizer": "sgd",
               "lr": 0.02, "momentum": 0.8, "weight_decay": 0.001, "schedule": "constant", "warmup": 3,
               "clip": 2.5, "threads": 2, "cpu_kernels": "native", "device": "cpu"}
"""A value other than the default for every setting (weights: a file the test writes)."""


def study_file(tmp_path: Path, trainer: dict) -> Path:
    lines = ["study:", "  arms:", "    a: {overrides: [lighting=narrow]}", "  seeds: [5]", "  trainer:",
             "    name: torchvision"]
    lines += [f"    {k}: {v}" for k, v in trainer.items()]
    path = tmp_path / "my_study.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def spec_of(study, tmp_path: Path) -> tuple[list[str], Path]:
    """The runner's command and spec.json of one training run (written as run_study writes it)."""
    out, run = tmp_path / "out", tmp_path / "out" / "runs" / "a" / "n4" / "seed5"
    run.mkdir(parents=True)
    data = ArmData(image_ids=[1, 2, 3, 4, 5], image_size=(72, 96), categories=["mug"], frame_seconds={})
    shared = TrainingInputs(study=study, out=out, labels=["mug"], real_ids=[],
                            target_coco=out / "data" / "target" / "coco.json", target_images=None,
                            predict_list=out / "runs" / "predict.json")
    cmd, spec = train_command(shared, arm="a", frames=4, seed=5, folder=run, data=data)
    write_json(run / "spec.json", spec, indent=1)
    return cmd, run / "spec.json"


def test_the_trainer_config_travels_from_the_study_file_to_the_job_unchanged(tmp_path):
    weights = tmp_path / "start.pt"
    weights.write_bytes(b"a state dict")
    given = {**NOT_DEFAULT, "weights": str(weights)}
    assert set(given) == set(FIELDS)
    defaults = dataclasses.asdict(TorchvisionTrainer())
    assert all(given[k] != defaults[k] for k in FIELDS), "every value differs from its default"
    # the file gives all but clip, the command line gives clip (study.KEY=VALUE overrides merge in)
    study = load_study(study_file(tmp_path, {k: v for k, v in given.items() if k != "clip"}),
                       [f"study.trainer.clip={given['clip']}"])
    assert isinstance(study.trainer, TrainerConfig) and isinstance(study.trainer, TorchvisionTrainer)
    assert dataclasses.asdict(settings_of(study.trainer)) == given

    cmd, path = spec_of(study, tmp_path)
    assert cmd[1:] == ["-m", "simgen.torch.job", str(path)]
    spec = read_json(path)
    assert spec["trainer"] == given  # as the study has it, key for key: no renaming, nothing derived
    assert spec["seed"] == 5 and spec["image_size"] == [72, 96]
    assert from_spec(spec["trainer"]) == settings_of(study.trainer)
    if HAS_TORCH:  # what the job itself reads (it imports torch)
        from simgen.torch.job import read_spec

        assert read_spec(spec) == settings_of(study.trainer)


def test_the_shipped_defaults_are_what_the_study_trains_with():
    """study.trainer's defaults are the declaration's (AdamW at 1e-3, tiny_fcos, ...), and a spec
    written from a study that sets nothing carries them to the job."""
    cfg = TorchvisionTrainer()
    assert (cfg.arch, cfg.optimizer, cfg.lr, cfg.schedule, cfg.batch_size) == ("tiny_fcos", "adamw", 0.001, "cosine", 8)
    assert settings_of(TrainerConfig()) == cfg
    assert from_spec(to_spec(TrainerConfig())) == cfg
    assert [f.name for f in dataclasses.fields(TrainerConfig)][:len(FIELDS) + 1] == ["name", *FIELDS]


@pytest.mark.parametrize("change, words", [
    (lambda d: d.pop("clip"), "spec trainer: missing key(s) clip ("),
    (lambda d: d.update(cosine=True), "spec trainer: unknown key(s) cosine ("),
    (lambda d: (d.pop("lr"), d.update(learning_rate=0.1)),
     "spec trainer: unknown key(s) learning_rate; missing key(s) lr"),
    (lambda d: d.update(steps="10"), "spec trainer.steps='10': must be an integer"),
    (lambda d: d.update(optimizer="adam"), "spec trainer.optimizer='adam': unknown value; use one of adamw, sgd"),
])
def test_a_spec_trainer_with_a_missing_or_unknown_key_is_a_one_line_error(change, words):
    data = to_spec(TorchvisionTrainer())
    change(data)
    with pytest.raises(SimgenError) as e:
        from_spec(data)
    assert words in str(e.value) and "\n" not in str(e.value)


@pytest.mark.skipif(not HAS_TORCH, reason="the training job needs the torch extra")
@pytest.mark.parametrize("change, words", [
    (lambda s: s.pop("seed"), "simgen: error: spec: missing key(s) seed ("),
    (lambda s: s.update(lr=0.01), "simgen: error: spec: unknown key(s) lr ("),
    (lambda s: s["trainer"].pop("warmup"), "simgen: error: spec trainer: missing key(s) warmup ("),
])
def test_the_job_refuses_a_bad_spec_in_one_line(tmp_path, capsys, change, words):
    from simgen.torch.job import main

    _, path = spec_of(load_study(study_file(tmp_path, {}), []), tmp_path)
    spec = read_json(path)
    change(spec)
    write_json(path, spec)
    assert main([str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(words), err
    assert not Path(spec["out"]).exists()


def load_script():
    spec = importlib.util.spec_from_file_location("train_detector_script", REPO / "scripts" / "train_detector.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_detector_flags_take_their_defaults_from_the_declaration():
    script = load_script()
    p = argparse.ArgumentParser()
    script.add_trainer_flags(p)
    p.add_argument("--rois-per-image", type=int, default=None)
    assert script.trainer_settings(p.parse_args([])) == TorchvisionTrainer()
    args = [x for k, v in NOT_DEFAULT.items() for x in (script.flag(k), str(v))]
    assert dataclasses.asdict(script.trainer_settings(p.parse_args(args))) == {**NOT_DEFAULT, "weights": None}
    with pytest.raises(SimgenError, match=r"^--lr -1\.0: must be in \(0, 10\]$"):
        script.trainer_settings(p.parse_args(["--lr", "-1"]))
    with pytest.raises(SimgenError, match="--rois-per-image applies to the R-CNN models"):
        script.trainer_settings(p.parse_args(["--rois-per-image", "64"]))  # tiny_fcos samples no RoIs
    assert script.trainer_settings(p.parse_args(["--steps", "0"])).steps == 0  # no training, e.g. --eval only
