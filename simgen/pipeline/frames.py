"""Which frames a run renders and what each one shows (the asset catalog is the settings':
:func:`simgen.compose.settings.catalog_for`): a frame's place in
its sequence, the frames of a shard, the scenes of a sequence (a pure function of config,
seed and index), and which steps of a sequence to render so that every flow has its
neighbour."""

from __future__ import annotations

from pathlib import Path

from simgen.errors import SimgenError
from simgen.assets import Catalog
from simgen.config import Settings
from simgen.scene.data import Scene
from simgen.labels import FrameLabels
from simgen.recipes import SHORTFALL, Recipe
from simgen.sampling.cloth import CLOTH_STREAM, with_cloth
from simgen.sampling.camera import RIG_STREAM, rig_size, with_rig
from simgen.sampling.materials import OWN_STREAM, PBR_STREAM, with_own_appearance, with_pbr
from simgen.sampling.objects import JOINT_STREAM, with_joint_motion
from simgen.sampling.people import PEOPLE_STREAM, check_people, with_people
from simgen.sampling.people_motion import MOTION_STREAM, with_motion
from simgen.sampling.random import frame_rng, stream_rng
from simgen.sampling.rigged import CLIP_STREAM, with_clips


def scene_steps(settings: Settings) -> int:
    """Scenes a recipe draws together: sequence.length time steps, or scene.views views of a
    recipe that has them (tabletop)."""
    return settings.sequence.length * int(getattr(settings.scene, "views", 1))


def group_length(settings: Settings) -> int:
    """Frames drawn from one scene: :func:`scene_steps`, each seen by every camera of the rig
    (camera.rig=calibration: the calibration's cameras; else one). A multi-view scene is a
    sequence whose steps are its views."""
    return scene_steps(settings) * rig_size(settings.camera, settings.render)


def frame_position(settings: Settings, index: int) -> tuple[int, int]:
    """(sequence, step) of frame ``index``: frame i is step i % L of sequence i // L
    (L: :func:`group_length`)."""
    return divmod(index, group_length(settings))


def shard_frames(settings: Settings) -> list[int]:
    """The frames of ``start..start+frames-1`` that shard ``shard.index`` of ``shard.count``
    renders: the sequences those frames touch, cut into ``count`` contiguous runs of
    near-equal length (whole sequences, so no shard renders another's frames for its flow).
    Shards are disjoint and together cover every frame; a frame is the same whichever
    shard renders it, since it is a function of (config, seed, index) only."""
    first, last = settings.start, settings.start + settings.frames - 1
    length, (count, index) = group_length(settings), (settings.shard.count, settings.shard.index)
    s0, s1 = first // length, last // length
    n = s1 - s0 + 1
    lo, hi = s0 + index * n // count, s0 + (index + 1) * n // count  # sequences lo .. hi-1
    return list(range(max(first, lo * length), min(last + 1, hi * length)))


def group_by_sequence(settings: Settings, indices: list[int]) -> dict[int, list[int]]:
    """``indices`` as {sequence: [step, ...]}, in the order they come."""
    groups: dict[int, list[int]] = {}
    for i in indices:
        sequence, step = frame_position(settings, i)
        groups.setdefault(sequence, []).append(step)
    return groups


def make_sequence_scenes(recipe: Recipe, settings: Settings, catalog: Catalog, sequence: int) -> list[Scene]:
    """Every step of one sequence: a pure function of (settings, seed, sequence).

    With sequence.length 1 a sequence is a single frame and its index is the frame's.
    """
    scenes = recipe.make_sequence(settings, catalog, frame_rng(settings.seed, sequence), scene_steps(settings))
    scenes = with_joint_motion(scenes, settings.objects.joint_motion, stream_rng(settings.seed, sequence, JOINT_STREAM))
    scenes = with_clips(scenes, settings.sequence.length, stream_rng(settings.seed, sequence, CLIP_STREAM))
    scenes = with_cloth(scenes, settings, catalog, stream_rng(settings.seed, sequence, CLOTH_STREAM))
    scenes = with_people(scenes, settings, catalog, stream_rng(settings.seed, sequence, PEOPLE_STREAM))
    scenes = with_motion(scenes, settings, stream_rng(settings.seed, sequence, MOTION_STREAM))
    scenes = with_own_appearance(scenes, settings.materials, stream_rng(settings.seed, sequence, OWN_STREAM))
    scenes = with_pbr(scenes, settings.materials, stream_rng(settings.seed, sequence, PBR_STREAM))
    scenes = with_rig(scenes, settings.camera, stream_rng(settings.seed, sequence, RIG_STREAM))
    for scene in scenes:
        scene.validate()
    return scenes


PLACEMENT_SAMPLE = 16
"""Scenes :func:`check_placement` draws at most: more than half of them short refuses the config."""


def check_placement(recipe: Recipe, settings: Settings, catalog: Catalog, first_sequence: int = 0) -> None:
    """Refuse a config most of whose scenes cannot hold what they draw, in one line with the numbers,
    before anything renders: the scenes of sequences ``first_sequence`` on (the run's own, and after
    them), drawn by the recipe as its frames will be, until :data:`PLACEMENT_SAMPLE` // 2 + 1 of them
    fall short (:data:`simgen.recipes.SHORTFALL`; refused) or enough place all they drew (accepted).
    A rare short scene is part of the randomization: it renders, recorded."""
    check_people(recipe, settings, catalog, first_sequence, PLACEMENT_SAMPLE)  # and the people it asks for
    need_short = PLACEMENT_SAMPLE // 2 + 1
    short: list[dict] = []
    for k in range(PLACEMENT_SAMPLE):
        scene = recipe.make_sequence(settings, catalog, frame_rng(settings.seed, first_sequence + k), 1)[0]
        if SHORTFALL in scene.params:
            short.append(scene.params[SHORTFALL])
            if len(short) >= need_short:
                what, _, fix = short[0]["message"].partition("; ")
                placed = sorted(s["placed"] for s in short)
                raise SimgenError(f"{what} in {len(short)} of the {k + 1} scenes drawn first (sequences "
                                  f"{first_sequence}..{first_sequence + k}; they held {placed[0]} to {placed[-1]} "
                                  f"of {short[0]['wanted']}); {fix}")
        elif k + 1 - len(short) > PLACEMENT_SAMPLE - need_short:
            return


def short_frames(out: Path, frames: list[int]) -> list[int]:
    """Of ``frames`` (complete in dataset ``out``), those whose meta records a shortfall (a run
    rendered in batches, whose loops ran in other processes)."""
    from simgen.io.dataset.layout import frame_name
    from simgen.io.files import read_json
    from simgen.io.names import META_DIR

    return sorted(i for i in frames if SHORTFALL in read_json(out / META_DIR / f"{frame_name(i)}.json").get("params", {}))


def make_frame_scene(recipe: Recipe, settings: Settings, catalog: Catalog, index: int) -> Scene:
    """Frame ``index``'s scene: a pure function of (settings, seed, index)."""
    sequence, step = frame_position(settings, index)
    return make_sequence_scenes(recipe, settings, catalog, sequence)[step]


class SequenceWindow:
    """Which steps of a sequence to render for the requested ``steps``, and when each
    requested step can be written.

    Steps are rendered in order and a frame is written as soon as the frames its flow
    looks at are rendered; only that window of label maps is held in memory. A frame
    whose neighbour lies outside the requested steps (a shard boundary) renders that
    neighbour too, so it comes out the same as in a full run.
    """

    def __init__(self, settings: Settings, sequence: int, steps: list[int], scenes: list[Scene]):
        self.length, self.gap = group_length(settings), settings.sequence.gap
        # the views of one scene have no flow between them, nor have a rolling shutter's frames
        self.flow = settings.sequence.length > 1 and not settings.sensor.rolling_shutter_ms > 0
        self.base, self.scenes = sequence * self.length, scenes
        self.needed = sorted(set(steps).union(*(self.partners(k) for k in steps)))
        self.pending = sorted(steps)
        self.labels: dict[int, FrameLabels] = {}

    def partners(self, k: int) -> list[int]:
        return [o for o in (k - self.gap, k + self.gap) if self.flow and 0 <= o < self.length]

    def add(self, k: int, labels: FrameLabels) -> list[int]:
        """Step ``k``'s labels are in: the steps that can be written now, in order."""
        self.labels[k] = labels
        ready = []
        while self.pending and all(o in self.labels for o in [self.pending[0], *self.partners(self.pending[0])]):
            ready.append(self.pending.pop(0))
        return ready

    def forget_before(self, k: int) -> None:
        """Drop the label maps no frame still to be written needs (after step ``k``'s writes)."""
        keep_from = min(self.pending[0] if self.pending else k, k) - self.gap
        for old in [j for j in self.labels if j < keep_from]:
            del self.labels[old]
