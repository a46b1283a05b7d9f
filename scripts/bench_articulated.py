"""What an articulated model costs: its load once per process, and a frame of posed arms against a
frame of as many rigid objects of the same triangles.

Two catalogs of one entry each, rendered by the same command (tabletop, ``--count`` objects a
frame, the same seed, pixels and samples): the URDF itself (each scene draws its joints and poses
its links with MuJoCo; the renderer draws each link, built once, as a part of its own; the pose's
mesh is written to models/) and its rest pose written once as a rigid PLY.
Prints the model's cold load (parse, compile, first posed mesh) and, per run, simgen's own
per-frame figures (sample, build, render, write; the median of the frames after the first).

    usage: python scripts/bench_articulated.py [--urdf FILE] [--count N] [--frames N] [--res WxH]
    (default: pybullet_data's KUKA iiwa, 7 joints, where pybullet is installed: the test extra)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("sample", "build", "render", "read", "labels", "write", "seconds")
"""simgen's per-frame figures (its run log, DIR/logs/run-*.jsonl); ``seconds`` is the frame's wall time."""


def default_urdf() -> Path | None:
    try:
        import pybullet_data
    except ImportError:
        return None
    return Path(pybullet_data.getDataPath()) / "kuka_iiwa" / "model.urdf"


def per_frame(out: Path) -> dict[str, float]:
    """Median milliseconds per stage, and of the frame's wall time, over the run's frames but the
    first (simgen's run log)."""
    import statistics

    log = next((out / "logs").glob("run-*.jsonl"))
    frames = [r for r in map(json.loads, log.read_text().splitlines()) if "frame" in r][1:]
    figures = [{**r["stages"], "seconds": r["seconds"]} for r in frames]
    return {s: statistics.median(f[s] * 1000 for f in figures if s in f) for s in STAGES
            if any(s in f for f in figures)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--urdf", type=Path, default=default_urdf(), help="the model (default: KUKA iiwa)")
    parser.add_argument("--count", type=int, default=4, help="objects a frame (default 4)")
    parser.add_argument("--frames", type=int, default=11, help="frames a run (default 11; the first is left out)")
    parser.add_argument("--res", default="320x240", help="WxH (default 320x240)")
    parser.add_argument("--samples", type=int, default=16)
    args = parser.parse_args()
    if args.urdf is None:
        parser.error("no --urdf given and pybullet (its data folder's KUKA iiwa) is not installed")
    w, h = (int(x) for x in args.res.split("x"))

    from simgen.assets.articulated import load_articulated
    from simgen.assets.meshes import posed_mesh
    from simgen.scene.meshes import ArticulatedMesh

    t = time.perf_counter()
    model = load_articulated(args.urdf.resolve())
    loaded = time.perf_counter()
    rest = posed_mesh(ArticulatedMesh(args.urdf.resolve()))
    posed = time.perf_counter()
    print(f"{args.urdf.name}: {len(model.actuated)} joints, {len(model.links)} links, {len(rest.faces)} triangles; "
          f"load {1000 * (loaded - t):.0f} ms (with MuJoCo's import), first posed mesh {1000 * (posed - loaded):.0f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rest.export(tmp / "rest.ply")
        runs = {"articulated": args.urdf.resolve(), "rigid": tmp / "rest.ply"}
        results = {}
        for name, mesh in runs.items():
            (tmp / f"{name}.yaml").write_text(f"categories: [robot]\nassets:\n  - {{mesh: {mesh}, category: robot, "
                                              "scale: 0.3}\n")
            out = tmp / name
            cmd = [str(Path(sys.executable).with_name("simgen")), f"objects.catalog={tmp / f'{name}.yaml'}",
                   f"objects.count=[{args.count},{args.count}]", f"frames={args.frames}", f"render.width={w}",
                   f"render.height={h}", f"render.samples={args.samples}", "render.device=cpu", f"output.dir={out}"]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode:
                raise SystemExit(f"{' '.join(cmd)} failed:\n{(r.stdout + r.stderr)[-3000:]}")
            results[name] = per_frame(out)
    print(f"per frame, ms (median of {args.frames - 1}; {args.count} objects, {w}x{h}, {args.samples} samples):")
    print(f"{'stage':<8} {'rigid':>8} {'articulated':>12}")
    for s in results["rigid"]:
        print(f"{'frame' if s == 'seconds' else s:<8} {results['rigid'][s]:8.1f} "
              f"{results['articulated'].get(s, float('nan')):12.1f}")
    r, a = results["rigid"]["seconds"], results["articulated"]["seconds"]
    print(f"the articulated frame costs {100 * (a / r - 1):+.0f} % of the rigid one's wall time")

if __name__ == "__main__":
    main()
