"""What ``simgen fit`` is asked to do: its declared settings and how the command line is read.

``simgen fit target=DIR [name=NAME] [target_coco=FILE] [fit.KEY=VALUE ...] [simgen overrides ...]``:
``target``, ``target_coco`` and ``name`` are short for ``fit.target``, ``fit.target_coco`` and
``fit.name``; every other ``fit.KEY=VALUE`` sets a field of :class:`FitConfig` (checked by
:func:`simgen.config.schema.check_fields`), and any other override is a simgen setting of every render
the fit makes (as a study's are).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from simgen.errors import SimgenError
from simgen.config.schema import check_fields, check_key, merge_overrides, setting
from simgen.paths import CONFIG_DIR
from simgen.experiment.config import TrainerConfig
from simgen.fit.kid import ARCHS

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DEFAULT_SPACE = CONFIG_DIR / "fit_space.yaml"
OBJECTIVES = ("stats", "kid", "ap")
SHORT_KEYS = ("target", "target_coco", "name")
"""Keys the command line may give without the ``fit.`` prefix."""


@dataclass
class FitConfig:
    """simgen fit: search the randomization settings so that renders look like the target images."""

    target: Optional[str] = setting(None, example="/data/real/images")
    """Folder of the target images (png, jpg, tif, bmp, webp; its subfolders too): 8-bit RGB of one
    size. Read only: the fit writes nothing there."""
    target_coco: Optional[str] = setting(None, example="/data/real/val.json")
    """A COCO json of (some of) the target images with boxes: adds the label statistics (objects
    per image, box sizes, aspect ratios, positions, truncation) to the distance. Its categories
    must be the catalog's (matched by name; fit.rename maps others)."""
    rename: dict[str, str] = setting({}, example="{cup: mug}")
    """target_coco category name -> the catalog's name, where they differ."""
    name: str = setting("fit", example="shop")
    """The fit's name: its folder is fits/NAME (fit.out) and its study in the storage is NAME."""
    out: Optional[str] = setting(None, example="/data/fits/shop")
    """The fit's folder (created; relative to the working directory). null: fits/NAME."""
    objective: str = setting("stats", choices=OBJECTIVES)
    """What is minimised. stats: the distance between the distributions of documented image
    statistics (and label statistics with target_coco) of target and renders; no training, no
    weights (simgen.fit.stats, simgen.fit.distance). kid: the Kernel Inception Distance between the
    features of target and renders from a torchvision backbone (fit.kid_arch) with weights from a
    local file (fit.kid_weights; the torch extra) (simgen.fit.kid). ap: the downstream objective,
    1 - AP: each trial renders fit.frames training frames, trains fit.trainer's detector on them and
    scores it with COCOeval on the target's images and target_coco (a study of one arm per trial,
    simgen.experiment); slow (a training run per trial), and the camera settings are rendered, not
    developed."""
    kid_arch: str = setting("resnet18", choices=ARCHS)
    """fit.objective=kid: the torchvision backbone whose pooled features are compared."""
    kid_weights: Optional[str] = setting(None, example="/models/resnet18.pth")
    """fit.objective=kid: a local file of the backbone's weights (a state dict saved with torch.save;
    nothing is downloaded), e.g. torchvision's ImageNet weights fetched once."""
    trials: int = setting(40, ge=1, le=100_000)
    """Trials the fit runs in all (over every resume and worker); each renders fit.frames frames."""
    frames: int = setting(16, ge=1, le=100_000)
    """Frames rendered per trial (and for the default config the fit starts from)."""
    seed: int = setting(0, ge=0, le=2**31 - 1)
    """Seed of the search (Optuna's TPE sampler) and of every render (each trial renders the same
    frame indices under its own settings: common random numbers, so trials differ by their
    settings, not by their draws)."""
    final_frames: Optional[int] = setting(None, ge=0, le=100_000)
    """After the trials, the final round: the default config and the fit.finalists best trials are
    rendered again on this many new frames (other frame indices than the trials') and measured
    there; the closest becomes best.yaml. The best of many trials is flattered by the luck of its
    frames, and more frames measure the distance more finely (what sampling adds to it shrinks as
    they grow). null: 4 x fit.frames; 0: no final round (the best trial on its own frames). Not
    with fit.objective=ap."""
    finalists: int = setting(2, ge=1, le=1000)
    """The best trials (by their distance on the trials' frames) that the final round measures again;
    the trial of the default config's world (its development searched) is measured too when it is
    not one of them."""
    polish_trials: int = setting(200, ge=0, le=100_000)
    """Before the final round measures one of the fit.finalists closest trials, its development is
    searched again on its trial's frames and fit.polish_frames more with this many candidates,
    starting from the developments of the closest trials (each trial's own search started from the
    best so far on another render, and a few hundred candidates end in different local optima); 0:
    each finalist is measured with its trial's, as the default config's world always is when it is
    measured for being the default's. 200: in scripts/bench_fit.py's fit, the held-out frames chose
    the same developments as with 300 (improvements 12 and 15 of each search), so the same result
    (0.2963), with the final round 4.3 minutes against 5.1."""
    polish_frames: Optional[int] = setting(None, ge=0, le=100_000)
    """Frames rendered for each finalist after the final round's (other indices than the trials' and
    the final round's) for its polishing: a development searched on a trial's few frames fits their
    draws (which frames get noise, how much) rather than the target. The first half is searched on
    besides the trial's frames; the second half is held out, and the polished development is the
    search's best so far that came closest there (early stopping). null: 6 x fit.frames (with 16
    frames, each polishing searches on 64 and stops on 48: on 40 and 24, the sensor recovery's
    default world came out at 0.49 against 0.33, scripts/fit_recovery.py); 0: the trial's frames
    only, no stopping."""
    tie: bool = setting(True)
    """Fit settings that fix one image quantity together as what the target determines: object scale,
    focal length and camera distance make one object size in the image, so two of them are held at
    the base config's values and the camera distance is fitted; the lamps' powers are fitted in ratio
    to the world light's strength, which is held; the lamps' colour temperature is fitted on every
    lamp with the camera's white balance held (one colour cast), and the sensor's full well on every
    frame (effects.noise_probability held at 1: one noise level) (simgen.fit.space.TIES; the report
    and best.yaml say which). A setting the config fixes (a camera.calibration's focal length) or
    that the space leaves out (fit.space.camera.focal_length=null, with camera.focal_length=[35,35]
    as known) counts as held.
    false: search every entry of the space."""
    startup_trials: int = setting(10, ge=0, le=100_000)
    """Trials drawn at random before TPE models the results."""
    prefit_trials: int = setting(200, ge=0, le=100_000)
    """With target_coco: candidate values of the geometric settings in the space (camera distance,
    elevation, focal length, object count and scale), spread over it, tried on the label statistics
    of their scenes projected without rendering (simgen.fit.geometry.prefit, a fraction of a second
    each) before the first trial; a local search from the closest few then uses a fifth as many
    evaluations each, and the first trial starts from its best. 0: none."""
    label_scenes: int = setting(128, ge=0, le=100_000)
    """With target_coco: the label statistics (box counts, sizes, shapes, places) of the default config,
    each trial and each finalist are those of this many of its scenes projected without rendering
    (simgen.fit.geometry.Projector: each object's box from its mesh, no occlusion; a fraction of a
    second), not of its fit.frames rendered frames; the final round and the polishing frames project
    as many other scenes each. On fit_gap's target the label distance of 16 frames could not tell
    the target's own geometry (0.16-0.26 over six sets of frames) from the weakest fit's (0.26-0.41);
    of 128 scenes it did (0.11-0.13 against 0.24-0.31). 0: the rendered frames' labels (occlusion
    and all)."""
    develop_trials: int = setting(100, ge=1, le=100_000)
    """Per trial, the candidate values of the settings applied after the render (camera.exposure,
    the camera effects, the lights' power and colour) that a search of its own tries on the trial's
    renders, without rendering again (simgen.fit.post_render). Each trial's search starts from the
    closest trial's development so far; the first has only the defaults to start from and tries 3
    times as many (simgen.fit.renders.FIRST_DEVELOP). In a fit of 200 a trial (the default before),
    development took 19 of a trial's 33 s, and the trials' distances at their 100th candidate
    ranked them as at their 200th (Spearman 0.96 over 40 trials)."""
    simgen: list[str] = setting([], empty_ok=True, example="[render.samples=32,objects.catalog=textured]")
    """simgen overrides of every render (the default config and every trial), before the command
    line's; render.width and render.height default to the target's image size, render.denoise_prefilter
    to fast and render.samples to 8 (simgen.fit.plan.FIT_RENDER: cheaper renders whose statistics are
    as good to the fit, scripts/noise_study.py and scripts/fit_render_samples.py)."""
    space_file: Optional[str] = setting(None, example="/data/fits/space.yaml")
    """The search space: a YAML tree of simgen settings and where each may go (configs/fit_space.yaml
    documents the format). null: simgen's default space (configs/fit_space.yaml)."""
    space: Any = field(default_factory=dict)
    """Entries merged over fit.space_file's, e.g. fit.space.scene.camera_distance=[0.3,5]; null removes one
    (fit.space.lighting.world=null)."""
    weights: dict[str, float] = setting({}, ge=0.0, le=1e6, example="{noise: 2, vignetting: 0}")
    """Weight of a statistic in the distance (0 leaves it out). Default: 1 for each image statistic and,
    with target_coco, 11/6 for each of the 6 label statistics, so what is where weighs as much as
    how it looks (simgen.fit.plan.LABEL_WEIGHT)."""
    max_images: int = setting(500, ge=1, le=1_000_000)
    """Most target images the statistics are computed from (evenly spaced in name order)."""
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    """fit.objective=ap: the detector each trial trains, as a study's study.trainer (docs/config.md,
    Studies), e.g. fit.trainer.steps=300."""
    storage: Optional[str] = setting(None, example="postgresql+psycopg2://user:pw@db-host/simgen")
    """Where the fit's state lives: an SQLAlchemy database URL that several workers (machines,
    Slurm jobs) share; null: the SQLite file fit.db in the fit's folder (one machine)."""
    cpu_kernels: str = setting("baseline", choices=("baseline", "native"))
    """The vector kernels numpy computes the fit's developments and statistics with. baseline: the
    CPU architecture's baseline (SSE3 on x86-64), the same on every CPU of it, so that the same
    fit.seed gives the same best.yaml on another machine (simgen.cli.kernels); native: this CPU's
    fastest (AVX2, AVX-512), whose transcendental functions round differently from one CPU to
    another: against 16 frames of the default config, a fit of 4 trials with AVX2 taken away found
    other developments (trial distances 0.644 and 0.722 against 0.636 and 0.753). Applies to the
    simgen fit command, which sets it before numpy loads (NPY_DISABLE_CPU_FEATURES, inherited by its
    renders); a fit through the Python API, where numpy is loaded already, computes with this CPU's
    kernels and says so."""
    overwrite: bool = setting(False)
    """Start over: delete the fit's folder (and its study in fit.storage) when it holds a fit of
    other settings, instead of refusing."""

    @property
    def final(self) -> int:
        """Frames of the final round (0: none)."""
        if self.objective == "ap":
            return 0
        return 4 * self.frames if self.final_frames is None else self.final_frames

    @property
    def polish(self) -> int:
        """Frames rendered for each finalist's polishing (0: none, or no final round)."""
        if not self.final or not self.polish_trials:
            return 0
        return 6 * self.frames if self.polish_frames is None else self.polish_frames

    @property
    def held_out(self) -> int:
        """Of the polish frames, those held out to stop each polishing search (half, rounded down)."""
        return self.polish // 2

    @property
    def polish_searched(self) -> int:
        """Of the polish frames, those each polishing searches on besides its trial's (the rest)."""
        return self.polish - self.held_out

    @property
    def folder(self) -> Path:
        return Path(self.out if self.out is not None else Path("fits") / self.name).expanduser().absolute()


def digest(parts: Any) -> str:
    """A short hex digest of JSON-able ``parts`` (a trial's folder name, a fingerprint)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def check_fit(c: FitConfig) -> FitConfig:
    """Every declared bound, then the rules that tie fields together; a one-line SimgenError."""
    check_fields(c, "fit.")
    if c.target is None:
        raise SimgenError("no target images: give their folder, e.g. simgen fit target=/data/real/images name=shop")
    if not NAME.match(c.name):
        raise SimgenError(f"fit.name={c.name!r}: use letters, digits, '_', '-', '.' (it names a folder)")
    if c.objective == "ap" and c.target_coco is None:
        raise SimgenError("fit.objective=ap scores a detector on the target's labels: give target_coco=FILE")
    if c.objective == "kid" and c.kid_weights is None:
        raise SimgenError("fit.objective=kid needs fit.kid_weights=FILE, the backbone's weights (never downloaded)")
    for key, value in (("fit.target_coco", c.target_coco), ("fit.space_file", c.space_file),
                       ("fit.kid_weights", c.kid_weights)):
        if value is not None and not Path(value).expanduser().is_file():
            raise SimgenError(f"{key}={value}: no such file")
    if not isinstance(c.space, dict):
        raise SimgenError(f"fit.space={c.space!r}: give entries as a mapping, e.g. fit.space.scene.camera_distance=[0.3,5]")
    if c.rename and c.target_coco is None:
        raise SimgenError("fit.rename maps target_coco's category names, but no target_coco is given")
    return c


def space_tree(c: FitConfig) -> Any:
    """fit.space_file's tree (the default space without one) with fit.space merged over it."""
    from omegaconf import OmegaConf

    from simgen.fit.space import is_leaf

    path = Path(c.space_file).expanduser() if c.space_file is not None else DEFAULT_SPACE
    try:
        base = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except Exception as e:  # noqa: BLE001 (yaml and OSError alike)
        raise SimgenError(f"cannot read the space file {path}: {' '.join(str(e).split())}") from None

    def merge(tree: Any, over: Any) -> Any:  # an entry replaces an entry; the levels above merge
        if not isinstance(tree, dict) or not isinstance(over, dict) or is_leaf(tree) or is_leaf(over):
            return over
        return {**tree, **{k: merge(tree[k], v) if k in tree else v for k, v in over.items()}}

    return merge(base if base is not None else {}, c.space)


def split_args(args: list[str]) -> tuple[list[str], list[str]]:
    """(fit overrides as ``KEY=VALUE`` without the ``fit.`` prefix, simgen overrides)."""
    fit, simgen = [], []
    for a in args:
        key, eq, value = a.partition("=")
        if eq and key in SHORT_KEYS:
            fit.append(a)
        elif eq and key.startswith("fit."):
            fit.append(a[len("fit."):])
        else:
            simgen.append(a)
    return fit, simgen


def load_fit(overrides: list[str]) -> FitConfig:
    """FitConfig with ``KEY=VALUE`` overrides (``fit.`` prefix removed) merged in, checked."""
    def check(key: str) -> None:  # entries under fit.space are checked against the settings by parse_space
        if not key.startswith("space.") and key != "space":
            check_key(key, FitConfig, under="fit", where="docs/config.md, section Fits, lists the fit keys")

    fit = merge_overrides(FitConfig, None, [f"fit.{o}" for o in overrides], "fit", check,
                          "quote values holding brackets or commas")
    assert isinstance(fit, FitConfig)
    return check_fit(fit)
