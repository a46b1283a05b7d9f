"""simgen: rendering-based generator of labelled computer-vision datasets.

``import simgen`` never imports Blender; only :mod:`simgen.blender` does.
"""

__version__ = "0.1.0"


class SimgenError(Exception):
    """Bad input or an impossible request, reported to the user as one clear line.

    The message names the problem and how to fix it; the CLI prints it without a
    traceback (set ``HYDRA_FULL_ERROR=1`` to see one).
    """
