"""The charts' one door to matplotlib, an optional dependency (extra ``report``).

Charts are drawn on :class:`matplotlib.figure.Figure` objects made here directly, never through
pyplot: no global list of figures, no GUI backend, nothing needs a display. PNG is written by
the Agg renderer, SVG by matplotlib's SVG writer; both give the same bytes for the same chart
(the SVG's element ids come from a fixed salt, its date is left out).

Without matplotlib, :func:`available` is False and :func:`figure` returns None, and one warning
(once a process) names the extra to install; the callers then skip their charts: a study or a
report never fails for want of a plot.
"""

from __future__ import annotations

import base64
import io
import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from simgen.errors import install_hint

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

INSTALL = install_hint("report")
"""The command that brings the charts' dependency."""

MISSING = f"charts skipped: they need matplotlib, which is not installed ({INSTALL})"

STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.axisbelow": True,
    "grid.color": "#dddddd",
    "legend.frameon": False,
    "svg.fonttype": "none",     # text stays <text> in SVG: small, searchable, selectable
    "svg.hashsalt": "simgen",   # element ids from the content, not random: same chart, same bytes
}
"""matplotlib settings of every chart, applied only while one is built or saved."""

MUTED = "#666666"
"""Notes and "n/a" marks."""

_warned = False


def available() -> bool:
    """Whether matplotlib can be imported; when not, logs one warning (once a process) that names
    the extra to install."""
    global _warned
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError:
        if not _warned:
            log.warning(MISSING)
            _warned = True
        return False
    return True


def figure(width: int, height: int, dpi: int = 100) -> Figure | None:
    """A new Figure of ``width`` x ``height`` pixels at ``dpi`` (constrained layout: titles,
    labels and legends are fitted inside), or None when matplotlib is missing (warned once)."""
    if not available():
        return None
    from matplotlib.figure import Figure

    with style():
        return Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")


@contextmanager
def style() -> Iterator[None]:
    """:data:`STYLE` in force inside the block (matplotlib reads its settings when an artist is
    made and when a figure is saved)."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG at its own size and dpi (Agg)."""
    buf = io.BytesIO()
    with style():
        fig.savefig(buf, format="png")
    return buf.getvalue()


def svg_text(fig: Figure) -> str:
    """The figure as a standalone SVG document (no date, so the same chart gives the same text)."""
    buf = io.StringIO()
    with style():
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return buf.getvalue()


def svg_data_uri(fig: Figure) -> str:
    """The figure as a ``data:image/svg+xml;base64,...`` URI, for a page without external files."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg_text(fig).encode()).decode("ascii")


def fmt(v: float) -> str:
    """A number for a label: integers without decimals, others with 3 significant digits."""
    v = round(float(v), 10)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.3g}" if abs(v) >= 1e-3 else f"{v:.2g}"


def shorten(label: str, limit: int) -> str:
    """One line of at most ``limit`` characters; the middle gives way to "..." so that names
    differing only at the end (``..._number_07``) stay apart."""
    label = " ".join(str(label).split())
    if len(label) <= limit:
        return label
    head = (limit - 3) // 2
    return label[:head] + "..." + label[len(label) - (limit - 3 - head):]
