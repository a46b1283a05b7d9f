"""PNG charts (simgen.report.png), checked by decoding the pixels: bar heights against the axis'
own grid lines, where each series' colour appears, "n/a" for COCOeval's -1, line-chart points and
whiskers at the rows of their values, x spacing (linear / log), identical bytes for identical
input, labels kept inside the image, and one clear error for bad input."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from PIL import Image

from simgen import SimgenError
from simgen.report import png
from simgen.report.png import GRID, INK, PALETTE, WHITE, bar_chart, line_chart, nice_max


def load(p) -> np.ndarray:
    return np.asarray(Image.open(p).convert("RGB")).astype(np.int16)


def is_colour(img: np.ndarray, colour) -> np.ndarray:
    return np.all(img == np.array(colour, np.int16), axis=-1)


def runs(idx, gap: int = 1) -> list[tuple[int, int]]:
    """Integers grouped into (first, last) runs of neighbours at most ``gap`` apart."""
    out: list[tuple[int, int]] = []
    for i in sorted(int(v) for v in idx):
        if out and i <= out[-1][1] + gap:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


def axis_row(img: np.ndarray) -> int:
    """The x axis: the lowest row that is mostly ink."""
    rows = np.flatnonzero(is_colour(img, INK).sum(axis=1) > img.shape[1] * 0.5)
    assert rows.size, "no x axis found"
    return int(rows.max())


def grid_rows(img: np.ndarray) -> list[int]:
    """Rows of the horizontal grid lines, from the lowest (first tick above 0) upwards."""
    rows = np.flatnonzero(is_colour(img, GRID).sum(axis=1) > 40)
    return [r for r, _ in runs(rows)][::-1]


def value_row(img: np.ndarray, v: float, ymax: float) -> float:
    """The row of value v, from the axis (0) and the top grid line (ymax), independently of the code's mapping."""
    bottom, top = axis_row(img), grid_rows(img)[-1]
    return bottom - (bottom - top) * v / ymax


def plot_mask(img: np.ndarray, colour) -> np.ndarray:
    """The colour's pixels below the header (title/legend): rows under the top grid line."""
    m = is_colour(img, colour)
    m[: grid_rows(img)[-1] - 2] = False
    return m


# --------------------------------------------------------------------------- bar chart

def test_bar_heights_are_proportional_and_sit_on_the_grid(tmp_path):
    p = bar_chart(tmp_path / "b.png", ["a", "b"], ["only"], [[[0.25]], [[0.5]]], title="t", ylabel="AP", ymax=1)
    img = load(p)
    m = is_colour(img, PALETTE[0])
    cols = runs(np.flatnonzero(m.any(axis=0)))
    assert len(cols) == 2, cols  # one series: no legend swatch, only the two bars have its colour
    heights, tops = [], []
    for a, b in cols:
        rows = np.flatnonzero(m[:, a:b + 1].any(axis=1))
        assert rows.max() == axis_row(img) - 1          # the bar stands on the axis
        heights.append(rows.max() - rows.min() + 1)
        tops.append(rows.min())
        # the bar is a filled rectangle (only the seed dot on top cuts into it)
        box = m[rows.min():rows.max() + 1, a:b + 1]
        assert box.mean() > 0.95
    assert abs(heights[1] - 2 * heights[0]) <= 2, heights
    assert abs(tops[0] - value_row(img, 0.25, 1.0)) <= 1
    assert abs(tops[1] - value_row(img, 0.5, 1.0)) <= 1
    grid = grid_rows(img)
    assert len(grid) == 5  # ticks 0.2 .. 1.0 for ymax = 1


def test_bar_tops_meet_the_grid_lines_of_their_values(tmp_path):
    p = bar_chart(tmp_path / "b.png", ["a", "b"], ["s"], [[[0.4]], [[0.8]]], title="t", ylabel="AP", ymax=1.0)
    img = load(p)
    m = is_colour(img, PALETTE[0])
    grid = grid_rows(img)  # 0.2, 0.4, 0.6, 0.8, 1.0
    tops = [int(np.flatnonzero(m[:, a:b + 1].any(axis=1)).min()) for a, b in runs(np.flatnonzero(m.any(axis=0)))]
    assert abs(tops[0] - grid[1]) <= 1 and abs(tops[1] - grid[3]) <= 1, (tops, grid)


def test_each_series_colour_only_at_its_own_bars_and_its_legend(tmp_path):
    groups, series = ["g1", "g2"], ["s0", "s1", "s2"]
    vals = [[[0.2, 0.25], [0.3, 0.35], [0.4, 0.45]], [[0.5, 0.45], [0.35, 0.3], [0.6, 0.55]]]
    img = load(bar_chart(tmp_path / "b.png", groups, series, vals, title="t", ylabel="AP", ymax=1))
    top = grid_rows(img)[-1]
    spans = {}
    for s in range(3):
        m = is_colour(img, PALETTE[s])
        legend = m[:top - 20]
        assert legend.sum() == 14 * 14, legend.sum()    # one square swatch in the legend
        cols = runs(np.flatnonzero(plot_mask(img, PALETTE[s]).any(axis=0)))
        assert len(cols) == 2, (s, cols)                # one bar per group, nothing else
        spans[s] = cols
    for g in range(2):                                   # within a group: s0 | s1 | s2, left to right, disjoint
        assert spans[0][g][1] < spans[1][g][0] and spans[1][g][1] < spans[2][g][0]
    assert spans[2][0][1] < spans[0][1][0]               # group 1 entirely left of group 2
    for colour in PALETTE[3:]:                           # colours of absent series appear nowhere
        assert not is_colour(img, colour).any()


def test_whisker_spans_min_to_max_and_each_seed_has_a_dot(tmp_path):
    img = load(bar_chart(tmp_path / "b.png", ["a"], ["s"], [[[0.2, 0.4, 0.6]]], title="t", ylabel="AP", ymax=1.0))
    m = is_colour(img, PALETTE[0])
    (a, b), = runs(np.flatnonzero(m.any(axis=0)))
    cx = round((a + b) / 2)
    ink = is_colour(img, INK)
    grid = grid_rows(img)
    # whisker: an ink run in the bar's centre column from the 0.6 row down to the 0.2 row
    # (interrupted only by the white ring round the mean seed's dot)
    span = ink[grid[2] - 4:grid[0] + 5, cx]
    rows = np.flatnonzero(span) + grid[2] - 4
    assert abs(rows.min() - grid[2]) <= 1 and abs(rows.max() - grid[0]) <= 1, (rows.min(), rows.max(), grid)
    assert span.mean() > 0.85
    assert not ink[grid[1] + 10:grid[0] - 10, a + 1].any()   # no whisker at the bar's edge
    # dots: seeds spread across the bar (0.2 left, 0.4 centre, 0.6 right), each at its value's row
    for dx, row in ((-5, grid[0]), (0, grid[1]), (5, grid[2])):
        assert ink[row - 1:row + 2, cx + dx - 1:cx + dx + 2].any(), (dx, row)
    # the mean's bar is under the 0.4 line, not the 0.6 one
    assert abs(np.flatnonzero(m.any(axis=1)).min() - grid[1]) <= 1


def test_minus_one_and_empty_give_no_bar_but_na(tmp_path):
    vals = [[[0.5], [-1.0, -1.0]], [[0.5], [0.5]]]
    p = bar_chart(tmp_path / "b.png", ["a", "b"], ["s1", "s2"], vals, title="t", ylabel="AP", ymax=1)
    img = load(p)
    assert len(runs(np.flatnonzero(plot_mask(img, PALETTE[0]).any(axis=0)))) == 2
    s2 = runs(np.flatnonzero(plot_mask(img, PALETTE[1]).any(axis=0)))
    assert len(s2) == 1                                   # only group b has an s2 bar
    s1 = runs(np.flatnonzero(plot_mask(img, PALETTE[0]).any(axis=0)))
    # "n/a" text right of group a's s1 bar, just above the axis
    bottom = axis_row(img)
    shift = s1[1][0] - s1[0][0]                           # one group's width
    a0, a1 = s2[0][0] - shift, s2[0][1] - shift           # where group a's s2 bar would be
    ink = np.abs(img - np.array(WHITE)).sum(axis=-1) > 60
    assert ink[bottom - 20:bottom, a0:a1 + 1].sum() > 10   # dark text pixels: "n/a"
    assert not ink[bottom - 20:bottom, s1[0][1] + 2:a0 - 1].any()
    # an empty list and NaN mean the same as -1: the same picture
    q = bar_chart(tmp_path / "c.png", ["a", "b"], ["s1", "s2"], [[[0.5], []], [[0.5], [0.5]]], title="t",
                  ylabel="AP", ymax=1)
    r = bar_chart(tmp_path / "d.png", ["a", "b"], ["s1", "s2"], [[[0.5], [math.nan]], [[0.5], [0.5]]], title="t",
                  ylabel="AP", ymax=1)
    assert p.read_bytes() == q.read_bytes() == r.read_bytes()
    # and it is not the picture with a real bar there
    t = bar_chart(tmp_path / "e.png", ["a", "b"], ["s1", "s2"], [[[0.5], [0.0]], [[0.5], [0.5]]], title="t",
                  ylabel="AP", ymax=1)
    assert t.read_bytes() != p.read_bytes()


def test_default_ymax_is_a_nice_number_above_the_largest_seed(tmp_path):
    img = load(bar_chart(tmp_path / "b.png", ["a"], ["s"], [[[0.30, 0.37]]], title="t", ylabel="AP"))
    grid = grid_rows(img)
    assert len(grid) == 4  # 0.1 .. 0.4
    top = int(np.flatnonzero(is_colour(img, PALETTE[0]).any(axis=1)).min())
    assert abs(top - value_row(img, 0.335, 0.4)) <= 1
    assert [nice_max(v) for v in (0.37, 0.92, 1.0, 0.0, -1, 0.051, 12, 0.62, 0.8)] == \
        [0.4, 1.0, 1.0, 1.0, 1.0, 0.06, 12, 0.8, 0.8]


def test_same_input_same_bytes_and_small(tmp_path):
    args = (["AP", "AP50", "AP75"], ["none", "texture", "lighting", "full"],
            [[[0.3 + 0.01 * s + 0.1 * g, 0.32 + 0.1 * g] for s in range(4)] for g in range(3)])
    a = bar_chart(tmp_path / "a.png", *args, title="AP per arm", ylabel="AP")
    b = bar_chart(tmp_path / "sub" / "b.png", *args, title="AP per arm", ylabel="AP")
    assert a.read_bytes() == b.read_bytes()
    assert os.path.getsize(a) < 60_000
    series = {"none": [(16, [0.1, 0.12]), (32, [0.2, 0.21])], "dr": [(16, [0.2]), (32, [0.3, 0.33])]}
    c = line_chart(tmp_path / "c.png", series, title="t", xlabel="frames", ylabel="AP", log_x=True)
    d = line_chart(tmp_path / "d.png", series, title="t", xlabel="frames", ylabel="AP", log_x=True)
    assert c.read_bytes() == d.read_bytes() and os.path.getsize(c) < 60_000
    assert sorted(os.listdir(tmp_path)) == ["a.png", "c.png", "d.png", "sub"]  # no temp files left


def test_long_title_and_labels_stay_inside_and_apart(tmp_path):
    groups = [f"category_with_a_rather_long_name_number_{i:02d}" for i in range(60)]
    series = ["none", "texture", "lighting", "full domain randomization"]
    vals = [[[0.1 + 0.01 * s, 0.2] for s in range(4)] for _ in groups]
    title = "A very long title " * 20
    img = load(bar_chart(tmp_path / "b.png", groups, series, vals, title=title, ylabel="AP", ymax=1))
    h, w = img.shape[:2]
    assert w > 800                                         # grew to give 60 x 4 bars room
    ink = np.abs(img - np.array(WHITE)).sum(axis=-1) > 0
    border = 4
    assert not ink[:border].any() and not ink[-border:].any()
    assert not ink[:, :border].any() and not ink[:, -border:].any()
    # the title wrapped into several lines: more than one band of text above the legend
    legend_top = int(np.flatnonzero(is_colour(img, PALETTE[0]).any(axis=1)).min())
    title_lines = runs(np.flatnonzero(ink[:legend_top - 2].any(axis=1)))
    assert len(title_lines) >= 2
    # group labels (vertical): one separate column cluster per group under the axis
    bottom = axis_row(img)
    band = ink[bottom + 8:bottom + 40]
    labels = runs(np.flatnonzero(band.any(axis=0)), gap=4)
    assert len(labels) == len(groups)
    # shortened in the middle: labels that differ only at their end ("..._07") still differ
    full = ink[bottom + 8:]
    crops = [full[:, a:a + 14].tobytes() for a, _ in labels[:10]]
    assert len(set(crops)) == 10
    assert png._shorten(groups[7]).endswith("_07") and len(png._shorten(groups[7])) <= 28
    # and every label stays above the footnote: the band under the labels to the footnote is free
    assert not ink[bottom + 8 + png._size(png._shorten(groups[0]), png._font(12))[0] + 4:h - 30].any()


def test_short_labels_stay_horizontal(tmp_path):
    img = load(bar_chart(tmp_path / "b.png", ["AP", "AP50"], ["a", "b"], [[[0.5], [0.6]], [[0.7], [0.8]]],
                         title="t", ylabel="AP", ymax=1))
    bottom = axis_row(img)
    ink = np.abs(img - np.array(WHITE)).sum(axis=-1) > 60
    rows = runs(np.flatnonzero(ink[bottom + 3:bottom + 26, 100:].any(axis=1)))  # right of the y axis
    assert len(rows) == 1 and rows[0][1] - rows[0][0] < 20   # one text line, not tall vertical text


# --------------------------------------------------------------------------- line chart

def tick_columns(img: np.ndarray) -> list[int]:
    """The x tick marks: ink just below the axis."""
    bottom = axis_row(img)
    return [round((a + b) / 2) for a, b in runs(np.flatnonzero(is_colour(img, INK)[bottom + 2]))]


def test_line_points_sit_at_their_value_rows_and_x_ticks(tmp_path):
    s = {"arm": [(16, [0.2]), (32, [0.6]), (64, [0.4])]}
    img = load(line_chart(tmp_path / "l.png", s, title="t", xlabel="frames", ylabel="AP", ymax=1.0))
    cols = tick_columns(img)
    assert len(cols) == 3
    # linear x: 16 -> 32 is half as far as 32 -> 64
    assert abs((cols[2] - cols[1]) - 2 * (cols[1] - cols[0])) <= 2
    m = is_colour(img, PALETTE[0])
    for x, v in zip(cols, (0.2, 0.6, 0.4)):
        rows = np.flatnonzero(plot_mask(img, PALETTE[0])[:, x])
        assert rows.size, x
        centre = (rows.min() + rows.max()) / 2
        assert abs(centre - value_row(img, v, 1.0)) <= 1.5, (x, v, centre)
    assert m[:, :cols[0] - 8].sum() < 100   # nothing of the line left of the first point but the legend


def test_log_x_spaces_doubling_sizes_evenly(tmp_path):
    s = {"arm": [(16, [0.2]), (32, [0.3]), (64, [0.4]), (128, [0.5])]}
    img = load(line_chart(tmp_path / "l.png", s, title="t", xlabel="frames", ylabel="AP", log_x=True))
    gaps = np.diff(tick_columns(img))
    assert len(gaps) == 3 and gaps.max() - gaps.min() <= 1, gaps


def test_line_whiskers_span_the_seeds(tmp_path):
    s = {"arm": [(1, [0.2, 0.4, 0.6]), (2, [0.5])]}
    img = load(line_chart(tmp_path / "l.png", s, title="t", xlabel="x", ylabel="AP", ymax=1.0))
    x = tick_columns(img)[0]
    rows = np.flatnonzero(plot_mask(img, PALETTE[0])[:, x])
    assert abs(rows.min() - value_row(img, 0.6, 1.0)) <= 1 and abs(rows.max() - value_row(img, 0.2, 1.0)) <= 1


def test_line_series_colours_and_missing_points(tmp_path):
    s = {"a": [(1, [0.2]), (2, [0.3]), (3, [0.4])], "b": [(1, [0.5]), (2, [-1]), (3, [0.7])]}
    img = load(line_chart(tmp_path / "l.png", s, title="t", xlabel="x", ylabel="AP", ymax=1.0))
    cols = tick_columns(img)
    b = plot_mask(img, PALETTE[1])
    # series b has no point at x = 2 (-1) and its line is broken there: no b pixels around that column
    assert not b[:, cols[1] - 20:cols[1] + 20].any()
    assert b[:, cols[0] - 6:cols[0] + 7].any() and b[:, cols[2] - 6:cols[2] + 7].any()
    a = plot_mask(img, PALETTE[0])
    assert a[:, cols[1] - 6:cols[1] + 7].any()
    assert not is_colour(img, PALETTE[2]).any()


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call, words", [
    (lambda p: bar_chart(p, [], ["s"], [], title="t", ylabel="y"), "nothing to draw"),
    (lambda p: bar_chart(p, ["g"], [], [[]], title="t", ylabel="y"), "nothing to draw"),
    (lambda p: bar_chart(p, ["g", "h"], ["s"], [[[0.1]]], title="t", ylabel="y"), "one list per group"),
    (lambda p: bar_chart(p, ["g"], ["s", "u"], [[[0.1]]], title="t", ylabel="y"), "per series"),
    (lambda p: bar_chart(p, ["g"], ["s"], [[["x"]]], title="t", ylabel="y"), "list of numbers"),
    (lambda p: bar_chart(p, ["g"], ["s"], [[[math.inf]]], title="t", ylabel="y"), "infinite"),
    (lambda p: bar_chart(p, ["g"], ["s"], [[[0.1]]], title="t", ylabel="y", ymax=0), "ymax"),
    (lambda p: bar_chart(p, ["g"], ["s"], [[[0.1]]], title="t", ylabel="y", ymax=math.nan), "ymax"),
    (lambda p: bar_chart(p, ["g", "g"], ["s"], [[[0.1]], [[0.2]]], title="t", ylabel="y"), "distinct"),
    (lambda p: bar_chart(p, ["g"], [f"s{i}" for i in range(17)], [[[0.1]] * 17], title="t", ylabel="y"), "colours"),
    (lambda p: line_chart(p, {}, title="t", xlabel="x", ylabel="y"), "nothing to draw"),
    (lambda p: line_chart(p, {"a": []}, title="t", xlabel="x", ylabel="y"), "nothing to draw"),
    (lambda p: line_chart(p, {"a": [(0, [0.1])]}, title="t", xlabel="x", ylabel="y", log_x=True), "> 0"),
    (lambda p: line_chart(p, {"a": [(1, [0.1]), (1, [0.2])]}, title="t", xlabel="x", ylabel="y"), "repeats"),
    (lambda p: line_chart(p, {"a": [(math.nan, [0.1])]}, title="t", xlabel="x", ylabel="y"), "finite"),
    (lambda p: line_chart(p, {"a": [0.1, 0.2]}, title="t", xlabel="x", ylabel="y"), "pair"),
    (lambda p: line_chart(p, [("a", [(1, [0.1])])], title="t", xlabel="x", ylabel="y"), "dict"),
])
def test_bad_input_is_one_clear_error_and_writes_nothing(tmp_path, call, words):
    p = tmp_path / "x.png"
    with pytest.raises(SimgenError, match=words):
        call(p)
    assert not list(tmp_path.iterdir())


def test_unwritable_destination_is_a_simgen_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SimgenError, match="cannot write chart"):
        bar_chart(tmp_path / "file" / "x.png", ["g"], ["s"], [[[0.1]]], title="t", ylabel="y")


def test_bitmap_font_fallback_still_fits(tmp_path, monkeypatch):
    """Pillow 10.0 (or a build without FreeType) has only the fixed bitmap font: same layout rules."""
    from PIL import ImageFont

    bitmap = getattr(ImageFont, "load_default_imagefont", ImageFont.load_default)  # Pillow 10.0: no size, bitmap
    monkeypatch.setattr(png, "_font", lambda size: bitmap())
    assert not isinstance(png._font(12), ImageFont.FreeTypeFont)
    groups = [f"long_category_name_{i}" for i in range(12)]
    img = load(bar_chart(tmp_path / "b.png", groups, ["a", "b"], [[[0.2], [0.3]]] * 12,
                         title="x" * 400, ylabel="AP", ymax=1))
    ink = np.abs(img - np.array(WHITE)).sum(axis=-1) > 0
    assert not ink[:3].any() and not ink[-3:].any() and not ink[:, :3].any() and not ink[:, -3:].any()
    bottom = axis_row(img)
    assert len(runs(np.flatnonzero(ink[bottom + 8:bottom + 30].any(axis=0)), gap=4)) == len(groups)


def test_a_title_without_spaces_is_broken_not_clipped(tmp_path):
    img = load(line_chart(tmp_path / "l.png", {"a": [(1, [0.5])]}, title="T" * 300, xlabel="x" * 200,
                          ylabel="y" * 200, ymax=1))
    ink = np.abs(img - np.array(WHITE)).sum(axis=-1) > 0
    assert not ink[:3].any() and not ink[-3:].any() and not ink[:, :3].any() and not ink[:, -3:].any()
    title_lines = runs(np.flatnonzero(ink[:grid_rows(img)[-1] - 30].any(axis=1)))
    assert len(title_lines) >= 3    # 300 letters do not fit 800 px on fewer lines


def test_values_above_ymax_are_cut_and_said_so(tmp_path):
    a = bar_chart(tmp_path / "a.png", ["g"], ["s"], [[[0.5, 1.5]]], title="t", ylabel="y", ymax=1)
    img = load(a)
    m = is_colour(img, PALETTE[0])
    assert abs(np.flatnonzero(m.any(axis=1)).min() - grid_rows(img)[-1]) <= 1   # mean 1.0 = the top
    b = bar_chart(tmp_path / "b.png", ["g"], ["s"], [[[0.5, 1.4]]], title="t", ylabel="y", ymax=1)
    # the footnote tells: it is wider than without the cut (same mean would otherwise look the same)
    c = bar_chart(tmp_path / "c.png", ["g"], ["s"], [[[0.5, 0.9]]], title="t", ylabel="y", ymax=1)
    foot = lambda p: (np.abs(load(p)[-20:] - np.array(WHITE)).sum(axis=-1) > 0).any(axis=0).argmax()
    assert foot(b) < foot(c)   # right-aligned footnote starts further left: it has the extra clause
