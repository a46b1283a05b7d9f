"""The sensors' cost scripts run and print their figures (docs/how-to/sensors.md quotes them): the pure
models alone in the fast tier, every family's runs at a tiny size in the slow one. No time is asserted:
they pass on a machine ten times faster or slower."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_sensors.py"


def bench(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)


def test_the_models_costs_are_printed():
    r = bench("--only", "depth", "events", "--model-only", timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    for line in ("time of flight model at 160x120:", "time of flight model at 640x576:",
                 "event model at 160x120, 8 sub-steps:", "ms per frame"):
        assert line in r.stdout, r.stdout
    bad = bench("--model-only", timeout=60)  # the LiDAR and the rolling shutter have no model-only figure
    assert bad.returncode == 2 and "--model-only times the models of depth and events only" in bad.stderr


@pytest.mark.slow
@pytest.mark.render
def test_every_family_s_runs_are_timed_against_a_plain_run():
    r = bench("--size", "48x32", "--frames", "4", timeout=1200)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    for family in ("== depth", "== lidar", "== rolling_shutter", "== events"):
        assert family in out, out
    for line in ("sensor.depth=azure_kinect_nfov", "sensor.depth=realsense_d435", "with the LiDAR",
                 "plain (global shutter, with flow)", "with sensor.events=true"):
        assert line in out, out
