#!/usr/bin/env python3
"""What the end of a run costs in exports as the dataset grows: each format timed over N frames
from scratch, then at the end of a run that added ``--new`` frames, incrementally (what simgen
does) and rebuilt whole (what it did before the YOLO exports kept their manifest).

    python scripts/bench_exports.py --frames 1000,20000
    python scripts/bench_exports.py --frames 20000 --formats yolo,webdataset --new 100

The dataset: ``--seed-frames`` frames rendered at 64x48 by the test suite's fake renderer
(tests/fake_renderer.py: no Blender; with ``bop``, with amodal masks and one object size),
cloned to N frames (each clone's files are hard links to
its seed frame's, its meta rewritten with its own frame index, COCO ids and the seed's split).
Each measurement runs in a fresh child process (its peak RSS is ru_maxrss). The COCO index is
brought up to date first and timed apart (every format reads it).
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
FORMATS = ("coco", "yolo", "yolo_seg", "webdataset", "parquet", "bop")


def seed_dataset(root: Path, frames: int, bop: bool = False) -> None:
    """``frames`` frames of the fake renderer; for ``bop`` with the amodal masks it needs and one
    object size (a BOP model per asset, not per object)."""
    sys.path[:0] = [str(REPO), str(REPO / "tests")]
    from conftest import set_settings, tiny_settings
    from fake_renderer import FakeRenderer
    from simgen.pipeline import run

    s = set_settings(tiny_settings(root, frames=frames, width=64, height=48), output__formats=["coco"])
    if bop:
        s.output.labels, s.scene.object_scale = ["amodal"], [1.0, 1.0]
    run(s, make_renderer=FakeRenderer)


def clone(seed: Path, root: Path, frames: range, k: int) -> None:
    """Frames ``frames`` of ``root``, each a copy of seed frame i % k (hard links, own meta)."""
    sys.path.insert(0, str(REPO))
    from simgen.labels.kinds import LABEL_KINDS

    if not (root / "dataset.json").exists():
        root.mkdir(parents=True, exist_ok=True)
        shutil.copy(seed / "dataset.json", root / "dataset.json")
        shutil.copytree(seed / "models", root / "models")
    folders = [(kind.folder, kind.suffix) for kind in LABEL_KINDS.values() if kind.folder and (seed / kind.folder).is_dir()]
    for folder, _ in folders + [("meta", "")]:
        (root / folder).mkdir(exist_ok=True)
    for i in frames:
        src = i % k
        for folder, suffix in folders:
            os.link(seed / folder / f"{src:06d}{suffix}", root / folder / f"{i:06d}{suffix}")
        meta = json.loads((seed / "meta" / f"{src:06d}.json").read_text())
        coco = meta["coco"]
        coco["image"].update(id=i + 1, file_name=f"images/{i:06d}.png")
        coco["image"]["simgen"]["frame_index"] = i
        for a in coco["annotations"]:
            a.update(id=i * 65536 + a["simgen"]["instance_id"], image_id=i + 1)
        (root / "meta" / f"{i:06d}.json").write_text(json.dumps(meta))


def child(root: Path, fmt: str) -> dict:
    sys.path.insert(0, str(REPO))
    from simgen.io.dataset.layout import DatasetWriter
    from simgen.io.files import read_json
    from simgen.io.formats.exporters import resolve

    writer = DatasetWriter(root, read_json(root / "dataset.json")["categories"], previews=False)
    t0 = time.perf_counter()
    index = writer.index()
    t1 = time.perf_counter()
    if fmt != "index":
        writer.export(resolve([fmt], flow=False), index)
    t2 = time.perf_counter()
    return {"index_s": t1 - t0, "export_s": t2 - t1, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(root: Path, fmt: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--_child", str(root), fmt], capture_output=True, text=True)
    if out.returncode:
        sys.exit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def forget(root: Path, fmt: str) -> None:
    """Make the next export of ``fmt`` rebuild whole, as before it kept a manifest."""
    for name in ("simgen_index.json", "shards.json"):
        (root / fmt / name).unlink(missing_ok=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", default="1000,20000", help="dataset sizes, comma-separated")
    ap.add_argument("--new", type=int, default=100, help="frames the timed run added")
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--seed-frames", type=int, default=20)
    ap.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._child:
        print(json.dumps(child(Path(a._child[0]), a._child[1])))
        return 0
    formats = a.formats.split(",")
    shm = Path("/dev/shm")
    work = Path(tempfile.mkdtemp(prefix="simgen-bench-exports-",
                                 dir=str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None))
    try:
        seed = work / "seed"
        seed_dataset(seed, a.seed_frames, bop="bop" in formats)
        print(f"| frames | format | from scratch s | +{a.new} frames, incremental s | +{a.new} frames, rebuilt whole s "
              "| peak RSS MiB |\n|---|---|---|---|---|---|", flush=True)
        for n in (int(x) for x in a.frames.split(",")):
            root = work / f"d{n}"
            clone(seed, root, range(n - a.new), a.seed_frames)
            index = measure(root, "index")
            scratch = {fmt: measure(root, fmt) for fmt in formats}
            clone(seed, root, range(n - a.new, n), a.seed_frames)
            grown = measure(root, "index")
            print(f"| {n} | (COCO index) | {index['index_s']:.2f} | {grown['index_s']:.2f} | | "
                  f"{grown['peak_mib']:.0f} |", flush=True)
            for fmt in formats:
                inc = measure(root, fmt)
                forget(root, fmt)
                whole = measure(root, fmt)
                print(f"| {n} | {fmt} | {scratch[fmt]['export_s']:.2f} | {inc['export_s']:.2f} | "
                      f"{whole['export_s']:.2f} | {max(inc['peak_mib'], whole['peak_mib']):.0f} |", flush=True)
            shutil.rmtree(root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
