"""Image processing of the rendered RGB (numpy, no Blender): the camera and sensor effects
(effects.py), applied in linear light before the render's tone curve (:mod:`simgen.color.tone`)."""

from simgen.imaging.effects import EFFECT_NAMES, apply_effects, draw_effects, effects_enabled, effects_rngs

__all__ = ["EFFECT_NAMES", "apply_effects", "draw_effects", "effects_enabled", "effects_rngs"]
