"""How scenes hold their objects: placement modes, supports and the physics settle of
scene.placement=physics (:class:`SettleConfig`, a recipe's ``scene.physics``)."""

from __future__ import annotations

from dataclasses import dataclass

from simgen.config.schema import setting, span

MAX_SIMULATED_SECONDS = 600.0
MAX_SUBSTEPS = 1000

PLACEMENT_MODES = ("analytic", "physics")
SUPPORTS = ("ground", "table", "bin", "pile")


@dataclass
class SettleConfig:
    """How scene.placement=physics drops objects and settles them (scene.physics.*): what every recipe
    with physics placement shares (tabletop's and environment's scene.physics)."""

    drop_gap: list[float] = span([0.01, 0.06], ge=0.0)
    """Vertical gap (m) between an object's bounding sphere and whatever is below it
    when dropped; objects start stacked in a column, never touching."""
    friction: list[float] = span([0.4, 0.9], ge=0.0)
    """Bullet friction of each object, drawn per object (supports use 0.8)."""
    restitution: list[float] = span([0.0, 0.3], ge=0.0, le=1.0)
    """Bounciness of each object, drawn per object (supports use 0.2)."""
    max_seconds: float = setting(30.0, gt=0.0, le=MAX_SIMULATED_SECONDS)
    """Simulated seconds at most (24 steps per second); the simulation stops as soon
    as no object moves faster than scene.physics.rest_speed (most scenes rest within 2-15 s; crowded bins
    take up to ~25 s). Objects still moving then are rendered where they are, with a warning."""
    rest_speed: float = setting(0.002, gt=0.0)
    """An object is at rest once its surface moves less than this (m/s)."""
    substeps: int = setting(20, ge=1, le=MAX_SUBSTEPS)
    """Bullet substeps per 1/24 s step (more: slower, steadier stacks)."""
    margin: float = setting(0.0002, gt=0.0, lt=0.001)
    """Collision margin (m) of the objects: resting objects float this far above
    what holds them (and two stacked ones twice this); must stay below 1 mm."""
