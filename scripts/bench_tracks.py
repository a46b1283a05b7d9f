"""Time and memory of point tracks (output.labels=[tracks]): a long flying sequence is rendered
once (or an existing dataset's first sequence is read), then its tracks are built for a few
clip lengths, printing CPU seconds per step and the peak of Python's allocations, the tracks'
own arrays apart, so that memory growing with the clip's length beyond them would show.

    python scripts/bench_tracks.py                        # 2000 points, 240 steps at 160x120
    python scripts/bench_tracks.py --points 500 --steps 60 --size 96x72
    python scripts/bench_tracks.py --dataset DIR          # an existing dataset's sequence 0
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIMGEN = str(Path(sys.executable).with_name("simgen"))


def render(out: Path, steps: int, size: str) -> None:
    w, h = size.split("x")
    cmd = [SIMGEN, "scene=flying", f"sequence.length={steps}", f"frames={steps}", f"render.width={w}",
           f"render.height={h}", "render.samples=1", "render.denoise_prefilter=fast", "seed=4",
           f"output.dir={out}", "output.formats=[]"]
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True, cwd=out.parent)
    print(f"rendered {steps} steps at {size} in {time.monotonic() - t0:.0f} s (not part of the figures below)")


def measure(root: Path, steps: int, points: int) -> None:
    from simgen.io.formats.tracks import sequence_tracks
    from simgen.labels.tracks import TrackParams

    frames = []
    for i in range(steps):
        meta = json.loads((root / "meta" / f"{i:06d}.json").read_text())
        frames.append((f"{i:06d}", {**meta, "sequence_length": steps}))  # the first `steps` as a clip
    tracemalloc.start()
    cpu, wall = time.process_time(), time.monotonic()
    tracks = sequence_tracks(root, 0, frames, TrackParams(points=points, seed=1))
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    own = sum(a.nbytes for a in tracks.values())
    print(f"{steps:5d} steps {len(tracks['query_step']):6d} points: {1000 * cpu / steps:7.1f} ms CPU per step, "
          f"{wall:6.1f} s wall, peak Python allocations {peak / 2**20:7.1f} MiB (the tracks' arrays "
          f"{own / 2**20:6.1f} MiB; the rest {(peak - own) / 2**20:6.1f} MiB)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=2000)
    p.add_argument("--steps", type=int, default=240, help="the longest clip; also a quarter and a half of it")
    p.add_argument("--size", default="160x120")
    p.add_argument("--dataset", type=Path, help="an existing dataset whose sequence 0 has at least --steps steps")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = a.dataset
        if root is None:
            root = Path(tmp) / "clip"
            render(root, a.steps, a.size)
        for steps in sorted({max(2, a.steps // 4), max(2, a.steps // 2), a.steps}):
            measure(root, steps, a.points)


if __name__ == "__main__":
    main()
