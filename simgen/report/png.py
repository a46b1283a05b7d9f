"""PNG charts for experiment results: grouped bar charts and line charts with seed spread.

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

Both write a deterministic PNG (same input -> same bytes) atomically, ~800x480 px (wider
when many groups need room), white background, Okabe-Ito colours (colour-blind safe), and
return the path written. Long titles wrap (or shrink), long group labels turn vertical and
are shortened rather than overlap; nothing is clipped. Empty or malformed input raises
:class:`simgen.SimgenError` with one clear line.

Why not matplotlib: it is not a simgen dependency and a heavy one (plus a font cache built at
first import) for a few static charts. Pillow is already required (textures, previews) and
ships a scalable font (``ImageFont.load_default(size=...)``, Pillow >= 10.1), so these charts
need nothing new. With an older Pillow, or one built without FreeType, the fixed-size bitmap
default font is used instead: smaller text, same layout rules.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from simgen import SimgenError

WIDTH, HEIGHT = 800, 480
WHITE = (255, 255, 255)
INK = (0, 0, 0)                # text, axes, whiskers
GRID = (221, 221, 221)         # horizontal grid lines
MUTED = (102, 102, 102)        # "n/a", footnote
PALETTE: tuple[tuple[int, int, int], ...] = (
    # Okabe-Ito (2008), black left out (it is the ink): colour-blind safe
    (0, 114, 178), (230, 159, 0), (0, 158, 115), (213, 94, 0), (86, 180, 233), (204, 121, 167), (240, 228, 66),
    # then Paul Tol's "muted" scheme for more series
    (51, 34, 136), (136, 34, 85), (68, 170, 153), (153, 153, 51), (170, 68, 153), (17, 119, 51),
    (221, 204, 119), (204, 102, 119), (136, 204, 238),
)
"""Series colours, in order: series i is drawn in PALETTE[i]."""

MARKERS = ("circle", "square", "triangle", "diamond", "triangle_down")
"""Line-chart marker shapes, in order (series i uses MARKERS[i % 5])."""

_MIN_BAR = 8          # px: narrowest bar before the image grows wider
_MAX_LABEL = 28       # characters: longer group labels are shortened with "..."
_PAD = 12


# --------------------------------------------------------------------------- fonts and text

@lru_cache(maxsize=None)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: scalable Aileron (FreeType)
    except TypeError:  # Pillow 10.0: no size argument, fixed bitmap font
        return ImageFont.load_default()


_SCRATCH = ImageDraw.Draw(Image.new("L", (1, 1)))


def _box(text: str, font) -> tuple[int, int, int, int]:
    return tuple(int(v) for v in _SCRATCH.textbbox((0, 0), text, font=font))  # type: ignore[return-value]


def _size(text: str, font) -> tuple[int, int]:
    """Width and height of ``text`` drawn at (0, 0), counting from the origin (ascent included)."""
    l, t, r, b = _box(text, font)
    return max(r, 0), max(b, 0)


def _line_height(font) -> int:
    return _size("Hg|", font)[1] + 2


def _text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, font, fill=INK, anchor: str = "l") -> None:
    """Draw one line; ``anchor`` l/c/r aligns x to the text's left, centre or right; y is its top."""
    w, _ = _size(text, font)
    x = xy[0] - (w / 2 if anchor == "c" else w if anchor == "r" else 0)
    draw.text((round(x), round(xy[1])), text, font=font, fill=fill)


def _vertical_text(img: Image.Image, text: str, font, x_center: float, y_top: float | None = None,
                   y_bottom: float | None = None, fill=INK) -> None:
    """Draw ``text`` turned 90 degrees (read bottom to top), centred on ``x_center``; its top end at
    ``y_top`` (text ends there) or its bottom end at ``y_bottom``."""
    w, h = _size(text, font)
    if w <= 0 or h <= 0:
        return
    tile = Image.new("L", (w, h), 0)
    ImageDraw.Draw(tile).text((0, 0), text, font=font, fill=255)
    tile = tile.transpose(Image.Transpose.ROTATE_90)  # now h wide, w tall
    x = round(x_center - h / 2)
    y = round(y_top) if y_top is not None else round((y_bottom or 0) - w)
    img.paste(Image.new("RGB", tile.size, fill), (x, y), tile)


def _wrap(text: str, font, width: int) -> list[str]:
    """Greedy word wrap to ``width`` px; a word longer than the width is cut into pieces."""
    lines: list[str] = []
    for para in str(text).splitlines() or [""]:
        cur = ""
        for word in para.split(" "):
            cand = f"{cur} {word}" if cur else word
            if _size(cand, font)[0] <= width:
                cur = cand
                continue
            if cur:
                lines.append(cur)
            cur = word
            while _size(cur, font)[0] > width and len(cur) > 1:  # hard-break an over-long word
                k = len(cur)
                while k > 1 and _size(cur[:k], font)[0] > width:
                    k -= 1
                lines.append(cur[:k])
                cur = cur[k:]
        lines.append(cur)
    return lines


def _title_block(title: str, width: int) -> tuple[list[str], object]:
    """Wrap the title into at most 3 lines at 18 px, shrinking to 12 px; below that, more lines."""
    for size in (18, 16, 14, 12):
        font = _font(size)
        lines = _wrap(title, font, width)
        if len(lines) <= 3:
            return lines, font
    return lines, font


def _shorten(label: str, limit: int = _MAX_LABEL) -> str:
    """One line of at most ``limit`` characters; the middle gives way to "..." so that names
    differing only at the end (``..._number_07``) stay apart."""
    label = " ".join(str(label).split())
    if len(label) <= limit:
        return label
    head = (limit - 3) // 2
    return label[:head] + "..." + label[len(label) - (limit - 3 - head):]


def _fmt(v: float) -> str:
    v = round(float(v), 10)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.3g}" if abs(v) >= 1e-3 else f"{v:.2g}"


def _fmt_tick(v: float, step: float) -> str:
    return f"{v:.{_decimals(step)}f}"


def _decimals(step: float) -> int:
    """Decimals that tell ticks ``step`` apart (0.2 -> 1, 0.25 -> 2, 5 -> 0)."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    if decimals and round(step * 10 ** decimals) % 10 != 0 and round(step * 10 ** (decimals + 1)) % 10 == 5:
        decimals += 1  # 0.25 steps need two decimals
    return decimals


# --------------------------------------------------------------------------- values and axes

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


def _ticks(ymax: float) -> tuple[list[float], float]:
    """Tick values 0..ymax: a step of 1, 2, 2.5 or 5 times a power of ten giving 3..8 intervals
    (closest to 5), one that divides ymax exactly when there is one."""
    e = math.floor(math.log10(ymax))
    cands = [round(m * 10.0 ** k, 12) for k in range(e - 2, e + 1) for m in (1, 2, 2.5, 5)]
    fit = [s for s in cands if 3 <= ymax / s <= 8 + 1e-9]
    exact = [s for s in fit if abs(ymax / s - round(ymax / s)) < 1e-6]
    pick = exact or fit
    step = min(pick, key=lambda s: (abs(ymax / s - 5), ymax / s)) if pick else ymax / 4  # about 5 intervals
    n = int(math.floor(ymax / step + 1e-6))
    return [round(i * step, 12) for i in range(n + 1)], step


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


# --------------------------------------------------------------------------- canvas pieces

class _Canvas:
    """The image, the plot rectangle and a y mapping shared by both charts."""

    def __init__(self, width: int, height: int):
        self.img = Image.new("RGB", (width, height), WHITE)
        self.draw = ImageDraw.Draw(self.img)
        self.width, self.height = width, height

    def y_axis(self, left: int, top: int, right: int, bottom: int, ymax: float, ylabel: str,
               font, label_font) -> None:
        ticks, step = _ticks(ymax)
        d = self.draw
        for v in ticks:
            y = self.y(v, top, bottom, ymax)
            if v > 0:
                d.line([(left + 1, y), (right, y)], fill=GRID, width=1)
            d.line([(left - 4, y), (left, y)], fill=INK, width=1)
            _text(d, (left - 7, y - _line_height(font) // 2), _fmt_tick(v, step), font, anchor="r")
        d.line([(left, top), (left, bottom)], fill=INK, width=1)
        d.line([(left, bottom), (right, bottom)], fill=INK, width=1)
        if ylabel:
            ylabel = _shorten(ylabel, 90)
            while len(ylabel) > 4 and _size(ylabel, label_font)[0] > bottom - top:
                ylabel = _shorten(ylabel, len(ylabel) - 1)
            _vertical_text(self.img, ylabel, label_font, x_center=_PAD + _line_height(label_font) / 2,
                           y_top=(top + bottom) / 2 - _size(ylabel, label_font)[0] / 2)

    @staticmethod
    def y(v: float, top: int, bottom: int, ymax: float) -> int:
        """Pixel row of value ``v`` (clamped to the plot)."""
        v = min(max(v, 0.0), ymax)
        return round(bottom - (bottom - top) * v / ymax)

    def png(self) -> bytes:
        return _encode(self.img)


def _encode(img: Image.Image) -> bytes:
    """PNG bytes with an exact palette: the chart's colours are drawn exactly, text anti-aliasing
    falls on a 33-step grey ramp. Deterministic (no time stamp, fixed palette)."""
    colours = [WHITE, INK, GRID, MUTED, *PALETTE] + [(g, g, g) for g in range(0, 256, 8)] + [(255, 255, 255)]
    seen, flat = set(), []
    for c in colours:
        if c not in seen:
            seen.add(c)
            flat.extend(c)
    pal = Image.new("P", (1, 1))
    pal.putpalette(flat)
    buf = io.BytesIO()
    img.quantize(palette=pal, dither=Image.Dither.NONE).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _legend_layout(names: list[str], font, width: int, swatch: int) -> list[list[tuple[int, str, int]]]:
    """Legend entries in rows that fit ``width``: rows of (series index, text, entry width)."""
    rows: list[list[tuple[int, str, int]]] = [[]]
    used = 0
    for i, name in enumerate(names):
        text = _shorten(name, 40)
        w = swatch + 6 + _size(text, font)[0] + 18
        if rows[-1] and used + w > width:
            rows.append([])
            used = 0
        rows[-1].append((i, text, w))
        used += w
    return rows


def _write(path: Path, data: bytes) -> Path:
    from simgen.io.files import atomic_write_bytes

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    except OSError as e:
        raise SimgenError(f"cannot write chart {path}: {e.strerror or e}") from None
    return path


def _note(mark: str, extra: str, present: list, top: float) -> str:
    """What the marks mean (mean and min-max over the seeds, or a single seed's value), and
    whether values were cut at the top of the axis."""
    seeds = [len(st.seeds) for st in present]
    if max(seeds, default=1) > 1:
        note = f"{mark}: mean; whiskers: min-max over {_seed_note(seeds)}{extra}"
    else:
        note = f"{mark}: the value of a single seed"
    if any(st.hi > top for st in present):
        note += f"; values above {_fmt(top)} are cut at the top"
    return note


def _seed_note(counts: list[int]) -> str:
    counts = sorted(set(counts))
    if not counts:
        return "0 seeds"
    n = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"{n} seed{'s' if counts[-1] != 1 else ''}"


def _header(canvas_width: int, title: str, names: list[str], legend: bool, swatch: int):
    """Title lines + font, legend rows + font and the height they take from the top."""
    title_lines, title_font = _title_block(title, canvas_width - 2 * _PAD)
    legend_font = _font(13)
    rows = _legend_layout(names, legend_font, canvas_width - 2 * _PAD, swatch) if legend else []
    h = _PAD + len(title_lines) * _line_height(title_font) + 6 + len(rows) * (_line_height(legend_font) + 4)
    return title_lines, title_font, rows, legend_font, h


def _draw_header(c: _Canvas, title_lines, title_font, rows, legend_font, swatch_fn) -> int:
    y = _PAD
    for line in title_lines:
        _text(c.draw, (c.width / 2, y), line, title_font, anchor="c")
        y += _line_height(title_font)
    y += 6
    lh = _line_height(legend_font)
    for row in rows:
        total = sum(w for _, _, w in row) - 18
        x = round(c.width / 2 - total / 2)
        for i, text, w in row:
            swatch_w = swatch_fn(c, i, x, y, lh)
            _text(c.draw, (x + swatch_w + 6, y), text, legend_font)
            x += w
        y += lh + 4
    return y


def _footnote(c: _Canvas, text: str, font) -> None:
    lines = _wrap(text, font, c.width - 2 * _PAD)
    y = c.height - _PAD // 2 - len(lines) * _line_height(font)
    for line in lines:
        _text(c.draw, (c.width - _PAD, y), line, font, fill=MUTED, anchor="r")
        y += _line_height(font)


# --------------------------------------------------------------------------- bar chart

def bar_chart(path, groups: list[str], series: list[str], values: list[list[list[float]]], *,
              title: str, ylabel: str, ymax: float | None = None) -> Path:
    """Grouped bar chart: ``values[g][s]`` are the per-seed values of series ``s`` in group ``g``.

    Bar height = mean of the seeds, whisker = min..max, one dot per seed; an empty list or only
    negative values (COCOeval's -1) shows "n/a" instead of a bar. The y axis runs from 0 to
    ``ymax`` (default: :func:`nice_max` of the largest value). The legend (one colour per series)
    is left out for a single series. Returns the path written (parent folders are created)."""
    path = _check_path(path)
    ymax = _check_ymax(ymax)
    groups = _check_names(groups, "bar chart groups")
    series = _check_names(series, "bar chart series")
    if not groups or not series:
        raise SimgenError(f"bar chart {path.name}: nothing to draw ({len(groups)} group(s), {len(series)} series); "
                          "give at least one group and one series")
    if len(series) > len(PALETTE):
        raise SimgenError(f"bar chart {path.name}: {len(series)} series, but only {len(PALETTE)} colours can be told "
                          "apart; split the chart")
    if isinstance(values, (str, bytes)) or len(values) != len(groups):
        raise SimgenError(f"bar chart {path.name}: values must hold one list per group ({len(groups)}), "
                          f"got {len(values) if not isinstance(values, (str, bytes)) else values!r}")
    stats: list[list[_Stat | None]] = []
    for g, row in enumerate(values):
        if isinstance(row, (str, bytes)) or len(row) != len(series):
            raise SimgenError(f"bar chart {path.name}: values[{g}] (group {groups[g]!r}) must hold one list of seed "
                              f"values per series ({len(series)}), got {row!r}")
        stats.append([_stat(v, f"bar chart {path.name}: values[{g}][{s}] ({groups[g]!r}, {series[s]!r})")
                      for s, v in enumerate(row)])
    present = [st for row in stats for st in row if st is not None]
    top = ymax if ymax is not None else nice_max(max((st.hi for st in present), default=0.0))

    ns = len(series)
    tick_font, label_font, small = _font(12), _font(13), _font(11)
    group_label_font = _font(12)
    labels = [_shorten(g) for g in groups]
    # width: every bar at least _MIN_BAR px, and room for the labels side by side when it is cheap
    slot_min = ns * _MIN_BAR + 10
    left = _PAD + _line_height(label_font) + 8 + max(_size(_fmt_tick(v, _ticks(top)[1]), tick_font)[0]
                                                        for v in _ticks(top)[0]) + 8
    right_margin = _PAD + 4
    width = max(WIDTH, left + right_margin + len(groups) * slot_min)
    slot = (width - left - right_margin) / len(groups)
    label_w = max(_size(lb, group_label_font)[0] for lb in labels)
    vertical = label_w > slot - 6
    label_h = (label_w + 6) if vertical else _line_height(group_label_font) + 4

    legend = ns > 1
    swatch = 14
    title_lines, title_font, rows, legend_font, header_h = _header(width, title, series, legend, swatch)
    has_na = len(present) < len(groups) * ns
    note = _note("bars", "; dots: each seed", present, top)
    if has_na:
        note += "; n/a: no value (e.g. -1 = no ground truth)"
    foot_font = _font(11)
    foot_h = len(_wrap(note, foot_font, width - 2 * _PAD)) * _line_height(foot_font) + _PAD // 2
    plot_top = header_h + 18                      # room for a value over the tallest bar
    plot_h = 300
    height = max(HEIGHT, plot_top + plot_h + 8 + label_h + 6 + foot_h + 6)
    bottom = height - foot_h - 6 - label_h - 8
    right = width - right_margin

    c = _Canvas(width, height)

    def swatch_fn(cv: _Canvas, i: int, x: int, y: int, lh: int) -> int:
        cv.draw.rectangle([x, y + (lh - swatch) // 2, x + swatch - 1, y + (lh - swatch) // 2 + swatch - 1],
                          fill=PALETTE[i])
        return swatch

    _draw_header(c, title_lines, title_font, rows, legend_font, swatch_fn)
    c.y_axis(left, plot_top, right, bottom, top, ylabel, tick_font, label_font)

    inner = slot * 0.8
    bar_w = inner / ns
    value_dec = _decimals(_ticks(top)[1]) + 1
    show_values = bar_w >= max((_size(f"{st.mean:.{value_dec}f}", small)[0] for st in present), default=0) + 2
    for g, row in enumerate(stats):
        x0 = left + g * slot + (slot - inner) / 2
        if all(st is None for st in row) and ns > 1:  # one "n/a" for the whole group
            gx = left + (g + 0.5) * slot
            if _size("n/a", small)[0] <= inner:
                _text(c.draw, (gx, bottom - _line_height(small) - 1), "n/a", small, fill=MUTED, anchor="c")
            else:
                _vertical_text(c.img, "n/a", small, gx, y_bottom=bottom - 2, fill=MUTED)
        for s, st in enumerate(row):
            bl, br = round(x0 + s * bar_w), round(x0 + (s + 1) * bar_w) - 1
            if br - bl >= 4:
                br -= 1  # a pixel of white between neighbouring bars
            cx = (bl + br) / 2
            if st is None:
                if ns > 1 and all(o is None for o in row):
                    continue
                if _size("n/a", small)[0] <= br - bl + 1:
                    _text(c.draw, (cx, bottom - _line_height(small) - 1), "n/a", small, fill=MUTED, anchor="c")
                else:
                    _vertical_text(c.img, "n/a", small, cx, y_bottom=bottom - 2, fill=MUTED)
                continue
            yt = c.y(st.mean, plot_top, bottom, top)
            if yt < bottom:
                c.draw.rectangle([bl, yt, br, bottom - 1], fill=PALETTE[s])
            # whisker: min..max of the seeds, with caps
            if len(st.seeds) > 1:
                y_lo, y_hi = c.y(st.lo, plot_top, bottom, top), c.y(st.hi, plot_top, bottom, top)
                cap = max(1, min(4, (br - bl) // 4))
                xm = round(cx)
                c.draw.line([(xm, y_lo), (xm, y_hi)], fill=INK, width=1)
                c.draw.line([(xm - cap, y_hi), (xm + cap, y_hi)], fill=INK, width=1)
                c.draw.line([(xm - cap, y_lo), (xm + cap, y_lo)], fill=INK, width=1)
            # one dot per seed, spread across the bar so equal values stay visible
            k = len(st.seeds)
            r = 2 if br - bl >= 8 else 1
            for j, v in enumerate(st.seeds):
                dx = 0 if k == 1 else (j - (k - 1) / 2) * min(2 * r + 1, (br - bl - 2 * r) / max(k - 1, 1))
                px, py = round(cx + dx), c.y(v, plot_top, bottom, top)
                c.draw.ellipse([px - r - 1, py - r - 1, px + r + 1, py + r + 1], fill=WHITE)
                c.draw.ellipse([px - r, py - r, px + r, py + r], fill=INK)
            if show_values:
                y_hi = c.y(st.hi, plot_top, bottom, top)
                _text(c.draw, (cx, max(y_hi - _line_height(small) - 4, plot_top - _line_height(small) - 2)),
                      f"{st.mean:.{value_dec}f}", small, anchor="c")
        # the group's label
        gx = left + (g + 0.5) * slot
        if vertical:
            _vertical_text(c.img, labels[g], group_label_font, gx, y_top=bottom + 6)
        else:
            _text(c.draw, (gx, bottom + 6), labels[g], group_label_font, anchor="c")
    _footnote(c, note, foot_font)
    return _write(path, c.png())


# --------------------------------------------------------------------------- line chart

def _marker(draw: ImageDraw.ImageDraw, shape: str, x: int, y: int, r: int, fill) -> None:
    if shape == "circle":
        draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)
    elif shape == "square":
        draw.rectangle([x - r + 1, y - r + 1, x + r - 1, y + r - 1], fill=fill)
    elif shape == "triangle":
        draw.polygon([(x, y - r), (x - r, y + r - 1), (x + r, y + r - 1)], fill=fill)
    elif shape == "triangle_down":
        draw.polygon([(x, y + r), (x - r, y - r + 1), (x + r, y - r + 1)], fill=fill)
    else:  # diamond
        draw.polygon([(x, y - r), (x + r, y), (x, y + r), (x - r, y)], fill=fill)


def line_chart(path, series: dict[str, list[tuple[float, list[float]]]], *, title: str, xlabel: str,
               ylabel: str, ymax: float | None = None, log_x: bool = False) -> Path:
    """Line chart: ``series[name] = [(x, per-seed values), ...]``; one line through the means,
    min..max whiskers and a marker at each x, a legend. x ticks sit at the x values given; with
    ``log_x`` the x axis is logarithmic (x must be > 0). A point whose seeds are all negative
    (COCOeval's -1) or that has no seeds is left out and breaks the line. When several series
    share an x, their points are shifted a few pixels apart so their whiskers stay visible.
    Returns the path written (parent folders are created)."""
    path = _check_path(path)
    ymax = _check_ymax(ymax)
    if not isinstance(series, dict):
        raise SimgenError(f"line chart {path.name}: series must be a dict name -> [(x, [values per seed]), ...], "
                          f"got {type(series).__name__}")
    names = [str(n) for n in series]
    if len(set(names)) != len(names):
        raise SimgenError(f"line chart {path.name}: series names must be distinct as text: {names}")
    if len(names) > len(PALETTE):
        raise SimgenError(f"line chart {path.name}: {len(names)} series, but only {len(PALETTE)} colours can be told "
                          "apart; split the chart")
    pts: list[list[tuple[float, _Stat | None]]] = []
    for name, points in series.items():
        row = []
        try:
            points = list(points)
        except TypeError:
            raise SimgenError(f"line chart {path.name}: series {name!r} must be a list of (x, [values]) pairs") from None
        for k, p in enumerate(points):
            where = f"line chart {path.name}: series {name!r} point {k}"
            try:
                x, vals = p
                x = float(x)
            except (TypeError, ValueError):
                raise SimgenError(f"{where}: expected an (x, [values per seed]) pair, got {p!r}") from None
            if not math.isfinite(x) or (log_x and x <= 0):
                raise SimgenError(f"{where}: x = {x!r} " + ("must be > 0 on a log x axis" if log_x and math.isfinite(x)
                                                          else "must be a finite number"))
            if isinstance(vals, (int, float)):
                vals = [vals]
            row.append((x, _stat(vals, where)))
        xs = [x for x, _ in row]
        if len(set(xs)) != len(xs):
            raise SimgenError(f"line chart {path.name}: series {name!r} repeats an x value: {sorted(xs)}")
        pts.append(sorted(row, key=lambda t: t[0]))
    all_x = sorted({x for row in pts for x, _ in row})
    if not all_x:
        raise SimgenError(f"line chart {path.name}: nothing to draw ({len(names)} series, no points); "
                          "give at least one (x, [values]) point")
    present = [st for row in pts for _, st in row if st is not None]
    top = ymax if ymax is not None else nice_max(max((st.hi for st in present), default=0.0))

    tick_font, label_font = _font(12), _font(13)
    width = WIDTH
    swatch = 26
    title_lines, title_font, rows, legend_font, header_h = _header(width, title, names, True, swatch)
    note = _note("lines", "", present, top)
    if len(present) < sum(len(r) for r in pts):
        note += "; points with no value (e.g. -1 = no ground truth) left out"
    foot_font = _font(11)
    foot_h = len(_wrap(note, foot_font, width - 2 * _PAD)) * _line_height(foot_font) + _PAD // 2
    ticks, step = _ticks(top)
    left = _PAD + _line_height(label_font) + 8 + max(_size(_fmt_tick(v, step), tick_font)[0] for v in ticks) + 8
    right = width - _PAD - 8
    plot_top = header_h + 8
    xlabel_h = (_line_height(label_font) + 2) if xlabel else 0
    axis_h = _line_height(tick_font) + 8 + xlabel_h
    height = max(HEIGHT, plot_top + 280 + axis_h + foot_h + 8)
    bottom = height - foot_h - 6 - axis_h - 4

    def tx(v: float) -> float:
        return math.log10(v) if log_x else v

    lo, hi = tx(all_x[0]), tx(all_x[-1])
    pad = 0.06 * (right - left)

    def X(v: float) -> float:
        if hi == lo:
            return (left + right) / 2
        return left + pad + (right - left - 2 * pad) * (tx(v) - lo) / (hi - lo)

    c = _Canvas(width, height)

    def swatch_fn(cv: _Canvas, i: int, x: int, y: int, lh: int) -> int:
        ym = y + lh // 2
        cv.draw.line([(x, ym), (x + swatch - 1, ym)], fill=PALETTE[i], width=2)
        _marker(cv.draw, MARKERS[i % len(MARKERS)], x + swatch // 2, ym, 4, PALETTE[i])
        return swatch

    _draw_header(c, title_lines, title_font, rows, legend_font, swatch_fn)
    c.y_axis(left, plot_top, right, bottom, top, ylabel, tick_font, label_font)
    # x ticks at the x values given; labels that would overlap their left neighbour are left out
    last_right = -1e9
    for v in all_x:
        x = round(X(v))
        c.draw.line([(x, bottom), (x, bottom + 4)], fill=INK, width=1)
        text = _fmt(v)
        w = _size(text, tick_font)[0]
        if x - w / 2 > last_right + 4:
            _text(c.draw, (x, bottom + 6), text, tick_font, anchor="c")
            last_right = x + w / 2
    if xlabel:
        _text(c.draw, ((left + right) / 2, bottom + 6 + _line_height(tick_font) + 2),
              _shorten(xlabel, 90) + (" (log scale)" if log_x else ""), label_font, anchor="c")

    shared = len(names) > 1
    for i, row in enumerate(pts):
        colour, shape = PALETTE[i], MARKERS[i % len(MARKERS)]
        dodge = (i - (len(names) - 1) / 2) * 4 if shared else 0.0
        run: list[tuple[int, int]] = []
        placed: list[tuple[int, int, _Stat]] = []
        for x, st in row + [(math.nan, None)]:
            if st is None:
                if len(run) > 1:
                    c.draw.line(run, fill=colour, width=2)
                run = []
                continue
            px, py = round(X(x) + dodge), c.y(st.mean, plot_top, bottom, top)
            run.append((px, py))
            placed.append((px, py, st))
        for px, py, st in placed:
            if len(st.seeds) > 1:
                y_lo, y_hi = c.y(st.lo, plot_top, bottom, top), c.y(st.hi, plot_top, bottom, top)
                c.draw.line([(px, y_lo), (px, y_hi)], fill=colour, width=1)
                c.draw.line([(px - 3, y_hi), (px + 3, y_hi)], fill=colour, width=1)
                c.draw.line([(px - 3, y_lo), (px + 3, y_lo)], fill=colour, width=1)
            _marker(c.draw, shape, px, py, 5, WHITE)
            _marker(c.draw, shape, px, py, 4, colour)
    _footnote(c, note, foot_font)
    return _write(path, c.png())
