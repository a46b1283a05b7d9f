"""Shared by the figure scripts of the README and docs/: render a small dataset with the CLI, and lay pictures
out as a sheet (rows of frames with white gaps)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def render(out: Path, seed: int, frames: int, width: int, height: int, samples: int, *overrides: str) -> Path:
    """Render frames 0..frames-1 of ``seed`` into ``out`` with the CLI (and ``overrides``)."""
    subprocess.run([sys.executable, "-m", "simgen.cli", f"output.dir={out}", f"seed={seed}", f"frames={frames}",
                    f"render.width={width}", f"render.height={height}", f"render.samples={samples}", *overrides],
                   cwd=REPO, check=True, capture_output=True)
    return out


def sheet(rows: list[list[np.ndarray]], gap: int = 2) -> np.ndarray:
    """One picture: each row's pictures side by side, rows stacked, ``gap`` white pixels apart."""
    lines = []
    for pics in rows:
        white = np.full((pics[0].shape[0], gap, 3), 255, np.uint8)
        lines.append(np.concatenate([x for p in pics for x in (p, white)][:-1], axis=1))
    white = np.full((gap, lines[0].shape[1], 3), 255, np.uint8)
    return np.concatenate([x for line in lines for x in (line, white)][:-1], axis=0)


def save(picture: np.ndarray, out: Path, what: str) -> None:
    """Write ``picture`` as an optimized PNG and say so."""
    from PIL import Image

    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB); {what}")
