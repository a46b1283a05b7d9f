"""``simgen fit`` computes its developments and statistics with numpy's baseline kernels
(fit.cpu_kernels): numpy reads its switch once, when it loads, so the command sets it before
anything loads numpy, and the fit's renders inherit it. (A study's renders: simgen.child_processes.
children_numpy_kernels, from study.cpu_kernels.)"""

from __future__ import annotations

import os
import sys

from simgen.child_processes import NUMPY_DISPATCH, NUMPY_KERNELS

KEY = "fit.cpu_kernels"


def hold_numpy_kernels(argv: list[str]) -> str:
    """Have numpy compute with its baseline kernels in this process and its children, unless the
    command line ``argv`` says ``fit.cpu_kernels=native`` (a fit's settings come from its command
    line only), by setting NPY_DISABLE_CPU_FEATURES (over a value the environment has) before numpy
    loads. Returns what the fit computes with, for its log: with native this CPU's (less what the
    environment's NPY_DISABLE_CPU_FEATURES takes away), and with numpy loaded already (the Python
    API, a served command) this CPU's too."""
    given = [a.partition("=")[2].strip(" '\"") for a in argv if a.partition("=")[0].strip() == KEY]
    if given and given[-1] == "native":
        return f"this CPU's ({KEY}=native)"
    if "numpy" in sys.modules and os.environ.get(NUMPY_KERNELS) != NUMPY_DISPATCH:
        return ("this CPU's: numpy was loaded before the command began (to compute as on every CPU, set "
                f"{NUMPY_KERNELS}='{NUMPY_DISPATCH}' before Python starts)")
    os.environ[NUMPY_KERNELS] = NUMPY_DISPATCH
    return f"the CPU architecture's baseline, the same on every CPU of it ({KEY})"
