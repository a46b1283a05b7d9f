#!/usr/bin/env python3
"""Benchmark simgen's frame loop against a bare Cycles render of the same scenes.

    python scripts/bench.py                     # 20 frames, 320x240, 16 samples, no denoiser
    python scripts/bench.py --frames 200        # + the memory-growth check (frame 20 -> 200)
    python scripts/bench.py --order interleaved --frames 60   # paired; for noisy machines
    python scripts/bench.py --out /data/x --keep --order pipeline,bare
    python scripts/bench.py --sequence 8        # sequences of 8 steps: what optical flow adds
    python scripts/bench.py --order interleaved -- render.exact_labels=false   # any simgen override
    python scripts/bench.py --gpu-like --frames 20  # Cycles on 1 thread, 640x480, 1 spp: a GPU node's balance
    python scripts/bench.py --gpu-like -- render.overlap=false   # the same, one frame at a time

The default recipe (the config ``simgen`` composes from ``configs/``, so exactly what
the CLI would run) is rendered for frame indices ``start .. start+frames-1`` twice:

**bare**
    For each index: the same scene as the pipeline (``simgen.pipeline.make_frame_scene``),
    built into the same Blender scene through ``bpy.data`` (``BlenderBackend.build``, which
    also removes what the previous frame created), then ``BlenderBackend.render_bare(seed)``
    with the pipeline's Cycles seed: Combined pass only, ``bpy.ops.render.render()``, nothing
    read back or written. Only that call is timed.

**pipeline**
    The real ``simgen.pipeline.run(settings, config)`` into a fresh output folder (a new
    folder under /dev/shm when it exists, else the system temp dir; or ``--out``), with the
    default outputs (previews off unless ``-- output.previews=true``). Per-frame wall time is taken between consecutive
    ``Hooks.frame_done`` calls (the first interval starts at ``Hooks.loop_started``, right
    before the frame loop), so a frame's time covers everything the loop does: scene sampling,
    ``build``, the render with all passes + the EXR written by Blender, the EXR read, labels,
    COCO, meshes, every file and preview. The start-up before the loop (importing bpy,
    factory settings, device probing, catalog validation) is excluded. The end-of-run work
    after the loop (the COCO index of the new frames, coco.json streamed from it, ``dataset.json``, closing the
    backend) is excluded from the per-frame figure too, but measured and printed separately,
    with the ratio it would give if amortized over the frames.

Warm-up: the first ``--warmup`` (default 2) frames of *each* pass are rendered but left out
of both timings (first-render kernel/setup costs, first-time mesh conversion and model
export). Both passes therefore time the same ``frames - warmup`` scenes.

Each pass runs in its own fresh Python process (this script re-invokes itself), one after
the other (``--order``, default bare first), so neither inherits the other's Blender state,
caches or peak RSS; the per-process start-up is outside both timings. ``--order interleaved``
instead runs one pipeline process in which every scene the pipeline builds is also rendered
bare, alternately just before and just after its real render (with ``render.overlap``, always
just after); that bare render is timed on
its own and subtracted from the pipeline's frame time; before it, the pipeline's worker
thread (``render.overlap``) finishes its backlog (``Worker.drain``; that wait counts as
pipeline time), so the bare render runs alone and the worker cannot catch up during it. It pairs the two measurements a few
seconds apart, which matters on a shared or virtual machine whose speed drifts by 10-20 %
over minutes (frame-to-frame ratios of a sequential run then swing from 0.85 to 1.4 with no
other process running); its RSS figures are those of the combined process.

``--gpu-like`` (what a GPU node sees): render.threads=1, 640x480, 1 sample, interleaved, and in
each child every thread is pinned to the first core before Blender starts, so Blender's later
threads inherit it; the pipeline's worker thread moves to the other cores on its first frame.
Cycles with render.threads=1 keeps a second thread busy-waiting beside its render thread
(2.0 CPU-s per second of render on 2 cores; the same render time when both share one core), so
without pinning the core meant to be free is not.

``seconds per frame`` = the sum of the measured frames' times / their number (the mean);
medians are printed too, and a 95 % bootstrap interval of the ratio (frames resampled, the
two times of a frame kept together). The CPU time of each pass (all threads) and the CPU
used by *other* processes / stolen by the hypervisor during each pass are printed so that a
disturbed run can be recognised. The last line is
``overhead_ratio=<pipeline mean / bare mean>`` (target <= 1.10).

Memory: after every frame each pass samples the current RSS (``VmRSS`` in /proc/self/status)
and the peak (``resource.getrusage(RUSAGE_SELF).ru_maxrss``). Printed after frame 20 (counted
from the first rendered frame, warm-up included), after frame 200 when reached, and after the
last frame, with the growth from frame 20 to the last frame (target < 5 % at --frames 200).

Stage timings of the pipeline pass come from the pipeline's own hooks
(``simgen.pipeline.Hooks``: every stage of ``simgen.pipeline.STAGES`` is called through them,
a perf_counter pair per call): they are printed as ms/frame over the measured frames. With
``render.overlap`` (the default) the read .. write stages run on a worker thread while the
next frame renders, so they overlap the render and do not add up to the wall time. The
script stops if a stage it prints is missing from the pipeline, so a renamed stage cannot
silently read as zero.
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RSS_CHECKPOINTS = (20, 200)


# ----------------------------------------------------------------------------- helpers

def rss_now_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def rss_peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def system_jiffies() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine so far, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return 0.0, 0.0
    hz = os.sysconf("SC_CLK_TCK")
    busy = v[0] + v[1] + v[2] + v[5] + v[6]  # user nice system irq softirq
    return busy / hz, (v[7] if len(v) > 7 else 0) / hz


def cpu_s() -> float:
    """User + system CPU seconds of this process, every thread included (Cycles' too), from the
    process's CPU clock (nanoseconds; ``os.times`` counts 10 ms ticks, less than a tiny frame)."""
    return time.process_time()


BELOW_RESOLUTION = "below the clock's resolution"


def quotient(num: float, den: float, what: str, spec: str = ".3f") -> str:
    """``num / den`` formatted with ``spec``, where ``den`` is a measured time; where it is 0 (a
    clock that did not tick during a tiny frame), ``n/a (WHAT is below the clock's resolution)``
    instead: no figure is divided by a time that was not measured."""
    if den > 0:
        return format(num / den, spec)
    return f"n/a ({what} is {BELOW_RESOLUTION})"


def pin_render_core() -> set[int] | None:
    """--gpu-like: put every thread of this process, and so every thread Blender starts later, on
    the first allowed core; return the other cores, for the pipeline's worker thread (None when
    there is only one core). With render.threads=1 Cycles keeps a second thread busy-waiting
    beside its render thread (measured: 2.0 CPU-s per s of render on 2 cores, the same render
    wall time when both share one core), so without pinning the "free" core is not free."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), {cores[0]})
        except OSError:  # a thread that just ended
            pass
    return set(cores[1:])


def compose_settings(args: argparse.Namespace, out_dir: str):
    """The CLI's default config with the benchmark's overrides -> (Settings, config dict)."""
    from omegaconf import OmegaConf

    from simgen.compose.store import compose
    from simgen.compose.settings import to_settings

    overrides = [
        f"seed={args.seed}", f"start={args.start}", f"frames={args.frames}",
        f"render.width={args.width}", f"render.height={args.height}", f"render.samples={args.samples}",
        "render.denoise=false", f"render.device={args.device}", "render.recycle_every=0",  # hooks need one process
        f"output.dir={out_dir}", f"scene={args.scene}", f"sequence.length={max(args.sequence, 1)}",
        f"output.labels=[{args.labels}]", *args.overrides,
    ]
    cfg = compose(overrides)  # as simgen composes it (its config groups registered)
    return to_settings(cfg), OmegaConf.to_container(cfg, resolve=True)


# ----------------------------------------------------------------------------- child passes

def child_bare(args: argparse.Namespace) -> dict:
    from simgen.pipeline import catalog_for, load_recipe, make_frame_scene
    from simgen.sampling.random import render_seed

    if args._pin:
        pin_render_core()
    settings, _ = compose_settings(args, args.out or "/nonexistent-unused")
    recipe = load_recipe(settings.scene.recipe)
    catalog = catalog_for(settings)
    from simgen.blender import BlenderBackend

    backend = BlenderBackend(settings.render)
    render_s, other_s, cpu, rss, peak = [], [], [], [], []
    try:
        for index in range(settings.start, settings.start + settings.frames):
            t0 = time.perf_counter()
            scene = make_frame_scene(recipe, settings, catalog, index)
            backend.build(scene)
            t1 = time.perf_counter()
            c0 = cpu_s()
            dt = backend.render_bare(seed=render_seed(settings.seed, index))
            cpu.append(cpu_s() - c0)
            render_s.append(dt)
            other_s.append(t1 - t0)
            rss.append(rss_now_kib())
            peak.append(rss_peak_kib())
    finally:
        device = backend.device
        backend.close()
    return {"frame_s": render_s, "cpu_s": cpu, "scene_build_s": other_s, "rss_kib": rss, "peak_kib": peak,
            "device": device}


def child_pipeline(args: argparse.Namespace) -> dict:
    from simgen import pipeline
    from simgen.sampling.random import render_seed

    worker_cores = pin_render_core() if args._pin else None
    settings, config = compose_settings(args, args.out)

    class BenchHooks(pipeline.StageTimes):
        """Per-stage times (StageTimes), frame stamps, RSS, and with --order interleaved a bare
        render of each scene beside its real render, timed on its own and excluded."""

        def __init__(self) -> None:
            super().__init__()
            self.stamps: list[float] = []
            self.cpu_stamps: list[float] = []
            self.excluded: list[list[float]] = [[0.0, 0.0]]  # per frame: wall, cpu of interleaved bare renders
            self.bare_s: list[float] = []
            self.bare_cpu: list[float] = []
            self.rss: list[int] = []
            self.peak: list[int] = []
            self.loop = self.backend = None

        def loop_started(self, loop, todo) -> None:
            self.loop, self.backend = loop, loop.backend
            self.cpu_stamps.append(cpu_s())
            self.stamps.append(time.perf_counter())  # the loop starts right after this

        def wrap(self, stage: str, fn):
            timed = super().wrap(stage, fn)
            if stage == "read" and worker_cores and settings.render.overlap:
                def pinned_read(*a):  # first worker stage: move the worker thread off the render core
                    if threading.current_thread() is not threading.main_thread():
                        os.sched_setaffinity(0, worker_cores)
                    return timed(*a)
                return pinned_read
            if stage != "render" or not args._interleave:
                return timed

            def bare_then_render(*a):
                def bare() -> None:
                    # alone: the worker's backlog is finished first (and counted as pipeline
                    # time), so it can neither slow the bare render nor catch up during it
                    self.loop.worker.drain()
                    t0, c0 = time.perf_counter(), cpu_s()
                    self.bare_s.append(self.backend.render_bare(render_seed(settings.seed, a[0])))
                    self.bare_cpu.append(cpu_s() - c0)
                    self.excluded[-1][0] += time.perf_counter() - t0
                    self.excluded[-1][1] += cpu_s() - c0

                # alternate: bare before the real render, then after; with render.overlap always
                # after (a bare render before it would first wait for the whole of the previous
                # frame's worker time, which the real loop overlaps with this render)
                first = len(self.bare_s) % 2 == 0 and not settings.render.overlap
                if first:
                    bare()
                raw = timed(*a)
                if not first:
                    bare()
                return raw
            return bare_then_render

        def frame_done(self, index: int, times: dict) -> None:
            super().frame_done(index, times)
            self.stamps.append(time.perf_counter())
            self.cpu_stamps.append(cpu_s())
            self.excluded.append([0.0, 0.0])
            self.rss.append(rss_now_kib())
            self.peak.append(rss_peak_kib())

    missing = set(STAGES_SHOWN) - set(pipeline.STAGES)
    if missing:  # a renamed stage must not silently read as 0 ms
        raise SystemExit(f"bench: the pipeline has no stage(s) {sorted(missing)}; its stages are {pipeline.STAGES}")
    hooks = BenchHooks()
    t_run0 = time.perf_counter()
    summary = pipeline.run(settings, config, hooks)
    t_run1 = time.perf_counter()
    stamps = hooks.stamps
    device = json.loads((Path(settings.output.dir) / "dataset.json").read_text()).get("device")
    frame_s = [b - a - x[0] for a, b, x in zip(stamps, stamps[1:], hooks.excluded)]
    frame_cpu = [b - a - x[1] for a, b, x in zip(hooks.cpu_stamps, hooks.cpu_stamps[1:], hooks.excluded)]
    return {
        "frame_s": frame_s,
        "cpu_s": frame_cpu,
        "bare_s": hooks.bare_s,
        "bare_cpu_s": hooks.bare_cpu,
        "device": device,
        "recipe": settings.scene.recipe,
        "overlap": settings.render.overlap,
        "previews": settings.output.previews,
        "stages": hooks.frames,
        "startup_s": stamps[0] - t_run0 if stamps else None,
        "finalize_s": t_run1 - stamps[-1] if stamps else None,
        "rss_kib": hooks.rss, "peak_kib": hooks.peak,
        "rendered": len(summary.rendered), "images": summary.images, "annotations": summary.annotations,
    }


# ----------------------------------------------------------------------------- parent

def run_child(kind: str, args: argparse.Namespace, out_dir: str | None) -> dict:
    fd, result = tempfile.mkstemp(prefix=f"simgen-bench-{kind}-", suffix=".json")
    os.close(fd)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_child", kind, "--_result", result,
           "--frames", str(args.frames), "--width", str(args.width), "--height", str(args.height),
           "--samples", str(args.samples), "--seed", str(args.seed), "--start", str(args.start),
           "--warmup", str(args.warmup), "--device", args.device, "--scene", args.scene,
           "--sequence", str(args.sequence), "--labels", args.labels]
    if kind == "pipeline" and args.order == "interleaved":
        cmd.append("--_interleave")
    if args.gpu_like:
        cmd.append("--_pin")
    if out_dir:
        cmd += ["--out", out_dir]
    cmd += ["--", *args.overrides]
    print(f"[{time.strftime('%H:%M:%S')}] {kind} pass: {args.frames} frames ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, check=False, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        if p.returncode != 0:
            sys.stderr.write(p.stdout[-6000:])
            raise SystemExit(f"bench: the {kind} pass failed with exit status {p.returncode}")
        with open(result) as f:
            data = json.load(f)
    finally:
        os.unlink(result)
    data["process_s"] = time.perf_counter() - t0
    if args.verbose:
        sys.stderr.write(p.stdout)
    return data


def ratio_ci(pipe: list[float], bare: list[float], reps: int = 4000, seed: int = 0) -> tuple[float, float] | None:
    """95 % bootstrap interval of mean(pipe) / mean(bare), resampling frames (both passes render the
    same scenes, so a frame's two times stay paired); None where a bare frame's time is 0."""
    import random

    if min(bare) <= 0:  # a frame's time below the clock's resolution: a resample could divide by 0
        return None
    rnd, n, ratios = random.Random(seed), len(pipe), []
    for _ in range(reps):
        idx = [rnd.randrange(n) for _ in range(n)]
        ratios.append(sum(pipe[i] for i in idx) / sum(bare[i] for i in idx))
    ratios.sort()
    return ratios[int(0.025 * reps)], ratios[int(0.975 * reps) - 1]


def summarize(xs: list[float]) -> dict:
    return {"n": len(xs), "mean": statistics.fmean(xs), "median": statistics.median(xs),
            "min": min(xs), "max": max(xs), "stdev": statistics.stdev(xs) if len(xs) > 1 else 0.0}


def fmt_stats(s: dict) -> str:
    return (f"mean {s['mean']:.3f} s/frame  median {s['median']:.3f}  min {s['min']:.3f}  "
            f"max {s['max']:.3f}  stdev {s['stdev']:.3f}  (n={s['n']})")


def memory_lines(label: str, d: dict) -> list[str]:
    rss, peak = d["rss_kib"], d["peak_kib"]
    n = len(rss)
    marks = sorted({c for c in RSS_CHECKPOINTS if c <= n} | {n})
    mib = lambda k: k / 1024.0
    parts = [f"after frame {m}: rss {mib(rss[m - 1]):.1f} MiB, peak {mib(peak[m - 1]):.1f} MiB" for m in marks]
    lines = [f"  {label:8s} " + " | ".join(parts)]
    label = " " * len(label)
    first = min(RSS_CHECKPOINTS[0], n)
    if n > first:
        g_rss = 100.0 * (rss[n - 1] - rss[first - 1]) / rss[first - 1]
        g_peak = 100.0 * (peak[n - 1] - peak[first - 1]) / peak[first - 1]
        lines.append(f"  {label:8s} growth frame {first} -> {n}: rss {g_rss:+.2f} %, peak {g_peak:+.2f} %"
                     f"  (target < 5 %)")
    return lines


STAGES_SHOWN = {
    "sample": "scene sampling (recipe, per sequence)",
    "settle": "physics settling (scene.placement=physics, per sequence)",
    "build": "build the scene in Blender",
    "render": "render (Cycles, all passes, EXR written)",
    "read": "read the EXR back",
    "labels": "labels (passes -> maps, COCO, optional kinds, meta)",
    "flow": "flow (computed and written; sequences only)",
    "write": "write (data files, models, previews, meta)",
}
"""The pipeline stages printed (simgen.pipeline.STAGES), with what each covers."""


def stage_lines(frames: list[dict[str, float]], frame_s: list[float], overlap: bool) -> list[str]:
    from simgen.pipeline import PRODUCER_STAGES

    n = len(frames)
    mean = lambda k: 1000.0 * sum(f.get(k, 0.0) for f in frames) / n
    wall = 1000.0 * sum(frame_s) / n
    lines = [f"  {text:52s} {mean(stage):8.1f} ms" for stage, text in STAGES_SHOWN.items()]
    producer = sum(mean(k) for k in STAGES_SHOWN if k in PRODUCER_STAGES)
    worker = sum(mean(k) for k in STAGES_SHOWN if k not in PRODUCER_STAGES)
    if overlap:
        lines.append(f"  {'render thread (sample .. render)':52s} {producer:8.1f} ms")
        lines.append(f"  {'worker thread (read .. write), overlapping it':52s} {worker:8.1f} ms")
    else:
        lines.append(f"  {'rest of the loop (untimed glue)':52s} {wall - producer - worker:8.1f} ms")
    lines.append(f"  {'= frame wall time':52s} {wall:8.1f} ms")
    lines.append(f"  wall - render per frame: {wall - mean('render'):.1f} ms")
    return lines


def report(args: argparse.Namespace, results: dict[str, dict], load: dict[str, tuple[float, float]],
           out: Path) -> list[str]:
    """The lines printed: the figures of both passes (``results``, as the children wrote them), the
    other load during each (``load``) and the output folder ``out``. Every ratio of a measured time
    goes through :func:`quotient`, so a time below its clock's resolution reads as such."""
    pipe = results["pipeline"]
    if args.order == "interleaved":
        bare = {"frame_s": pipe["bare_s"], "cpu_s": pipe["bare_cpu_s"], "device": pipe["device"]}
    else:
        bare = results["bare"]
    w = args.warmup
    b_s, p_s = summarize(bare["frame_s"][w:]), summarize(pipe["frame_s"][w:])
    pairs = list(zip(pipe["frame_s"][w:], bare["frame_s"][w:]))
    paired = (f"{statistics.median(p / b for p, b in pairs):.3f}" if all(b > 0 for _, b in pairs)
              else f"n/a (a bare frame's time is {BELOW_RESOLUTION})")
    b_cpu, p_cpu = statistics.fmean(bare["cpu_s"][w:]), statistics.fmean(pipe["cpu_s"][w:])
    measured = args.frames - w
    ncpu = os.cpu_count()
    lines = [
        (f"simgen bench: recipe={pipe['recipe']} {args.width}x{args.height} samples={args.samples} denoise=off "
        f"device={bare['device']} cpus={ncpu} seed={args.seed} output.labels=[{args.labels}]"),
        (f"frames: {args.frames} per pass (indices {args.start}..{args.start + args.frames - 1}), "
        f"first {w} = warm-up, {measured} measured; order {args.order}"
        + ("; gpu-like: render.threads=1, Blender pinned to one core, the worker thread to the others"
           if args.gpu_like else "")),
        f"output: {out} (previews {'on' if pipe['previews'] else 'off'}){' kept' if args.keep else ', removed'}",
        "other load during each pass (CPUs busy with other processes / stolen by the hypervisor): "
        + ", ".join(f"{k} {a:.2f}/{b:.2f}" for k, (a, b) in load.items())
        + "  (should be ~0 for trustworthy figures)",
        f"bare     (render_bare: Cycles, Combined only)  {fmt_stats(b_s)}",
    ]
    if "scene_build_s" in bare:
        lines.append(f"         + scene sampling and build, outside the timing: "
                     f"{1000 * statistics.fmean(bare['scene_build_s'][w:]):.1f} ms/frame")
    lines += [
        f"pipeline (simgen.pipeline.run, loop wall time) {fmt_stats(p_s)}",
        (f"         start-up before the loop {pipe['startup_s']:.2f} s, end of run (index, coco.json, dataset.json, "
        f"close) {pipe['finalize_s']:.3f} s = {1000 * pipe['finalize_s'] / args.frames:.1f} ms/frame amortized"),
        f"         wrote {pipe['rendered']} frames, {pipe['images']} COCO images, {pipe['annotations']} annotations",
        (f"CPU s/frame (all threads): bare {b_cpu:.3f} (= {quotient(b_cpu, b_s['mean'], 'its time', '.2f')} cores "
         f"busy during the render), pipeline {p_cpu:.3f} (= {quotient(p_cpu, p_s['mean'], 'its time', '.2f')} cores); "
         f"cpu ratio {quotient(p_cpu, b_cpu, 'the bare CPU time per frame')}"),
        "pipeline stages (mean ms/frame over the measured frames):",
        *stage_lines(pipe["stages"][w:], pipe["frame_s"][w:], pipe["overlap"]),
        "memory (VmRSS now / ru_maxrss peak, per process):",
    ]
    if args.order == "interleaved":
        lines += memory_lines("pipeline+bare", pipe)
    else:
        lines += memory_lines("bare", bare) + memory_lines("pipeline", pipe)
    ci = ratio_ci(pipe["frame_s"][w:], bare["frame_s"][w:])
    if args.sequence > 1:
        flow_s = [f.get("flow", 0.0) for f in pipe["stages"][w:]]
        with_flow = statistics.fmean(pipe["frame_s"][w:])
        without = with_flow - statistics.fmean(flow_s)
        lines += [
            (f"flow (sequence.length={args.sequence}): with flow {with_flow:.3f} s/frame, without "
             f"{without:.3f} s/frame (the flow stage: {1000 * statistics.fmean(flow_s):.1f} ms/frame)"),
            f"flow_ratio={quotient(with_flow, without, 'the time without flow')}  (target < 1.10)",
        ]
    lines += [
        ("overhead: 95 % bootstrap interval of the ratio "
         + (f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"n/a (a bare frame's time is {BELOW_RESOLUTION})")
         + " (paired by frame)"),
        (f"overhead: ratio of medians {quotient(p_s['median'], b_s['median'], 'the bare median')}, median of "
         f"per-frame ratios {paired}, mean incl. amortized end of run "
         f"{quotient(p_s['mean'] + pipe['finalize_s'] / args.frames, b_s['mean'], 'the bare mean')}"
         "  (target <= 1.10)"),
        f"overhead_ratio={quotient(p_s['mean'], b_s['mean'], 'the bare mean')}",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=20, help="frames rendered per pass, warm-up included (default 20)")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=int, default=0, help="first frame index (default 0)")
    ap.add_argument("--warmup", type=int, default=2, help="first frames of each pass left out of the timing (default 2)")
    ap.add_argument("--device", default="auto", help="render.device (default auto, as the CLI)")
    ap.add_argument("--out", help="dataset folder of the pipeline pass (must not hold a dataset); "
                                  "default: a fresh folder under /dev/shm (or the temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the pipeline's output folder")
    ap.add_argument("--order", default="bare,pipeline", choices=["bare,pipeline", "pipeline,bare", "interleaved"],
                    help="run the passes one after the other in two processes (default bare first), or "
                         "interleaved: one process, each scene built by the pipeline is also rendered bare "
                         "(alternately just before and just after its real render), which pairs the two "
                         "measurements frame by frame on a machine with varying load")
    ap.add_argument("--scene", default="tabletop", help="scene recipe (config option of the scene group)")
    ap.add_argument("--labels", default="", metavar="K1,K2",
                    help="optional label kinds to write (output.labels), e.g. visibility,amodal; their cost "
                         "shows in the labels and write stages")
    ap.add_argument("--sequence", type=int, default=0, metavar="L",
                    help="render sequences of L steps (sequence.length=L) and report what optical flow costs: "
                         "seconds per frame with flow (measured) and without it (the same frames minus the "
                         "measured flow stages), and flow_ratio")
    ap.add_argument("--gpu-like", action="store_true",
                    help="what a GPU node sees: Cycles on one CPU thread (render.threads=1) with every Blender "
                         "thread pinned to the first core and the pipeline's worker thread to the others "
                         "(free, as a GPU node's CPU is mostly idle), 640x480, 1 sample, interleaved, so "
                         "that rendering and the CPU work around it cost about the same")
    ap.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                    help="more simgen config overrides, as on the simgen command line (after --), "
                         "e.g. -- render.threads=1 render.exact_labels=false")
    ap.add_argument("--json", help="also write every raw measurement to this JSON file")
    ap.add_argument("--verbose", action="store_true", help="show the child processes' output")
    ap.add_argument("--_child", choices=["bare", "pipeline"], help=argparse.SUPPRESS)
    ap.add_argument("--_result", help=argparse.SUPPRESS)
    ap.add_argument("--_interleave", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--_pin", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.gpu_like and not args._child:
        args.width, args.height, args.samples, args.order = 640, 480, 1, "interleaved"
        args.overrides = ["render.threads=1", *args.overrides]
    if args._child:
        sys.path.insert(0, str(REPO))
        data = child_bare(args) if args._child == "bare" else child_pipeline(args)
        with open(args._result, "w") as f:
            json.dump(data, f)
        return 0

    if args.frames <= args.warmup or args.warmup < 0:
        ap.error(f"--frames ({args.frames}) must be larger than --warmup ({args.warmup}) >= 0")

    created = False
    if args.out:
        out = Path(args.out).expanduser().resolve()
        if out.exists() and any(out.iterdir()):
            ap.error(f"--out {out} is not empty; the pipeline would skip frames already on disk")
        created = not out.exists()
    else:
        shm = Path("/dev/shm")
        base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
        out = Path(tempfile.mkdtemp(prefix="simgen-bench-", dir=base))
        created = True

    results: dict[str, dict] = {}
    load = {}
    try:
        for kind in ["pipeline"] if args.order == "interleaved" else args.order.split(","):
            (busy0, steal0), child0 = system_jiffies(), resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.monotonic()
            results[kind] = run_child(kind, args, str(out) if kind == "pipeline" else None)
            (busy1, steal1), child1 = system_jiffies(), resource.getrusage(resource.RUSAGE_CHILDREN)
            t1 = time.monotonic()
            own = (child1.ru_utime + child1.ru_stime) - (child0.ru_utime + child0.ru_stime)
            load[kind] = ((busy1 - busy0 - own) / (t1 - t0), (steal1 - steal0) / (t1 - t0))
    finally:
        if created and not args.keep:
            shutil.rmtree(out, ignore_errors=True)

    lines = report(args, results, load, out)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": {k: v for k, v in vars(args).items() if not k.startswith("_")},
                                               "results": results}, indent=1))
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
