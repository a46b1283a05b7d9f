"""Image processing of the rendered RGB (numpy, no Blender): the tone curve (tone.py: metering
and tone mapping; ocio.py: Blender's view transforms through OpenColorIO) and the camera and
sensor effects (effects.py).

The effects' names are handed on here on first use only: simgen.config imports tone.py for
render.tone's choices, and effects.py imports simgen.config."""

__all__ = ["EFFECT_NAMES", "apply_effects", "draw_effects", "effects_enabled", "effects_rngs"]


def __getattr__(name: str):
    if name in __all__:
        from simgen.imaging import effects

        return getattr(effects, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
