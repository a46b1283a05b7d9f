#!/usr/bin/env python3
"""What a scene file's own animation costs: reading it once, and a frame with it against a still one.

    python scripts/bench_animation.py                     # 20 keyframed boxes, 1 skinned bar, 250 frames
    python scripts/bench_animation.py --boxes 100 --frames 1000

Writes a .blend (a floor, ``--boxes`` boxes keyframed across it, a bar of ``--bar`` vertices an
armature bends, a camera above; ``--frames`` frames), then prints:

- the extraction with and without the animation (Blender reads the file into the cache once per
  file, in a child process; the still copy is the same file with its animation removed);
- runs of ``scene=environment`` with ``scene.animation=still``, ``draw`` and ``play`` on it (play: one
  sequence of ``--renders`` steps, the flow of the bending bar computed between them): seconds per
  frame and per stage (the first frame apart: it loads the environment).

    python scripts/bench_animation.py --boxes 0 --bar 24      # a skinned part of 20,800 vertices
    python scripts/bench_animation.py --boxes 0 --bar 24 --blend bar.blend    # only write that file
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BLEND = """
import sys, math, bpy
out, boxes, frames, bar_rings, still = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "still"
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.frame_start, scene.frame_end = 1, frames
me = bpy.data.meshes.new("floor")
me.from_pydata([(-3, -3, 0), (3, -3, 0), (3, 3, 0), (-3, 3, 0)], [], [(0, 1, 2, 3)])
scene.collection.objects.link(bpy.data.objects.new("floor", me))
cube = bpy.data.meshes.new("box")
h = 0.1
cube.from_pydata([(x, y, z) for x in (-h, h) for y in (-h, h) for z in (-h, h)], [],
                 [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)])
for k in range(boxes):
    ob = bpy.data.objects.new(f"box{k}", cube)
    scene.collection.objects.link(ob)
    y = -2.5 + 5.0 * k / max(1, boxes - 1)
    if still:
        ob.location = (0.0, y, 0.1)
        continue
    for frame, x in ((1, -2.5), (frames, 2.5)):
        ob.location = (x, y, 0.1)
        ob.keyframe_insert("location", frame=frame)
rig = bpy.data.objects.new("rig", bpy.data.armatures.new("rig"))
scene.collection.objects.link(rig)
bpy.context.view_layer.objects.active = rig
bpy.ops.object.mode_set(mode="EDIT")
bone = rig.data.edit_bones.new("bone")
bone.head, bone.tail = (0, 0, 0), (0, 0, 0.5)
bpy.ops.object.mode_set(mode="OBJECT")
bpy.ops.mesh.primitive_cylinder_add(vertices=32, radius=0.1, depth=1.0, location=(0, 0, 0.5))
bar = bpy.context.active_object
bar.name = "bar"
bpy.ops.object.mode_set(mode="EDIT")
bpy.ops.mesh.subdivide(number_cuts=bar_rings)
bpy.ops.object.mode_set(mode="OBJECT")
group = bar.vertex_groups.new(name="bone")
for v in bar.data.vertices:
    group.add([v.index], min(1.0, v.co.z + 0.5), "REPLACE")
bar.modifiers.new("skin", "ARMATURE").object = rig
if not still:
    pose = rig.pose.bones["bone"]
    pose.rotation_mode = "XYZ"  # a pose bone turns by its quaternion unless told: rotation_euler alone moved nothing
    for frame, turn in ((1, 0.0), (frames, 1.0)):
        pose.rotation_euler = (turn, 0, 0)
        pose.keyframe_insert("rotation_euler", frame=frame)
cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("lens"))
cam.data.lens = 18.0
scene.collection.objects.link(cam)
cam.location = (0, 0, 5.0)
bpy.ops.wm.save_as_mainfile(filepath=out)
"""


def per_frame(out: Path) -> dict[str, float]:
    log = next((out / "logs").glob("run-*.jsonl"))
    frames = [r for r in map(json.loads, log.read_text().splitlines()) if "frame" in r][1:]
    figures = [{**r["stages"], "seconds": r["seconds"]} for r in frames]
    return {s: statistics.median(1000 * f[s] for f in figures if s in f) for s in figures[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boxes", type=int, default=20)
    parser.add_argument("--frames", type=int, default=250, help="the file's frame range (default 250)")
    parser.add_argument("--bar", type=int, default=30, help="subdivision cuts of the skinned bar's faces (default 30; 24: 20,800 vertices)")
    parser.add_argument("--renders", type=int, default=6, help="frames a run renders (default 6; the first left out)")
    parser.add_argument("--blend", metavar="FILE", help="only write the animated .blend to FILE (for "
                        "scripts/memory_growth.py's check) and stop")
    args = parser.parse_args()
    if args.blend:
        subprocess.run([sys.executable, "-c", BLEND, args.blend, str(args.boxes), str(args.frames), str(args.bar),
                        "animated"], check=True, capture_output=True)
        return print(f"wrote {args.blend}")
    simgen = str(Path(sys.executable).with_name("simgen"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "SIMGEN_CACHE": str(tmp / "cache")}
        for kind in ("still", "animated"):
            subprocess.run([sys.executable, "-c", BLEND, str(tmp / f"{kind}.blend"), str(args.boxes), str(args.frames),
                            str(args.bar), kind], check=True, capture_output=True)
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import sys; from simgen.assets.environment import load_environment; "
                            "e = load_environment(sys.argv[1]); print(e.animation and e.animation.deforming)",
                            str(tmp / f"{kind}.blend")], check=True, env=env, capture_output=True)
            print(f"read {kind} file ({args.boxes} boxes, {args.frames} frames): {time.perf_counter() - t:.1f} s "
                  "(a child process: Python, Blender, the file)")
        results = {}
        modes = ("still", "draw", "play")
        for mode in modes:
            out = tmp / mode
            played = [f"sequence.length={args.renders}"] if mode == "play" else []
            r = subprocess.run([simgen, "scene=environment", f"scene.file={tmp / 'animated.blend'}",
                                f"scene.animation={mode}", "scene.cameras=[Camera]", "scene.supports=[floor]",
                                "objects.count=[2,2]", *played, f"frames={args.renders}", "render.width=160",
                                "render.height=120", "render.samples=8", "render.device=cpu", f"output.dir={out}"],
                               env=env, capture_output=True, text=True)
            if r.returncode:
                sys.exit(f"scene.animation={mode} failed: {r.stderr[-2000:]}")
            results[mode] = per_frame(out)
        print(f"per frame, ms (median of {args.renders - 1}; 160x120, 8 samples; play: one sequence, its flow):")
        print(f"{'stage':<8} " + " ".join(f"{m:>8}" for m in modes))
        for s in {k: None for m in modes for k in results[m]}:
            print(f"{'frame' if s == 'seconds' else s:<8} " + " ".join(f"{results[m].get(s, float('nan')):8.1f}"
                                                                       for m in modes))


if __name__ == "__main__":
    main()
