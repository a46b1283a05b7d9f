"""The errors every module of simgen raises, and the one-line suggestion they share: the ground
floor of the package (it imports nothing of simgen's), so that no module's import runs back up
to ``simgen`` itself."""

from __future__ import annotations


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


def install_hint(extra: str) -> str:
    """How to install an optional extra, as every message that needs one says it. simgen installs
    from its checkout or its wheel: the package named simgen on PyPI is another project's, so a
    message never says ``pip install 'simgen[...]'``."""
    return f"pip install -e '.[{extra}]' in simgen's checkout (or its wheel with [{extra}])"


class Interrupted(Exception):
    """A run stopped by SIGINT or SIGTERM: the frames it had rendered are written, coco.json
    and dataset.json list every frame on disk, and running the same command resumes it."""

    def __init__(self, signum: int, summary: object):
        import signal

        self.signum, self.summary = signum, summary
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.signal_name}")
