"""The whole settings tree (:class:`Settings`: the top-level keys and every group) and
:func:`check_settings`, its check with the rules that tie groups together."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simgen.errors import SimgenError
from simgen.config.camera import CameraConfig
from simgen.config.effects import EffectsConfig
from simgen.config.lighting import LightingConfig
from simgen.config.materials import MaterialsConfig
from simgen.config.objects import ObjectsConfig
from simgen.config.output import OutputConfig, check_output_dir
from simgen.config.people import PeopleConfig
from simgen.config.render import RenderConfig
from simgen.config.schema import check_fields, setting
from simgen.config.sensor import SensorConfig, check_depth
from simgen.config.sequence import MAX_FRAME_INDEX, MAX_FRAMES, SequenceConfig, ShardConfig
from simgen.optics.camera import STEREO_LABELS
from simgen.splits import check_splits

Range = list[float]
"""A closed interval [low, high] that a parameter is drawn from uniformly."""

DEFAULT_RECIPE = "tabletop"
"""The scene recipe of ``Settings()`` (configs/config.yaml picks ``scene: tabletop`` too)."""

MAX_SEED = 2**63 - 1


@dataclass
class Settings:
    seed: int = setting(0, ge=0, le=MAX_SEED, common=True)
    """Base seed: frame i's random draws come from SeedSequence(seed, spawn_key=(i,))."""
    start: int = setting(0, ge=0, le=MAX_FRAME_INDEX, common=True)
    """First frame index."""
    frames: int = setting(4, ge=1, le=MAX_FRAMES, common=True)
    """Number of frames: indices start .. start+frames-1."""
    render: RenderConfig = field(default_factory=RenderConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    lighting: LightingConfig = field(default_factory=LightingConfig)
    materials: MaterialsConfig = field(default_factory=MaterialsConfig)
    objects: ObjectsConfig = field(default_factory=ObjectsConfig)
    scene: Any = None
    """The recipe's own Config dataclass (scenes/<recipe>.py), chosen by scene.recipe; None stands
    for the default recipe's defaults (simgen.compose.settings.validate fills it in)."""
    sequence: SequenceConfig = field(default_factory=SequenceConfig)
    shard: ShardConfig = field(default_factory=ShardConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    effects: EffectsConfig = field(default_factory=EffectsConfig)
    people: PeopleConfig = field(default_factory=PeopleConfig)
    sensor: SensorConfig = field(default_factory=SensorConfig)


def check_settings(s: Settings) -> Settings:
    """Check ``s`` against every field's declaration (:func:`simgen.config.schema.check_fields`), the
    rules that tie fields together, and the output folder; a one-line SimgenError naming the key
    and the fix. The files the settings name (HDRIs, texture images) and the recipe's own checks
    are :func:`simgen.compose.settings.validate`'s."""
    check_fields(s)
    if s.start + s.frames - 1 > MAX_FRAME_INDEX:
        raise SimgenError(f"start={s.start} frames={s.frames} reach frame index {s.start + s.frames - 1}, beyond "
                          f"{MAX_FRAME_INDEX}; lower start or frames")
    c = s.camera
    if not c.clip_start < c.clip_end:
        raise SimgenError(f"camera.clip_start={c.clip_start} must be < camera.clip_end={c.clip_end}; "
                          "e.g. camera.clip_start=0.01 camera.clip_end=100")
    if c.rig == "stereo":
        if s.effects.motion_blur_probability > 0:
            raise SimgenError("camera.rig=stereo: effects.motion_blur_probability="
                              f"{s.effects.motion_blur_probability} "
                              "blurs along the left view's flow only; set it to 0 with a stereo rig")
    elif c.rig == "calibration" and c.calibration is None:
        raise SimgenError("camera.rig=calibration renders the cameras of a calibration file: give "
                          "camera.calibration=FILE (a Kalibr camchain)")
    elif c.rig == "calibration" and s.sequence.length > 1:
        raise SimgenError(f"camera.rig=calibration frames a still scene with every camera of the file; "
                          f"sequence.length={s.sequence.length} moves one camera along a path: use one of them")
    if c.rig != "stereo" and (wanted := [k for k in s.output.labels if k in STEREO_LABELS]):
        raise SimgenError(f"output.labels={wanted} are a stereo pair's: set camera.rig=stereo (which writes them "
                          "on every frame) or drop them")
    check_depth(s.sensor, s.camera, s.output.labels)
    q = s.sequence
    if q.length > 1 and q.gap >= q.length:
        raise SimgenError(f"sequence.gap={q.gap} leaves no frame pair in a sequence of {q.length} steps; "
                          "lower sequence.gap or raise sequence.length")
    if s.sensor.events and q.length < 2:
        raise SimgenError("sensor.events=true makes events from the changes between a sequence's frames: set "
                          "sequence.length=2 or more")
    if "events" in s.output.labels and not s.sensor.events:
        raise SimgenError("output.labels has events, which the event camera makes: set sensor.events=true "
                          "(with sequence.length 2 or more) instead")
    if s.sensor.events and s.sensor.rolling_shutter_ms > 0:
        raise SimgenError("sensor.events renders each sub-step whole (a global shutter), and sensor.rolling_shutter_ms "
                          "renders a frame row by row: use one of them (set sensor.rolling_shutter_ms=0 or "
                          "sensor.events=false)")
    if s.sensor.events and int(getattr(s.scene, "views", 1)) > 1:
        raise SimgenError(f"sensor.events=true needs a sequence's steps to be times, not views: set scene.views=1 "
                          f"(it is {s.scene.views})")
    if len(s.sensor.lidar_offset) != 3:
        raise SimgenError(f"sensor.lidar_offset={s.sensor.lidar_offset} must be 3 numbers, metres forward, left and "
                          "up from the camera; e.g. sensor.lidar_offset=[0,0,0.1]")
    if s.sensor.lidar and s.render.device in ("cuda", "hip", "oneapi", "metal"):
        raise SimgenError(f"sensor.lidar renders through an OSL camera shader, which Cycles runs on the CPU and with "
                          f"OptiX only, not with render.device={s.render.device}: use render.device=optix or cpu")
    if s.sensor.lidar and s.sensor.lidar_sectors > 1 and (q.length < 2 or int(getattr(s.scene, "views", 1)) > 1):
        raise SimgenError(f"sensor.lidar_sectors={s.sensor.lidar_sectors} skews a turn by the motion from one step "
                          "of a sequence to the next: set sequence.length=2 or more (and scene.views=1), or "
                          "sensor.lidar_sectors=1")
    if s.sensor.lidar and getattr(s.sensor, "rolling_shutter_ms", 0.0) > 0:
        raise SimgenError("sensor.lidar scans each frame at once, and sensor.rolling_shutter_ms renders a frame row "
                          "by row: use one of them (set sensor.rolling_shutter_ms=0 or drop sensor.lidar)")
    if s.shard.index >= s.shard.count:
        raise SimgenError(f"shard.index={s.shard.index} must be below shard.count={s.shard.count} "
                          f"(shards are numbered 0 .. {s.shard.count - 1})")
    if not s.people.skin_tones:
        raise SimgenError("people.skin_tones=[] names no skin tone; give at least one of the Monk scale's "
                          "1 (lightest) .. 10 (darkest), e.g. people.skin_tones=[3]")
    o = s.objects
    if o.catalog is None and not o.dirs:
        raise SimgenError("no assets: objects.catalog is null and objects.dirs is empty; "
                          "set objects.catalog=bundled or objects.dirs={category: /path/to/meshes}")
    try:
        check_splits(s.output.splits)
    except ValueError as e:
        raise SimgenError(str(e)) from None
    check_output_dir(s.output.dir)
    return s
