"""Shards as Ray tasks on a local Ray instance (hydra/launcher=ray_local): the same dataset,
file by file, as one process; and a shard whose worker is killed is retried and resumes."""

from __future__ import annotations

import subprocess

import pytest

from conftest import SIMGEN, assert_same_dataset, simgen_cli, wait_for_frames

pytestmark = [pytest.mark.render, pytest.mark.slow]


def test_ray_tasks_equal_one_process(tmp_path):
    args = ["frames=5", "render.width=64", "render.height=48", "render.samples=1", "render.device=cpu",
            "sequence.length=2"]
    one = simgen_cli(*args, f"output.dir={tmp_path / 'one'}", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    many = simgen_cli("-m", "hydra/launcher=ray_local", "shard.index=range(3)", "shard.count=3", *args,
                      f"output.dir={tmp_path / 'many'}", cwd=tmp_path)
    assert many.returncode == 0, many.stdout + many.stderr
    assert_same_dataset(tmp_path / "one", tmp_path / "many")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many", "one"]


def test_a_killed_ray_worker_is_retried_and_its_shard_resumes(tmp_path):
    # long enough shards (12 frames each) for the kill to land in one; few samples: the frames' pixels are not the point
    args = ["frames=24", "render.width=160", "render.height=120", "render.samples=4", "render.device=cpu"]
    one = simgen_cli(*args, f"output.dir={tmp_path / 'one'}", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    out = tmp_path / "many"
    proc = subprocess.Popen([SIMGEN, "-m", "hydra/launcher=ray_local", "shard.index=range(2)", "shard.count=2",
                             *args, f"output.dir={out}"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    wait_for_frames(out, 3, proc, timeout=180)
    killed = subprocess.run(["pkill", "-9", "-f", "ray::_run_job"], timeout=30)
    assert killed.returncode == 0, "no Ray worker was running a shard"
    log, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, log
    assert_same_dataset(tmp_path / "one", out)
    assert len(list((out / "logs").glob("run-*.jsonl"))) > 2  # the killed shards ran again
