"""A fit's plan: everything it needs, checked before anything renders (:func:`plan_fit`)."""

from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from simgen.errors import SimgenError
from simgen.config.schema import override_text
from simgen.fit.config import FitConfig, space_tree
from simgen.fit.post_render import DEVELOPED, LIGHT_KEYS, Developer, neutral
from simgen.fit.distance import scales
from simgen.fit.space import RANGES, TIES, Entry, Held, defaults_of, parse_space, to_overrides, untangle
from simgen.fit.target import Target, load_target


@dataclass
class Plan:
    """Everything a fit needs, checked before anything renders."""

    fit: FitConfig
    folder: Path
    base: list[str]
    """simgen overrides of every render: fit.simgen, the command line's, the render size."""
    entries: list[Entry]
    defaults: dict[str, Any]
    """The default config's value of each searched setting."""
    target: Target
    scale: dict[str, float]
    weights: dict[str, float]
    settings: Any = None
    """The base config's Settings (what development starts from)."""
    features: Any = None
    """fit.objective=kid: the simgen.fit.kid.Features the distance compares."""
    held: list[Held] = field(default_factory=list)
    """Entries of the space the fit does not search, and why (simgen.fit.space.untangle): each stays
    at the base config's value."""
    catalog: Any = None
    """The base config's asset catalog (what a candidate's scenes draw from: :meth:`check_placement`)."""
    timing: dict[str, float] = field(default_factory=dict)
    """Seconds this process spent per phase of the fit (:meth:`timed`): what a fit's last line and
    scripts/bench_fit.py report."""
    fingerprint: dict[str, Any] = field(default_factory=dict)
    projectors: dict[str, Any] = field(default_factory=dict, repr=False)
    """The projected scenes of each part of the fit (:meth:`labels`), made once."""

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the block's wall time to :attr:`timing` under ``phase``."""
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.timing[phase] = self.timing.get(phase, 0.0) + time.monotonic() - t0

    @property
    def storage_url(self) -> str:
        return self.fit.storage or f"sqlite:///{self.folder / 'fit.db'}"

    @property
    def rendered(self) -> list[Entry]:
        """The entries each trial renders with (all with fit.objective=ap)."""
        return [e for e in self.entries if e not in self.developed]

    @property
    def developed(self) -> list[Entry]:
        """The entries searched on a trial's renders (simgen.fit.post_render; none with fit.objective=ap)."""
        return [] if self.fit.objective == "ap" else [e for e in self.entries if e.key in DEVELOPED]

    def check_placement(self, values: dict[str, Any]) -> None:
        """Refuse, before it renders, a candidate (``values`` of rendered entries) most of whose scenes
        cannot place their objects, as simgen would refuse it (simgen.pipeline.frames.check_placement):
        the scene is plain data, so this is decided without Blender, in seconds at most."""
        from simgen.fit.geometry import with_values
        from simgen.pipeline.frames import check_placement
        from simgen.recipes import load_recipe

        settings = with_values(self.settings, {"seed": self.fit.seed, **values})
        check_placement(load_recipe(settings.scene.recipe), settings, self.catalog)

    def labels(self, values: dict[str, Any], part: str) -> dict[str, Any] | None:
        """The label statistics samples of the rendered entries' ``values`` on fit.label_scenes scenes
        projected without rendering (simgen.fit.geometry.Projector), other scenes for each ``part`` of
        the fit (:data:`LABEL_PARTS`); None where they come from the rendered frames (no target labels,
        fit.label_scenes=0, another objective)."""
        from simgen.fit.geometry import Projector, with_values

        n = self.fit.label_scenes
        if not (n and self.target.labelled and self.fit.objective == "stats"):
            return None
        if part not in self.projectors:
            start = LABEL_PARTS.index(part) * n
            self.projectors[part] = Projector(with_values(self.settings, {"seed": self.fit.seed}),
                                              range(start, start + n), self.catalog)
        return self.projectors[part].samples(values)

    @property
    def developer(self) -> Developer:
        s = self.settings
        return Developer(s.effects, tuple(s.camera.exposure), s.render.tone, self.fit.seed, s.lighting,
                         s.render.auto_exposure, frozenset(e.key for e in self.developed) & frozenset(LIGHT_KEYS))

    @property
    def neutral(self) -> list[str]:
        """Overrides of every render of the fit that leave the developed settings to development."""
        return neutral([e.key for e in self.developed], self.settings.lighting)


LABEL_WEIGHT = 11 / 6
"""The default weight of each label statistic (simgen.fit.stats.LABEL_STATS, 6) in the distance, each
image statistic's being 1 (IMAGE_STATS, 11): the two halves weigh the same. At 1 each, the trials of a
fit of fit_gap's (their label statistics on 128 projected scenes) that came closest held 1 to 8 and 2
to 11 objects where the target holds 2 to 4: an objects component of 0.9 target spreads cost 0.05
of the distance, less than the image statistics' noise over 16 frames."""


LABEL_PARTS = ("trial", "final", "polish", "held_out")
"""The parts of a fit whose projected scenes (:meth:`Plan.labels`) are each their own fit.label_scenes:
the k-th starts at scene k x fit.label_scenes (the frames of simgen.fit.renders.frame_span likewise)."""


FIT_RENDER = {"render.denoise_prefilter": "fast", "render.samples": 8}
"""What a fit's renders default to unless the command line (or fit.simgen) sets it: the denoiser's
fast prefilter (at 160x120 a sixth of the accurate one's cost per frame, 0.4 dB PSNR off:
scripts/noise_study.py) and 8 samples (at 160x120 0.37 s a frame against 2.44 at 128 and 0.56 at
16; the same frames' image statistics 0.041 from 128 samples' (16: 0.031) against 0.335 between two
sets of frames, the noise of sampling the scenes: scripts/fit_render_samples.py)."""


def plan_fit(fit: FitConfig, cli: list[str], validate: Callable[[list[str]], Any]) -> Plan:
    """Check everything and read the target: the space against the settings' declarations, the
    base config and the space's extremes as simgen would run them (``validate``: composes and
    checks a command line, returns its Settings), the target images and labels."""
    from simgen.fit.stats import IMAGE_STATS, LABEL_STATS
    from simgen.compose.settings import catalog_for
    from simgen.recipes import load_recipe

    folder = fit.folder
    user = [*fit.simgen, *cli]

    def check(overrides: list[str]) -> Any:
        return validate([*overrides, f"output.dir={folder / 'default'}"])

    settings = check(user)
    entries = parse_space(space_tree(fit), load_recipe(settings.scene.recipe).Config)
    known = {"camera.focal_length": f"camera.calibration={settings.camera.calibration} fixes it"} \
        if settings.camera.calibration is not None else {}
    entries, held = untangle(entries, known, TIES if fit.tie else ())
    keys = {o.partition("=")[0].lstrip("+~") for o in user}
    held = [dataclasses.replace(h, value=None) if h.key in keys else h for h in held]  # the command line's value wins
    catalog = catalog_for(settings)
    size = (settings.render.width, settings.render.height) if {"render.width", "render.height"} & keys else None
    features = None
    if fit.objective == "kid":
        from simgen.fit.kid import Features

        features = Features(fit.kid_arch, fit.kid_weights)
    target = load_target(fit.target, max_images=fit.max_images, size=size, coco=fit.target_coco,
                         categories=sorted({a.category for a in catalog.assets}), rename=fit.rename,
                         cache=mkdir(folder) / "target.npz", limit=settings.render.max_image_pixels,
                         features=features)
    base = user if size else [*user, f"render.width={target.size[0]}", f"render.height={target.size[1]}"]
    for key, value in FIT_RENDER.items():  # a fit's renders are measured, not kept: cheaper ones, as good to it
        if key not in keys:
            base = [*base, f"{key}={value}"]
    base += [f"{h.key}={override_text(h.value)}" for h in held if h.value is not None]  # a tie's own value (Tie.at)
    settings = check(base)
    defaults = defaults_of(entries, settings)
    for end in ("low", "high"):  # the space's corners render as simgen would run them
        check([*base, *to_overrides({e.key: _corner(e, end) for e in entries})])
    names = {"kid": ["kid"], "ap": ["AP"]}.get(fit.objective, [*IMAGE_STATS, *(LABEL_STATS if target.labelled else ())])
    unknown = sorted(set(fit.weights) - set(names))
    if unknown:
        raise SimgenError(f"fit.weights names {unknown[0]!r}, which is not a statistic of this fit "
                          f"(they are {', '.join(names)})")
    weights = {n: float(fit.weights.get(n, LABEL_WEIGHT if n in LABEL_STATS else 1.0)) for n in names}
    samples = {n: target.samples[n] for n in names if n in target.samples}
    plan = Plan(fit, folder, base, entries, defaults, target, scales(samples), weights, settings, features, held,
                catalog)
    plan.fingerprint = {"space": [e.describe() for e in entries], "ranges": RANGES, "base": base, "frames": fit.frames,
                        "seed": fit.seed, "objective": fit.objective, "weights": weights,
                        "develop_trials": fit.develop_trials, "prefit_trials": fit.prefit_trials,
                        "label_scenes": fit.label_scenes,
                        "features": features and features.key,
                        "target": [fit.target, target.files[:3], len(target.files), fit.target_coco]}
    return plan


def _corner(e: Entry, end: str) -> Any:
    if e.kind == "choice":
        return e.choices[0 if end == "low" else -1]
    v = e.low if end == "low" else e.high
    v = int(v) if e.integer else v
    return [v, v] if e.kind == "range" else e.value_of(v)


def mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p
