"""An Optuna study in PostgreSQL shared by two worker processes at once, as `simgen fit` runs
with fit.storage=postgresql+psycopg2://... on a cluster (the server of scripts/postgres_local.sh).

Marked ``postgres``: the test installs nothing; it needs the server up (``sudo bash
scripts/postgres_local.sh up``, as .ci/run does). Without it it is skipped, and fails with
CI=true; ``pytest -m "not postgres"`` leaves it out.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WORKER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url, name, go = sys.argv[1:4]
    study = optuna.load_study(study_name=name, storage=optuna.storages.RDBStorage(url))
    deadline = time.monotonic() + 30
    while not Path(go).exists():  # both workers are loaded: start together
        assert time.monotonic() < deadline, "no go signal"
        time.sleep(0.02)

    def objective(trial):
        trial.set_user_attr("pid", os.getpid())
        x = trial.suggest_float("x", -10, 10)
        time.sleep(0.1)  # the two workers' trials overlap
        return (x - 2) ** 2

    study.optimize(objective, n_trials=3)
""")


def test_two_processes_share_one_study_in_postgres(postgres_url, tmp_path):
    import optuna
    from optuna.trial import TrialState

    storage = optuna.storages.RDBStorage(postgres_url)  # creates Optuna's tables once, here
    name = f"simgen-test-{uuid.uuid4().hex}"
    optuna.create_study(study_name=name, storage=storage, direction="minimize")
    go = tmp_path / "go"
    try:
        workers = [subprocess.Popen([sys.executable, "-c", WORKER, postgres_url, name, str(go)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for _ in range(2)]
        go.touch()
        outs = [w.communicate(timeout=60) for w in workers]  # a hang guard; it takes a few s
        for w, (out, err) in zip(workers, outs):
            assert w.returncode == 0, out + err

        trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
        assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
        assert sorted(t.number for t in trials) == list(range(6))
        pids = [t.user_attrs["pid"] for t in trials]
        assert sorted(pids.count(w.pid) for w in workers) == [3, 3]
    finally:
        optuna.delete_study(study_name=name, storage=storage)
    assert name not in optuna.get_all_study_names(storage)
    storage.engine.dispose()
