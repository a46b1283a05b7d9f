"""simgen: rendering-based generator of labelled computer-vision datasets.

``import simgen`` never imports Blender; only :mod:`simgen.blender` does. The Python API
(:mod:`simgen.api`: :func:`render`, :func:`open_dataset`, :func:`run_study`, :func:`run_fit`,
:class:`Dataset`, :class:`Frame`) is re-exported here and imported on first use of one of its
names, so ``import simgen`` stays light (no Hydra, no torch, no Blender).
"""

from typing import Any

__version__ = "0.1.0"

API = ("render", "open_dataset", "run_study", "run_fit", "Dataset", "Frame")
"""The names of :mod:`simgen.api` that ``simgen.NAME`` gives."""


def __getattr__(name: str) -> Any:
    if name in API:
        from simgen import api

        return getattr(api, name)
    raise AttributeError(f"module 'simgen' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *API})


class SimgenError(Exception):
    """Bad input or an impossible request, reported to the user as one clear line.

    The message names the problem and how to fix it; the CLI prints it without a
    traceback (set ``HYDRA_FULL_ERROR=1`` to see one).
    """


def did_you_mean(name: str, options: list[str], prefix: str = "") -> str:
    """``did you mean 'PREFIX<closest option>'?``, or "" when no option is close (for the one-line
    errors about unknown names)."""
    import difflib

    close = difflib.get_close_matches(name, list(options), n=1)
    return f"did you mean '{prefix}{close[0]}'?" if close else ""


class Interrupted(Exception):
    """A run stopped by SIGINT or SIGTERM: the frames it had rendered are written, coco.json
    and dataset.json list every frame on disk, and running the same command resumes it."""

    def __init__(self, signum: int, summary: object):
        import signal

        self.signum, self.summary = signum, summary
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.signal_name}")
