"""scripts/bench.py's report never divides by a measured time that is 0: at a few tiny frames a
pass's time per frame can be below its clock's resolution, and the report says so in place of
the figure (the command the docs show runs at 3 tiny frames in test_docs.py)."""

import argparse
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_script", ROOT / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def args(**kw) -> argparse.Namespace:
    base = dict(order="interleaved", warmup=1, frames=3, width=64, height=48, samples=1, seed=0, start=0,
                labels="", gpu_like=False, keep=False, sequence=0)
    return argparse.Namespace(**{**base, **kw})


def pipeline_pass(bench, frame_s: list[float], bare_s: list[float], bare_cpu: list[float]) -> dict:
    """What the pipeline child writes, with the times given (three frames, the first a warm-up)."""
    n = len(frame_s)
    return {"frame_s": frame_s, "cpu_s": [0.02] * n, "bare_s": bare_s, "bare_cpu_s": bare_cpu,
            "device": "CPU", "recipe": "tabletop", "overlap": True, "previews": False,
            "stages": [{stage: 0.001 for stage in bench.STAGES_SHOWN} for _ in range(n)],
            "startup_s": 1.0, "finalize_s": 0.05, "rss_kib": [400_000] * n, "peak_kib": [410_000] * n,
            "rendered": n, "images": n, "annotations": 3 * n}


def test_quotient_says_a_zero_time_is_below_the_clocks_resolution(bench):
    assert bench.quotient(3.0, 2.0, "the bare time") == "1.500"
    assert bench.quotient(3.0, 2.0, "the bare time", ".1f") == "1.5"
    assert bench.quotient(3.0, 0.0, "the bare time") == "n/a (the bare time is below the clock's resolution)"


def test_a_bare_cpu_time_of_zero_is_reported_not_divided_by(bench):
    """The case that failed 2 runs in 3: the bare render's CPU time per frame is 0 at 64x48, 1 sample."""
    pipe = pipeline_pass(bench, [0.05, 0.04, 0.05], [0.03, 0.02, 0.03], [0.0, 0.0, 0.0])
    lines = bench.report(args(), {"pipeline": pipe}, {"pipeline": (0.0, 0.0)}, Path("/dev/shm/x"))
    [cpu] = [line for line in lines if line.startswith("CPU s/frame")]
    assert "cpu ratio n/a (the bare CPU time per frame is below the clock's resolution)" in cpu
    assert "bare 0.000 (= 0.00 cores" in cpu  # a zero numerator is a figure: 0 cores
    assert lines[-1] == "overhead_ratio=1.800"  # (0.04 + 0.05) / (0.02 + 0.03): the wall times are measured


def test_every_figure_of_zero_bare_times_is_reported(bench):
    """Every bare time 0 (wall and CPU, both passes run one after the other, with flow): no
    exception, and each ratio of a bare time says why it has no figure."""
    pipe = pipeline_pass(bench, [0.05, 0.04, 0.04], [], [])
    bare = {"frame_s": [0.0] * 3, "cpu_s": [0.0] * 3, "scene_build_s": [0.01] * 3, "device": "CPU",
            "rss_kib": [300_000] * 3, "peak_kib": [310_000] * 3}
    pipe["stages"] = [{**s, "flow": 0.04} for s in pipe["stages"]]  # the flow stage takes the whole frame
    lines = bench.report(args(order="bare,pipeline", sequence=2), {"bare": bare, "pipeline": pipe},
                         {"bare": (0.0, 0.0), "pipeline": (0.0, 0.0)}, Path("/dev/shm/x"))
    text = "\n".join(lines)
    assert "bare 0.000 (= n/a (its time is below the clock's resolution) cores" in text
    assert "flow_ratio=n/a (the time without flow is below the clock's resolution)" in text
    assert "interval of the ratio n/a (a bare frame's time is below the clock's resolution)" in text
    assert "ratio of medians n/a (the bare median is below the clock's resolution)" in text
    assert "median of per-frame ratios n/a (a bare frame's time is below the clock's resolution)" in text
    assert lines[-1] == "overhead_ratio=n/a (the bare mean is below the clock's resolution)"
