#!/usr/bin/env python3
"""The pipeline's ceiling: frames per second of simgen's frame loop when rendering costs nothing.

    python scripts/bench_ceiling.py                       # 640x480, default labels: the figure in docs/explanation/performance.md
    python scripts/bench_ceiling.py --res 320x240,640x480,1920x1080 --variants all
    python scripts/bench_ceiling.py --against REV         # before/after, side by side in one run
    python scripts/bench_ceiling.py -- render.workers=1   # any simgen override, for every variant
    python scripts/bench_ceiling.py --out-dir /tmp        # the dataset on a disk (fsyncs cost what they cost)

On a GPU node Cycles draws a 640x480 frame in tens of milliseconds; what simgen does around the
render (reading the EXR back, tone mapping, labels, annotations, encoding and writing the files)
then decides the frame rate. This script measures that ceiling: the real frame loop
(``simgen.pipeline.run``, the CLI's default config plus the variant's overrides) driven by a
renderer that costs nothing, :class:`Replay`, which hands back passes Cycles rendered once.

1. **Record** (once per resolution and scene set, cached under ``--cache``): the real pipeline
   with Blender renders the variant's frames (render.samples=16, denoised) and keeps each
   frame's multilayer EXR, named by its Cycles seed.
2. **Replay** (each measurement in a fresh process): the same run with :class:`Replay` as the
   renderer. ``build`` only notes the camera's exposure; ``render_to_files(seed)`` hard-links
   the recorded EXR into the scratch folder and returns the checkout's own ``RenderedFiles``, so
   everything from the EXR on (``read``, ``labels``, ``flow``, ``write``: every stage after
   ``render`` of ``simgen.pipeline.STAGES``) is the checkout's real code on Cycles' real output.

Printed per measurement: frames per second (frames after the first ``--warmup`` ones, between
their ``frame_done`` calls), CPU milliseconds per frame of the whole process (every thread) and
of each stage (the CPU time of the thread running it, ``time.thread_time``), and peak RSS.
``--against REV`` also measures the code of git revision REV (a worktree made under /tmp) with
the same recordings, alternating the two per repeat so that a noisy machine's drift hits both.
The last lines are ``ceiling WxH VARIANT: F frames/s`` per checkout, the median over repeats.

Variants (``--variants``, comma-separated, or ``all``): default (the CLI's defaults: COCO, no
optional labels), sequence (sequence.length=8: forward and backward flow), visibility, amodal
(each optional label kind), yolo, yolo_seg (each export format; written at the end of the run,
reported apart as ``end s``), keypoints (box keypoints and the yolo_pose export), bop (amodal
masks and the BOP export), previews (output.previews=true, the pose pictures included).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import fields
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {
    "default": [],
    "sequence": ["sequence.length=8"],
    "visibility": ["output.labels=[visibility]"],
    "amodal": ["output.labels=[amodal]"],
    "yolo": ["output.formats=[coco,yolo]"],
    "yolo_seg": ["output.formats=[coco,yolo_seg]"],
    "keypoints": ["output.labels=[keypoints]", "output.formats=[coco,yolo_pose]"],
    "bop": ["output.labels=[amodal]", "output.formats=[coco,bop]"],
    "previews": ["output.previews=true"],
}
RECORD = ["render.samples=16", "render.denoise=true"]
"""How the recorded frames are rendered (a clean image: PNG sizes and times as a real run's)."""
FRAMES = {"320x240": 40, "640x480": 32, "1920x1080": 10}


def scene_set(variant: str) -> str:
    """Variants that render the same scenes share a recording."""
    return "sequence" if variant == "sequence" else "single"


def overrides_for(res: str, variant: str, frames: int, out: str, extra: list[str]) -> list[str]:
    w, h = res.split("x")
    return [f"render.width={w}", f"render.height={h}", f"frames={frames}", f"output.dir={out}",
            "output.overwrite=true", "render.recycle_every=0", *VARIANTS[variant], *extra]


# ----------------------------------------------------------------------------- the child

def compose(overrides: list[str]):
    from omegaconf import OmegaConf

    from simgen.compose.store import compose as compose_config
    from simgen.compose.settings import to_settings

    cfg = compose_config(overrides)
    return to_settings(cfg), OmegaConf.to_container(cfg, resolve=True)


class Recorder:
    """The real renderer, keeping each frame's EXR in the cache (``SEED.exr``)."""

    def __init__(self, inner, cache: Path):
        self.inner, self.cache = inner, cache

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def render_to_files(self, seed: int = 0):
        files = self.inner.render_to_files(seed)
        if files.rgb_from is not None:
            raise SystemExit("record with camera.dof_probability=0")
        shutil.copyfile(files.exr, self.cache / f"{seed}.exr")
        return files


class Replay:
    """A renderer that costs nothing: hands back the recorded EXR of each seed as the
    checkout's own ``RenderedFiles`` (so reading it is the checkout's real ``read`` stage)."""

    blender_version = "replay"
    device = "replay"

    def __init__(self, render, workdir: Path, cache: Path, keep_linear: bool, scratch_need: int):
        from simgen.io.exr import RenderedFiles

        self.render, self.cache = render, cache
        self.blender_log = Path(workdir) / "replay.log"
        # a folder of its own: workdir is the shared scratch place (/dev/shm), where a file left by an
        # earlier run under the same name may be a hard link into a recording
        self.workdir = Path(tempfile.mkdtemp(prefix="simgen-replay-", dir=workdir))
        self.exposure, self.n = 0.0, 0
        known = {f.name for f in fields(RenderedFiles)}
        self.tone = {k: v for k, v in dict(tone=render.tone, auto_exposure=render.auto_exposure,
                                           keep_linear=keep_linear, scratch_need=scratch_need).items() if k in known}
        self.tone_lut = None
        if "lut" in known and render.tone != "standard":  # a checkout whose tone curve is a table Blender makes
            from simgen.blender import session

            self.tone_lut = self.tone["lut"] = session.view_transform_lut(render.tone, self.workdir)
        self.files = RenderedFiles

    def settle(self, scene):
        raise SystemExit("the ceiling benchmark replays renders only: use scene.placement=analytic")

    def build(self, scene) -> None:
        self.exposure = float(scene.camera.exposure)

    def render_to_files(self, seed: int = 0):
        self.n += 1
        path = self.workdir / f"replay-{self.n}.exr"
        path.unlink(missing_ok=True)  # never copy into an existing file: it may be a link to a recording
        try:
            os.link(self.cache / f"{seed}.exr", path)
        except OSError:  # the cache is on another device: a copy (counted as render time)
            shutil.copyfile(self.cache / f"{seed}.exr", path)
        return self.files(path, exposure=self.exposure, **self.tone)

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


class Meter:
    """Hooks: wall time per frame, CPU time per stage (of the thread running it)."""

    def __init__(self):
        from simgen.pipeline import Hooks

        class _Hooks(Hooks):
            def wrap(hooks, stage, fn):
                def timed(*a):
                    t0 = time.thread_time()
                    try:
                        return fn(*a)
                    finally:
                        with self.lock:
                            self.cpu[stage] = self.cpu.get(stage, 0.0) + time.thread_time() - t0
                return timed

            def loop_started(hooks, loop, todo):
                self.marks.append(time.perf_counter())
                self.cpu_marks.append(os.times())

            def frame_done(hooks, index, times):
                self.marks.append(time.perf_counter())
                self.cpu_marks.append(os.times())
                with self.lock:
                    self.per_frame_cpu.append(dict(self.cpu))

        self.hooks = _Hooks()
        self.lock = threading.Lock()
        self.cpu: dict[str, float] = {}
        self.per_frame_cpu: list[dict[str, float]] = []
        self.marks: list[float] = []
        self.cpu_marks: list = []


def thread_cpu() -> dict[str, float]:
    """CPU seconds of this process's threads by name (/proc/self/task/*/stat), the busiest first."""
    hz, out = os.sysconf("SC_CLK_TCK"), {}
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        out[f"{name}-{task.name}"] = (int(rest[11]) + int(rest[12])) / hz
    return dict(sorted(out.items(), key=lambda kv: -kv[1])[:8])


def child(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(args.repo))
    import simgen

    assert Path(simgen.__file__).resolve().is_relative_to(Path(args.repo).resolve()), simgen.__file__
    cache = Path(args.cache)
    where = args.out_dir or ("/dev/shm" if Path("/dev/shm").is_dir() else None)
    out = tempfile.mkdtemp(dir=where, prefix="simgen-ceiling-")
    try:
        measure(args, cache, out)
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)


def measure(args: argparse.Namespace, cache: Path, out: str) -> None:
    from simgen.pipeline import run

    settings, config = compose(overrides_for(args.res, args.variant, args.frames, out, args.extra))
    if args.record:
        from simgen.pipeline.runner import blender_renderer

        partial = cache.with_name(cache.name + ".partial")  # renamed once complete: a cut recording is not used
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        make = blender_renderer()
        run(settings, config, make_renderer=lambda *a, **kw: Recorder(make(*a, **kw), partial))
        partial.rename(cache)
        print(json.dumps({"recorded": len(list(cache.glob("*.exr")))}))
        return
    meter = Meter()
    t_end = None

    def make(render, workdir, *, scratch_need, keep_linear):
        return Replay(render, workdir, cache, keep_linear, scratch_need)

    import simgen.pipeline.runner as runner

    finish = runner.finish_dataset

    def timed_finish(*a, **kw):  # the end-of-run exports, apart from the frames
        nonlocal t_end
        t0 = time.perf_counter()
        try:
            return finish(*a, **kw)
        finally:
            t_end = time.perf_counter() - t0

    runner.finish_dataset = timed_finish
    run(settings, config, hooks=meter.hooks, make_renderer=make)
    w = args.warmup
    n = len(meter.marks) - 1 - w
    wall = meter.marks[-1] - meter.marks[w]
    t0, t1 = meter.cpu_marks[w], meter.cpu_marks[-1]
    cpu = (t1.user + t1.system) - (t0.user + t0.system)
    first, last = meter.per_frame_cpu[w - 1] if w else {}, meter.per_frame_cpu[-1]
    stages = {k: (last[k] - first.get(k, 0.0)) / n * 1e3 for k in last}
    threads = thread_cpu()
    size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
    if args.keep:
        print(f"kept the dataset in {out}", file=sys.stderr)
    print(json.dumps({"fps": n / wall, "frames": n, "cpu_ms": cpu / n * 1e3, "stages_cpu_ms": stages,
                      "end_s": t_end, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "dataset_mib": size / 2**20, "threads_cpu_s": threads}))


# ----------------------------------------------------------------------------- the parent

def spawn(repo: Path, res: str, variant: str, frames: int, cache: Path, extra: list[str], record=False,
          warmup: int = 2, out_dir: str | None = None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--repo", str(repo), "--res", res,
           "--variant", variant, "--frames", str(frames), "--cache", str(cache), "--warmup", str(warmup)]
    cmd += ["--record"] if record else []
    cmd += ["--out-dir", out_dir] if out_dir else []
    env = {**os.environ, "PYTHONPATH": str(repo)}
    p = subprocess.run([*cmd, "--", *extra], capture_output=True, text=True, env=env, cwd=repo)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (rc {p.returncode}):\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def worktree(rev: str) -> Path:
    sha = subprocess.run(["git", "rev-parse", "--short", rev], capture_output=True, text=True, cwd=REPO,
                         check=True).stdout.strip()
    path = Path(tempfile.gettempdir()) / f"simgen-bench-{sha}"
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), sha], cwd=REPO, check=True,
                       capture_output=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--res", default="640x480", help="comma-separated WxH (default 640x480)")
    ap.add_argument("--variants", default="default", help=f"comma-separated of {', '.join(VARIANTS)}, or all")
    ap.add_argument("--frames", type=int, default=0, help="frames per measurement (default: by resolution)")
    ap.add_argument("--warmup", type=int, default=2, help="first frames left out of the figures")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", default="", help="comma-separated render.workers to measure each at "
                    "(default: the config's, 0 = one per core)")
    ap.add_argument("--against", metavar="REV", help="also measure git revision REV, side by side")
    ap.add_argument("--cache", default=str(Path("/dev/shm" if Path("/dev/shm").is_dir() else tempfile.gettempdir())
                                           / "simgen-ceiling"),
                    help="where the recorded renders are kept (default: on /dev/shm, where the scratch folder is, "
                         "so that a replayed render is a hard link)")
    ap.add_argument("--out-dir", metavar="DIR",
                    help="where each measurement writes its dataset (a fresh folder inside DIR, removed after it; "
                         "default /dev/shm, where fsync costs nothing: give a folder on a disk to count the disk)")
    ap.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)  # the child keeps its dataset (bench_png.py)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--record", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--repo", default=str(REPO), help=argparse.SUPPRESS)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("extra", nargs="*", help="simgen overrides for every measurement (after --)")
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    variants = list(VARIANTS) if args.variants == "all" else args.variants.split(",")
    checkouts = {"now": REPO}
    if args.against:
        checkouts = {args.against: worktree(args.against), "now": REPO}
    print(f"ceiling benchmark: {os.cpu_count()} cores, checkouts {', '.join(f'{k}={v}' for k, v in checkouts.items())}")
    results: dict[tuple, list[dict]] = {}
    for res in args.res.split(","):
        frames = args.frames or FRAMES.get(res, 24)
        for variant in variants:
            if variant not in VARIANTS:
                sys.exit(f"unknown variant {variant!r}: one of {', '.join(VARIANTS)}")
            cache = Path(args.cache) / f"{res}-{scene_set(variant)}-{frames}"
            if not cache.is_dir():
                print(f"recording {frames} frames at {res} ({scene_set(variant)}) into {cache} ...", flush=True)
                spawn(REPO, res, variant if scene_set(variant) == "sequence" else "default", frames, cache,
                      RECORD, record=True)
            for rep in range(args.repeats):
                for workers in args.workers.split(",") if args.workers else [None]:
                    extra = args.extra + ([f"render.workers={workers}"] if workers is not None else [])
                    label = res + (f" workers={workers}" if workers is not None else "")
                    for name, repo in (checkouts.items() if rep % 2 == 0 else reversed(checkouts.items())):
                        r = spawn(repo, res, variant, frames, cache, extra, warmup=args.warmup, out_dir=args.out_dir)
                        results.setdefault((label, variant, name), []).append(r)
                        stages = " ".join(f"{k} {v:.1f}" for k, v in sorted(r["stages_cpu_ms"].items(),
                                                                             key=lambda kv: -kv[1]))
                        end = f", end {r['end_s']:.2f} s" if r.get("end_s") is not None else ""
                        print(f"{label} {variant:10s} {name:>8s}: {r['fps']:6.2f} frames/s, {r['cpu_ms']:6.1f} CPU "
                              f"ms/frame [{stages}], peak RSS {r['peak_rss_mib']:.0f} MiB{end}", flush=True)
    print()
    for (res, variant, name), rs in results.items():
        fps = statistics.median(r["fps"] for r in rs)
        cpu = statistics.median(r["cpu_ms"] for r in rs)
        print(f"ceiling {res} {variant} ({name}): {fps:.1f} frames/s, {cpu:.0f} CPU ms/frame "
              f"(median of {len(rs)}; {min(r['fps'] for r in rs):.1f}-{max(r['fps'] for r in rs):.1f})")


if __name__ == "__main__":
    main()
