"""Render the same frames on the CPU and on GPU backends, and print each one's speed and how far
its labels and images differ from the first device's.

    python scripts/gpu_check.py --devices cpu,optix --frames 8 --size 640x480
    python scripts/gpu_check.py --devices optix --frames 64 --processes 1,4   # processes sharing one GPU

Each device runs the default job (``python -m simgen.cli``) in its own folder with the same seed,
so every frame is the same scene. Printed per device: the Cycles device its log names (a GPU that
is not usable falls back to the CPU with a warning), seconds per frame of the run and of the
render alone (frames after each process's first, which pays for loading kernels), and against the first
device: the fraction of pixels whose instance and semantic ids agree, the largest relative depth
difference where both see a surface, the largest COCO box corner difference in pixels, and the
RGB mean absolute difference in 8-bit levels (path-tracing noise differs between devices; the
labels come from the first sample and must agree). Extra simgen overrides go after ``--``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def run(device: str, out: Path, a: argparse.Namespace, processes: int) -> dict:
    w, h = a.size.split("x")
    base = [sys.executable, "-m", "simgen.cli", f"frames={a.frames}", f"render.width={w}", f"render.height={h}",
            f"render.device={device}", f"seed={a.seed}", *a.overrides]
    jobs = []
    t = time.perf_counter()
    for i in range(processes):
        shard = [f"shard.index={i}", f"shard.count={processes}"] if processes > 1 else []
        log = open(out.with_suffix(f".{i}.log"), "w")
        jobs.append(subprocess.Popen([*base, f"output.dir={out}", *shard], stdout=log, stderr=subprocess.STDOUT))
    codes = [j.wait(timeout=a.timeout) for j in jobs]
    wall = time.perf_counter() - t
    logs = "".join(out.with_suffix(f".{i}.log").read_text() for i in range(processes))
    if any(codes):
        return {"device": device, "error": logs.strip().splitlines()[-1] if logs.strip() else f"exit {codes}"}
    chosen = re.findall(r"Cycles device: [^\n]*|falling back to CPU", (out / "logs" / "simgen.log").read_text())
    runs = [[json.loads(line) for line in f.open()] for f in sorted((out / "logs").glob("run-*.jsonl"))]
    frames = [[r for r in run if "frame" in r] for run in runs]  # one run log per process
    later = [r["stages"]["render"] for run in frames for r in run[1:]] or [run[0]["stages"]["render"] for run in frames]
    return {"device": device, "processes": processes, "chosen": sorted(set(chosen)), "wall_s": wall,
            "frames_per_s": a.frames / wall, "render_s": float(np.median(later)),
            "first_render_s": max(run[0]["stages"]["render"] for run in frames)}


def compare(ref: Path, other: Path) -> dict:
    same_ids, same_sem, depth_rel, rgb = [], [], [], []
    for f in sorted((ref / "instance").glob("*.png")):
        a, b = (cv2.imread(str(d / "instance" / f.name), cv2.IMREAD_UNCHANGED) for d in (ref, other))
        same_ids.append(float((a == b).all(-1).mean() if a.ndim == 3 else (a == b).mean()))
        a, b = (cv2.imread(str(d / "semantic" / f.name), cv2.IMREAD_UNCHANGED) for d in (ref, other))
        same_sem.append(float((a == b).mean()))
        za, zb = (np.load(d / "depth" / f"{f.stem}.npy") for d in (ref, other))
        both = np.isfinite(za) & np.isfinite(zb) & (za > 0) & (zb > 0)
        depth_rel.append(float(np.abs(za[both] - zb[both]).max() / za[both].min()) if both.any() else 0.0)
        ia, ib = (cv2.imread(str(d / "images" / f.name)).astype(np.float32) for d in (ref, other))
        rgb.append(float(np.abs(ia - ib).mean()))
    boxes = [{(a["image_id"], a["simgen"].get("instance_id", a["id"])): a["bbox"] for a in
              json.loads((d / "coco.json").read_text())["annotations"]} for d in (ref, other)]
    keys = boxes[0].keys() & boxes[1].keys()
    box_diff = max((np.abs(np.subtract(boxes[0][k], boxes[1][k])).max() for k in keys), default=0.0)
    return {"ids_agree": min(same_ids), "semantic_agree": min(same_sem), "depth_rel_max": max(depth_rel),
            "boxes_matched": f"{len(keys)}/{len(boxes[0])}", "box_diff_px": float(box_diff),
            "rgb_mean_abs_diff": float(np.mean(rgb))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", default="cpu,optix", help="render.device values; the first is the reference")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--processes", default="1", help="comma list: simgen processes sharing the device at once "
                    "(shards of one run), e.g. 1,2,4; labels are compared for the first")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    ap.add_argument("--out", type=Path, help="keep the datasets here (default: a temporary folder, removed at the end)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    a = ap.parse_args()
    root = a.out or Path(tempfile.mkdtemp(prefix="simgen_gpu_"))
    root.mkdir(parents=True, exist_ok=True)
    results, ref = [], None
    try:
        for device in a.devices.split(","):
            for n in (int(p) for p in a.processes.split(",")):
                out = root / f"{device}-{n}"
                r = run(device, out, a, n)
                if "error" not in r and n == int(a.processes.split(",")[0]):
                    if ref is None:
                        ref = out
                    else:
                        r.update(compare(ref, out))
                results.append(r)
                print(json.dumps(r), flush=True)
    finally:
        if a.out is None:  # the temporary folder: the datasets were only compared
            shutil.rmtree(root, ignore_errors=True)
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
