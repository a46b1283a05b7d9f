#!/usr/bin/env python3
"""What a user's world costs: an environment of about a million triangles against the tabletop.

    python scripts/bench_environment.py                       # 8 frames each at 160x120, 16 samples
    python scripts/bench_environment.py --frames 20 --triangles 2000000
    python scripts/bench_environment.py --rounds 3 --draw-frames 0   # the render figures, three times over

Writes a GLB environment (the bundled room's boxes and as many subdivided spheres on its floor as
make ``--triangles``), then prints:

- the extraction (Blender reads the file into the cache, once per file: a child process), of the
  generated world and of the bundled room;
- drawing the scenes alone (the recipe's surfaces, placement and the camera's sight ray casts, no
  render), ``--draw-frames`` frames after the first, on the bundled room and on the generated world:
  milliseconds a frame (median, mean, 90th percentile; frames that try many cameras are the slow
  ones);
- a run of ``scene=environment`` on it, one on the bundled room (the same recipe and walls, a few
  hundred triangles), one of ``scene=tabletop`` and one of the tabletop in its own room
  (``scene.background=[room]``: four walls and a ceiling), at the same size and samples,
  ``--rounds`` times in turn: seconds per frame and per stage (the first frame apart: it loads the
  environment) and the process's resident memory at each frame (flat over frames: nothing piles
  up); then the render stage's mean over the rounds, and the ratios (most of a render is tracing
  paths, which costs more where walls and a ceiling keep every path bouncing than under an open
  sky, and varies with the kind of light a frame draws: ``-- 'lighting.types=[sun]'`` compares
  like with like);
- for each of the four, how long Cycles takes to prepare a frame before its first sample (syncing
  the scene, building and copying its ray-tracing hierarchies), by its own progress messages: the
  file's geometry is prepared once per process when this stays near the tabletop's.

Overrides after ``--`` go to every run (``-- render.persistent_data=false``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import trimesh

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))


def world(path: Path, triangles: int) -> int:
    from make_room import room

    scene = room()
    ball = trimesh.creation.icosphere(subdivisions=5, radius=0.08)  # 20480 triangles
    n = max(1, (triangles - sum(len(g.faces) for g in scene.geometry.values())) // len(ball.faces))
    rng = np.random.default_rng(0)
    for k in range(n):
        x, y = rng.uniform(-1.8, 1.4, 2)
        b = ball.copy()
        b.apply_translation([x, 0.08, -y])  # glTF's Y up
        scene.add_geometry(b, node_name=f"rock{k}", geom_name=f"rock{k}")
    path.write_bytes(scene.export(file_type="glb"))
    return sum(len(g.faces) for g in scene.geometry.values())


def run(args: list[str], out: Path, env: dict) -> dict:
    subprocess.run([sys.executable, "-m", "simgen.cli", *args, f"output.dir={out}", "output.previews=false"],
                   check=True, env=env, cwd=out.parent, capture_output=True)
    log = next((out / "logs").glob("run-*.jsonl"))
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    return {"frames": [r for r in rows if "frame" in r], "summary": next(r["summary"] for r in rows if "summary" in r)}


def describe(name: str, r: dict) -> float:
    """Print a run's figures; return its render stage's mean over the frames after the first (s)."""
    frames = sorted(r["frames"], key=lambda f: f["frame"])
    first, rest = frames[0], frames[1:]
    per = np.mean([f["seconds"] for f in rest]) if rest else float("nan")
    keys = dict.fromkeys(k for f in frames for k in f["stages"])
    stages = {k: np.mean([f["stages"].get(k, 0.0) for f in rest]) for k in keys}
    print(f"{name}: first frame {first['seconds']:.2f} s (build {first['stages'].get('build', 0):.2f} s), "
          f"then {per:.2f} s a frame: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in stages.items()))
    rss = " ".join(f"{f['rss_mib']:.0f}" for f in frames)
    print(f"  resident memory by frame (MiB): {rss}")
    return stages.get("render", float("nan"))


def scenes_of(overrides: list[str]) -> tuple[Callable[[int], list], Any]:
    """(the scenes of sequence i, as a run draws them; the settings) of simgen ``overrides``."""
    from simgen.compose.settings import catalog_for, to_settings
    from simgen.compose.store import compose
    from simgen.pipeline.frames import make_sequence_scenes
    from simgen.recipes import load_recipe

    settings = to_settings(compose([*overrides, "output.dir=unused"]))
    recipe = load_recipe(settings.scene.recipe)
    catalog = catalog_for(settings, recipe)
    return (lambda i: make_sequence_scenes(recipe, settings, catalog, i)), settings


def prepare(name: str, overrides: list[str], frames: int) -> None:
    """Run in a child process: render ``frames`` scenes of ``overrides`` and print how long Cycles
    takes before its first sample of each after the first (syncing the scene, building its
    ray-tracing hierarchies, copying them), by the times of its own progress messages."""
    import bpy

    from simgen.blender.backend import BlenderBackend

    scenes, settings = scenes_of(overrides)
    backend = BlenderBackend(settings.render)
    first_sample: list[float] = []
    bpy.app.handlers.render_stats.append(
        lambda stats: first_sample.append(time.perf_counter()) if "| Sample " in str(stats) else None)
    ms = []
    for i in range(frames + 1):
        backend.build(scenes(i)[0])
        first_sample.clear()
        t = time.perf_counter()
        backend.render_passes(seed=i)
        if i:
            ms.append((first_sample[0] - t) * 1000)
    backend.close()
    print(f"  {name}: Cycles prepares a frame in {np.median(ms):.0f} ms before its first sample (median of {frames})")


def draw(file: str, frames: int) -> None:
    """Run in a child process: time drawing ``frames`` environment scenes of ``file`` ("" = the
    bundled room) after the first, at 640x480, and print the figures."""
    scenes, _ = scenes_of(["scene=environment", *([f"scene.file={file}"] if file else []), "render.width=640",
                           "render.height=480"])
    t = time.perf_counter()
    scenes(0)
    first = time.perf_counter() - t
    ms = []
    for i in range(1, frames + 1):
        t = time.perf_counter()
        scenes(i)
        ms.append((time.perf_counter() - t) * 1000)
    print(f"drawing {'the bundled room' if not file else Path(file).name}: first scene {first:.2f} s, then "
          f"{np.median(ms):.0f} ms a scene (median; mean {np.mean(ms):.0f}, 90th percentile {np.percentile(ms, 90):.0f}) "
          f"over {frames}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--draw-frames", type=int, default=40, help="scenes drawn (no render) after the first")
    ap.add_argument("--draw", metavar="FILE", help=argparse.SUPPRESS)  # the child process of the drawing figures
    ap.add_argument("--prepare", metavar="NAME", help=argparse.SUPPRESS)  # the child process of Cycles' preparation
    ap.add_argument("--triangles", type=int, default=1_000_000)
    ap.add_argument("--size", default="160x120")
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=1, help="the four renders, this many times in turn")
    ap.add_argument("overrides", nargs="*", help="simgen overrides for every run, after --")
    a = ap.parse_args()
    if a.frames < 2:
        ap.error("--frames must be at least 2: each run's first frame (it loads the environment) is reported apart")
    if a.draw is not None:
        return draw(a.draw, a.draw_frames)
    w, h = a.size.split("x")
    common = [f"render.width={w}", f"render.height={h}", f"render.samples={a.samples}", "render.denoise=false",
              *a.overrides]
    if a.prepare is not None:
        return prepare(a.prepare, common, a.frames)
    with tempfile.TemporaryDirectory(prefix="simgen-bench-env-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "SIMGEN_CACHE": str(tmp / "cache"), "PYTHONPATH": str(REPO)}
        glb = tmp / "world.glb"
        n = world(glb, a.triangles)
        print(f"environment: {n} triangles, {glb.stat().st_size / 2**20:.1f} MiB GLB; {a.size}, {a.samples} samples, "
              f"{a.frames} frames each")
        room = REPO / "assets" / "environments" / "room.glb"  # scene=environment's default file
        for file in (glb, room):  # into the bench's own cache, so that no figure below includes it
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import sys; from simgen.assets.environment import load_environment; "
                            "load_environment(sys.argv[1])", str(file)], check=True, env=env)
            print(f"extraction of {file.name} into the cache (once per file): {time.perf_counter() - t:.1f} s")
        for file in ("", str(glb)) if a.draw_frames else ():
            subprocess.run([sys.executable, __file__, "--draw", file, "--draw-frames", str(a.draw_frames)], check=True,
                           env=env)
        runs = {f"scene=environment ({n} triangles)": ["scene=environment", f"scene.file={glb}"],
                "scene=environment (the bundled room)": ["scene=environment"], "scene=tabletop": ["scene=tabletop"],
                "scene=tabletop in its room": ["scene=tabletop", "scene.background=[room]"]}
        render = {name: [] for name in runs}
        for k in range(a.rounds):
            for i, (name, args) in enumerate(runs.items()):
                out = tmp / f"run{k}-{i}"
                render[name].append(describe(name, run([*args, f"frames={a.frames}", *common], out, env)))
                shutil.rmtree(out)
        mean = {name: float(np.mean(v)) for name, v in render.items()}
        print(f"render a frame, mean of {a.rounds} round(s): " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in mean.items()))
        world_ms, room, table, closed = mean.values()
        print(f"  the generated world x{world_ms / room:.2f} the bundled room (the triangles' cost), the bundled room "
              f"x{room / table:.2f} the tabletop; the generated world x{world_ms / table:.2f} the tabletop, "
              f"x{world_ms / closed:.2f} the tabletop in its room (walls and a ceiling around both)")
        for name, args in runs.items():
            subprocess.run([sys.executable, __file__, "--prepare", name, "--frames", str(a.frames), "--size", a.size,
                            "--samples", str(a.samples), "--", *args, *a.overrides], check=True, env=env)


if __name__ == "__main__":
    main()
