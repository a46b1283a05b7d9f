#!/usr/bin/env python3
"""PNG encoding of simgen's per-frame files: encode time and size for each zlib level and strategy.

    python scripts/bench_png.py                      # makes real frames first (see below), then measures
    python scripts/bench_png.py DATASET [DATASET...] # the PNG files of datasets already written
    python scripts/bench_png.py --frames 4 --levels 1,3,6 --strategies rle

Every PNG a frame gets (``images/``, ``instance/``, ``semantic/``, ``flow_*_valid/``,
``flow_*_kitti/``, ``previews/*/``) is read back to the exact array OpenCV was given (BGR order,
8 or 16 bits) and encoded again with ``cv2.imencode`` at each setting: OpenCV's default (what a
call without parameters does: libpng's SUB filter, zlib level 1, Z_RLE: "sub 1 rle"), the same
with each other zlib strategy (``IMWRITE_PNG_STRATEGY`` alone: "sub 1 ..."), and each level of
``--levels`` with each strategy of ``--strategies`` ("adaptive L ...": ``IMWRITE_PNG_COMPRESSION``
switches libpng to choosing a filter per row, and zlib to its default strategy unless
``IMWRITE_PNG_STRATEGY`` names another).
Each encode is timed in CPU time of this thread (the best of ``--repeats``) and decoded to check
that the pixels are the ones given. The ``.npy`` files (depth, normals, flow) have no compression
and are listed for the record.

Made frames (without DATASET): ``scripts/bench_ceiling.py``'s replay of Cycles renders recorded
once, written to a temporary folder: 640x480 with previews, and 320x240 sequences with flow in
every format (recording the sequences first if they are not cached: a few minutes of Blender).

The rule that picks a setting per file type: the least cost, counting a setting's encode CPU ms
plus the time its bytes take to leave the node at ``--bandwidth`` MB/s (default 100, a share of a
network file system or of a busy disk; on a node writing to its own NVMe bytes cost less still),
and OpenCV's default stays unless another setting costs ``--margin`` (10 %) and 0.1 ms less.
Encoding is CPU time on the frame loop's critical path, while PNG bytes are a small part of a
frame's (the .npy files of depth and normals alone are 4.8 MB at 640x480).
Printed per file type: each setting's median encode ms, mean KB per file and size relative to the
smallest; then, per dataset, the per-frame totals of OpenCV's default and of the picks.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
OPENCV = "sub 1 rle (opencv)"
"""What cv2.imencode does without parameters."""
STRATEGIES = {"default": cv2.IMWRITE_PNG_STRATEGY_DEFAULT, "rle": cv2.IMWRITE_PNG_STRATEGY_RLE,
              "filtered": cv2.IMWRITE_PNG_STRATEGY_FILTERED, "huffman": cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY,
              "fixed": cv2.IMWRITE_PNG_STRATEGY_FIXED}


def settings(levels: list[int], strategies: list[str]) -> dict[str, list[int]]:
    """Name -> cv2.imencode parameters. Without IMWRITE_PNG_COMPRESSION OpenCV keeps libpng's SUB
    filter and zlib level 1 (IMWRITE_PNG_STRATEGY alone changes only the strategy); with it, libpng
    chooses a filter per row (adaptive) and zlib runs at that level."""
    out = {"sub 1 rle (opencv)": []}
    for s in STRATEGIES:
        if s != "rle":
            out[f"sub 1 {s}"] = [cv2.IMWRITE_PNG_STRATEGY, STRATEGIES[s]]
    for level in levels:
        for s in strategies:
            params = [cv2.IMWRITE_PNG_COMPRESSION, level]
            if s != "default":
                params += [cv2.IMWRITE_PNG_STRATEGY, STRATEGIES[s]]
            out[f"adaptive {level} {s}"] = params
    return out


def file_types(root: Path) -> dict[str, list[Path]]:
    """PNG files by the folder they are in (the file type), relative to the dataset root."""
    out: dict[str, list[Path]] = {}
    for p in sorted(root.rglob("*.png")):
        rel = p.parent.relative_to(root).as_posix()
        if not rel.startswith(("logs", "yolo")):
            out.setdefault(rel, []).append(p)
    return out


def encode(image: np.ndarray, params: list[int], repeats: int) -> tuple[float, bytes]:
    best, data = float("inf"), b""
    for _ in range(repeats):
        t0 = time.thread_time()
        ok, buf = cv2.imencode(".png", image, params)
        best = min(best, time.thread_time() - t0)
        assert ok
        data = buf.tobytes()
    return best, data


def measure(files: list[Path], setups: dict[str, list[int]], repeats: int) -> dict[str, tuple[float, float]]:
    """Per setting: (median encode ms, mean bytes) over ``files``."""
    images = [cv2.imdecode(np.fromfile(str(p), np.uint8), cv2.IMREAD_UNCHANGED) for p in files]
    out = {}
    for name, params in setups.items():
        times, sizes = [], []
        for image in images:
            t, data = encode(image, params, repeats)
            back = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            if back.dtype != image.dtype or back.shape != image.shape or not np.array_equal(back, image):
                sys.exit(f"{name}: decoded pixels differ from the encoded ones")
            times.append(t * 1e3)
            sizes.append(len(data))
        out[name] = (statistics.median(times), statistics.fmean(sizes))
    return out


def pick(results: dict[str, tuple[float, float]], bandwidth: float, margin: float) -> str:
    """The setting of least cost (its encode CPU ms plus the ms its bytes take at ``bandwidth``
    MB/s); OpenCV's default unless another costs ``margin`` and 0.1 ms less (a timer's noise)."""
    def cost(k: str) -> float:
        return results[k][0] + results[k][1] / (bandwidth * 1e3)
    best = min(results, key=cost)
    return best if cost(best) <= min((1 - margin) * cost(OPENCV), cost(OPENCV) - 0.1) else OPENCV


def npy_sizes(root: Path) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for p in sorted(root.rglob("*.npy")):
        out.setdefault(p.parent.relative_to(root).as_posix(), []).append(p.stat().st_size)
    return out


def make_frames(where: Path, frames: int, cache: Path) -> list[Path]:
    """Datasets written by the ceiling benchmark's replay (kept), one per kind of run."""
    runs = [("640x480", "previews", 32, []),
            ("320x240", "sequence", 40, ["sequence.formats=[flo,kitti]", "output.previews=true"])]
    bench, out = REPO / "scripts" / "bench_ceiling.py", []
    for res, variant, recorded, extra in runs:
        scene_set = "sequence" if variant == "sequence" else "single"
        folder = cache / f"{res}-{scene_set}-{recorded}"
        if not any(folder.glob("*.exr")):  # record once, as the ceiling benchmark does
            subprocess.run([sys.executable, str(bench), "--res", res, "--variants", variant, "--repeats", "0",
                            "--cache", str(cache)], check=True, cwd=REPO)
        p = subprocess.run([sys.executable, str(bench), "--child", "--repo", str(REPO), "--res", res, "--variant",
                            variant, "--frames", str(min(frames, recorded)), "--cache", str(folder), "--warmup", "0",
                            "--out-dir", str(where), "--keep", "--", *extra],
                           capture_output=True, text=True, cwd=REPO)
        if p.returncode != 0:
            sys.exit(p.stderr[-3000:])
        out.append(Path(next(line for line in p.stderr.splitlines() if line.startswith("kept the dataset in"))
                        .rsplit(" ", 1)[1]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("datasets", nargs="*", type=Path, help="dataset folders (default: made from recorded renders)")
    ap.add_argument("--frames", type=int, default=8, help="files per file type (default 8)")
    ap.add_argument("--levels", default="0,1,2,3,4,5,6,7,8,9")
    ap.add_argument("--strategies", default="default,rle", help=f"comma-separated of {', '.join(STRATEGIES)}")
    ap.add_argument("--repeats", type=int, default=3, help="encodes per file and setting; the fastest counts")
    ap.add_argument("--cache", default=str(Path("/dev/shm" if Path("/dev/shm").is_dir() else tempfile.gettempdir())
                                           / "simgen-ceiling"),
                    help="the ceiling benchmark's recorded renders (its --cache; default the same)")
    ap.add_argument("--bandwidth", type=float, default=100.0,
                    help="MB/s a frame's bytes leave the node at (default 100: a share of a network file system "
                         "or of a busy disk); a setting is picked by encode ms + bytes / bandwidth")
    ap.add_argument("--margin", type=float, default=0.10,
                    help="how much less another setting must cost than OpenCV's default to be picked (default 0.10)")
    args = ap.parse_args()
    setups = settings([int(x) for x in args.levels.split(",")], args.strategies.split(","))
    scratch = None
    datasets = args.datasets
    if not datasets:
        scratch = Path(tempfile.mkdtemp(prefix="simgen-bench-png-"))
        datasets = make_frames(scratch, args.frames, Path(args.cache))
    try:
        picks = {}
        for root in datasets:
            totals = {OPENCV: [0.0, 0.0], "picked": [0.0, 0.0]}
            for kind, files in file_types(root).items():
                files = files[:args.frames]
                h, w = cv2.imdecode(np.fromfile(str(files[0]), np.uint8), cv2.IMREAD_UNCHANGED).shape[:2]
                results = measure(files, setups, args.repeats)
                best = picks[f"{kind} {w}x{h}"] = pick(results, args.bandwidth, args.margin)
                smallest = min(size for _, size in results.values())
                print(f"\n{kind} ({w}x{h}, {len(files)} files): setting, encode ms, KB, size / smallest")
                for name, (ms, size) in results.items():
                    mark = " <- pick" if name == best else ""
                    print(f"  {name:20s} {ms:8.2f} {size / 1024:9.1f} {size / smallest:6.3f}{mark}")
                for key, name in ((OPENCV, OPENCV), ("picked", best)):
                    totals[key][0] += results[name][0]
                    totals[key][1] += results[name][1]
            for kind, sizes in sorted(npy_sizes(root).items()):
                print(f"\n{kind}: .npy, no compression, {statistics.fmean(sizes) / 1024:.1f} KB per file")
            print(f"\nper frame of {root.name}, every PNG type above once:")
            for key, (ms, size) in totals.items():
                print(f"  {key:20s} {ms:8.2f} ms {size / 1024:9.1f} KB")
        print("\npicks: " + ", ".join(f"{k}: {v}" for k, v in picks.items()))
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
