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


OPENER = textwrap.dedent("""
    import sys, time
    from optuna.storages import RDBStorage
    from simgen.fit.runner import shared_storage

    url, start = sys.argv[1], float(sys.argv[2])
    while time.time() < start:  # both processes open the storage at the same moment
        pass
    shared_storage(lambda: RDBStorage(url))
    print("opened")
""")


def test_workers_that_start_at_once_on_a_new_database_both_open_the_study(postgres_url, tmp_path):
    """Workers started together on a database without Optuna's tables each create them; PostgreSQL
    refuses all but one with a duplicate key (seen here in 5 of 6 rounds of two processes): simgen
    fit tries again and finds the tables there. Each round uses a schema of its own, new and empty."""
    import time

    import sqlalchemy

    engine = sqlalchemy.create_engine(postgres_url)
    for _ in range(3):
        schema = f"race_{uuid.uuid4().hex[:10]}"
        with engine.begin() as c:
            c.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
        try:
            url = f"{postgres_url}?options=-csearch_path%3D{schema}"
            start = time.time() + 3
            ps = [subprocess.Popen([sys.executable, "-c", OPENER, url, str(start)], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True) for _ in range(2)]
            outs = [p.communicate(timeout=120) for p in ps]
            assert [p.returncode for p in ps] == [0, 0], [o[1][-800:] for o in outs]
            assert all(o[0].strip() == "opened" for o in outs)
        finally:
            with engine.begin() as c:
                c.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()
