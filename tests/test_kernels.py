"""simgen.cli.kernels: ``simgen fit`` and ``simgen study`` have numpy compute with its baseline
kernels, set before numpy loads and inherited by their children; ``KEY=native`` keeps this CPU's;
numpy loaded already (the Python API) keeps them too and says so. Each case runs in a fresh
process, since numpy reads the switch once, when it loads. (That the kernels matter, and that a fit
held at the baseline finds the same best.yaml on a CPU without AVX2: tests/test_fit.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from simgen.cli.kernels import NUMPY_DISPATCH

PROBE = """
import json, os, subprocess, sys
from simgen.cli.kernels import hold_numpy_kernels
{before}
said = hold_numpy_kernels(sys.argv[1:], "study.cpu_kernels")
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
    held = probe("study.seeds=[0]")
    assert "baseline" in held["said"] and held["child"] == NUMPY_DISPATCH
    assert held["avx2"] is False  # on any CPU: AVX2 is above every baseline numpy has
    # over what the environment asked for (a baseline is the same everywhere only when it is whole)
    assert probe(env={"NPY_DISABLE_CPU_FEATURES": "AVX512F"})["child"] == NUMPY_DISPATCH


def test_native_kernels_and_numpy_loaded_before_keep_this_cpus():
    import numpy.core._multiarray_umath as npy

    native = probe("study.cpu_kernels=native")
    assert "study.cpu_kernels=native" in native["said"] and native["child"] == "None"
    late = probe(before="import numpy")
    assert "numpy was loaded before" in late["said"] and late["child"] == "None"
    if npy.__cpu_features__.get("AVX2"):
        assert native["avx2"] and late["avx2"]
    else:
        pytest.skip("this CPU has no AVX2: the native kernels are the baseline's here")
