"""numpy's vector kernels held at the CPU architecture's baseline for the commands whose results
are compared across machines (``simgen fit``, ``simgen study``): numpy's transcendental functions
(exp, log, power, sin, ...) round differently with AVX2 or AVX-512 than without, and those last
bits moved a fit's choices and a few pixels of a study's renders from one CPU to another. The
switch is numpy's own NPY_DISABLE_CPU_FEATURES, read when numpy loads, so it is set before
anything loads numpy, and the command's child processes (renders, training) inherit it."""

from __future__ import annotations

import os
import sys

NUMPY_DISPATCH = ("SSSE3 SSE41 POPCNT SSE42 AVX F16C FMA3 AVX2 AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX "
                  "AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR VSX2 VSX3 VSX4 ASIMDHP ASIMDDP ASIMDFHM SVE")
"""numpy's dispatched vector extensions above each architecture's baseline (x86-64, POWER, ARM64):
NPY_DISABLE_CPU_FEATURES set to them leaves the baseline's kernels (numpy ignores the names of
other architectures)."""


def hold_numpy_kernels(argv: list[str], key: str) -> str:
    """Have numpy compute with its baseline kernels in this process and its children, unless the
    command line says ``KEY=native`` (``key``: fit.cpu_kernels, study.cpu_kernels), by setting
    NPY_DISABLE_CPU_FEATURES (over a value the environment has) before numpy loads. Returns what the
    command computes with, for its log: with ``KEY=native`` this CPU's (less what the environment's
    NPY_DISABLE_CPU_FEATURES takes away), and with numpy loaded already (the Python API, a served
    command) this CPU's too."""
    if any(a.replace(" ", "") == f"{key}=native" for a in argv):
        return f"this CPU's ({key}=native)"
    if "numpy" in sys.modules and os.environ.get("NPY_DISABLE_CPU_FEATURES") != NUMPY_DISPATCH:
        return ("this CPU's: numpy was loaded before the command began (to compute as on every CPU, set "
                f"NPY_DISABLE_CPU_FEATURES='{NUMPY_DISPATCH}' before Python starts)")
    os.environ["NPY_DISABLE_CPU_FEATURES"] = NUMPY_DISPATCH
    return f"the CPU architecture's baseline, the same on every CPU of it ({key})"
