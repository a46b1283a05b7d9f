"""PNG charts of a study's results (drawn with matplotlib): grouped bars and lines with seed spread.

What it draws
    :func:`bar_chart`
        One bar per (group, series): its height is the mean over the seeds, a black whisker
        spans the seeds' min..max and every seed's value is a small dot on the bar. Used for
        "AP per arm" and "per-category AP, one bar per arm". Negative values (COCOeval's -1,
        "no ground truth") and NaN are not values: a group/series with none left shows "n/a".
    :func:`line_chart`
        One line per series through the means at each x, min..max whiskers at each point, a
        marker per point (a different shape per series, so the lines can be told apart without
        colour too). Used for learning curves (AP against the number of training frames), with
        ``log_x`` when the sizes double.

Both check their input first (empty or malformed input raises :class:`simgen.SimgenError` with
one clear line, whether or not matplotlib is installed), then write a PNG atomically, 800x480
px (wider when many groups need room, taller for long labels), white background, Okabe-Ito
colours (colour-blind safe), a footnote saying what the marks mean, and return the path
written. Long titles wrap, long group labels turn vertical and are shortened in the middle.
Without matplotlib (extra ``report``) they log one warning and return None.
:func:`bar_figure` and :func:`line_figure` give the matplotlib Figure without writing it.
"""

from __future__ import annotations

import math
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from simgen.errors import SimgenError
from simgen.report import mpl

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WIDTH, HEIGHT = 800, 480
PALETTE: tuple[str, ...] = (
    # Okabe-Ito (2008), black left out (it is the ink): colour-blind safe
    "#0072b2", "#e69f00", "#009e73", "#d55e00", "#56b4e9", "#cc79a7", "#f0e442",
    # then Paul Tol's "muted" scheme for more series
    "#332288", "#882255", "#44aa99", "#999933", "#aa4499", "#117733", "#ddcc77", "#cc6677", "#88ccee",
)
"""Series colours, in order: series i is drawn in PALETTE[i]."""

MARKERS = ("o", "s", "^", "D", "v")
"""Line-chart marker shapes (matplotlib's codes), in order: series i uses MARKERS[i % 5]."""

_MIN_BAR = 8          # px: narrowest bar before the image grows wider
_MAX_LABEL = 28       # characters: longer group labels are shortened in the middle
_CHAR = 7.5           # px: about the width of a character at the tick labels' 9 pt (100 dpi)
_PLOT_H = 300         # px: the plot's height, about (the picture grows for what is around it)


# --------------------------------------------------------------------------- input

@dataclass(frozen=True)
class _Stat:
    mean: float
    lo: float
    hi: float
    seeds: tuple[float, ...]


def _stat(values, where: str) -> _Stat | None:
    """Mean / min / max of the seeds' values; None when nothing is left after dropping negative
    (COCOeval's -1: no ground truth) and NaN values."""
    try:
        arr = np.asarray(list(values), dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise SimgenError(f"{where}: expected a list of numbers (one per seed), got {values!r}") from None
    if np.isinf(arr).any():
        raise SimgenError(f"{where}: infinite value in {list(arr)}; expected finite numbers (one per seed)")
    arr = arr[~np.isnan(arr) & (arr >= 0)]
    if arr.size == 0:
        return None
    return _Stat(float(arr.mean()), float(arr.min()), float(arr.max()), tuple(float(v) for v in arr))


def nice_max(v: float) -> float:
    """The smallest "round" number >= v (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten);
    1.0 when there is nothing positive. AP near 1 gets 1.0; 0.37 gets 0.4."""
    if not v > 0:
        return 1.0
    e = math.floor(math.log10(v))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        c = round(m * 10.0 ** e, 12)
        if c >= v * (1 - 1e-9):
            return c
    return round(10.0 ** (e + 1), 12)


def _check_path(path) -> Path:
    try:
        return Path(os.fspath(path))
    except TypeError:
        raise SimgenError(f"chart path must be a file path, got {path!r}") from None


def _check_ymax(ymax) -> float | None:
    if ymax is None:
        return None
    try:
        y = float(ymax)
    except (TypeError, ValueError):
        raise SimgenError(f"ymax must be a positive number, got {ymax!r}") from None
    if not (math.isfinite(y) and y > 0):
        raise SimgenError(f"ymax must be a positive finite number, got {ymax!r}")
    return y


def _check_names(names: Sequence, what: str) -> list[str]:
    if isinstance(names, (str, bytes)):
        raise SimgenError(f"{what} must be a list of names, got the string {names!r}")
    out = [str(n) for n in names]
    if len(set(out)) != len(out):
        dup = sorted({n for n in out if out.count(n) > 1})
        raise SimgenError(f"{what} must be distinct; repeated: {', '.join(dup)}")
    return out


def _note(mark: str, extra: str, present: list[_Stat], top: float) -> str:
    """What the marks mean (mean and min-max over the seeds, or a single seed's value), and
    whether values were cut at the top of the axis."""
    seeds = [len(st.seeds) for st in present]
    if max(seeds, default=1) > 1:
        note = f"{mark}: mean; whiskers: min-max over {_seed_note(seeds)}{extra}"
    else:
        note = f"{mark}: the value of a single seed"
    if any(st.hi > top for st in present):
        note += f"; values above {mpl.fmt(top)} are cut at the top"
    return note


def _seed_note(counts: list[int]) -> str:
    counts = sorted(set(counts))
    if not counts:
        return "0 seeds"
    n = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"{n} seed{'s' if counts[-1] != 1 else ''}"


# --------------------------------------------------------------------------- figure pieces

def _legend_rows(names: list[str], width: int) -> tuple[int, int]:
    """Legend columns and rows that fit ``width`` px."""
    entry = max(len(mpl.shorten(n, 40)) for n in names) * _CHAR + 40
    cols = max(1, min(len(names), int((width - 24) // entry)))
    return cols, math.ceil(len(names) / cols)


def _frame(fig: Figure, title: str, note: str, names: list[str], handles: list, width: int) -> None:
    """Title (wrapped), the legend (``handles`` for ``names``, when given) under it and the footnote."""
    fig.suptitle(textwrap.fill(" ".join(str(title).split()), max(20, int((width - 24) // 8.5))), fontsize=11)
    if names:
        cols, _ = _legend_rows(names, width)
        fig.axes[0].legend(handles, [mpl.shorten(n, 40) for n in names], loc="lower center", bbox_to_anchor=(0.5, 1.0),
                           ncols=cols, borderaxespad=0.3)
    fig.supxlabel(textwrap.fill(note, max(20, int((width - 24) // 6))), fontsize=7.5, color=mpl.MUTED)


def _height(title: str, note: str, legend_rows: int, extra: float, width: int) -> int:
    """Room for the plot (:data:`_PLOT_H`), the title and legend above it, the x labels (``extra``)
    and the footnote below it."""
    title_lines = len(textwrap.wrap(title, max(20, int((width - 24) // 8.5)))) or 1
    note_lines = len(textwrap.wrap(note, max(20, int((width - 24) // 6)))) or 1
    return max(HEIGHT, round(_PLOT_H + 20 * title_lines + 22 * legend_rows + extra + 13 * note_lines + 50))


def _y_axis(ax, top: float, ylabel: str) -> None:
    ax.set_ylim(0, top)
    ax.grid(True, axis="y")
    if ylabel:
        ax.set_ylabel(mpl.shorten(ylabel, min(90, int(_PLOT_H // _CHAR))))


# --------------------------------------------------------------------------- bar chart

def bar_figure(groups: list[str], series: list[str], values: list[list[list[float]]], *, title: str,
               ylabel: str, ymax: float | None = None, where: str = "bar chart") -> Figure | None:
    """The grouped bar chart of :func:`bar_chart` as a matplotlib Figure (None without matplotlib).

    Its axes hold one BarContainer per series (``label`` = the series' name) with a bar for
    each group that has a value (at x = group index + the series' offset), an errorbar
    container (min..max) per series with several seeds, and a scatter of every seed's value.
    ``where`` names the chart in error messages.
    """
    ymax = _check_ymax(ymax)
    groups = _check_names(groups, f"{where}: groups")
    series = _check_names(series, f"{where}: series")
    if not groups or not series:
        raise SimgenError(f"{where}: nothing to draw ({len(groups)} group(s), {len(series)} series); "
                          "give at least one group and one series")
    if len(series) > len(PALETTE):
        raise SimgenError(f"{where}: {len(series)} series, but only {len(PALETTE)} colours can be told "
                          "apart; split the chart")
    if isinstance(values, (str, bytes)) or len(values) != len(groups):
        raise SimgenError(f"{where}: values must hold one list per group ({len(groups)}), "
                          f"got {len(values) if not isinstance(values, (str, bytes)) else values!r}")
    stats: list[list[_Stat | None]] = []
    for g, row in enumerate(values):
        if isinstance(row, (str, bytes)) or len(row) != len(series):
            raise SimgenError(f"{where}: values[{g}] (group {groups[g]!r}) must hold one list of seed "
                              f"values per series ({len(series)}), got {row!r}")
        stats.append([_stat(v, f"{where}: values[{g}][{s}] ({groups[g]!r}, {series[s]!r})")
                      for s, v in enumerate(row)])
    present = [st for row in stats for st in row if st is not None]
    top = ymax if ymax is not None else nice_max(max((st.hi for st in present), default=0.0))

    ng, ns = len(groups), len(series)
    width = max(WIDTH, 130 + ng * (ns * _MIN_BAR + 10))
    slot = (width - 130) / ng                              # px per group, about
    labels = [mpl.shorten(g, _MAX_LABEL) for g in groups]
    vertical = max(len(lb) for lb in labels) * _CHAR > slot - 6
    label_h = max(len(lb) for lb in labels) * _CHAR + 10 if vertical else 20
    note = _note("bars", "; dots: each seed", present, top)
    if len(present) < ng * ns:
        note += "; n/a: no value (e.g. -1 = no ground truth)"
    legend = series if ns > 1 else []
    height = _height(title, note, _legend_rows(legend, width)[1] if legend else 0, label_h, width)
    fig = mpl.figure(width, height)
    if fig is None:
        return None

    from matplotlib.patches import Patch

    inner = 0.8
    bar_w = inner / ns                                      # in data units: a group is 1 wide
    bar_px = slot * bar_w
    show_values = bar_px >= max((len(mpl.fmt(st.mean)) for st in present), default=0) * 6 + 2
    with mpl.style():
        ax = fig.add_subplot()
        _y_axis(ax, top, ylabel)
        for s, name in enumerate(series):
            xs = [g - inner / 2 + (s + 0.5) * bar_w for g in range(ng)]
            have = [(x, st) for x, st in zip(xs, (row[s] for row in stats)) if st is not None]
            ax.bar([x for x, _ in have], [st.mean for _, st in have], bar_w * 0.92, color=PALETTE[s], label=name)
            spread = [(x, st) for x, st in have if len(st.seeds) > 1]
            if spread:
                ax.errorbar([x for x, _ in spread], [st.mean for _, st in spread],
                            yerr=[[st.mean - st.lo for _, st in spread], [st.hi - st.mean for _, st in spread]],
                            fmt="none", ecolor="black", elinewidth=1, capsize=min(4, max(1, bar_px / 4)), zorder=3)
            dots_x, dots_y = [], []
            for x, st in have:   # one dot per seed, spread across the bar so equal values stay visible
                k = len(st.seeds)
                step = min(5 / slot, 0.7 * bar_w / max(k - 1, 1))
                dots_x += [x + (j - (k - 1) / 2) * step for j in range(k)]
                dots_y += list(st.seeds)
            ax.scatter(dots_x, dots_y, s=10, c="black", edgecolors="white", linewidths=0.6, zorder=4)
            if show_values:
                for x, st in have:
                    ax.annotate(mpl.fmt(st.mean), (x, min(st.hi, top)), xytext=(0, 3), textcoords="offset points",
                                ha="center", va="bottom", fontsize=7, annotation_clip=False)
            for x, row in zip(xs, stats):
                if row[s] is None and not (ns > 1 and all(o is None for o in row)):
                    _na(ax, x, bar_px)
        for g, row in enumerate(stats):                     # one "n/a" for a group without any value
            if ns > 1 and all(st is None for st in row):
                _na(ax, g, slot * inner)
        ax.set_xticks(range(ng), labels, rotation=90 if vertical else 0)
        ax.set_xlim(-0.5, ng - 0.5)
        ax.tick_params(axis="x", length=0)
        _frame(fig, title, note, legend, [Patch(color=PALETTE[s]) for s in range(ns)], width)
    return fig


def _na(ax, x: float, room_px: float) -> None:
    """"n/a" at the foot of a missing bar (turned upright when the bar is narrower than the text)."""
    ax.text(x, 0, "n/a", rotation=0 if room_px >= 24 else 90, ha="center", va="bottom", fontsize=7,
            color=mpl.MUTED)


def bar_chart(path, groups: list[str], series: list[str], values: list[list[list[float]]], *,
              title: str, ylabel: str, ymax: float | None = None) -> Path | None:
    """Grouped bar chart: ``values[g][s]`` are the per-seed values of series ``s`` in group ``g``.

    Bar height = mean of the seeds, whisker = min..max, one dot per seed; an empty list or only
    negative values (COCOeval's -1) shows "n/a" instead of a bar. The y axis runs from 0 to
    ``ymax`` (default: :func:`nice_max` of the largest value). The legend (one colour per series)
    is left out for a single series. Returns the path written (parent folders are created), or
    None without matplotlib."""
    path = _check_path(path)
    fig = bar_figure(groups, series, values, title=title, ylabel=ylabel, ymax=ymax, where=f"bar chart {path.name}")
    return None if fig is None else _write(path, mpl.png_bytes(fig))


# --------------------------------------------------------------------------- line chart

def line_figure(series: dict[str, list[tuple[float, list[float]]]], *, title: str, xlabel: str, ylabel: str,
                ymax: float | None = None, log_x: bool = False, where: str = "line chart") -> Figure | None:
    """The line chart of :func:`line_chart` as a matplotlib Figure (None without matplotlib).

    Its axes hold one line per series (``label`` = its name; x = the sorted x values, y = the
    means, NaN where a point has no value) and an errorbar container (min..max) per series with
    several seeds at some x. ``where`` names the chart in error messages."""
    ymax = _check_ymax(ymax)
    if not isinstance(series, dict):
        raise SimgenError(f"{where}: series must be a dict name -> [(x, [values per seed]), ...], "
                          f"got {type(series).__name__}")
    names = [str(n) for n in series]
    if len(set(names)) != len(names):
        raise SimgenError(f"{where}: series names must be distinct as text: {names}")
    if len(names) > len(PALETTE):
        raise SimgenError(f"{where}: {len(names)} series, but only {len(PALETTE)} colours can be told "
                          "apart; split the chart")
    pts: list[list[tuple[float, _Stat | None]]] = []
    for name, points in series.items():
        row = []
        try:
            points = list(points)
        except TypeError:
            raise SimgenError(f"{where}: series {name!r} must be a list of (x, [values]) pairs") from None
        for k, p in enumerate(points):
            at = f"{where}: series {name!r} point {k}"
            try:
                x, vals = p
                x = float(x)
            except (TypeError, ValueError):
                raise SimgenError(f"{at}: expected an (x, [values per seed]) pair, got {p!r}") from None
            if not math.isfinite(x) or (log_x and x <= 0):
                raise SimgenError(f"{at}: x = {x!r} " + ("must be > 0 on a log x axis" if log_x and math.isfinite(x)
                                                       else "must be a finite number"))
            if isinstance(vals, (int, float)):
                vals = [vals]
            row.append((x, _stat(vals, at)))
        xs = [x for x, _ in row]
        if len(set(xs)) != len(xs):
            raise SimgenError(f"{where}: series {name!r} repeats an x value: {sorted(xs)}")
        pts.append(sorted(row, key=lambda t: t[0]))
    all_x = sorted({x for row in pts for x, _ in row})
    if not all_x:
        raise SimgenError(f"{where}: nothing to draw ({len(names)} series, no points); "
                          "give at least one (x, [values]) point")
    present = [st for row in pts for _, st in row if st is not None]
    top = ymax if ymax is not None else nice_max(max((st.hi for st in present), default=0.0))

    width = WIDTH
    note = _note("lines", "", present, top)
    if len(present) < sum(len(r) for r in pts):
        note += "; points with no value (e.g. -1 = no ground truth) left out"
    height = _height(title, note, _legend_rows(names, width)[1], 45, width)
    fig = mpl.figure(width, height)
    if fig is None:
        return None

    from matplotlib.transforms import offset_copy

    with mpl.style():
        ax = fig.add_subplot()
        _y_axis(ax, top, ylabel)
        lines = []
        for i, (name, row) in enumerate(zip(names, pts)):
            # several series at one x: shifted a few points apart so that their whiskers stay visible
            dodge = (i - (len(names) - 1) / 2) * 3 if len(names) > 1 else 0.0
            shift = offset_copy(ax.transData, fig=fig, x=dodge, y=0, units="points")
            colour = PALETTE[i]
            lines += ax.plot([x for x, _ in row], [math.nan if st is None else st.mean for _, st in row], color=colour,
                    lw=2, marker=MARKERS[i % len(MARKERS)], ms=6, mec="white", mew=0.8, label=name, transform=shift,
                    zorder=3)
            spread = [(x, st) for x, st in row if st is not None and len(st.seeds) > 1]
            if spread:
                ax.errorbar([x for x, _ in spread], [st.mean for _, st in spread],
                            yerr=[[st.mean - st.lo for _, st in spread], [st.hi - st.mean for _, st in spread]],
                            fmt="none", ecolor=colour, elinewidth=1, capsize=3, transform=shift, zorder=2)
        if log_x:
            ax.set_xscale("log")
        ax.set_xticks(all_x, [mpl.fmt(v) for v in all_x])
        ax.minorticks_off()
        # x limits: 6 % of the span beyond the first and last x (on the log axis, of the log span)
        t = [math.log10(v) for v in (all_x[0], all_x[-1])] if log_x else [all_x[0], all_x[-1]]
        pad = 0.06 * (t[1] - t[0]) if t[1] > t[0] else 0.5
        lo, hi = t[0] - pad, t[1] + pad
        ax.set_xlim(*((10 ** lo, 10 ** hi) if log_x else (lo, hi)))
        if xlabel:
            ax.set_xlabel(mpl.shorten(xlabel, 90) + (" (log scale)" if log_x else ""))
        _frame(fig, title, note, names, lines, width)
    return fig


def line_chart(path, series: dict[str, list[tuple[float, list[float]]]], *, title: str, xlabel: str,
               ylabel: str, ymax: float | None = None, log_x: bool = False) -> Path | None:
    """Line chart: ``series[name] = [(x, per-seed values), ...]``; one line through the means,
    min..max whiskers and a marker at each x, a legend. x ticks sit at the x values given; with
    ``log_x`` the x axis is logarithmic (x must be > 0). A point whose seeds are all negative
    (COCOeval's -1) or that has no seeds is left out and breaks the line. When several series
    share an x, their points are shifted a few pixels apart so their whiskers stay visible.
    Returns the path written (parent folders are created), or None without matplotlib."""
    path = _check_path(path)
    fig = line_figure(series, title=title, xlabel=xlabel, ylabel=ylabel, ymax=ymax, log_x=log_x,
                      where=f"line chart {path.name}")
    return None if fig is None else _write(path, mpl.png_bytes(fig))


def _write(path: Path, data: bytes) -> Path:
    from simgen.io.files import atomic_write_bytes

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    except OSError as e:
        raise SimgenError(f"cannot write chart {path}: {e.strerror or e}") from None
    return path
