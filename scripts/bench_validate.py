#!/usr/bin/env python3
"""How long ``simgen validate`` takes on a 10,000-frame dataset (default checks and --full),
and how long ``simgen inspect`` takes on it.

    python scripts/bench_validate.py                        # 10,000 frames of 320x240
    python scripts/bench_validate.py --frames 2000 --keep /dev/shm/v10k

Renders ``--source`` frames (default 8, 2 sequences of 4 with flow, ``output.labels=[visibility]``,
the default 320x240) once, then builds a ``--frames`` frame dataset from them cheaply: each
frame's files are hard links to those of a rendered frame, its meta is that frame's meta
renumbered (index, sequence, flow paths, COCO image and annotation ids), and coco.json and
dataset.json list every frame. The result is a consistent dataset that validates clean, and
the timings are those of a warm page cache (the source files are read again and again).
Prints wall seconds and frames per second of each command, its CPU seconds (user + system of
the command and its workers: the figure that holds on a shared machine; on an idle one the
wall time is about CPU seconds / CPUs) and the load average.

    python scripts/bench_validate.py --keep /tmp/v10k --reuse --no-inspect   # time again
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIMGEN = str(Path(sys.executable).with_name("simgen"))
FRAME_FOLDERS = ("images", "instance", "semantic", "depth", "normal", "flow_forward", "flow_backward",
                 "flow_forward_valid", "flow_backward_valid")


def render(out: Path, frames: int, width: int, height: int) -> None:
    cmd = [SIMGEN, f"output.dir={out}", f"frames={frames}", "sequence.length=4", "output.labels=[visibility]",
           f"render.width={width}", f"render.height={height}", "render.samples=4", "render.device=cpu"]
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL)


def build(src: Path, out: Path, frames: int) -> None:
    info = json.loads((src / "dataset.json").read_text())
    k = len(info["frames"])
    length = info["config"]["sequence"]["length"]
    assert k % length == 0
    for folder in FRAME_FOLDERS + ("meta",):
        if (src / folder).is_dir():
            (out / folder).mkdir(parents=True, exist_ok=True)
    shutil.copytree(src / "models", out / "models", copy_function=os.link)
    metas = [json.loads((src / "meta" / f"{i:06d}.json").read_text()) for i in range(k)]
    images, annotations = [], []
    for i in range(frames):
        s = i % k
        for folder in FRAME_FOLDERS:
            for p in ((src / folder / f"{s:06d}.png"), (src / folder / f"{s:06d}.npy")):
                if p.is_file():
                    os.link(p, out / folder / f"{i:06d}{p.suffix}")
        meta = json.loads(json.dumps(metas[s]))
        meta["index"], meta["sequence"] = i, i // length
        for d, files in (meta.get("flow") or {}).items():
            if files:
                meta["flow"][d] = {key: v.replace(f"{s:06d}", f"{i:06d}") for key, v in files.items()}
        coco = meta["coco"]
        coco["image"].update(id=i + 1, file_name=f"images/{i:06d}.png", frame_index=i)
        for a in coco["annotations"]:
            a["id"] = a["id"] - s * 65536 + i * 65536
            a["image_id"] = i + 1
        (out / "meta" / f"{i:06d}.json").write_text(json.dumps(meta))
        images.append(coco["image"])
        annotations += coco["annotations"]
    (out / "coco.json").write_text(json.dumps({"info": {}, "licenses": [], "images": images,
                                               "annotations": annotations, "categories": info["categories"]}))
    info["frames"] = list(range(frames))
    (out / "dataset.json").write_text(json.dumps(info))


def timed(*args: str) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds and CPU seconds (user + system, the command and its worker processes)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([SIMGEN, *args], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=10000)
    ap.add_argument("--source", type=int, default=8, help="frames actually rendered (a multiple of 4)")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--keep", type=Path, default=None, help="build the dataset here and keep it")
    ap.add_argument("--jobs", type=int, default=0, help="worker processes for validate (default: one per CPU)")
    ap.add_argument("--no-inspect", action="store_true", help="time validate only")
    ap.add_argument("--reuse", action="store_true", help="time the dataset already in --keep (no render, no build)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_validate_"))
    try:
        out = args.keep or tmp / "big"
        if args.reuse and args.keep and (out / "dataset.json").is_file():
            args.frames = len(json.loads((out / "dataset.json").read_text())["frames"])
            print(f"reusing {out}: {args.frames} frames; {os.cpu_count()} CPU(s)", flush=True)
        else:
            src = tmp / "src"
            t0 = time.perf_counter()
            render(src, args.source, args.width, args.height)
            if out.exists():
                shutil.rmtree(out)
            build(src, out, args.frames)
            print(f"built {args.frames} frames of {args.width}x{args.height} from {args.source} rendered "
                  f"({time.perf_counter() - t0:.0f} s); {os.cpu_count()} CPU(s)", flush=True)
        jobs = ["--jobs", str(args.jobs)] if args.jobs else []
        runs = [("validate", ["validate", str(out), *jobs]), ("validate --full", ["validate", str(out), "--full", *jobs])]
        if not args.no_inspect:
            runs.append(("inspect", ["inspect", str(out), "--out", str(tmp / "report.html"), *jobs]))
        for name, cmd in runs:
            seconds, cpu, res = timed(*cmd)
            ok = res.returncode == 0
            print(f"simgen {name:16s} {seconds:7.1f} s wall  {args.frames / seconds:6.0f} frames/s  "
                  f"{cpu:7.1f} s CPU ({1000 * cpu / args.frames:.2f} ms/frame)  load {os.getloadavg()[0]:.1f}  "
                  f"{'exit 0' if ok else 'exit %d' % res.returncode}", flush=True)
            if not ok:
                print(res.stdout[-3000:] + res.stderr[-3000:], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
