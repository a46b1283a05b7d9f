"""Shards on a real Slurm cluster (one node on this machine, set up by
scripts/slurm_local.sh): a job array gives the same dataset, file by file, as one process.

Marked ``slurm``: the tests install nothing; they need the cluster up (``sudo bash
scripts/slurm_local.sh up``, as .ci/run does). Without it they are skipped, and fail with
CI=true; ``pytest -m "not slurm"`` leaves them out.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from conftest import SIMGEN, assert_same_dataset, require, simgen_cli, wait_for_frames

pytestmark = [pytest.mark.render, pytest.mark.slurm, pytest.mark.slow]
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
    """A running one-node cluster, set up beforehand by scripts/slurm_local.sh."""
    require("a one-node Slurm cluster", _cluster_up(), "sudo bash scripts/slurm_local.sh up")


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


def _squeue(state: str) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-t", state, "-o", "%i"], capture_output=True, text=True, timeout=30)
    return out.stdout.split()


REQUEUE_SETTLE_S = 5.0
"""How long a requeued job stays pending before the test starts it."""


def test_a_preempted_shard_is_requeued_and_resumes_where_it_stopped(slurm, tmp_path):
    """SIGUSR2 to the running array tasks (what Slurm sends signal_delay_s before the time
    limit, and what submitit takes for preemption): submitit requeues each job and exits; the
    frames rendered so far are written first; the requeued jobs skip them and finish; the
    dataset equals one process's."""
    args = ["frames=24", "render.width=160", "render.height=120", "render.samples=16", "render.device=cpu"]
    one = simgen_cli(*args, f"output.dir={tmp_path / 'one'}", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    out = tmp_path / "many"
    proc = subprocess.Popen([SIMGEN, "-m", *SLURM, "shard.index=range(2)", "shard.count=2", *args,
                             f"output.dir={out}"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    wait_for_frames(out, 3, proc, timeout=120)
    running = _squeue("R")
    assert running
    for job in running:
        subprocess.run(["scancel", "--signal=USR2", job], check=True, timeout=30)
    t1 = time.monotonic()
    requeued: set[str] = set()
    pending_since: dict[str, float] = {}
    while proc.poll() is None and time.monotonic() - t1 < 120:
        now = time.monotonic()
        for job in _squeue("PD"):  # requeued jobs wait ~2 min (BeginTime): start them now, once the killed run
            # is over on the node: started within a second of its requeue, slurmd may refuse the job ("Job
            # credential revoked", seen once in a fresh-clone CI run) and it fails
            if now - pending_since.setdefault(job, now) >= REQUEUE_SETTLE_S:
                subprocess.run(["scontrol", "update", f"jobid={job}", "starttime=now"], check=False, timeout=30)
                requeued.add(job)
        time.sleep(0.5)
    try:
        log, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:  # hung: no launcher left behind for the rest of the suite
            proc.kill()
    assert proc.returncode == 0, log
    assert requeued, "no job was requeued"
    assert_same_dataset(tmp_path / "one", out)
    caught = [p for p in (out / "logs" / "multirun" / ".submitit").rglob("*_log.out")
              if "Caught signal SIGUSR2" in p.read_text()]
    assert caught
    assert len(list((out / "logs").glob("run-*.jsonl"))) > 2  # the requeued shards ran again
