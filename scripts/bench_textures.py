#!/usr/bin/env python3
"""What a mesh's own texture costs: load, check and render, textured vs the same mesh bare.

Writes a UV-mapped sphere (OBJ) twice, once with an MTL and a TEX x TEX texture and once
without, renders FRAMES frames of each (objects.dirs, 3-6 objects a frame, the same seed)
in this process's own folder, and prints per run: the time to load and check the asset
(first use, imports excluded; later uses are cached), the median per-frame stage times and
the first frame's build and render (where Blender loads the texture) of the frame loop
(logs/run-*.jsonl) and the process's resident memory over the frames. Both runs are made one
after the other in one invocation, so compare them side by side::

    python scripts/bench_textures.py                 # 2048x2048 texture, 12 frames of 320x240
    python scripts/bench_textures.py --tex 4096 --frames 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def write_sphere(folder: Path, tex: int | None) -> None:
    import trimesh
    from PIL import Image

    folder.mkdir(parents=True)
    m = trimesh.creation.uv_sphere(radius=0.06, count=[32, 32])
    m.apply_translation([0, 0, 0.06])
    v, f = np.asarray(m.vertices), np.asarray(m.faces)
    d = v - [0, 0, 0.06]
    uv = np.c_[(np.arctan2(d[:, 1], d[:, 0]) / (2 * np.pi)) % 1.0, np.arccos(np.clip(d[:, 2] / 0.06, -1, 1)) / np.pi]
    lines = ["mtllib ball.mtl"] if tex else []
    lines += [f"v {a:.6f} {b:.6f} {c:.6f}" for a, b, c in v] + [f"vt {a:.6f} {b:.6f}" for a, b in uv]
    lines += ["usemtl skin"] + [f"f {a + 1}/{a + 1} {b + 1}/{b + 1} {c + 1}/{c + 1}" for a, b, c in f]
    (folder / "ball.obj").write_text("\n".join(lines) + "\n")
    if tex:
        rng = np.random.default_rng(0)
        small = rng.integers(0, 255, (tex // 64, tex // 64, 3), dtype=np.uint8)
        Image.fromarray(small).resize((tex, tex), Image.NEAREST).save(folder / "skin.png")
        (folder / "ball.mtl").write_text("newmtl skin\nKd 1 1 1\nmap_Kd skin.png\n")


def load_seconds(mesh: Path) -> float:
    code = ("import time; from simgen.assets.meshes import load_asset; t=time.perf_counter(); "
            f"load_asset({str(mesh)!r}); print(time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    return float(out.stdout.split()[-1])


def run(folder: Path, out: Path, frames: int, extra: list[str]) -> dict:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "simgen.cli", f"output.dir={out}", f"frames={frames}", "seed=1",
                    "objects.catalog=null", f"objects.dirs={{thing: {folder}}}", "objects.count=[3,6]", *extra],
                   cwd=REPO, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    rows = [json.loads(line) for log in (out / "logs").glob("run-*.jsonl") for line in log.read_text().splitlines()]
    frames_rows = [r for r in rows if "frame" in r]
    stages = sorted({k for r in frames_rows for k in r["stages"]})
    return {"wall_s": wall, "stages_ms": {k: 1000 * statistics.median(r["stages"].get(k, 0.0) for r in frames_rows)
                                          for k in stages},
            "first_ms": {k: 1000 * frames_rows[0]["stages"].get(k, 0.0) for k in ("build", "render")},
            "rss_mib": [r.get("rss_mib") for r in frames_rows]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tex", type=int, default=2048, help="texture edge in pixels")
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("simgen", nargs="*", default=["render.width=320", "render.height=240", "render.samples=16"],
                    help="extra simgen overrides")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for name, tex in (("textured", args.tex), ("bare", None)):
            write_sphere(base / name, tex)
            first = load_seconds(base / name / "ball.obj")
            r = run(base / name, base / f"out_{name}", args.frames, args.simgen)
            rss = [x for x in r["rss_mib"] if x is not None]
            print(f"{name:9s} load+check {first * 1000:7.1f} ms  wall {r['wall_s']:6.1f} s  "
                  + "  ".join(f"{k} {v:6.1f} ms" for k, v in r["stages_ms"].items())
                  + "  first frame: " + "  ".join(f"{k} {v:6.1f} ms" for k, v in r["first_ms"].items())
                  + (f"  rss {rss[0]:.0f} -> {rss[-1]:.0f} MiB" if rss else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
