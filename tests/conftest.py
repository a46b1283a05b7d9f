"""Shared fixtures: tiny datasets rendered once per test session (Cycles on the CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simgen.config import RenderConfig, Settings, validate


def tiny_settings(out: Path, *, frames: int = 4, start: int = 0, seed: int = 7, width: int = 128,
                  height: int = 96, samples: int = 4) -> Settings:
    s = Settings(seed=seed, start=start, frames=frames)
    s.render = RenderConfig(width=width, height=height, samples=samples, device="cpu")
    s.output.dir = str(out)
    return validate(s)


@pytest.fixture(scope="session")
def rendered(tmp_path_factory) -> Path:
    """Frames 0..3 of the default tabletop recipe, seed 7, 128x96, 4 samples."""
    from simgen.pipeline import run

    root = tmp_path_factory.mktemp("rendered")
    run(tiny_settings(root))
    return root
