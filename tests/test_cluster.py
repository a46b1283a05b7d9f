"""Shards on a real Slurm cluster (one node on this machine, set up by
scripts/slurm_local.sh): a job array gives the same dataset, file by file, as one process.

Marked ``slurm``: CI runs it (it sets the cluster up with apt-get as root); a developer can
leave it out with ``pytest -m "not slurm"``. Without root (and outside CI) it is skipped,
since the cluster cannot be set up.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import assert_same_dataset, simgen_cli

pytestmark = [pytest.mark.render, pytest.mark.slurm]
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "slurm_local.sh"
COMMON = ["frames=6", "render.width=64", "render.height=48", "render.samples=1", "render.device=cpu",
          "sequence.length=2"]
SLURM = ["hydra/launcher=slurm", "hydra.launcher.gpus_per_node=0", "hydra.launcher.cpus_per_task=1",
         "hydra.launcher.mem_gb=1", "hydra.launcher.timeout_min=10", "hydra.launcher.partition=debug"]


def _cluster_up() -> bool:
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and any(s in out.stdout for s in ("idle", "mixed", "allocated"))


@pytest.fixture(scope="module")
def slurm():
    """A running one-node cluster: the one already up, or one set up (and stopped) here."""
    if _cluster_up():
        yield
        return
    if os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip("setting up a one-node Slurm needs root (scripts/slurm_local.sh up)")
    subprocess.run(["bash", str(SCRIPT), "up"], check=True, timeout=900)
    try:
        yield
    finally:
        subprocess.run(["bash", str(SCRIPT), "down"], check=False, timeout=120)


def test_a_slurm_job_array_of_shards_equals_one_process(slurm, tmp_path):
    one = simgen_cli(*COMMON, f"output.dir={tmp_path / 'one'}", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    many = simgen_cli("-m", *SLURM, "shard.index=range(3)", "shard.count=3", *COMMON,
                      f"output.dir={tmp_path / 'many'}", cwd=tmp_path)
    assert many.returncode == 0, many.stdout + many.stderr
    assert_same_dataset(tmp_path / "one", tmp_path / "many")
    # the jobs ran under Slurm: submitit kept each array task's log in the dataset's logs
    logs = list((tmp_path / "many" / "logs" / "multirun" / ".submitit").rglob("*_log.out"))
    assert len(logs) == 3, sorted(p.name for p in logs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many", "one"]
