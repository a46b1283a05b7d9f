"""Image post-processing of the rendered RGB (pure numpy, no Blender): camera and sensor effects."""

from simgen.imaging.effects import EFFECT_NAMES, apply_effects, draw_effects, effects_enabled, effects_rngs

__all__ = ["EFFECT_NAMES", "apply_effects", "draw_effects", "effects_enabled", "effects_rngs"]
