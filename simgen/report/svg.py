"""Small inline SVG charts (bar charts and histograms) for the HTML report: plain strings,
no plotting library, no external resources."""

from __future__ import annotations

from html import escape
from typing import Sequence

WIDTH, HEIGHT = 420, 220
_M = {"left": 48, "right": 12, "top": 28, "bottom": 48}
COLOR = "#3b7dd8"
WARN = "#d8553b"


def _fmt(v: float) -> str:
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.3g}"


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float], xlabel: str = "",
              ylabel: str = "count", colors: Sequence[str] | None = None) -> str:
    """A vertical bar chart: one bar per label, with the value over each bar."""
    n = max(len(labels), 1)
    w, h = WIDTH - _M["left"] - _M["right"], HEIGHT - _M["top"] - _M["bottom"]
    top = max([float(v) for v in values] + [1.0])
    bw = w / n
    parts = [_frame(title, xlabel, ylabel, top)]
    rotate = n > 8 or max((len(str(s)) for s in labels), default=0) * n > 60
    for i, (label, v) in enumerate(zip(labels, values)):
        bh = h * float(v) / top
        x = _M["left"] + i * bw
        color = colors[i] if colors else COLOR
        parts.append(f'<rect x="{x + bw * 0.1:.1f}" y="{_M["top"] + h - bh:.1f}" width="{bw * 0.8:.1f}" '
                     f'height="{bh:.1f}" fill="{color}"><title>{escape(str(label))}: {_fmt(float(v))}</title></rect>')
        if n <= 24:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{_M["top"] + h - bh - 3:.1f}" font-size="9" '
                         f'text-anchor="middle">{_fmt(float(v))}</text>')
        if rotate:
            if n <= 40 or i % max(n // 20, 1) == 0:
                parts.append(f'<text transform="translate({x + bw / 2:.1f},{_M["top"] + h + 8}) rotate(45)" '
                             f'font-size="9">{escape(str(label))}</text>')
        else:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{_M["top"] + h + 13}" font-size="10" '
                         f'text-anchor="middle">{escape(str(label))}</text>')
    return _wrap(parts)


def histogram(title: str, edges: Sequence[float], counts: Sequence[float], xlabel: str = "",
              ylabel: str = "count", mark: float | None = None, log_x: bool = False) -> str:
    """A histogram over bins ``edges[i] .. edges[i+1]`` (len(edges) == len(counts) + 1), drawn
    on a linear axis (or a log axis with ``log_x``); ``mark`` draws a red threshold line."""
    import math

    w, h = WIDTH - _M["left"] - _M["right"], HEIGHT - _M["top"] - _M["bottom"]
    top = max([float(c) for c in counts] + [1.0])
    t = (lambda v: math.log10(max(v, 1e-12))) if log_x else (lambda v: float(v))
    lo, hi = t(edges[0]), t(edges[-1])
    span = (hi - lo) or 1.0

    def X(v: float) -> float:
        return _M["left"] + w * (t(v) - lo) / span

    parts = [_frame(title, xlabel, ylabel, top)]
    for a, b, c in zip(edges[:-1], edges[1:], counts):
        bh = h * float(c) / top
        parts.append(f'<rect x="{X(a):.1f}" y="{_M["top"] + h - bh:.1f}" width="{max(X(b) - X(a) - 0.5, 0.5):.1f}" '
                     f'height="{bh:.1f}" fill="{COLOR}"><title>{_fmt(a)} .. {_fmt(b)}: {_fmt(float(c))}</title></rect>')
    ticks = _ticks(edges, log_x)
    for v in ticks:
        parts.append(f'<line x1="{X(v):.1f}" x2="{X(v):.1f}" y1="{_M["top"] + h}" y2="{_M["top"] + h + 4}" stroke="#333"/>'
                     f'<text x="{X(v):.1f}" y="{_M["top"] + h + 15}" font-size="10" text-anchor="middle">{_fmt(v)}</text>')
    if mark is not None and t(edges[0]) <= t(mark) <= t(edges[-1]):
        parts.append(f'<line x1="{X(mark):.1f}" x2="{X(mark):.1f}" y1="{_M["top"]}" y2="{_M["top"] + h}" '
                     f'stroke="{WARN}" stroke-dasharray="4 3"/>')
    return _wrap(parts)


def _ticks(edges: Sequence[float], log_x: bool) -> list[float]:
    lo, hi = float(edges[0]), float(edges[-1])
    if log_x:
        out, v = [], 1.0
        while v < lo:
            v *= 10
        while v <= hi:
            out.append(v)
            v *= 10
        return out or [lo, hi]
    n = 5
    return [lo + (hi - lo) * k / n for k in range(n + 1)]


def _frame(title: str, xlabel: str, ylabel: str, top: float) -> str:
    w, h = WIDTH - _M["left"] - _M["right"], HEIGHT - _M["top"] - _M["bottom"]
    x0, y0 = _M["left"], _M["top"] + h
    out = [f'<text x="{WIDTH / 2}" y="16" font-size="13" font-weight="bold" text-anchor="middle">{escape(title)}</text>',
           f'<line x1="{x0}" y1="{y0}" x2="{x0 + w}" y2="{y0}" stroke="#333"/>',
           f'<line x1="{x0}" y1="{_M["top"]}" x2="{x0}" y2="{y0}" stroke="#333"/>',
           f'<text x="{x0 - 4}" y="{_M["top"] + 4}" font-size="10" text-anchor="end">{_fmt(top)}</text>',
           f'<text x="{x0 - 4}" y="{y0}" font-size="10" text-anchor="end">0</text>',
           f'<text x="{WIDTH / 2}" y="{HEIGHT - 4}" font-size="11" text-anchor="middle">{escape(xlabel)}</text>',
           f'<text transform="translate(12,{_M["top"] + h / 2}) rotate(-90)" font-size="11" '
           f'text-anchor="middle">{escape(ylabel)}</text>']
    return "".join(out)


def _wrap(parts: list[str]) -> str:
    return (f'<svg class="plot" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif">' + "".join(parts) + "</svg>")


SERIES = ("#3b7dd8", "#e08a2c")
"""Colours of the two datasets in the comparison charts (A, B)."""


def pair_bars(title: str, labels: Sequence[str], a: Sequence[float], b: Sequence[float], xlabel: str = "",
              ylabel: str = "share", names: Sequence[str] = ("A", "B")) -> str:
    """Two series side by side per label (A blue, B orange), e.g. two normalized histograms
    over the same bins; labels are thinned out when there are many."""
    n = max(len(labels), 1)
    w, h = WIDTH - _M["left"] - _M["right"], HEIGHT - _M["top"] - _M["bottom"]
    top = max([float(v) for v in list(a) + list(b)] + [1e-12])
    bw = w / n
    parts = [_frame(title, xlabel, ylabel, top), _legend(names)]
    step = max(1, n // 8)
    for i, label in enumerate(labels):
        x = _M["left"] + i * bw
        for k, (vals, color) in enumerate(((a, SERIES[0]), (b, SERIES[1]))):
            v = float(vals[i]) if i < len(vals) else 0.0
            bh = h * v / top
            parts.append(f'<rect x="{x + bw * (0.05 + 0.45 * k):.1f}" y="{_M["top"] + h - bh:.1f}" '
                         f'width="{bw * 0.45:.1f}" height="{bh:.1f}" fill="{color}"><title>{escape(names[k])} '
                         f'{escape(str(label))}: {_fmt(v)}</title></rect>')
        if i % step == 0:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{_M["top"] + h + 13}" font-size="9" '
                         f'text-anchor="middle">{escape(str(label))}</text>')
    return _wrap(parts)


def pair_lines(title: str, xs: Sequence[float], a: Sequence[float], b: Sequence[float], xlabel: str = "",
               ylabel: str = "", names: Sequence[str] = ("A", "B")) -> str:
    """Two curves over the same x values (A blue, B orange), y axis from their min to max."""
    w, h = WIDTH - _M["left"] - _M["right"], HEIGHT - _M["top"] - _M["bottom"]
    ys = [float(v) for v in list(a) + list(b)] or [0.0]
    lo, hi = min(ys), max(ys)
    hi = hi if hi > lo else lo + 1.0
    x0, x1 = float(xs[0]), float(xs[-1]) if len(xs) > 1 else float(xs[0]) + 1.0

    def P(x: float, y: float) -> str:
        return f"{_M['left'] + w * (x - x0) / ((x1 - x0) or 1.0):.1f},{_M['top'] + h * (hi - y) / (hi - lo):.1f}"

    parts = [_frame(title, xlabel, ylabel, hi).replace(f'>{_fmt(0.0)}</text>', f">{_fmt(lo)}</text>", 1),
             _legend(names)]
    for vals, color in ((a, SERIES[0]), (b, SERIES[1])):
        pts = " ".join(P(float(x), float(y)) for x, y in zip(xs, vals))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
    for k in range(6):
        v = x0 + (x1 - x0) * k / 5
        X = _M["left"] + w * k / 5
        parts.append(f'<text x="{X:.1f}" y="{_M["top"] + h + 15}" font-size="10" text-anchor="middle">{_fmt(v)}</text>')
    return _wrap(parts)


def _legend(names: Sequence[str]) -> str:
    out = []
    for k, name in enumerate(names[:2]):
        x = 4 + 60 * k                                   # bottom left, under the axis labels
        out.append(f'<rect x="{x}" y="{HEIGHT - 12}" width="10" height="8" fill="{SERIES[k]}"/>'
                   f'<text x="{x + 13}" y="{HEIGHT - 4}" font-size="9">{escape(str(name))[:8]}</text>')
    return "".join(out)
