"""The plots of the HTML reports (``simgen inspect``, ``simgen compare``), drawn with matplotlib
as SVG and embedded as ``<img>`` elements with a ``data:`` URI: the page stays one file that
loads nothing, and each plot's element ids live in its own document.

Each plot has a builder that returns the matplotlib Figure (``*_figure``, for tests and other
uses) and a function that returns the HTML element: :func:`bar_chart`, :func:`histogram`,
:func:`pair_bars`, :func:`pair_lines`. The element's ``alt`` and ``title`` (shown on hover)
list every value, so the numbers are in the page too. Without matplotlib (extra ``report``)
the builders return None and the HTML functions an empty string, after one warning.
"""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING, Sequence

import numpy as np

from simgen.report import mpl

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH, HEIGHT = 440, 250
"""Size of a plot on the page, in CSS pixels."""
COLOR = "#3b7dd8"
WARN = "#d8553b"
SERIES = ("#3b7dd8", "#e08a2c")
"""Colours of the two datasets in the comparison charts (A, B)."""

NO_PLOTS = f'<p class="warn" id="no-plots">Plots left out: they need matplotlib ({mpl.INSTALL}).</p>'
"""What a report shows in place of its plots when matplotlib is missing."""

_DPI = 96           # CSS pixels per inch: the SVG's size in pt is then WIDTH x HEIGHT px on the page
_LABEL = 16         # characters: longer tick labels are shortened in the middle


def _figure() -> Figure | None:
    return mpl.figure(WIDTH, HEIGHT, dpi=_DPI)


def _frame(ax: Axes, title: str, xlabel: str, ylabel: str, legend: bool = False) -> None:
    """Title, axis labels, the grid; the legend (two datasets) above the plot's right end."""
    if legend:
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, fontsize=8, borderaxespad=0.2)
    ax.set_title(mpl.shorten(title, 40 if legend else 70), fontweight="bold", loc="left" if legend else "center")
    ax.set_xlabel(mpl.shorten(xlabel, 80))
    ax.set_ylabel(mpl.shorten(ylabel, 30))
    ax.grid(True, axis="y")


def _xticks(ax: Axes, labels: Sequence[str], every: int, rotate: bool) -> None:
    idx = list(range(0, len(labels), max(every, 1)))
    ax.set_xticks(idx, [mpl.shorten(str(labels[i]), _LABEL) for i in idx], fontsize=7 if rotate else 8,
                  rotation=45 if rotate else 0, ha="right" if rotate else "center", rotation_mode="anchor")


def _padded(values: Sequence[float], n: int) -> list[float]:
    """``values`` as n floats (missing ones 0)."""
    out = [float(v) for v in list(values)[:n]]
    return out + [0.0] * (n - len(out))


def _img(fig: Figure | None, alt: str) -> str:
    """The HTML element of a plot, or "" when there is no figure (matplotlib missing)."""
    if fig is None:
        return ""
    text = escape(alt, quote=True)
    return (f'<img class="plot" width="{WIDTH}" height="{HEIGHT}" alt="{text}" title="{text}" '
            f'src="{mpl.svg_data_uri(fig)}">')


def _alt(title: str, what: str, items: list[tuple[str, str]]) -> str:
    return f"{title} ({what}): " + "; ".join(f"{k}: {v}" for k, v in items)


# ------------------------------------------------------------------ one series

def bar_figure(title: str, labels: Sequence[str], values: Sequence[float], xlabel: str = "",
               ylabel: str = "count", colors: Sequence[str] | None = None) -> Figure | None:
    """One bar per label (bar i at x = i, in ``colors[i]`` or :data:`COLOR`), the value over
    each bar when there are at most 24."""
    fig = _figure()
    if fig is None:
        return None
    n = len(labels)
    vals = _padded(values, n)
    with mpl.style():
        ax = fig.add_subplot()
        bars = ax.bar(range(n), vals, 0.8, color=list(colors)[:n] if colors else COLOR)
        if n <= 24:
            ax.bar_label(bars, [mpl.fmt(v) for v in vals], fontsize=7, padding=1)
        ax.set_ylim(0, max(vals + [1.0]) * 1.15)
        ax.set_xlim(-0.6, max(n, 1) - 0.4)
        rotate = n > 8 or max((len(str(s)) for s in labels), default=0) * n > 60
        _xticks(ax, labels, math.ceil(n / 20) if rotate else 1, rotate)
        _frame(ax, title, xlabel, ylabel)
    return fig


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float], xlabel: str = "",
              ylabel: str = "count", colors: Sequence[str] | None = None) -> str:
    """:func:`bar_figure` as an ``<img>`` element ("" without matplotlib)."""
    items = [(str(k), mpl.fmt(v)) for k, v in zip(labels, _padded(values, len(labels)))]
    return _img(bar_figure(title, labels, values, xlabel, ylabel, colors), _alt(title, ylabel, items))


def histogram_figure(title: str, edges: Sequence[float], counts: Sequence[float], xlabel: str = "",
                     ylabel: str = "count", mark: float | None = None, log_x: bool = False) -> Figure | None:
    """A histogram over bins ``edges[i] .. edges[i+1]`` (len(edges) == len(counts) + 1), on a
    linear x axis (or a log one with ``log_x``); ``mark`` draws a dashed red threshold line."""
    fig = _figure()
    if fig is None:
        return None
    e = np.asarray(edges, dtype=float)
    with mpl.style():
        ax = fig.add_subplot()
        ax.bar(e[:-1], _padded(counts, len(e) - 1), width=np.diff(e), align="edge", color=COLOR,
               edgecolor="white", linewidth=0.4)
        if log_x:
            ax.set_xscale("log")
        ax.set_xlim(e[0], e[-1])
        if mark is not None and e[0] <= mark <= e[-1]:
            ax.axvline(mark, color=WARN, linestyle="--", linewidth=1)
        _frame(ax, title, xlabel, ylabel)
    return fig


def histogram(title: str, edges: Sequence[float], counts: Sequence[float], xlabel: str = "",
              ylabel: str = "count", mark: float | None = None, log_x: bool = False) -> str:
    """:func:`histogram_figure` as an ``<img>`` element ("" without matplotlib)."""
    items = [(f"{mpl.fmt(a)}..{mpl.fmt(b)}", mpl.fmt(c)) for a, b, c in zip(edges[:-1], edges[1:], counts)]
    return _img(histogram_figure(title, edges, counts, xlabel, ylabel, mark, log_x), _alt(title, ylabel, items))


# ------------------------------------------------------------------ two datasets

def pair_bars_figure(title: str, labels: Sequence[str], a: Sequence[float], b: Sequence[float], xlabel: str = "",
                     ylabel: str = "share", names: Sequence[str] = ("A", "B")) -> Figure | None:
    """Two series side by side per label (A blue at x = i - 0.2, B orange at i + 0.2), e.g. two
    normalized histograms over the same bins; tick labels thinned out when there are many."""
    fig = _figure()
    if fig is None:
        return None
    n = len(labels)
    x = np.arange(n, dtype=float)
    with mpl.style():
        ax = fig.add_subplot()
        for k, vals in enumerate((a, b)):
            ax.bar(x + (k - 0.5) * 0.4, _padded(vals, n), 0.4, color=SERIES[k], label=str(names[k]))
        ax.set_xlim(-0.6, max(n, 1) - 0.4)
        _xticks(ax, labels, max(1, n // 8), False)
        _frame(ax, title, xlabel, ylabel, legend=True)
    return fig


def pair_bars(title: str, labels: Sequence[str], a: Sequence[float], b: Sequence[float], xlabel: str = "",
              ylabel: str = "share", names: Sequence[str] = ("A", "B")) -> str:
    """:func:`pair_bars_figure` as an ``<img>`` element ("" without matplotlib)."""
    n = len(labels)
    items = [(str(k), f"{mpl.fmt(u)} / {mpl.fmt(v)}") for k, u, v in zip(labels, _padded(a, n), _padded(b, n))]
    return _img(pair_bars_figure(title, labels, a, b, xlabel, ylabel, names),
                _alt(title, f"{ylabel}, {names[0]} / {names[1]}", items))


def pair_lines_figure(title: str, xs: Sequence[float], a: Sequence[float], b: Sequence[float], xlabel: str = "",
                      ylabel: str = "", names: Sequence[str] = ("A", "B")) -> Figure | None:
    """Two curves over the same x values (A blue, B orange); the y axis spans their values."""
    fig = _figure()
    if fig is None:
        return None
    with mpl.style():
        ax = fig.add_subplot()
        for k, vals in enumerate((a, b)):
            ax.plot([float(v) for v in xs], _padded(vals, len(xs)), color=SERIES[k], linewidth=2, label=str(names[k]))
        _frame(ax, title, xlabel, ylabel, legend=True)
    return fig


def pair_lines(title: str, xs: Sequence[float], a: Sequence[float], b: Sequence[float], xlabel: str = "",
               ylabel: str = "", names: Sequence[str] = ("A", "B")) -> str:
    """:func:`pair_lines_figure` as an ``<img>`` element ("" without matplotlib)."""
    n = len(xs)
    items = [(mpl.fmt(x), f"{mpl.fmt(u)} / {mpl.fmt(v)}") for x, u, v in zip(xs, _padded(a, n), _padded(b, n))]
    return _img(pair_lines_figure(title, xs, a, b, xlabel, ylabel, names),
                _alt(title, f"{ylabel or 'value'}, {names[0]} / {names[1]}", items))


# ------------------------------------------------------------------ several samples (simgen fit)

FIT_SERIES = ("#222222", "#e08a2c", "#3b7dd8")
"""Colours of a fit's target, default and fitted samples."""


def samples_figure(title: str, samples: dict[str, Sequence[float]], xlabel: str = "") -> Figure | None:
    """The distributions of several samples of one statistic as step histograms over shared bins,
    each normalized to a share per bin (samples of any size compare), in :data:`FIT_SERIES` order."""
    fig = _figure()
    if fig is None:
        return None
    arrays = {k: np.asarray(v, float)[np.isfinite(np.asarray(v, float))] for k, v in samples.items()}
    pooled = np.concatenate([a for a in arrays.values() if a.size] or [np.zeros(1)])
    lo, hi = float(pooled.min()), float(pooled.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, 21)
    with mpl.style():
        ax = fig.add_subplot()
        for k, (name, a) in enumerate(arrays.items()):
            counts, _ = np.histogram(a, edges)
            share = counts / max(a.size, 1)
            ax.stairs(share, edges, color=FIT_SERIES[k % len(FIT_SERIES)], linewidth=2 if k == 0 else 1.6,
                      label=f"{name} (n={a.size})")
        _frame(ax, title, xlabel, "share", legend=True)
    return fig


def samples_plot(title: str, samples: dict[str, Sequence[float]], xlabel: str = "") -> str:
    """:func:`samples_figure` as an ``<img>`` element ("" without matplotlib); the alt text gives
    each sample's median and quartiles."""
    items = []
    for name, v in samples.items():
        a = np.asarray(v, float)
        a = a[np.isfinite(a)]
        q = np.percentile(a, [25, 50, 75]) if a.size else [math.nan] * 3
        items.append((name, f"median {mpl.fmt(q[1])}, quartiles {mpl.fmt(q[0])}..{mpl.fmt(q[2])}, n={a.size}"))
    return _img(samples_figure(title, samples, xlabel), _alt(title, "distribution", items))


def trials_figure(title: str, numbers: Sequence[int], values: Sequence[float], default: float | None = None,
                  ylabel: str = "distance") -> Figure | None:
    """Each trial's value (dots), the best so far (a line) and the default's (dashed)."""
    fig = _figure()
    if fig is None:
        return None
    x = np.asarray(numbers, float)
    y = np.asarray(values, float)
    with mpl.style():
        ax = fig.add_subplot()
        ax.plot(x, y, "o", color=SERIES[0], markersize=3, label="trial")
        if y.size:
            ax.step(x, np.minimum.accumulate(y), where="post", color=SERIES[1], linewidth=2, label="best so far")
        if default is not None:
            ax.axhline(default, color="#888", linestyle="--", linewidth=1, label="default config")
        if y.size and np.all(y > 0) and (default is None or default > 0):
            ax.set_yscale("log")
        _frame(ax, title, "trial", ylabel, legend=True)
    return fig


def trials_plot(title: str, numbers: Sequence[int], values: Sequence[float], default: float | None = None,
                ylabel: str = "distance") -> str:
    """:func:`trials_figure` as an ``<img>`` element ("" without matplotlib)."""
    items = [(str(n), mpl.fmt(v)) for n, v in zip(numbers, values)]
    return _img(trials_figure(title, numbers, values, default, ylabel), _alt(title, ylabel, items))
