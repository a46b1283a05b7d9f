"""numpy's kernels held at the baseline: ``simgen fit`` sets the switch before numpy loads and its
children inherit it (simgen.cli.kernels), ``fit.cpu_kernels=native`` keeps this CPU's, numpy loaded
already (the Python API) keeps them too and says so; each case in a fresh process, since numpy
reads the switch once, when it loads. A study sets it for the children it starts, from its
study.cpu_kernels, and puts the environment back after (simgen.child_processes.children_numpy_kernels).
(That the kernels matter, and that a fit held at the baseline finds the same best.yaml on a CPU
without AVX2: tests/test_fit.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

import pytest

from simgen.child_processes import NUMPY_DISPATCH, child_env, children_numpy_kernels

PROBE = """
import json, os, subprocess, sys
from simgen.cli.kernels import hold_numpy_kernels
{before}
said = hold_numpy_kernels(sys.argv[1:])
import numpy.core._multiarray_umath as npy
child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('NPY_DISABLE_CPU_FEATURES'))"],
                       capture_output=True, text=True).stdout.strip()
print(json.dumps({{"said": said, "avx2": bool(npy.__cpu_features__.get("AVX2")), "child": child,
                   "baseline": npy.__cpu_baseline__}}))
"""


def probe(*argv: str, before: str = "", env: dict | None = None) -> dict:
    clean = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
    r = subprocess.run([sys.executable, "-c", PROBE.format(before=before), *argv], capture_output=True, text=True,
                       env={**clean, **(env or {})}, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_the_baseline_is_held_before_numpy_loads_and_children_inherit_it():
    held = probe("fit.trials=3")
    assert "baseline" in held["said"] and held["child"] == NUMPY_DISPATCH
    assert held["avx2"] is False  # on any CPU: AVX2 is above every baseline numpy has
    # over what the environment asked for (a baseline is the same everywhere only when it is whole)
    assert probe(env={"NPY_DISABLE_CPU_FEATURES": "AVX512F"})["child"] == NUMPY_DISPATCH


def test_native_kernels_and_numpy_loaded_before_keep_this_cpus():
    import numpy.core._multiarray_umath as npy

    native = probe("fit.cpu_kernels='native'")  # quoted as a shell or Hydra user may
    assert "fit.cpu_kernels=native" in native["said"] and native["child"] == "None"
    late = probe(before="import numpy")
    assert "numpy was loaded before" in late["said"] and late["child"] == "None"
    if npy.__cpu_features__.get("AVX2"):
        assert native["avx2"] and late["avx2"]
    else:
        pytest.skip("this CPU has no AVX2: the native kernels are the baseline's here")


def test_a_studys_children_get_its_kernels_and_the_environment_is_put_back(monkeypatch):
    monkeypatch.delenv("NPY_DISABLE_CPU_FEATURES", raising=False)
    with children_numpy_kernels(True):
        assert child_env()["NPY_DISABLE_CPU_FEATURES"] == NUMPY_DISPATCH
    assert "NPY_DISABLE_CPU_FEATURES" not in child_env()
    monkeypatch.setenv("NPY_DISABLE_CPU_FEATURES", NUMPY_DISPATCH)  # a fit's, for a study it runs (objective ap)
    with children_numpy_kernels(False):
        assert "NPY_DISABLE_CPU_FEATURES" not in child_env()
    assert child_env()["NPY_DISABLE_CPU_FEATURES"] == NUMPY_DISPATCH
    monkeypatch.setenv("NPY_DISABLE_CPU_FEATURES", "AVX512F")  # the user's own is kept with native
    with children_numpy_kernels(False):
        assert child_env()["NPY_DISABLE_CPU_FEATURES"] == "AVX512F"


def test_run_study_renders_and_trains_with_the_studys_kernels(monkeypatch, tmp_path):
    """run_study's work (every render and training run) happens inside children_numpy_kernels."""
    import simgen.experiment.runner as runner

    seen = []
    monkeypatch.delenv("NPY_DISABLE_CPU_FEATURES", raising=False)
    monkeypatch.setattr(runner, "_run_study", lambda *a: seen.append(os.environ.get("NPY_DISABLE_CPU_FEATURES")))
    for value in ("baseline", "native"):
        runner.run_study(types.SimpleNamespace(cpu_kernels=value), [], name="s")
    assert seen == [NUMPY_DISPATCH, None] and "NPY_DISABLE_CPU_FEATURES" not in os.environ
