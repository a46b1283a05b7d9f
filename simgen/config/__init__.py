"""Typed configuration: the schema of every Hydra group, one declaration per setting.

The package declares simgen's configuration, one module per group: :mod:`.render`,
:mod:`.camera`, :mod:`.lighting`, :mod:`.materials`, :mod:`.objects`, :mod:`.output`,
:mod:`.sequence` (the ``sequence`` and ``shard`` groups), :mod:`.effects`, :mod:`.people`, :mod:`.sensor` and :mod:`.physics`
(placement, supports and the physics settle of the recipes' ``scene.physics``), each with its
limits and choices; :mod:`.settings` the :class:`Settings` tree and :func:`check_settings`;
:mod:`simgen.config.schema` the vocabulary they are declared in (``setting()``, ``span()``, the
field checks). This module re-exports every name of them: ``from simgen.config import X`` is the
way to import any of them. What needs the scene recipes is the package :mod:`simgen.compose`,
higher in the layers: :mod:`simgen.compose.settings` a composed config made :class:`Settings`
with its recipe, and :func:`~simgen.compose.settings.validate`; :mod:`simgen.compose.store`
Hydra's config groups (ConfigStore, compose, Hydra's errors in one line).

Each field declares its type, default and bounds (:func:`simgen.config.schema.setting`,
:func:`simgen.config.schema.span`) with its meaning in the docstring under it; a group's class
docstring says what its defaults give. Each dataclass is its group's default option in Hydra
(:mod:`simgen.compose.store`); the option files under ``configs/`` state only what differs.
:func:`check_settings` checks a Settings tree against these declarations (one generic walk)
plus the few rules that tie fields together. docs/config.md and ``simgen --help`` are
generated from the same declarations.

This package sits low in the layers: it imports no recipe (``scenes``), no pipeline and no
Blender. Turning a composed Hydra config into Settings with the recipe's own Config, and the
recipe's own checks, live higher up in :mod:`simgen.compose.settings`.
"""

from __future__ import annotations

# The names this module imported before the groups moved to modules of their own: still importable from it.
import os  # noqa: F401
from dataclasses import dataclass, field  # noqa: F401
from pathlib import Path  # noqa: F401
from typing import Any, Optional, Sequence  # noqa: F401

from simgen.errors import SimgenError  # noqa: F401
from simgen.config.schema import check_fields, setting, span  # noqa: F401
from simgen.scene.data import (  # noqa: F401
    MAX_IMAGE_PIXELS, MAX_INSTANCE_ID, PROCEDURAL_TEXTURES, ROLES, TEXTURE_KINDS)
from simgen.optics.camera import STEREO_LABELS  # noqa: F401
from simgen.splits import check_splits  # noqa: F401
from simgen.color.tone import TONES  # noqa: F401

# The declarations, group by group.
from simgen.config.sequence import (  # noqa: F401
    MAX_FRAME_INDEX, MAX_FRAMES, MAX_SEQUENCE_LENGTH, MAX_SHARDS, SequenceConfig, ShardConfig)
from simgen.config.physics import (  # noqa: F401
    MAX_SIMULATED_SECONDS, MAX_SUBSTEPS, PLACEMENT_MODES, SUPPORTS, SettleConfig)
from simgen.config.render import (  # noqa: F401
    DENOISE_PREFILTERS, DEVICES, ENGINES, MAX_IMAGE_SIZE, MAX_SAMPLES, MAX_THREADS, MAX_WORKERS, MIN_IMAGE_SIZE,
    RenderConfig)
from simgen.config.camera import RIGS, CameraConfig  # noqa: F401
from simgen.config.lighting import LIGHT_TYPES, MAX_LIGHTS, WORLD_KINDS, LightingConfig  # noqa: F401
from simgen.config.materials import MAX_DISTORTION, MaterialsConfig  # noqa: F401
from simgen.config.objects import MAX_WEIGHT, ObjectsConfig  # noqa: F401
from simgen.config.output import (  # noqa: F401
    KEYPOINT_SOURCES, MAX_KEYPOINTS, RUN_FOLDER, OutputConfig, check_output_dir, labels_written)
from simgen.config.effects import EffectsConfig  # noqa: F401
from simgen.config.people import DRESS, STANDING_POSES, PeopleConfig  # noqa: F401
from simgen.config.sensor import SensorConfig  # noqa: F401
from simgen.config.settings import DEFAULT_RECIPE, MAX_SEED, Range, Settings, check_settings  # noqa: F401
